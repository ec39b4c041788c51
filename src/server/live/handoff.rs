//! Fallback POSTs that reach a node other than the one holding their
//! session (with PostgreSQL, several nodes behind a load balancer without
//! sticky sessions): handed through the database ([`crate::store::pg::Handoff`])
//! to the node that holds it, applied there exactly as a POST of its own
//! ([`super::apply_post`]: the same sequence check, the same hub), and its
//! answer handed back. The client sees the holder's status, or 503 when the
//! holder did not answer in time (it retries the same POST, which is then a
//! duplicate or applied once), or 404 when no node holds the session.
//!
//! A resumed stream (`GET /live?session=…`) is not handed over: at another
//! node it is a 404, and the client starts over (`join` with `after`).

use super::session::Sessions;
use super::{apply_post, gone};
use crate::server::cookies::secret_hash;
use crate::server::hub::HubHandle;
use crate::store::pg::{Handoff, LiveNotice};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// How long a node waits for the holder's answer before answering 503. A
/// handoff is two notices and three statements: milliseconds when the
/// holder is alive; a holder that died is removed with its sessions once
/// its lease runs out, and the client's retry then gets 404.
const ANSWER_WAIT: Duration = Duration::from_secs(5);
/// How long opening a session waits for its row before going on without it
/// (its POSTs then work at this node only, as with sticky sessions).
const HOLD_WAIT: Duration = Duration::from_secs(2);

/// An answer from the node holding a session: its status and reason.
type Answer = (u16, String);

/// This node's side of the handoff.
pub(crate) struct Relay {
    /// The database's side.
    pg: Handoff,
    /// This node's sessions, for the POSTs handed here.
    sessions: Arc<Sessions>,
    /// The hub they are applied to.
    hub: HubHandle,
    /// Where POSTs handed here are applied (the listening thread hears them).
    runtime: tokio::runtime::Handle,
    /// POSTs handed on, by ticket, waiting for their answer.
    waiting: Mutex<HashMap<u64, oneshot::Sender<Answer>>>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").finish_non_exhaustive()
    }
}

/// Removes a ticket from [`Relay::waiting`] however the wait ends (the
/// client may go away mid-wait).
struct Waiting<'a>(&'a Relay, u64);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting().remove(&self.1);
    }
}

impl Relay {
    /// A relay on the runtime it is made on.
    pub(crate) fn new(
        pg: Handoff,
        sessions: Arc<Sessions>,
        hub: HubHandle,
    ) -> Result<Arc<Relay>, tokio::runtime::TryCurrentError> {
        Ok(Arc::new(Relay {
            pg,
            sessions,
            hub,
            runtime: tokio::runtime::Handle::try_current()?,
            waiting: Mutex::default(),
        }))
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Answer>>> {
        self.waiting.lock().expect("waiting lock")
    }

    /// Says that this node holds session `id` (before its id is given out).
    pub(crate) async fn hold(&self, id: &str) {
        let held = tokio::time::timeout(HOLD_WAIT, self.pg.hold(secret_hash(id))).await;
        if !matches!(held, Ok(Ok(()))) {
            tracing::warn!("a fallback session is not in the database: its POSTs must come here");
        }
    }

    /// Session `id` ended.
    pub(crate) fn release(&self, id: &str) {
        self.pg.release(secret_hash(id));
    }

    /// Hands POST `seq` of session `id` (not held here) to the node
    /// holding it, and answers what that node answered.
    pub(crate) async fn forward(&self, id: &str, seq: u64, ends: bool, body: &[u8]) -> Response {
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).expect("the OS random source works");
        // Below 2^63: the ticket is a BIGINT in the database.
        let ticket = u64::from_le_bytes(random) >> 1;
        let (tx, rx) = oneshot::channel();
        self.waiting().insert(ticket, tx);
        let _waiting = Waiting(self, ticket);
        let forwarded = self
            .pg
            .forward(ticket, secret_hash(id), seq, ends, body.to_vec())
            .await;
        match forwarded {
            Ok(true) => {}
            Ok(false) => return gone(StatusCode::NOT_FOUND, "no such session: open a new one"),
            Err(e) => {
                tracing::warn!(error = %e, "a fallback POST could not be handed on");
                return unavailable();
            }
        }
        match tokio::time::timeout(ANSWER_WAIT, rx).await {
            Ok(Ok((status, reason))) => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
                (status, reason).into_response()
            }
            _ => {
                self.pg.forget(ticket);
                unavailable()
            }
        }
    }

    /// What the listening thread heard for this node's fallback.
    pub(crate) fn heard(self: &Arc<Self>, notice: LiveNotice) {
        match notice {
            LiveNotice::Post(ticket) => {
                let relay = self.clone();
                self.runtime.spawn(async move { relay.apply(ticket).await });
            }
            LiveNotice::Done {
                ticket,
                status,
                reason,
            } => {
                if let Some(waiter) = self.waiting().remove(&ticket) {
                    let _ = waiter.send((status, reason));
                }
            }
        }
    }

    /// Applies the POST handed here under `ticket`, and answers its node.
    async fn apply(&self, ticket: u64) {
        let posted = match self.pg.take(ticket).await {
            Ok(Some(posted)) => posted,
            // Its node stopped waiting (it answered 503; the client retries).
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "a POST handed here could not be read");
                return;
            }
        };
        let (status, reason) = match self.sessions.get_hashed(&posted.hash) {
            Some(session) => {
                apply_post(
                    &self.hub,
                    session,
                    posted.seq,
                    posted.ends,
                    posted.body.into(),
                )
                .await
            }
            None => (StatusCode::NOT_FOUND, "no such session: open a new one"),
        };
        self.pg
            .answer(&posted.origin, ticket, status.as_u16(), reason);
    }
}

/// The answer when the handoff failed: the client retries the same POST.
fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the server holding this session did not answer: send this POST again",
    )
        .into_response()
}
