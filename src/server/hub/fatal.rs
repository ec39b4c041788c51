//! When the hub task or the store's commit thread dies (a panic), the chat
//! cannot go on: every session, room and id counter lives in them. [`Fatal`]
//! records the first death and wakes the server, which then stops with an
//! error (exit code 1) so that its supervisor (systemd `Restart=always`, a
//! container runtime) starts it again; at start the hub is rebuilt from the
//! store, and clients reconnect and resume with `after`.
//!
//! Restarting the hub inside the process was the other choice; it would
//! have to close every connection anyway (their sessions died with the hub),
//! and a process restart also clears whatever state caused the panic.

use std::sync::Arc;
use tokio::sync::watch;

/// The first death of a part the chat needs; see the module docs.
#[derive(Debug)]
pub(crate) struct Fatal {
    /// What died, once something has.
    dead: watch::Sender<Option<String>>,
}

impl Default for Fatal {
    fn default() -> Self {
        Fatal {
            dead: watch::channel(None).0,
        }
    }
}

impl Fatal {
    /// Records that `what` died (the first call wins) and logs it.
    pub(crate) fn fail(&self, what: &str) {
        let first = self.dead.send_if_modified(|dead| {
            dead.is_none()
                .then(|| *dead = Some(what.to_owned()))
                .is_some()
        });
        if first {
            tracing::error!("{what} died; the server stops so that it can be restarted");
        }
    }

    /// Resolves with what died, once something has.
    pub(crate) async fn died(&self) -> String {
        let mut rx = self.dead.subscribe();
        let dead = rx.wait_for(Option::is_some).await;
        dead.map_or_else(|_| String::new(), |d| d.clone().unwrap_or_default())
    }

    /// Something that reports `what` when it is dropped by a panic: moved
    /// into a thread's closure, it sees that thread die.
    pub(crate) fn watch(self: &Arc<Self>, what: &'static str) -> PanicWatch {
        PanicWatch {
            fatal: self.clone(),
            what,
        }
    }
}

/// Reports to [`Fatal`] when dropped while its thread panics.
#[derive(Debug)]
pub(crate) struct PanicWatch {
    /// Where to report.
    fatal: Arc<Fatal>,
    /// What it watches.
    what: &'static str,
}

impl Drop for PanicWatch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.fatal.fail(self.what);
        }
    }
}
