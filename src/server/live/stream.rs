//! The response body of a fallback stream: Server-Sent Events
//! (`text/event-stream`) carrying the same JSON frames as the WebSocket.
//!
//! Each poll takes everything the hub queued for the session in one go and
//! writes it as one chunk of events, `id: <n>` and `data: <frame>` each.
//! An id on every event, not only on a chunk's last: a stream cut inside a
//! chunk resumes after the last event the browser dispatched, and nothing
//! it already had comes again. The hub's JSON has no line
//! breaks (serde escapes them in strings), so a frame is always one `data`
//! line. A comment (`:`) goes out when nothing else did for a ping
//! interval, so proxies keep the response open.
//!
//! Unlike the WebSocket's writer this copies each frame once into the chunk:
//! hyper takes a body chunk by value, and one chunk per wakeup costs fewer
//! calls than three slices per frame. Measured against the WebSocket in
//! `make bench` (README).

use super::session::{Session, Take};
use crate::server::payload::Payload;
use bytes::Bytes;
use hyper::body::{Body, Frame};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The comment that keeps an idle stream open.
const KEEP_ALIVE: &[u8] = b":\n\n";

/// One attached stream of a session.
pub(crate) struct Stream {
    /// The session it serves.
    session: Arc<Session>,
    /// Its number there ([`Session::attach`]).
    number: u64,
    /// What goes first: the session's opening event, or what is resumed.
    first: Option<Bytes>,
    /// Frames taken from the outbox; empty between polls.
    taken: VecDeque<Payload>,
    /// When to send a keep-alive comment.
    keep_alive: tokio::time::Interval,
    /// The stream has ended (a close was written, or it lost the session).
    done: bool,
}

impl Stream {
    /// A stream that writes `first` and then what the hub queues.
    pub(crate) fn new(session: Arc<Session>, number: u64, first: Bytes, every: Duration) -> Stream {
        let mut keep_alive = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        keep_alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Stream {
            session,
            number,
            first: Some(first),
            taken: VecDeque::new(),
            keep_alive,
            done: false,
        }
    }
}

/// The events for `frames`, each with its event id, the last one's `last`.
pub(crate) fn events<'a>(frames: impl ExactSizeIterator<Item = &'a Payload>, last: u64) -> Bytes {
    let n = frames.len() as u64;
    let mut out = Vec::new();
    for (i, frame) in (0..).zip(frames) {
        let _ = write!(out, "id: {}\ndata: ", last + 1 + i - n);
        out.extend_from_slice(frame.json());
        out.extend_from_slice(b"\n\n");
    }
    Bytes::from(out)
}

/// A named event with a JSON payload (`session`, `close`).
pub(crate) fn named(event: &str, data: &serde_json::Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

impl Body for Stream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        match this.session.take(this.number, cx, &mut this.taken) {
            Take::Gone => {
                this.done = true;
                Poll::Ready(None)
            }
            Take::Closed(code, reason) => {
                this.done = true;
                let close = serde_json::json!({ "code": code, "reason": reason });
                Poll::Ready(Some(Ok(Frame::data(named("close", &close).into()))))
            }
            Take::Frames(last) => {
                let chunk = events(this.taken.iter(), last);
                let n: usize = this.taken.iter().map(Payload::len).sum();
                this.session.outbox.written(n);
                this.taken.clear();
                if this.taken.capacity() > 64 {
                    this.taken = VecDeque::new();
                }
                this.keep_alive.reset();
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Take::Nothing => match this.keep_alive.poll_tick(cx) {
                Poll::Ready(_) => {
                    Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(KEEP_ALIVE)))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.first.is_none()
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.session.detach(self.number);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_is_one_data_line_per_frame_each_with_its_id() {
        let frames = [Payload::from("{\"a\":1}"), Payload::from("{\"b\":2}")];
        assert_eq!(
            &events(frames.iter(), 7)[..],
            b"id: 6\ndata: {\"a\":1}\n\nid: 7\ndata: {\"b\":2}\n\n"
        );
    }
}
