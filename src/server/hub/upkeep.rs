//! What the hub does by itself, once a tick (a second): `member_count`
//! frames that are due, connections never welcomed (4003), unused rooms,
//! the commit queue's gauge; and once a minute, identities past their lease
//! and messages past `CHAT_RETENTION_DAYS`.

use super::{stats, ConnId, Hub};
use crate::protocol::CLOSE_HELLO_TIMEOUT;
use crate::store::group_commit::Job;
use crate::store::now_ms;
use std::time::Instant;

/// Identities past their lease are forgotten, and old messages removed,
/// every this many ticks.
const SWEEP_EVERY_TICKS: u64 = 60;
/// Most messages one sweep removes (`CHAT_RETENTION_DAYS`): about 20 ms of
/// the writer's time.
const EXPIRE_PER_SWEEP: usize = 10_000;

impl Hub {
    /// One tick's work.
    pub(super) fn on_upkeep_tick(&mut self) {
        self.ticks += 1;
        if self.ticks.is_multiple_of(SWEEP_EVERY_TICKS) {
            self.registry.sweep(now_ms());
            self.expire_old_messages();
            self.expire_sessions(now_ms());
        }
        self.close_unwelcomed(Instant::now());
        if let Some(w) = &self.writer {
            let depth = w.max_capacity() - w.capacity();
            metrics::gauge!(stats::COMMIT_QUEUE).set(depth as f64);
        }
        self.remove_unused_rooms(now_ms());
        self.on_tick()
    }

    /// Starts `conn`'s hello deadline.
    pub(super) fn expect_hello(&mut self, conn: ConnId) {
        let due = Instant::now() + self.config.hello_timeout;
        self.hello_due.push_back((due, conn));
    }

    /// With `CHAT_RETENTION_DAYS` set, asks the commit thread to remove up
    /// to [`EXPIRE_PER_SWEEP`] messages older than that (a backlog goes
    /// away a sweep at a time, so the writer is never held long).
    fn expire_old_messages(&self) {
        if let Some(keep) = self.config.retention {
            let keep = keep.as_millis().min(u64::MAX as u128) as u64;
            let before_ms = now_ms().saturating_sub(keep);
            let max_rows = EXPIRE_PER_SWEEP;
            // A full queue skips one sweep; the next takes it up.
            let _ = self.queue(Job::Expire {
                before_ms,
                max_rows,
            });
        }
    }

    /// Closes (4003) the connections due by `now` that no `hello` welcomed
    /// and that watch nothing: an idle socket holds a file descriptor and
    /// memory.
    fn close_unwelcomed(&mut self, now: Instant) {
        while let Some(&(due, conn)) = self.hello_due.front() {
            if due > now {
                return;
            }
            self.hello_due.pop_front();
            let Some(s) = self.sessions.get(&conn) else {
                continue;
            };
            if s.identity.is_some() {
                continue;
            }
            if s.watching.is_empty() {
                s.outbox.close(CLOSE_HELLO_TIMEOUT, "no hello in time");
            } else {
                // A watcher (1.1) needs no name; checked again later, in
                // order, since every deadline queued before was earlier.
                self.hello_due
                    .push_back((now + self.config.hello_timeout, conn));
            }
        }
    }
}
