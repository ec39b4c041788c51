//! Which session a request is signed in with: its cookie's id, looked up
//! by hash in the store (on the hub's readers, never on the hub), live
//! while used within `CHAT_SESSION_DAYS`. Each use is recorded (when and
//! from where, for the account page) at most once a minute per session.

use crate::server::config::Config;
use crate::server::cookies;
use crate::server::hub::{addr_key, HubHandle, SignedIn};
use crate::store::accounts::{AccountChange, AccountQuery, SessionRow, MAX_AGENT_CHARS};
use crate::store::{now_ms, StoreError};
use axum::http::{header, HeaderMap};
use std::net::IpAddr;
use std::sync::Arc;

/// How often a session's use is recorded at most (ms).
const TOUCH_EVERY_MS: u64 = 60_000;

/// SHA-256 of a session id: all the store keeps.
pub(crate) use crate::server::cookies::secret_hash as session_hash;

/// A session found live.
#[derive(Debug, Clone)]
pub(crate) struct Live {
    /// What the hub needs of it.
    pub(crate) signed: SignedIn,
}

/// The live session the request's cookie names, if any (`Ok(None)`: no
/// cookie, an unknown or ended session, or one unused for too long). A
/// store that cannot answer is an error, never a guess.
pub(crate) async fn signed_in(
    hub: &HubHandle,
    config: &Config,
    headers: &HeaderMap,
    addr: IpAddr,
) -> Result<Option<Live>, StoreError> {
    let Some(id) = cookies::session_id(headers, config) else {
        return Ok(None);
    };
    let hash = session_hash(&id);
    let found = hub
        .read_accounts(move |r| {
            let Some(session) = r.session(&hash)? else {
                return Ok(None);
            };
            let query = AccountQuery::ByIdentity(session.identity.clone());
            Ok(r.account(&query)?.map(|account| (session, account.role)))
        })
        .await?;
    let Some((row, role)) = found else {
        return Ok(None);
    };
    let now = now_ms();
    let idle_ms = config.session_idle.as_millis().min(u64::MAX as u128) as u64;
    if expired(row.used_ms, now, idle_ms) {
        return Ok(None); // the upkeep removes it
    }
    let (addr, agent) = (where_from(addr), agent(headers));
    if now.saturating_sub(row.used_ms) >= TOUCH_EVERY_MS || row.addr != addr || row.agent != agent {
        let touch = AccountChange::Touch {
            hash,
            used_ms: now,
            addr,
            agent,
        };
        // Nobody waits: a lost record of use costs nothing.
        let _ = hub.save_accounts(vec![touch], false).await;
    }
    let signed = SignedIn {
        hash,
        identity: Arc::from(row.identity.as_str()),
        role,
        rooms: None,
    };
    Ok(Some(Live { signed }))
}

/// True when a session last used at `used_ms` has been unused for
/// `idle_ms` or more at `now_ms`.
fn expired(used_ms: u64, now_ms: u64, idle_ms: u64) -> bool {
    now_ms.saturating_sub(used_ms) >= idle_ms
}

/// Where a session is used from, as the account page shows it: the
/// address as limits count it (IPv6 by /64).
pub(crate) fn where_from(addr: IpAddr) -> String {
    addr_key(addr).to_string()
}

/// The request's `User-Agent`, cut to [`MAX_AGENT_CHARS`] characters.
pub(crate) fn agent(headers: &HeaderMap) -> String {
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    agent.chars().take(MAX_AGENT_CHARS).collect()
}

/// A new session's row for `identity` (the hub fills it in at sign-up),
/// begun now from `addr` with the request's agent; and its id for the cookie.
pub(crate) fn new_session(
    identity: &str,
    addr: IpAddr,
    headers: &HeaderMap,
) -> (String, SessionRow) {
    let id = cookies::new_session_id();
    let now = now_ms();
    let row = SessionRow {
        hash: session_hash(&id),
        identity: identity.to_owned(),
        created_ms: now,
        used_ms: now,
        addr: where_from(addr),
        agent: agent(headers),
    };
    (id, row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_ends_exactly_when_it_has_been_unused_for_its_time() {
        let day = 86_400_000;
        assert!(
            !expired(1_000, 1_000 + 30 * day - 1, 30 * day),
            "the last instant"
        );
        assert!(expired(1_000, 1_000 + 30 * day, 30 * day), "at its time");
        assert!(
            !expired(5_000, 1_000, day),
            "a clock that went back ends nothing"
        );
    }
}
