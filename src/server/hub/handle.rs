//! [`HubHandle`]: the only way into the hub task. Each method sends one
//! [`Command`]; those that need an answer carry a reply channel.

use super::fatal::Fatal;
use super::post::check_text;
use super::{Client, Command, FormPost, Posted, Reply, Request, RoomForm, Snapshot};
use crate::protocol::{ClientFrame, ProtocolError};
use crate::server::outbox::{ConnGauge, ConnId, Outbox};
use crate::store::pg::Notice;
use crate::store::pool::ReaderPool;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A cheap handle to the hub task: the only way in.
#[derive(Debug, Clone)]
pub(crate) struct HubHandle {
    /// Commands into the hub.
    pub(super) commands: mpsc::Sender<Command>,
    /// The hub's readers, shared: the account routes read there too.
    pub(super) reader: Arc<ReaderPool>,
    /// Live connections.
    pub(crate) gauge: Arc<ConnGauge>,
    /// The group-commit thread (and the cluster's publishing thread),
    /// joined at shutdown.
    pub(super) threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// Set when the hub task or the commit thread died.
    pub(super) fatal: Arc<Fatal>,
    /// *1.2*: notified when files may have gone with their messages (the
    /// files sweeper waits on it, besides its timer).
    pub(crate) files_gone: Arc<tokio::sync::Notify>,
}

impl HubHandle {
    /// Registers a new connection; false when the hub is gone.
    pub(crate) async fn connect(&self, conn: ConnId, outbox: Outbox, client: Client) -> bool {
        self.commands
            .send(Command::Connect(conn, outbox, client))
            .await
            .is_ok()
    }

    /// Hands the hub a frame from `conn` (a `send`'s text checked and
    /// rendered here, on the caller's task); false when the hub is gone.
    pub(crate) async fn frame(&self, conn: ConnId, frame: ClientFrame) -> bool {
        self.request_from(conn, Request::new(frame)).await
    }

    /// Hands the hub a frame from `conn` that was refused before it
    /// reached it (malformed, binary): answered there, after it counts
    /// against the connection's request rate limit.
    pub(crate) async fn refused(&self, conn: ConnId, e: ProtocolError) -> bool {
        self.request_from(conn, Request::Refused(e)).await
    }

    async fn request_from(&self, conn: ConnId, request: Request) -> bool {
        self.commands
            .send(Command::Frame(conn, request))
            .await
            .is_ok()
    }

    /// Tells the hub that `conn` is gone.
    pub(crate) async fn disconnect(&self, conn: ConnId) {
        let _ = self.commands.send(Command::Disconnect(conn)).await;
    }

    /// A room's recent messages and live members, read at a point that the
    /// live stream continues without gap.
    /// *1.2*: as `client` may see it: a room it may not is missing.
    pub(crate) async fn snapshot(
        &self,
        room: &str,
        client: &Client,
    ) -> Result<Snapshot, ProtocolError> {
        let (room, client) = (room.to_owned(), client.clone());
        self.request(|reply| Command::Snapshot {
            room,
            client,
            reply,
        })
        .await
    }

    /// *1.2*: a room form of the page (make a room, invite, join): the
    /// room to show next.
    pub(crate) async fn room_form(
        &self,
        client: Client,
        form: RoomForm,
    ) -> Result<String, ProtocolError> {
        self.request(|reply| Command::RoomForm {
            client,
            form,
            reply,
        })
        .await
    }

    /// Posts a message for someone without a WebSocket (the plain form): the
    /// same validation, store and broadcast as `hello` + `send`. Resolves
    /// once stored.
    pub(crate) async fn post(&self, post: FormPost) -> Result<Posted, ProtocolError> {
        let text = check_text(&post.text);
        self.request(|reply| Command::Post { post, text, reply })
            .await
    }

    /// True once the hub task has ended (the server stopped).
    pub(crate) fn stopped(&self) -> bool {
        self.commands.is_closed()
    }

    /// True when `token` (an identity cookie's) proves a known identity;
    /// false too when the hub is gone.
    pub(crate) async fn knows(&self, token: &str) -> bool {
        let (reply, answer) = oneshot::channel();
        let token = token.to_owned();
        let _ = self.commands.send(Command::Knows { token, reply }).await;
        answer.await.unwrap_or(false)
    }

    /// *1.2* (section 4): true when `identity` is banned from the server
    /// (true too when the hub is gone: unknown means no).
    pub(crate) async fn banned(&self, identity: &str) -> bool {
        let (reply, answer) = oneshot::channel();
        let identity = identity.to_owned();
        let _ = self
            .commands
            .send(Command::Banned { identity, reply })
            .await;
        answer.await.unwrap_or(true)
    }

    /// Sends a command carrying a reply channel and waits for the answer;
    /// `unavailable` when the hub dropped it (shutting down).
    pub(super) async fn request<T>(
        &self,
        command: impl FnOnce(Reply<T>) -> Command,
    ) -> Result<T, ProtocolError> {
        let (reply, answer) = oneshot::channel();
        let _ = self.commands.send(command(reply)).await;
        answer.await.unwrap_or_else(|_| {
            Err(ProtocolError::unavailable(
                "the server could not take this now; try again",
            ))
        })
    }

    /// Whether the store commits a write and answers a read now (each
    /// within `limit`), or which of the two does not. What went wrong is
    /// logged here, never handed on: the answer is for anyone who asks.
    pub(crate) async fn health(&self, limit: Duration) -> Result<(), &'static str> {
        let (write, wrote) = oneshot::channel();
        let (read, was_read) = oneshot::channel();
        if self
            .commands
            .send(Command::Probe { write, read })
            .await
            .is_err()
        {
            return Err("the hub is not running");
        }
        let both = async { (wrote.await, was_read.await) };
        let Ok((wrote, was_read)) = tokio::time::timeout(limit, both).await else {
            tracing::warn!(?limit, "health check: the store did not answer in time");
            return Err("the store did not answer in time");
        };
        match wrote {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "health check: a write failed");
                return Err("the store is not taking writes");
            }
            Err(_) => return Err("the store is not taking writes (shutting down or full)"),
        }
        match was_read {
            Ok(Ok(())) => Ok(()),
            _ => Err("the store is not answering reads"),
        }
    }

    /// Commands waiting for the hub now.
    pub(crate) fn queue_depth(&self) -> usize {
        self.commands.max_capacity() - self.commands.capacity()
    }

    /// Another node's notice (from a plain thread: it blocks while the
    /// hub's queue is full); false when the hub is gone.
    pub(crate) fn remote_blocking(&self, notice: Notice) -> bool {
        self.commands.blocking_send(Command::Remote(notice)).is_ok()
    }

    /// Resolves, with what died, if the hub task or the commit thread dies
    /// (a panic): the server then stops (see [`fatal`]).
    pub(crate) async fn died(&self) -> String {
        self.fatal.died().await
    }

    /// Panics the hub task.
    #[cfg(test)]
    pub(crate) async fn panic(&self) {
        let _ = self.commands.send(Command::Panic).await;
    }

    /// Closes every connection with 1001, waits (up to `limit`) for them to
    /// end, then for the store to commit what it holds and close.
    pub(crate) async fn shutdown(&self, limit: Duration) {
        if self.commands.send(Command::Shutdown).await.is_ok() {
            self.gauge.drained(limit).await;
        }
        // The commit thread ends once the hub dropped its queue (at
        // Shutdown), the publishing thread once the hub dropped its way in.
        let threads = std::mem::take(&mut *self.threads.lock().expect("threads lock"));
        let joined = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        });
        if tokio::time::timeout(limit, joined).await.is_err() {
            tracing::warn!("the store did not close in time");
        }
    }
}
