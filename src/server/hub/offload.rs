//! Reads off the hub task. The hub asks, and goes on with its next command;
//! the read runs on the [reader pool](crate::store::pool), and its answer
//! goes either straight to the asker ([`Hub::read_apart`]: a reply for a
//! connection's queue or a page), or back to the hub as a command when it
//! needs the hub's state ([`Hub::read_then`]).
//!
//! Without a tokio runtime (the hub's unit tests) a read runs in place and
//! its answer is applied at once, so those tests stay step by step.

use super::{unavailable, Command, Hub};
use crate::protocol::ProtocolError;
use crate::store::pool::{Kind, Pending};
use crate::store::{StoreError, StoreReader};

/// Reads that may wait or run at once, server-wide; past it a request that
/// reads is refused with `unavailable` (the server is busy) at once
/// instead of queueing without bound. Each connection's own rate limits
/// keep it far from this in normal use.
pub(super) const MAX_PENDING_READS: usize = 4096;

/// What the hub does once a read is back: a command of its own.
pub(crate) struct Then(Box<dyn FnOnce(&mut Hub) + Send>);

impl Then {
    /// Runs it on the hub.
    pub(super) fn run(self, hub: &mut Hub) {
        (self.0)(hub);
    }
}

impl std::fmt::Debug for Then {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Then(..)")
    }
}

/// A read the pool has room for, asked before anything changes
/// ([`Hub::admit_read`]); `None` for the hub's own reads (catch-up), which
/// are bounded by the rooms, not by requests.
pub(super) type Ticket = Option<Pending>;

/// Whether reads run beside the hub (a runtime) or in place (unit tests).
pub(super) fn beside() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

impl Hub {
    /// A place for one more read, or `unavailable` when the server has as
    /// many waiting as it takes. Asked first, so a refused request has
    /// changed nothing.
    pub(super) fn admit_read(&self) -> Result<Ticket, ProtocolError> {
        match self.reader.admit() {
            Ok(pending) => Ok(Some(pending)),
            Err(_) => {
                tracing::warn!(
                    pending = self.reader.pending(),
                    "reads refused: too many waiting"
                );
                Err(ProtocolError::unavailable(
                    "the server is busy; try again in a moment",
                ))
            }
        }
    }

    /// Runs `read` beside the hub and hands its result to `answer` there
    /// (on the read's task): for replies that need nothing of the hub.
    pub(super) fn read_apart<T: Send + 'static>(
        &self,
        ticket: Ticket,
        kind: Kind,
        read: impl FnOnce(&dyn StoreReader) -> Result<T, StoreError> + Send + 'static,
        answer: impl FnOnce(Result<T, ProtocolError>) + Send + 'static,
    ) {
        if !beside() {
            return answer(self.reader.run(read).map_err(unavailable));
        }
        let pool = self.reader.clone();
        tokio::spawn(async move {
            let result = pool.read(kind, read).await.map_err(unavailable);
            answer(result);
            drop(ticket);
        });
    }

    /// Runs `read` beside the hub; `then` gets its result on the hub, as a
    /// command of its own (after whatever came in meanwhile: it checks
    /// again what it relies on).
    pub(super) fn read_then<T: Send + 'static>(
        &mut self,
        ticket: Ticket,
        read: impl FnOnce(&dyn StoreReader) -> Result<T, StoreError> + Send + 'static,
        then: impl FnOnce(&mut Hub, Result<T, ProtocolError>) + Send + 'static,
    ) {
        let commands = self.commands.as_ref().and_then(|c| c.upgrade());
        let Some(commands) = commands.filter(|_| beside()) else {
            let result = self.reader.run(read).map_err(unavailable);
            return then(self, result);
        };
        let pool = self.reader.clone();
        tokio::spawn(async move {
            let result = pool.read(Kind::Plain, read).await.map_err(unavailable);
            drop(ticket);
            let then = Then(Box::new(move |hub: &mut Hub| then(hub, result)));
            // Gone only when the hub is: nothing is waiting then.
            let _ = commands.send(Command::Then(then)).await;
        });
    }
}
