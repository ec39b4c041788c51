//! The model frame by frame: replay dedup, the offline queue, the in-flight
//! match in the replay, where each error lands, presence and typing.

use super::*;
use crate::protocol::{ChatMessage, PresenceState, ServerFrame, UserInfo};

mod reading;

fn message(id: u64, user: &str, text: &str, nonce: Option<&str>) -> ChatMessage {
    ChatMessage {
        room: GENERAL_ROOM.into(),
        id,
        user: user.into(),
        text: text.into(),
        html: text.into(),
        ts: 0,
        nonce: nonce.map(str::to_owned),
        ..ChatMessage::default()
    }
}

fn texts(room: &Room) -> Vec<String> {
    room.entries.with_untracked(|e| {
        e.iter()
            .map(|x| match x {
                Entry::Message(m) => m.text.clone(),
                Entry::Notice { text, .. } => format!("[{text}]"),
            })
            .collect()
    })
}

/// Frames the model sent, as a recording [`Link`] saw them.
type Sent = StoredValue<Vec<ClientFrame>>;

/// A link that records every frame (and accepts it while `open`).
fn recording_link(open: StoredValue<bool>) -> (Link, Sent) {
    let sent: Sent = StoredValue::new(Vec::new());
    let link = Link {
        send: Callback::new(move |frame| {
            let ok = open.get_value();
            if ok {
                sent.update_value(|s| s.push(frame));
            }
            ok
        }),
        hello: Callback::new(|_| {}),
        reconnect: Callback::new(|_| {}),
        notify: Callback::new(|_| {}),
    };
    (link, sent)
}

/// The `send` frames recorded: (text, nonce).
fn sends(sent: Sent) -> Vec<(String, String)> {
    sent.with_value(|s| {
        s.iter()
            .filter_map(|f| match f {
                ClientFrame::Send { text, nonce, .. } => {
                    Some((text.clone(), nonce.clone().unwrap_or_default()))
                }
                _ => None,
            })
            .collect()
    })
}

/// A page rendered with messages 1 and 2, then welcomed as `me`.
fn online() -> (Owner, Chat) {
    let owner = Owner::new();
    let chat = owner.with(|| {
        let chat = Chat::new(&PageData {
            room: GENERAL_ROOM.into(),
            messages: vec![message(1, "a", "one", None), message(2, "b", "two", None)],
            ..PageData::default()
        });
        chat.apply(
            ServerFrame::Welcome {
                user: UserInfo {
                    id: "i".into(),
                    name: "me".into(),
                    account: false,
                    role: "guest".into(),
                },
                token: "t".into(),
                rooms: vec![GENERAL_ROOM.into()],
                mine: vec![],
            },
            0.0,
        );
        chat
    });
    (owner, chat)
}

fn error(code: ErrorCode, message: &str, nonce: Option<String>) -> ServerFrame {
    ServerFrame::Error {
        code,
        message: message.into(),
        nonce,
        retry_after_ms: None,
    }
}

fn joined(chat: &Chat, messages: Vec<ChatMessage>) {
    chat.apply(
        ServerFrame::Joined {
            room: GENERAL_ROOM.into(),
            members: vec!["me".into()],
            member_count: 1,
            messages,
            missed: false,
            last_read: None,
            role: None,
            visibility: None,
            dm: None,
            staff: vec![],
            settings: Default::default(),
        },
        0.0,
    );
}

#[test]
fn a_replay_after_a_reconnect_shows_each_message_once() {
    let (owner, chat) = online();
    owner.with(|| {
        let room = chat.room(GENERAL_ROOM).unwrap();
        // The replay overlaps what the page already shows.
        joined(
            &chat,
            vec![message(2, "b", "two", None), message(3, "c", "three", None)],
        );
        chat.apply(ServerFrame::Message(message(3, "c", "three", None)), 0.0);
        chat.apply(ServerFrame::Message(message(4, "c", "four", None)), 0.0);
        assert_eq!(texts(&room), ["one", "two", "three", "four"]);
        assert_eq!(room.last_id.get_value(), 4);
    });
}

#[test]
fn our_messages_wait_offline_are_resent_with_their_nonce_and_resolved_only_by_our_own() {
    let (owner, chat) = online();
    owner.with(|| {
        let open = StoredValue::new(true);
        let (link, sent) = recording_link(open);
        chat.link.set_value(Some(link));
        let room = chat.room(GENERAL_ROOM).unwrap();
        joined(&chat, vec![]);
        chat.post("sent and echoed").unwrap();
        chat.post("in flight at the drop").unwrap();
        let nonces: Vec<String> = room
            .pending
            .with_untracked(|p| p.iter().map(|x| x.nonce.clone()).collect());
        assert_eq!(
            sends(sent),
            [
                ("sent and echoed".to_owned(), nonces[0].clone()),
                ("in flight at the drop".to_owned(), nonces[1].clone())
            ],
            "both sent at once, each with its own nonce"
        );
        chat.apply(
            ServerFrame::Message(message(3, "me", "sent and echoed", Some(&nonces[0]))),
            0.0,
        );
        assert_eq!(room.pending.with_untracked(Vec::len), 1);

        // The connection drops; a message typed offline waits unsent.
        open.set_value(false);
        chat.disconnected();
        chat.conn.set(Conn::Waiting { until: 0.0 });
        chat.post("typed offline").unwrap();
        assert_eq!(sends(sent).len(), 2, "nothing sent while offline");

        // Back: the in-flight one was stored (it is in the replay with its
        // nonce), so it is not sent again; the offline one is sent now, once.
        open.set_value(true);
        chat.conn.set(Conn::Online);
        joined(
            &chat,
            vec![message(4, "me", "in flight at the drop", Some(&nonces[1]))],
        );
        let typed_offline = room.pending.with_untracked(|p| p[0].nonce.clone());
        assert_eq!(
            sends(sent)[2..],
            [("typed offline".to_owned(), typed_offline.clone())]
        );
        let left: Vec<(String, Option<u64>)> = room
            .pending
            .with_untracked(|p| p.iter().map(|x| (x.text.clone(), x.sent_on)).collect());
        assert_eq!(
            left,
            [("typed offline".to_owned(), Some(chat.session.get_value()))]
        );
        assert_eq!(
            texts(&room),
            ["one", "two", "sent and echoed", "in flight at the drop"]
        );

        // Only our own message with its nonce resolves it: not the same
        // text without it, not another member's message carrying it.
        chat.apply(
            ServerFrame::Message(message(5, "me", "typed offline", None)),
            0.0,
        );
        let theirs = message(6, "mallory", "x", Some(&typed_offline));
        chat.apply(ServerFrame::Message(theirs), 0.0);
        assert_eq!(room.pending.with_untracked(Vec::len), 1);

        // Dropped again before the echo: sent again with the same nonce
        // (the server posts it once), and resolved by the original.
        open.set_value(false);
        chat.disconnected();
        open.set_value(true);
        joined(&chat, vec![]);
        assert_eq!(
            sends(sent)[3..],
            [("typed offline".to_owned(), typed_offline.clone())]
        );
        let original = message(7, "me", "typed offline", Some(&typed_offline));
        chat.apply(ServerFrame::Message(original), 0.0);
        assert_eq!(room.pending.with_untracked(Vec::len), 0);
    });
}

#[test]
fn errors_land_where_they_belong() {
    let (owner, chat) = online();
    owner.with(|| {
        let room = chat.room(GENERAL_ROOM).unwrap();
        joined(&chat, vec![]);
        chat.post("too fast").unwrap();
        let nonce = room.pending.with_untracked(|p| p[0].nonce.clone());
        chat.apply(error(ErrorCode::RateLimited, "slow down", Some(nonce)), 0.0);
        assert_eq!(
            room.pending.with_untracked(|p| p[0].error.clone()),
            Some("slow down".into())
        );

        // A refused join takes the room away again and explains why.
        assert!(chat.join("other"));
        assert_eq!(chat.current.get_untracked(), "other");
        chat.apply(
            error(ErrorCode::TooManyRooms, "at most 50 rooms", None),
            0.0,
        );
        assert!(chat.room("other").is_none());
        assert_eq!(chat.current.get_untracked(), GENERAL_ROOM);
        assert_eq!(
            chat.room_error.get_untracked(),
            Some("at most 50 rooms".into())
        );

        // The rule is checked before anything is sent.
        assert!(!chat.join("<script>"));
        assert_eq!(chat.room_error.get_untracked(), Some(ROOM_RULE.into()));

        chat.apply(
            error(ErrorCode::NameTaken, "the name \"me\" is in use", None),
            0.0,
        );
        assert_eq!(chat.me.get_untracked(), None);
        assert!(chat
            .name_error
            .get_untracked()
            .unwrap()
            .contains("choose another"));

        chat.apply(error(ErrorCode::BadRequest, "malformed", None), 0.0);
        assert_eq!(chat.notice.get_untracked(), Some("malformed".into()));
    });
}

#[test]
fn presence_and_typing_update_the_room() {
    let (owner, chat) = online();
    owner.with(|| {
        let room = chat.room(GENERAL_ROOM).unwrap();
        joined(&chat, vec![]);
        let presence = |state| ServerFrame::Presence {
            room: GENERAL_ROOM.into(),
            user: "zed".into(),
            state,
        };
        chat.apply(presence(PresenceState::Joined), 0.0);
        chat.apply(
            ServerFrame::Typing {
                room: GENERAL_ROOM.into(),
                user: "zed".into(),
            },
            1_000.0,
        );
        assert_eq!(room.members.get_untracked(), ["me", "zed"]);
        assert_eq!(room.member_count.get_untracked(), 2);
        assert_eq!(room.typing.get_untracked(), [("zed".to_owned(), 6_000.0)]);
        chat.apply(presence(PresenceState::Left), 2_000.0);
        assert_eq!(room.members.get_untracked(), ["me"]);
        assert_eq!(room.member_count.get_untracked(), 1);
        assert!(room.typing.get_untracked().is_empty());
        assert_eq!(texts(&room), ["one", "two", "[zed joined]", "[zed left]"]);
    });
}

#[test]
fn a_large_room_shows_its_count_and_pages_its_members_once_each() {
    let (owner, chat) = online();
    owner.with(|| {
        let open = StoredValue::new(true);
        let (link, sent) = recording_link(open);
        chat.link.set_value(Some(link));
        let room = chat.room(GENERAL_ROOM).unwrap();
        chat.apply(
            ServerFrame::Joined {
                room: GENERAL_ROOM.into(),
                members: vec!["ada".into(), "Bo".into(), "cy".into()],
                member_count: 150,
                messages: vec![],
                missed: false,
                last_read: None,
                role: None,
                visibility: None,
                dm: None,
                staff: vec![],
                settings: Default::default(),
            },
            0.0,
        );
        assert_eq!(room.member_count.get_untracked(), 150);
        assert!(room.members_more.get_untracked());
        // A join before the end of the list is listed; one past it comes with a page.
        let joined = |user: &str| ServerFrame::Presence {
            room: GENERAL_ROOM.into(),
            user: user.into(),
            state: PresenceState::Joined,
        };
        chat.apply(joined("Bea"), 0.0);
        chat.apply(joined("zoe"), 0.0);
        assert_eq!(room.members.get_untracked(), ["ada", "Bea", "Bo", "cy"]);
        assert_eq!(room.member_count.get_untracked(), 152);

        // One request at a time, after the last name shown.
        chat.load_more_members();
        chat.load_more_members();
        let asked: Vec<ClientFrame> = sent.with_value(|s| {
            s.iter()
                .filter(|f| matches!(f, ClientFrame::Members { .. }))
                .cloned()
                .collect()
        });
        assert_eq!(
            asked,
            [ClientFrame::Members {
                room: GENERAL_ROOM.into(),
                after: Some("cy".into()),
                limit: None
            }]
        );
        // A page overlapping what is shown adds only what follows.
        chat.apply(
            ServerFrame::Members {
                room: GENERAL_ROOM.into(),
                names: vec!["cy".into(), "Dee".into(), "zoe".into()],
                more: false,
            },
            0.0,
        );
        assert_eq!(
            room.members.get_untracked(),
            ["ada", "Bea", "Bo", "cy", "Dee", "zoe"]
        );
        assert!(!room.members_more.get_untracked());
        chat.apply(
            ServerFrame::MemberCount {
                room: GENERAL_ROOM.into(),
                count: 140,
            },
            0.0,
        );
        assert_eq!(room.member_count.get_untracked(), 140);
        // Nothing more to ask for.
        chat.load_more_members();
        assert_eq!(
            sent.with_value(|s| s
                .iter()
                .filter(|f| matches!(f, ClientFrame::Members { .. }))
                .count()),
            1
        );
    });
}

#[test]
fn a_room_keeps_its_newest_500_entries_notices_included() {
    let (owner, chat) = online();
    owner.with(|| {
        let room = chat.room(GENERAL_ROOM).unwrap();
        let presence = |user: &str| ServerFrame::Presence {
            room: GENERAL_ROOM.into(),
            user: user.into(),
            state: PresenceState::Joined,
        };
        // Two messages from the page, then notices up to the bound.
        for i in 0..498 {
            chat.apply(presence(&format!("u{i}")), 0.0);
        }
        assert_eq!(room.entries.with_untracked(Vec::len), 500);
        assert!(!room.has_older.get_untracked(), "nothing dropped yet");
        chat.apply(presence("one-past"), 0.0);
        let all = texts(&room);
        assert_eq!(all.len(), 500);
        assert_eq!(all[0], "two", "the oldest entry went");
        assert_eq!(all[499], "[one-past joined]");
        assert!(
            room.has_older.get_untracked(),
            "a message went: it can be loaded again"
        );
        for i in 0..1000 {
            chat.apply(ServerFrame::Message(message(3 + i, "a", "m", None)), 0.0);
        }
        assert_eq!(room.entries.with_untracked(Vec::len), 500);
    });
}
