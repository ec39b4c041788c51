//! The model frame by frame: replay dedup, the offline queue, the in-flight
//! match in the replay, where each error lands, presence and typing.

use super::*;
use crate::protocol::{ChatMessage, PresenceState, ServerFrame, UserInfo};

fn message(id: u64, user: &str, text: &str, nonce: Option<&str>) -> ChatMessage {
    ChatMessage {
        room: GENERAL_ROOM.into(),
        id,
        user: user.into(),
        text: text.into(),
        html: text.into(),
        ts: 0,
        nonce: nonce.map(str::to_owned),
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
                },
                token: "t".into(),
                rooms: vec![GENERAL_ROOM.into()],
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

#[test]
fn a_mention_marks_its_rooms_badge_and_is_offered_for_a_notification() {
    let (owner, chat) = online();
    owner.with(|| {
        // Mentions offered for a notification, as the link hears them.
        let notes: StoredValue<Vec<Mention>> = StoredValue::new(Vec::new());
        let (mut link, _) = recording_link(StoredValue::new(true));
        link.notify = Callback::new(move |m| notes.update_value(|n| n.push(m)));
        chat.link.set_value(Some(link));
        let last = move || notes.with_value(|n| n.last().cloned());
        joined(&chat, Vec::new());
        assert!(chat.join("side"));
        chat.switch(GENERAL_ROOM);
        let side = chat.room("side").unwrap();
        let in_side = |id, user: &str, text: &str| ChatMessage {
            room: "side".into(),
            ..message(id, user, text, None)
        };
        // Elsewhere, unmentioned: a count, no mark, nothing to notify.
        chat.apply(ServerFrame::Message(in_side(1, "ada", "hello all")), 0.0);
        assert_eq!(
            (side.unread.get_untracked(), side.mentioned.get_untracked()),
            (1, false)
        );
        assert_eq!(last(), None);
        // `@ME` mentions "me" (case aside); `@meow` would not.
        chat.apply(ServerFrame::Message(in_side(2, "ada", "@meow")), 0.0);
        assert!(!side.mentioned.get_untracked());
        chat.apply(ServerFrame::Message(in_side(3, "ada", "hi @ME")), 0.0);
        assert_eq!(
            (side.unread.get_untracked(), side.mentioned.get_untracked()),
            (3, true)
        );
        assert_eq!(
            last(),
            Some(Mention {
                room: "side".into(),
                user: "ada".into(),
                text: "hi @ME".into()
            })
        );
        // Viewing the room clears the mark with the count.
        chat.switch("side");
        assert_eq!(
            (side.unread.get_untracked(), side.mentioned.get_untracked()),
            (0, false)
        );
        // In the room in view: no count, but still a notification (the tab may be hidden).
        notes.update_value(Vec::clear);
        chat.apply(ServerFrame::Message(in_side(4, "bob", "@me look")), 0.0);
        assert!(!side.mentioned.get_untracked());
        assert_eq!(last().map(|m| m.user), Some("bob".into()));
        // Our own message naming ourselves is not a mention.
        notes.update_value(Vec::clear);
        chat.apply(ServerFrame::Message(in_side(5, "me", "note to @me")), 0.0);
        assert_eq!(last(), None);
    });
}

#[test]
fn search_pages_land_in_the_panel_and_a_result_opens_in_context() {
    let (owner, chat) = online();
    owner.with(|| {
        let (link, sent) = recording_link(StoredValue::new(true));
        chat.link.set_value(Some(link));
        joined(&chat, vec![message(200, "a", "newest", None)]);
        let room = chat.room(GENERAL_ROOM).unwrap();
        // Only the newest is shown (the page's 1 and 2 scrolled away).
        room.entries
            .set(vec![Entry::Message(message(200, "a", "newest", None))]);
        room.has_older.set(true);
        chat.search("  apple ");
        let found = |f: fn(&Found) -> String| chat.found.with_untracked(|x| x.as_ref().map(f));
        assert_eq!(
            found(|f| format!("{} {}", f.query, f.loading)),
            Some("apple true".into())
        );
        // A late page of another query is dropped; this one's lands.
        chat.apply(
            ServerFrame::Results {
                query: "other".into(),
                messages: vec![message(1, "a", "x", None)],
                next: None,
            },
            0.0,
        );
        chat.apply(
            ServerFrame::Results {
                query: "apple".into(),
                messages: vec![message(120, "a", "apple pie", None)],
                next: Some("c1".into()),
            },
            0.0,
        );
        assert_eq!(found(|f| f.messages.len().to_string()), Some("1".into()));
        chat.more_results();
        let last = sent.with_value(|s| s.last().cloned());
        assert_eq!(
            last,
            Some(ClientFrame::Search {
                query: "apple".into(),
                room: None,
                before: Some("c1".into()),
                limit: None
            })
        );
        // Refused while asked for: the panel says why.
        chat.apply(error(ErrorCode::RateLimited, "slow down", None), 0.0);
        assert_eq!(
            found(|f| f.error.clone().unwrap_or_default()),
            Some("slow down".into())
        );
        assert_eq!(chat.notice.get_untracked(), None);

        // Opening message 120: older pages until it and five before it are in.
        chat.open_message(GENERAL_ROOM, 120);
        let history = |s: &Vec<ClientFrame>| match s.last() {
            Some(ClientFrame::History { before, .. }) => *before,
            _ => None,
        };
        assert_eq!(sent.with_value(history), Some(200));
        let page = |from: u64, to: u64| ServerFrame::History {
            room: GENERAL_ROOM.into(),
            messages: (from..to).map(|id| message(id, "a", "old", None)).collect(),
        };
        chat.apply(page(140, 200), 0.0);
        assert_eq!(sent.with_value(history), Some(140));
        let asked = sent.with_value(Vec::len);
        chat.apply(page(100, 140), 0.0);
        assert_eq!(
            sent.with_value(Vec::len),
            asked,
            "loaded: nothing more asked"
        );
        assert_eq!(
            chat.target.get_untracked(),
            Some(Target {
                room: GENERAL_ROOM.into(),
                id: 120,
                mark: true
            })
        );
        // Switching rooms lets it go.
        chat.switch(GENERAL_ROOM);
        assert_eq!(chat.target.get_untracked(), None);
    });
}

#[test]
fn the_first_join_puts_the_divider_after_where_we_stopped_and_reading_is_told_once() {
    let (owner, chat) = online();
    owner.with(|| {
        let (link, sent) = recording_link(StoredValue::new(true));
        chat.link.set_value(Some(link));
        let joined_with = |last_read| {
            chat.apply(
                ServerFrame::Joined {
                    room: GENERAL_ROOM.into(),
                    members: vec!["me".into()],
                    member_count: 1,
                    messages: vec![message(3, "a", "three", None)],
                    missed: false,
                    last_read,
                },
                0.0,
            )
        };
        joined_with(Some(1));
        let room = chat.room(GENERAL_ROOM).unwrap();
        assert_eq!(room.divider.get_untracked(), Some(1));
        let target = chat.target.get_untracked().unwrap();
        assert_eq!((target.id, target.mark), (2, false));
        // A later `joined` (a reconnect) moves nothing.
        joined_with(Some(3));
        assert_eq!(room.divider.get_untracked(), Some(1));
        // Reading is told once per new message.
        let reads = || {
            sent.with_value(|s| {
                s.iter()
                    .filter_map(|f| match f {
                        ClientFrame::Read { id, .. } => Some(*id),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
            })
        };
        chat.mark_read();
        chat.mark_read();
        assert_eq!(reads(), [3]);
        chat.apply(ServerFrame::Message(message(4, "a", "four", None)), 0.0);
        chat.mark_read();
        assert_eq!(reads(), [3, 4]);
        // Leaving the room's view takes the divider away.
        assert!(chat.join("side"));
        assert_eq!(room.divider.get_untracked(), None);
    });
}
