//! Identities: `hello`, the tokens that reclaim a name, and live names.
//!
//! A name is held while a connection holds it (compared case-insensitively).
//! A `hello` with a known token takes its identity over, closing the older
//! connection with [`CLOSE_REPLACED`]. Offline identities are remembered up
//! to `max_identities`; past it the least recently seen go first.

use super::{ConnId, Hub, Session};
use crate::protocol::{validate_name, ProtocolError, ServerFrame, UserInfo, CLOSE_REPLACED};
use std::sync::Arc;
use std::time::Instant;

/// A remembered identity.
#[derive(Debug)]
pub(super) struct Identity {
    /// Public id.
    id: String,
    /// Last display name.
    name: Arc<str>,
    /// The connection holding it now.
    conn: Option<ConnId>,
    /// Last time a connection took it (for evicting old offline identities).
    seen: Instant,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the OS random source works");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

impl Hub {
    pub(super) fn on_hello(
        &mut self,
        conn: ConnId,
        name: &str,
        token: Option<&str>,
    ) -> Result<(), ProtocolError> {
        if self.session(conn)?.token.is_some() {
            return Err(ProtocolError::bad_request(
                "this connection already said hello; reconnect to change name",
            ));
        }
        let name = validate_name(name)?;
        let key = name.to_lowercase();
        let known: Option<Arc<str>> = token
            .and_then(|t| self.identities.get_key_value(t))
            .map(|(k, _)| k.clone());
        if let Some(&holder) = self.live_names.get(&key) {
            let holder_token = self.sessions.get(&holder).and_then(|s| s.token.clone());
            if known.is_none() || holder_token != known {
                return Err(ProtocolError::name_taken(name));
            }
        }
        let token = match known {
            Some(token) => {
                let old = self.identities[&token].conn;
                if let Some(old) = old.filter(|&old| old != conn) {
                    if let Some(s) = self.sessions.get(&old) {
                        s.outbox
                            .close(CLOSE_REPLACED, "replaced by a newer connection");
                    }
                    self.remove_session(old);
                }
                token
            }
            None => {
                self.evict_identities();
                let token: Arc<str> = Arc::from(random_hex(16));
                self.identities.insert(
                    token.clone(),
                    Identity {
                        id: random_hex(8),
                        name: Arc::from(name),
                        conn: None,
                        seen: Instant::now(),
                    },
                );
                token
            }
        };
        let name: Arc<str> = Arc::from(name);
        let identity = self.identities.get_mut(&token).expect("identity exists");
        identity.name = name.clone();
        identity.conn = Some(conn);
        identity.seen = Instant::now();
        let user = UserInfo {
            id: identity.id.clone(),
            name: name.to_string(),
        };
        self.live_names.insert(key, conn);
        let session = self.sessions.get_mut(&conn).expect("checked above");
        session.token = Some(token.clone());
        session.name = name;
        let mut rooms: Vec<String> = self.rooms.keys().map(|r| r.to_string()).collect();
        rooms.sort();
        session.outbox.send(&ServerFrame::Welcome {
            user,
            token: token.to_string(),
            rooms,
        });
        Ok(())
    }

    /// Forgets the least recently seen offline identities beyond the cap.
    fn evict_identities(&mut self) {
        let cap = self.config.max_identities;
        if self.identities.len() < cap {
            return;
        }
        let mut offline: Vec<(Instant, Arc<str>)> = self
            .identities
            .iter()
            .filter(|(_, i)| i.conn.is_none())
            .map(|(t, i)| (i.seen, t.clone()))
            .collect();
        offline.sort();
        let excess = self.identities.len() + 1 - cap * 9 / 10;
        for (_, token) in offline.into_iter().take(excess) {
            self.identities.remove(&token);
        }
    }

    /// True when a live connection holds `name` (compared case-insensitively).
    pub(super) fn name_is_live(&self, name: &str) -> bool {
        self.live_names.contains_key(&name.to_lowercase())
    }

    /// Frees the name and identity `session` held on `conn` (it is gone).
    pub(super) fn release_identity(&mut self, conn: ConnId, session: &Session) {
        let Some(token) = &session.token else {
            return;
        };
        if let Some(identity) = self.identities.get_mut(token) {
            if identity.conn == Some(conn) {
                identity.conn = None;
            }
        }
        let key = session.name.to_lowercase();
        if self.live_names.get(&key) == Some(&conn) {
            self.live_names.remove(&key);
        }
    }
}
