//! What a connection shares with the hub: its outbound queue and the request
//! to close it ([`Outbox`]), and the gauge of live connections that shutdown
//! waits on ([`ConnGauge`]).
//!
//! The hub pushes with [`Outbox::push`], which never waits: a member whose
//! queue is over its bound (in bytes) is closed with [`CLOSE_TOO_SLOW`] and
//! never holds the others up. The connection drains the queue: a
//! WebSocket's task ([`super::conn`]) or, *1.2*, a fallback session's
//! attached stream ([`super::live`]). Both write the same queued bytes.
//!
//! A reply read from the store holds its place in the queue
//! ([`Outbox::reserve`] gives a [`Slot`]): frames queued after it wait
//! behind it until the reply fills it, so a `joined` replay and the room's
//! live messages after it reach the client in order, while the hub goes on
//! with other commands as the read runs.
//!
//! Why a mutex-guarded deque rather than a tokio channel: the connection
//! takes everything queued in one lock (a channel hands items out one by
//! one), an idle connection holds no block of slots, and the bound is in
//! bytes, which a channel cannot count.

use super::payload::{encode_json, Payload};
use crate::protocol::{ServerFrame, CLOSE_TOO_SLOW};
use futures::task::AtomicWaker;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Notify;

/// Identifies one connection for its lifetime; never reused.
pub(crate) type ConnId = u64;

/// A new connection's id (either transport).
pub(crate) fn next_conn() -> ConnId {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The queue proper: what may go now, and what waits behind a slot.
#[derive(Debug, Default)]
struct Queue {
    /// Encoded frames the connection task may take now.
    ready: VecDeque<Payload>,
    /// From the oldest unfilled slot on: slots and frames, in order.
    held: VecDeque<Held>,
    /// The next slot's number.
    next_slot: u64,
}

/// One entry behind an unfilled slot.
#[derive(Debug)]
enum Held {
    /// A frame queued after the slot.
    Frame(Payload),
    /// A reply's place, by number, until it is filled.
    Slot(u64),
}

impl Queue {
    /// Moves what no unfilled slot holds back into `ready`.
    fn release(&mut self) {
        while let Some(Held::Frame(_)) = self.held.front() {
            let Some(Held::Frame(frame)) = self.held.pop_front() else {
                unreachable!("just seen");
            };
            self.ready.push_back(frame);
        }
    }
}

/// The shared state of one connection's outbound side.
#[derive(Debug)]
struct Shared {
    /// Encoded frames queued and not yet taken by the connection task.
    queue: Mutex<Queue>,
    /// Bytes queued or taken and not yet written to the socket: the bound.
    pending: AtomicUsize,
    /// Most bytes `pending` may reach before the client counts as too slow.
    limit: usize,
    /// The close code and reason, once someone asked for a close.
    reason: Mutex<Option<(u16, &'static str)>>,
    /// Set once `reason` is.
    closed: AtomicBool,
    /// Wakes the connection task (frames queued, or a close asked for).
    task: AtomicWaker,
    /// *1.2*: wakes whoever waits for a close alone (a fallback session's
    /// task, while its stream takes the frames).
    closer: AtomicWaker,
}

/// Where the hub sends frames for one connection, and how anyone closes it.
///
/// Frames arrive encoded as JSON ([`encode_json`]), so a broadcast is one
/// shared [`Payload`] for every member: queuing it is a reference count, and
/// each transport writes those bytes as they are, its own framing around
/// them. The queue is bounded by the bytes it holds, counted until they
/// are written.
#[derive(Debug, Clone)]
pub(crate) struct Outbox(Arc<Shared>);

impl Outbox {
    /// An empty queue that may hold at most `limit` bytes.
    pub(crate) fn new(limit: usize) -> Outbox {
        Outbox(Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            pending: AtomicUsize::new(0),
            limit,
            reason: Mutex::new(None),
            closed: AtomicBool::new(false),
            task: AtomicWaker::new(),
            closer: AtomicWaker::new(),
        }))
    }

    /// Queues encoded frames, in order; past `limit` bytes the connection is
    /// closed as too slow and nothing is queued. Never waits.
    pub(crate) fn push(&self, frames: &[Payload]) {
        if !self.count(frames) {
            return;
        }
        let mut queue = self.0.queue.lock().expect("outbox lock");
        if queue.held.is_empty() {
            queue.ready.extend(frames.iter().cloned());
        } else {
            queue.held.extend(frames.iter().cloned().map(Held::Frame));
        }
        drop(queue);
        self.0.task.wake();
    }

    /// Counts `frames` against the bound; past it, closes the connection as
    /// too slow and returns false (nothing counted).
    fn count(&self, frames: &[Payload]) -> bool {
        let n: usize = frames.iter().map(Payload::len).sum();
        let pending = self.0.pending.fetch_add(n, Ordering::Relaxed) + n;
        if pending > self.0.limit {
            self.0.pending.fetch_sub(n, Ordering::Relaxed);
            if self.close(CLOSE_TOO_SLOW, "too slow: outbound queue full") {
                metrics::counter!(super::stats::SLOW_CLOSES).increment(1);
            }
            return false;
        }
        true
    }

    /// Holds a place for a reply at the end of the queue: what is queued
    /// after it waits until [`Slot::fill`] (or the slot's drop, which
    /// fills it with nothing).
    pub(crate) fn reserve(&self) -> Slot {
        let mut queue = self.0.queue.lock().expect("outbox lock");
        let id = queue.next_slot;
        queue.next_slot += 1;
        queue.held.push_back(Held::Slot(id));
        Slot {
            outbox: self.clone(),
            id,
            open: true,
        }
    }

    /// Puts `frames` in slot `id`'s place and lets out what no earlier
    /// slot holds.
    fn fill(&self, id: u64, frames: &[Payload]) {
        let counted = self.count(frames);
        let mut queue = self.0.queue.lock().expect("outbox lock");
        let Some(at) = queue
            .held
            .iter()
            .position(|h| matches!(h, Held::Slot(s) if *s == id))
        else {
            return;
        };
        queue.held.remove(at);
        if counted {
            for (i, frame) in frames.iter().enumerate() {
                queue.held.insert(at + i, Held::Frame(frame.clone()));
            }
        }
        queue.release();
        drop(queue);
        self.0.task.wake();
    }

    /// Queues one frame, encoding it.
    pub(crate) fn send(&self, frame: &ServerFrame) {
        self.push(&[encode_json(frame)]);
    }

    /// Asks for the connection to be closed; the first reason wins.
    pub(crate) fn close(&self, code: u16, reason: &'static str) -> bool {
        let mut slot = self.0.reason.lock().expect("outbox lock");
        let first = slot.is_none();
        if first {
            *slot = Some((code, reason));
        }
        drop(slot);
        self.0.closed.store(true, Ordering::Release);
        self.0.task.wake();
        self.0.closer.wake();
        first
    }

    /// The close code and reason, if a close was asked for.
    pub(crate) fn reason(&self) -> Option<(u16, &'static str)> {
        *self.0.reason.lock().expect("outbox lock")
    }

    /// For the connection task: `Ready` with the close code and reason once
    /// a close was asked for; meanwhile, when `out` is empty, everything
    /// queued moves into it. The two deques swap, so both keep their
    /// capacity and a steady stream allocates nothing. Registers the task's
    /// waker for the next push or close.
    pub(crate) fn poll_next(
        &self,
        cx: &mut Context<'_>,
        out: &mut VecDeque<Payload>,
    ) -> Poll<(u16, &'static str)> {
        self.0.task.register(cx.waker());
        if self.0.closed.load(Ordering::Acquire) {
            return Poll::Ready(self.reason().expect("set before the flag"));
        }
        if out.is_empty() {
            std::mem::swap(&mut self.0.queue.lock().expect("outbox lock").ready, out);
        }
        Poll::Pending
    }

    /// `Ready` once a close was asked for; registers `cx` for it (not for
    /// frames: the connection task's waker is apart).
    pub(crate) fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.0.closer.register(cx.waker());
        match self.0.closed.load(Ordering::Acquire) {
            true => Poll::Ready(()),
            false => Poll::Pending,
        }
    }

    /// Everything that may go now, in order (not what waits behind a slot).
    #[cfg(test)]
    pub(crate) fn take(&self) -> VecDeque<Payload> {
        std::mem::take(&mut self.0.queue.lock().expect("outbox lock").ready)
    }

    /// For the connection task: `n` bytes reached the socket.
    pub(crate) fn written(&self, n: usize) {
        self.0.pending.fetch_sub(n, Ordering::Relaxed);
    }

    /// Bytes queued or taken and not yet written.
    #[cfg(test)]
    pub(crate) fn pending(&self) -> usize {
        self.0.pending.load(Ordering::Relaxed)
    }
}

/// A reply's place in one connection's queue ([`Outbox::reserve`]).
#[derive(Debug)]
pub(crate) struct Slot {
    /// The queue.
    outbox: Outbox,
    /// Its number there.
    id: u64,
    /// Not filled yet.
    open: bool,
}

impl Slot {
    /// Puts `frames` in the slot's place; what was queued after it follows.
    pub(crate) fn fill(mut self, frames: &[Payload]) {
        self.open = false;
        self.outbox.fill(self.id, frames);
    }

    /// Fills the slot with one frame, encoding it.
    pub(crate) fn send(self, frame: &ServerFrame) {
        self.fill(&[encode_json(frame)]);
    }
}

impl Drop for Slot {
    /// A slot dropped unfilled (its read ended without a reply) holds
    /// nothing back.
    fn drop(&mut self) {
        if self.open {
            self.outbox.fill(self.id, &[]);
        }
    }
}

/// Counts live connections (their tasks) so shutdown can wait for them.
#[derive(Debug, Default)]
pub(crate) struct ConnGauge {
    /// Live connection tasks.
    count: AtomicUsize,
    /// Signalled each time one ends.
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

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn zeros(n: usize) -> Payload {
        Bytes::from(vec![0; n]).into()
    }

    #[test]
    fn the_bound_counts_bytes_until_written_and_allows_exactly_the_limit() {
        let outbox = Outbox::new(1000);
        outbox.push(&[zeros(600), zeros(400)]);
        assert_eq!(outbox.reason(), None, "exactly the limit is allowed");
        assert_eq!(outbox.pending(), 1000);
        let taken = outbox.take();
        assert_eq!(taken.len(), 2);
        assert_eq!(outbox.pending(), 1000, "taken is not yet written");
        outbox.written(999);
        outbox.push(&[zeros(999)]);
        assert_eq!(outbox.reason(), None);
        outbox.push(&[zeros(1)]);
        assert_eq!(
            outbox.reason(),
            Some((CLOSE_TOO_SLOW, "too slow: outbound queue full"))
        );
        assert_eq!(outbox.pending(), 1000, "the refused frame is not counted");
    }

    fn texts(frames: VecDeque<Payload>) -> Vec<Payload> {
        frames.into_iter().collect()
    }

    #[test]
    fn frames_queued_after_a_slot_wait_until_it_is_filled_then_follow_it() {
        let outbox = Outbox::new(1000);
        let b = Payload::from;
        outbox.push(&[b("before")]);
        let first = outbox.reserve();
        outbox.push(&[b("live 1")]);
        let second = outbox.reserve();
        outbox.push(&[b("live 2")]);
        assert_eq!(texts(outbox.take()), [b("before")]);
        second.fill(&[b("reply 2")]);
        assert_eq!(
            texts(outbox.take()),
            Vec::<Payload>::new(),
            "behind the first"
        );
        first.fill(&[b("reply 1a"), b("reply 1b")]);
        assert_eq!(
            texts(outbox.take()),
            [
                b("reply 1a"),
                b("reply 1b"),
                b("live 1"),
                b("reply 2"),
                b("live 2")
            ]
        );
        let dropped = outbox.reserve();
        outbox.push(&[b("after")]);
        drop(dropped);
        assert_eq!(
            texts(outbox.take()),
            [b("after")],
            "a dropped slot holds nothing"
        );
        let lens = [
            "before", "live 1", "live 2", "reply 1a", "reply 1b", "reply 2", "after",
        ];
        assert_eq!(
            outbox.pending(),
            lens.iter().map(|s| s.len()).sum::<usize>()
        );
    }

    #[test]
    fn a_reply_past_the_bound_closes_the_connection_and_holds_nothing_back() {
        let outbox = Outbox::new(10);
        let slot = outbox.reserve();
        outbox.push(&[Payload::from("live")]);
        slot.fill(&[zeros(7)]);
        assert_eq!(
            outbox.reason(),
            Some((CLOSE_TOO_SLOW, "too slow: outbound queue full"))
        );
        assert_eq!(texts(outbox.take()), [Payload::from("live")]);
    }

    #[test]
    fn the_first_close_reason_wins() {
        let outbox = Outbox::new(10);
        outbox.close(4000, "first");
        outbox.close(1001, "second");
        assert_eq!(outbox.reason(), Some((4000, "first")));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let closed = outbox.poll_next(&mut cx, &mut VecDeque::new());
        assert_eq!(closed, Poll::Ready((4000, "first")));
    }
}
