//! Reading a [`ServerFrame`] (the browser's side): one flat struct of every
//! field, then a check per `type` of which must be there.

use super::{
    Attachment, AuditAction, AuditEntry, ChatMessage, ErrorCode, MyRoom, PresenceState, Reaction,
    ReplyTo, RoomRole, RoomSettings, ServerFrame, UserInfo, Visibility,
};
use serde::Deserialize;

/// Every field any server frame has, for reading a [`ServerFrame`].
///
/// serde's derived reader for an internally tagged enum buffers each frame
/// into a generic tree first; in the browser that machinery alone was ~35 KB
/// of WASM. Reading one flat struct and checking per `type` which fields
/// must be there gives the same result with a fraction of the code.
#[derive(Deserialize)]
struct FlatFrame {
    #[serde(rename = "type")]
    kind: String,
    user: Option<UserField>,
    token: Option<String>,
    rooms: Option<Vec<String>>,
    room: Option<String>,
    members: Option<Vec<String>>,
    member_count: Option<usize>,
    names: Option<Vec<String>>,
    more: Option<bool>,
    count: Option<usize>,
    messages: Option<Vec<ChatMessage>>,
    #[serde(default)]
    missed: bool,
    id: Option<u64>,
    text: Option<String>,
    html: Option<String>,
    ts: Option<u64>,
    nonce: Option<String>,
    state: Option<PresenceState>,
    code: Option<ErrorCode>,
    message: Option<String>,
    query: Option<String>,
    next: Option<String>,
    last_read: Option<u64>,
    #[serde(default)]
    mine: Vec<MyRoom>,
    role: Option<RoomRole>,
    visibility: Option<Visibility>,
    dm: Option<DmField>,
    by: Option<String>,
    #[serde(default)]
    staff: Vec<(String, RoomRole)>,
    edited_ts: Option<u64>,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    reactions: Vec<Reaction>,
    reply_to: Option<ReplyTo>,
    #[serde(default)]
    attachments: Vec<Attachment>,
    emoji: Option<String>,
    on: Option<bool>,
    #[serde(default)]
    slow_mode_secs: u32,
    #[serde(default)]
    read_only: bool,
    #[serde(default)]
    topic: String,
    reason: Option<String>,
    entries: Option<Vec<AuditEntry>>,
    action: Option<AuditAction>,
    retry_after_ms: Option<u64>,
}

/// `dm`: the other person's name in `joined`, a flag in `invited`.
enum DmField {
    /// `joined`'s name.
    Name(String),
    /// `invited`'s flag.
    Flag(bool),
}

impl<'de> Deserialize<'de> for DmField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = DmField;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a display name or a flag")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DmField, E> {
                Ok(DmField::Name(v.to_owned()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<DmField, E> {
                Ok(DmField::Flag(v))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// `user`: an object in `welcome`, a display name elsewhere.
enum UserField {
    /// `welcome`'s `{id, name}`.
    Info(UserInfo),
    /// A display name.
    Name(String),
}

impl<'de> Deserialize<'de> for UserField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = UserField;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a display name or {id, name}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<UserField, E> {
                Ok(UserField::Name(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<UserField, A::Error> {
                UserInfo::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(UserField::Info)
            }
        }
        d.deserialize_any(Visit)
    }
}

impl<'de> Deserialize<'de> for ServerFrame {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let f = FlatFrame::deserialize(d)?;
        fn need<T, E: Error>(v: Option<T>, field: &'static str) -> Result<T, E> {
            v.ok_or_else(|| E::missing_field(field))
        }
        let settings = RoomSettings {
            slow_mode_secs: f.slow_mode_secs,
            read_only: f.read_only,
            topic: f.topic,
        };
        let name = |user: Option<UserField>| match need(user, "user")? {
            UserField::Name(name) => Ok(name),
            UserField::Info(_) => Err(D::Error::custom("`user` must be a display name here")),
        };
        Ok(match f.kind.as_str() {
            "welcome" => ServerFrame::Welcome {
                user: match need(f.user, "user")? {
                    UserField::Info(info) => info,
                    UserField::Name(_) => {
                        return Err(D::Error::custom("`user` must be {id, name}"))
                    }
                },
                token: need(f.token, "token")?,
                rooms: need(f.rooms, "rooms")?,
                mine: f.mine,
            },
            "joined" => {
                let members: Vec<String> = need(f.members, "members")?;
                ServerFrame::Joined {
                    room: need(f.room, "room")?,
                    // A version 1 server lists every member.
                    member_count: f.member_count.unwrap_or(members.len()),
                    members,
                    messages: need(f.messages, "messages")?,
                    missed: f.missed,
                    last_read: f.last_read,
                    role: f.role,
                    visibility: f.visibility,
                    dm: match f.dm {
                        Some(DmField::Name(name)) => Some(name),
                        _ => None,
                    },
                    staff: f.staff,
                    settings,
                }
            }
            "invited" => ServerFrame::Invited {
                room: need(f.room, "room")?,
                by: need(f.by, "by")?,
                dm: matches!(f.dm, Some(DmField::Flag(true))),
                user: match f.user {
                    Some(UserField::Name(name)) => Some(name),
                    _ => None,
                },
            },
            "role" => ServerFrame::Role {
                room: need(f.room, "room")?,
                user: name(f.user)?,
                role: need(f.role, "role")?,
            },
            "members" => ServerFrame::Members {
                room: need(f.room, "room")?,
                names: need(f.names, "names")?,
                more: need(f.more, "more")?,
            },
            "rooms" => ServerFrame::Rooms {
                rooms: need(f.rooms, "rooms")?,
                more: need(f.more, "more")?,
            },
            "member_count" => ServerFrame::MemberCount {
                room: need(f.room, "room")?,
                count: need(f.count, "count")?,
            },
            "left" => ServerFrame::Left {
                room: need(f.room, "room")?,
                reason: f.reason,
            },
            "room_updated" => ServerFrame::RoomUpdated {
                room: need(f.room, "room")?,
                settings,
            },
            "audit" => ServerFrame::Audit {
                entries: need(f.entries, "entries")?,
                more: need(f.more, "more")?,
            },
            "moderated" => ServerFrame::Moderated {
                action: need(f.action, "action")?,
                room: f.room,
                user: name(f.user)?,
                count: f.count.map(|c| c as u64),
            },
            "watching" => ServerFrame::Watching {
                room: need(f.room, "room")?,
                messages: need(f.messages, "messages")?,
                member_count: need(f.member_count, "member_count")?,
            },
            "unwatched" => ServerFrame::Unwatched {
                room: need(f.room, "room")?,
            },
            "message" => ServerFrame::Message(ChatMessage {
                room: need(f.room, "room")?,
                id: need(f.id, "id")?,
                user: name(f.user)?,
                text: need(f.text, "text")?,
                html: need(f.html, "html")?,
                ts: need(f.ts, "ts")?,
                nonce: f.nonce,
                edited_ts: f.edited_ts,
                deleted: f.deleted,
                reactions: f.reactions,
                reply_to: f.reply_to,
                attachments: f.attachments,
            }),
            "edited" => ServerFrame::Edited {
                room: need(f.room, "room")?,
                id: need(f.id, "id")?,
                text: need(f.text, "text")?,
                html: need(f.html, "html")?,
                edited_ts: need(f.edited_ts, "edited_ts")?,
            },
            "deleted" => ServerFrame::Deleted {
                room: need(f.room, "room")?,
                id: need(f.id, "id")?,
            },
            "reaction" => ServerFrame::Reaction {
                room: need(f.room, "room")?,
                id: need(f.id, "id")?,
                emoji: need(f.emoji, "emoji")?,
                user: name(f.user)?,
                on: need(f.on, "on")?,
                count: f.count.map(|c| u32::try_from(c).unwrap_or(u32::MAX)),
            },
            "presence" => ServerFrame::Presence {
                room: need(f.room, "room")?,
                user: name(f.user)?,
                state: need(f.state, "state")?,
            },
            "typing" => ServerFrame::Typing {
                room: need(f.room, "room")?,
                user: name(f.user)?,
            },
            "history" => ServerFrame::History {
                room: need(f.room, "room")?,
                messages: need(f.messages, "messages")?,
            },
            "results" => ServerFrame::Results {
                query: need(f.query, "query")?,
                messages: need(f.messages, "messages")?,
                next: f.next,
            },
            "pong" => ServerFrame::Pong,
            "error" => ServerFrame::Error {
                code: need(f.code, "code")?,
                message: need(f.message, "message")?,
                nonce: f.nonce,
                retry_after_ms: f.retry_after_ms,
            },
            other => return Err(D::Error::custom(format!("unknown frame type {other:?}"))),
        })
    }
}
