//! Cluster notices as sent on [`CHANNEL`](super::CHANNEL): JSON with short
//! keys, since a notice holds at most 8,000 bytes (names and rooms are far
//! shorter).

use super::{Ended, Event, Remote};
use crate::store::access::{AccessEvent, RoomKind, Standing};
use crate::store::accounts::Role;
use crate::store::IdentityRow;
use serde::{Deserialize, Serialize};

/// A notice as sent.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub(crate) enum Wire {
    Hello {
        n: String,
        c: u64,
        i: WireIdentity,
    },
    Join {
        n: String,
        c: u64,
        r: String,
    },
    Leave {
        n: String,
        c: u64,
        r: String,
    },
    Bye {
        n: String,
        c: u64,
    },
    Typing {
        n: String,
        r: String,
        u: String,
    },
    Identity {
        n: String,
        i: WireIdentity,
    },
    Ended {
        n: String,
        i: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        h: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        x: Option<String>,
    },
    Account {
        n: String,
        i: String,
        r: String,
    },
    Erased {
        n: String,
        i: String,
    },
    Access {
        n: String,
        r: String,
        v: i16,
        i: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        s: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        b: Option<String>,
    },
    Changed {
        n: String,
        r: String,
        f: u64,
        t: u64,
    },
    Moderation {
        n: String,
        m: crate::store::moderation::ModerationChange,
    },
    Gone {
        n: String,
    },
    Reset {
        n: String,
    },
}

/// An identity in a notice: the token's hash in hex.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WireIdentity {
    id: String,
    t: String,
    name: String,
    s: u64,
}

impl From<&IdentityRow> for WireIdentity {
    fn from(row: &IdentityRow) -> Self {
        WireIdentity {
            id: row.id.clone(),
            t: hex(&row.token_hash),
            name: row.name.clone(),
            s: row.seen_ms,
        }
    }
}

impl WireIdentity {
    fn row(self) -> Option<IdentityRow> {
        Some(IdentityRow {
            token_hash: unhex(&self.t)?,
            id: self.id,
            name: self.name,
            seen_ms: self.s,
        })
    }
}

/// A hash in hex.
fn hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// A hash from its hex.
fn unhex(hex: &str) -> Option<[u8; 32]> {
    let mut hash = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(hash)
}

/// What a notice on [`CHANNEL`](super::CHANNEL) means to node `me`: `None` for its own
/// notices and for what it cannot read; `Some(Err(()))` when the tables
/// must be read again (another node reset).
pub(crate) fn parse(payload: &str, me: &str) -> Option<Result<Remote, ()>> {
    let wire: Wire = serde_json::from_str(payload).ok()?;
    let (node, remote) = match wire {
        Wire::Hello { n, c, i } => {
            let identity = i.row()?;
            (
                n.clone(),
                Remote::Hello {
                    node: n,
                    conn: c,
                    identity,
                },
            )
        }
        Wire::Join { n, c, r } => (
            n.clone(),
            Remote::Join {
                node: n,
                conn: c,
                room: r,
            },
        ),
        Wire::Leave { n, c, r } => (
            n.clone(),
            Remote::Leave {
                node: n,
                conn: c,
                room: r,
            },
        ),
        Wire::Bye { n, c } => (n.clone(), Remote::Bye { node: n, conn: c }),
        Wire::Typing { n, r, u } => (n, Remote::Typing { room: r, name: u }),
        Wire::Identity { n, i } => (n, Remote::Identity(i.row()?)),
        Wire::Erased { n, i } => (n, Remote::Erased(i)),
        Wire::Account { n, i, r } => (
            n,
            Remote::Account {
                identity: i,
                role: Role::parse(&r),
            },
        ),
        Wire::Ended { n, i, h, x } => {
            let ended = Ended {
                identity: i,
                hash: h.map(|h| unhex(&h)).map_or(Some(None), |h| h.map(Some))?,
                except: x.map(|x| unhex(&x)).map_or(Some(None), |x| x.map(Some))?,
            };
            (n, Remote::SessionsEnded(ended))
        }
        Wire::Access { n, r, v, i, s, b } => {
            // A standing this server does not know grants nothing: dropped.
            let standing = match s {
                Some(s) => Some(Standing::parse(&s)?),
                None => None,
            };
            let event = AccessEvent {
                room: r,
                kind: RoomKind::from_code(v.into()),
                identity: i,
                standing,
                by: b,
            };
            (n, Remote::Access(event))
        }
        Wire::Changed { n, r, f, t } => (
            n,
            Remote::Changed {
                room: r,
                from: f,
                to: t,
            },
        ),
        Wire::Moderation { n, m } => (n, Remote::Moderation(m)),
        // Told that this node is gone: its own thread finds out and resets.
        Wire::Gone { n } => (n.clone(), Remote::Gone(n)),
        Wire::Reset { n } => return (n != me).then_some(Err(())),
    };
    (node != me).then_some(Ok(remote))
}

/// `event` of node `n` as a notice.
pub(crate) fn notice(n: &str, event: &Event) -> String {
    let n = n.to_owned();
    let wire = match event {
        Event::Hello { conn, identity } => Wire::Hello {
            n,
            c: *conn,
            i: identity.into(),
        },
        Event::Join { conn, room } => Wire::Join {
            n,
            c: *conn,
            r: room.clone(),
        },
        Event::Leave { conn, room } => Wire::Leave {
            n,
            c: *conn,
            r: room.clone(),
        },
        Event::Bye { conn } => Wire::Bye { n, c: *conn },
        Event::Typing { room, name } => Wire::Typing {
            n,
            r: room.clone(),
            u: name.clone(),
        },
        Event::Identity(row) => Wire::Identity { n, i: row.into() },
        Event::Erased(identity) => Wire::Erased {
            n,
            i: identity.clone(),
        },
        Event::Account { identity, role } => Wire::Account {
            n,
            i: identity.clone(),
            r: role.as_str().to_owned(),
        },
        Event::SessionsEnded(ended) => Wire::Ended {
            n,
            i: ended.identity.clone(),
            h: ended.hash.as_ref().map(hex),
            x: ended.except.as_ref().map(hex),
        },
        Event::Access(a) => Wire::Access {
            n,
            r: a.room.clone(),
            v: a.kind.code(),
            i: a.identity.clone(),
            s: a.standing.map(|s| s.as_str().to_owned()),
            b: a.by.clone(),
        },
        Event::Changed { room, from, to } => Wire::Changed {
            n,
            r: room.clone(),
            f: *from,
            t: *to,
        },
        Event::Moderation(m) => Wire::Moderation { n, m: m.clone() },
    };
    serde_json::to_string(&wire).expect("encodes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> AccessEvent {
        AccessEvent {
            room: "@0a1b".into(),
            kind: RoomKind::Dm,
            identity: "i".into(),
            standing: Some(Standing::Member(crate::protocol::RoomRole::Owner)),
            by: Some("Zoë".into()),
        }
    }

    fn row() -> IdentityRow {
        IdentityRow {
            id: "abc".into(),
            token_hash: [7; 32],
            name: "Zoë \"q\"".into(),
            seen_ms: 42,
        }
    }

    #[test]
    fn every_event_reads_back_as_the_same_change_on_another_node_and_not_on_its_own() {
        let events = [
            Event::Hello {
                conn: 3,
                identity: row(),
            },
            Event::Join {
                conn: 3,
                room: "general".into(),
            },
            Event::Leave {
                conn: 3,
                room: "general".into(),
            },
            Event::Bye { conn: 3 },
            Event::Typing {
                room: "general".into(),
                name: "Zoë".into(),
            },
            Event::Identity(row()),
            Event::SessionsEnded(Ended {
                identity: "i".into(),
                hash: Some([7; 32]),
                except: None,
            }),
            Event::SessionsEnded(Ended {
                identity: "i".into(),
                hash: None,
                except: Some([9; 32]),
            }),
            Event::Account {
                identity: "i".into(),
                role: Role::Admin,
            },
            Event::Erased("i".into()),
            Event::Access(access()),
            Event::Access(AccessEvent {
                standing: None,
                by: None,
                ..access()
            }),
            Event::Changed {
                room: "general".into(),
                from: 4,
                to: 6,
            },
        ];
        let (n, conn) = ("a".to_string(), 3);
        let expected = [
            Remote::Hello {
                node: n.clone(),
                conn,
                identity: row(),
            },
            Remote::Join {
                node: n.clone(),
                conn,
                room: "general".into(),
            },
            Remote::Leave {
                node: n.clone(),
                conn,
                room: "general".into(),
            },
            Remote::Bye {
                node: n.clone(),
                conn,
            },
            Remote::Typing {
                room: "general".into(),
                name: "Zoë".into(),
            },
            Remote::Identity(row()),
            Remote::SessionsEnded(Ended {
                identity: "i".into(),
                hash: Some([7; 32]),
                except: None,
            }),
            Remote::SessionsEnded(Ended {
                identity: "i".into(),
                hash: None,
                except: Some([9; 32]),
            }),
            Remote::Account {
                identity: "i".into(),
                role: Role::Admin,
            },
            Remote::Erased("i".into()),
            Remote::Access(access()),
            Remote::Access(AccessEvent {
                standing: None,
                by: None,
                ..access()
            }),
            Remote::Changed {
                room: "general".into(),
                from: 4,
                to: 6,
            },
        ];
        assert_eq!(events.len(), expected.len());
        for (event, remote) in events.iter().zip(expected) {
            let payload = notice("a", event);
            assert!(payload.len() < 8000);
            assert_eq!(parse(&payload, "b"), Some(Ok(remote)));
            assert_eq!(parse(&payload, "a"), None, "a node skips its own");
        }
        let reset = serde_json::to_string(&Wire::Reset { n: "a".into() }).unwrap();
        assert_eq!(parse(&reset, "b"), Some(Err(())));
        assert_eq!(parse(&reset, "a"), None);
        assert_eq!(parse("{\"k\":\"nonsense\"}", "b"), None);
        let bad_hash = r#"{"k":"identity","n":"a","i":{"id":"x","t":"zz","name":"q","s":1}}"#;
        assert_eq!(parse(bad_hash, "b"), None);
    }
}
