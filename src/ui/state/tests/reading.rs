//! Mentions, search and where you left off, frame by frame.

use super::*;

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
                    role: None,
                    visibility: None,
                    dm: None,
                    staff: vec![],
                    settings: Default::default(),
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
