//! What a connection shares with the hub: its outbound queue ([`Outbox`]),
//! the request to close it ([`Closer`]), and the gauge of live connections
//! that shutdown waits on ([`ConnGauge`]).
//!
//! The hub pushes with [`Outbox::push`], which never waits: a member whose
//! queue is over its bound is closed with [`CLOSE_TOO_SLOW`] and never holds
//! the others up. The connection's writer ([`super::conn`]) drains the queue.

use crate::protocol::{ServerFrame, CLOSE_TOO_SLOW};
use axum::extract::ws::Utf8Bytes;
use futures::task::AtomicWaker;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};

/// Identifies one WebSocket connection for its lifetime; never reused.
pub(crate) type ConnId = u64;

/// A request to close one connection, shared by the hub, its reader and its writer.
///
/// Polled on every write, so it is cheap: a flag and one waker per side.
#[derive(Debug, Default)]
pub(crate) struct Closer {
    /// The close code and reason, once someone asked for a close.
    reason: Mutex<Option<(u16, &'static str)>>,
    /// Set once `reason` is.
    closed: AtomicBool,
    /// Wakes the reader waiting in [`Closer::closed`].
    reader: AtomicWaker,
    /// Wakes the writer waiting in [`Closer::closed`].
    writer: AtomicWaker,
}

/// Which task of a connection waits on its [`Closer`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Side {
    /// The task reading frames.
    Reader,
    /// The task writing frames.
    Writer,
}

impl Closer {
    /// Asks for the connection to be closed; the first reason wins.
    pub(crate) fn close(&self, code: u16, reason: &'static str) {
        let mut slot = self.reason.lock().expect("closer lock");
        if slot.is_none() {
            *slot = Some((code, reason));
        }
        drop(slot);
        self.closed.store(true, Ordering::Release);
        self.reader.wake();
        self.writer.wake();
    }

    /// The close code and reason, if a close was asked for.
    #[cfg(test)]
    pub(crate) fn reason(&self) -> Option<(u16, &'static str)> {
        *self.reason.lock().expect("closer lock")
    }

    /// Resolves with the close code and reason once [`Closer::close`] was
    /// called. One task per side may wait at a time.
    pub(crate) async fn closed(&self, side: Side) -> (u16, &'static str) {
        let waker = match side {
            Side::Reader => &self.reader,
            Side::Writer => &self.writer,
        };
        std::future::poll_fn(|cx| {
            waker.register(cx.waker());
            if self.closed.load(Ordering::Acquire) {
                let reason = *self.reason.lock().expect("closer lock");
                Poll::Ready(reason.expect("set before the flag"))
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

/// One item of a connection's outbound queue: a frame, or several messages
/// of one room committed together (shared by every member, queued once).
#[derive(Debug, Clone)]
pub(crate) enum Outgoing {
    /// One serialized frame.
    Frame(Utf8Bytes),
    /// Serialized frames, in order.
    Frames(Arc<[Utf8Bytes]>),
}

impl Outgoing {
    /// How many frames this item holds.
    pub(crate) fn frames(&self) -> usize {
        match self {
            Outgoing::Frame(_) => 1,
            Outgoing::Frames(all) => all.len(),
        }
    }
}

/// Where the hub sends frames for one connection.
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    /// The queue drained by the connection's writer task.
    pub(crate) queue: mpsc::Sender<Outgoing>,
    /// Frames queued and not yet written; the queue's real bound.
    pub(crate) pending: Arc<AtomicUsize>,
    /// Most frames `pending` may reach before the client counts as too slow.
    pub(crate) limit: usize,
    /// Closes the connection.
    pub(crate) closer: Arc<Closer>,
}

impl Outbox {
    /// A queue of at most `limit` frames, and its receiving end.
    pub(crate) fn new(limit: usize) -> (Outbox, mpsc::Receiver<Outgoing>) {
        let (queue, rx) = mpsc::channel(limit.max(1));
        let outbox = Outbox {
            queue,
            pending: Arc::new(AtomicUsize::new(0)),
            limit,
            closer: Arc::new(Closer::default()),
        };
        (outbox, rx)
    }

    /// Queues an item; past `limit` frames the connection is closed as too slow.
    pub(crate) fn push(&self, item: Outgoing) {
        let n = item.frames();
        let over = self.pending.fetch_add(n, Ordering::Relaxed) + n > self.limit;
        if over
            || matches!(
                self.queue.try_send(item),
                Err(mpsc::error::TrySendError::Full(_))
            )
        {
            self.closer
                .close(CLOSE_TOO_SLOW, "too slow: outbound queue full");
        }
    }

    /// Queues one frame, serializing it.
    pub(crate) fn send(&self, frame: &ServerFrame) {
        self.push(Outgoing::Frame(Utf8Bytes::from(frame.to_json())));
    }
}

/// Counts live connections (writer tasks) so shutdown can wait for them.
#[derive(Debug, Default)]
pub(crate) struct ConnGauge {
    /// Live writer tasks.
    count: AtomicUsize,
    /// Signalled each time a writer ends.
    changed: Notify,
}

/// Decrements the [`ConnGauge`] when dropped.
#[derive(Debug)]
pub(crate) struct GaugeGuard(Arc<ConnGauge>);

impl ConnGauge {
    /// Counts one more live connection until the guard is dropped.
    pub(crate) fn enter(self: &Arc<Self>) -> GaugeGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        GaugeGuard(self.clone())
    }

    /// Live connections now.
    pub(crate) fn live(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Waits until no connection is live, or `limit` passes.
    pub(crate) async fn drained(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.live() == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return;
            }
        }
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}
