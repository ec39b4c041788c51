//! The wire types: names and rooms, every frame both ways, limits.

use super::*;

#[test]
fn room_names_follow_the_rule() {
    for ok in ["general", "a", "0", "a-b_c", &"x".repeat(32)] {
        assert!(is_valid_room(ok), "{ok}");
    }
    for bad in [
        "",
        "-a",
        "_a",
        "General",
        "a b",
        "é",
        "a/b",
        &"x".repeat(33),
        "<b>",
    ] {
        assert!(!is_valid_room(bad), "{bad}");
    }
}

#[test]
fn names_are_trimmed_and_bounded() {
    assert_eq!(validate_name("  alice ").unwrap(), "alice");
    assert!(validate_name(&"é".repeat(32)).is_ok());
    assert_eq!(
        validate_name(&"é".repeat(33)).unwrap_err().code,
        ErrorCode::BadName
    );
    assert_eq!(validate_name("   ").unwrap_err().code, ErrorCode::BadName);
    assert_eq!(
        validate_name("a\u{7}b").unwrap_err().code,
        ErrorCode::BadName
    );
}

#[test]
fn text_loses_control_characters_but_keeps_newlines_and_tabs() {
    assert_eq!(sanitize_text(" a\u{0}b\r\n\tc\u{1b} ").unwrap(), "ab\n\tc");
    assert_eq!(
        sanitize_text("\u{7}\n ").unwrap_err().code,
        ErrorCode::BadText
    );
    assert!(sanitize_text(&"x".repeat(2000)).is_ok());
    assert!(sanitize_text(&"x".repeat(2001)).is_err());
}

#[test]
fn every_server_frame_reads_back_as_written() {
    let message = ChatMessage {
        room: "r".into(),
        id: 7,
        user: "bob".into(),
        text: "<b>".into(),
        html: "&lt;b&gt;".into(),
        ts: 5,
        nonce: Some("n".into()),
        ..ChatMessage::default()
    };
    let frames = [
        ServerFrame::Welcome {
            user: UserInfo {
                id: "i".into(),
                name: "al".into(),
                account: false,
                role: "guest".into(),
            },
            token: "t".into(),
            rooms: vec!["general".into()],
            mine: vec![],
        },
        ServerFrame::Joined {
            room: "r".into(),
            members: vec!["al".into()],
            member_count: 1,
            messages: vec![ChatMessage {
                nonce: None,
                ..message.clone()
            }],
            missed: true,
            last_read: None,
            role: None,
            visibility: None,
            dm: None,
            staff: vec![],
            settings: Default::default(),
        },
        ServerFrame::Joined {
            room: "r".into(),
            members: vec![],
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
        ServerFrame::Members {
            room: "r".into(),
            names: vec!["al".into(), "Bo".into()],
            more: true,
        },
        ServerFrame::MemberCount {
            room: "r".into(),
            count: 101,
        },
        ServerFrame::Rooms {
            rooms: vec!["a".into(), "b".into()],
            more: false,
        },
        ServerFrame::Left {
            room: "r".into(),
            reason: None,
        },
        ServerFrame::Message(message.clone()),
        ServerFrame::Message(ChatMessage {
            nonce: None,
            ..message
        }),
        ServerFrame::Presence {
            room: "r".into(),
            user: "al".into(),
            state: PresenceState::Left,
        },
        ServerFrame::Typing {
            room: "r".into(),
            user: "al".into(),
        },
        ServerFrame::History {
            room: "r".into(),
            messages: vec![],
        },
        ServerFrame::Pong,
        ServerFrame::Joined {
            room: "@0a".into(),
            members: vec![],
            member_count: 2,
            messages: vec![],
            missed: false,
            last_read: None,
            role: Some(RoomRole::Owner),
            visibility: Some(Visibility::Private),
            dm: Some("Bo".into()),
            staff: vec![("al".into(), RoomRole::Owner)],
            settings: Default::default(),
        },
        ServerFrame::Welcome {
            user: UserInfo {
                id: "i".into(),
                name: "al".into(),
                account: true,
                role: "user".into(),
            },
            token: String::new(),
            rooms: vec!["team".into()],
            mine: vec![MyRoom {
                room: "team".into(),
                visibility: Visibility::Private,
                role: None,
                dm: None,
            }],
        },
        ServerFrame::Invited {
            room: "team".into(),
            by: "al".into(),
            dm: false,
            user: None,
        },
        ServerFrame::Invited {
            room: "@0a".into(),
            by: "al".into(),
            dm: true,
            user: Some("Bo".into()),
        },
        ServerFrame::Role {
            room: "team".into(),
            user: "Bo".into(),
            role: RoomRole::Moderator,
        },
        ServerFrame::Error {
            code: ErrorCode::RateLimited,
            message: "slow".into(),
            nonce: Some("n".into()),
            retry_after_ms: None,
        },
        ServerFrame::Edited {
            room: "team".into(),
            id: 3,
            text: "fixed <b>".into(),
            html: "fixed &lt;b&gt;".into(),
            edited_ts: 9,
        },
        ServerFrame::Deleted {
            room: "team".into(),
            id: 4,
        },
        ServerFrame::Reaction {
            room: "team".into(),
            id: 3,
            emoji: "👍".into(),
            user: "Bo".into(),
            on: false,
            count: Some(2),
        },
        ServerFrame::Message(ChatMessage {
            room: "team".into(),
            id: 5,
            user: "Bo".into(),
            text: "yes".into(),
            html: "yes".into(),
            ts: 1,
            edited_ts: Some(2),
            reactions: vec![crate::protocol::Reaction {
                emoji: "🎉".into(),
                count: 1,
                mine: true,
            }],
            reply_to: Some(crate::protocol::ReplyTo {
                id: 4,
                deleted: true,
                ..Default::default()
            }),
            ..ChatMessage::default()
        }),
    ];
    for frame in frames {
        let json = frame.to_json();
        assert_eq!(
            serde_json::from_str::<ServerFrame>(&json).unwrap(),
            frame,
            "{json}"
        );
    }
    for bad in [
        r#"{"type":"welcome","user":"al","token":"t","rooms":[]}"#,
        r#"{"type":"message","room":"r","id":1,"user":{"id":"i","name":"n"},"text":"","html":"","ts":1}"#,
        r#"{"type":"left"}"#,
        r#"{"type":"nope"}"#,
        r#"{"room":"r"}"#,
    ] {
        assert!(serde_json::from_str::<ServerFrame>(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_version_1_joined_counts_its_members() {
    let v1 = r#"{"type":"joined","room":"r","members":["a","b"],"messages":[]}"#;
    match serde_json::from_str::<ServerFrame>(v1).unwrap() {
        ServerFrame::Joined { member_count, .. } => assert_eq!(member_count, 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn members_limits_are_checked_at_and_past_their_bounds() {
    for (limit, ok) in [("1", true), ("500", true), ("0", false), ("501", false)] {
        for frame in [
            format!(r#"{{"type":"members","room":"a","limit":{limit}}}"#),
            format!(r#"{{"type":"rooms","limit":{limit}}}"#),
        ] {
            let parsed = ClientFrame::parse(&frame);
            assert_eq!(parsed.is_ok(), ok, "{frame}");
            if let Err(e) = parsed {
                assert_eq!(e.code, ErrorCode::BadRequest);
            }
        }
    }
    assert_eq!(
        ClientFrame::parse(r#"{"type":"members","room":"a","after":"bo"}"#).unwrap(),
        ClientFrame::Members {
            room: "a".into(),
            after: Some("bo".into()),
            limit: None
        }
    );
    assert!(ClientFrame::parse(r#"{"type":"members","room":"a","limit":"5"}"#).is_err());
}

#[test]
fn frames_round_trip_with_the_documented_field_names() {
    let f =
        ClientFrame::parse(r#"{"type":"send","room":"general","text":"hi","nonce":"n1"}"#).unwrap();
    assert_eq!(f.nonce(), Some("n1"));
    let e = ClientFrame::parse(r#"{"type":"send","room":"general","nonce":"n2"}"#).unwrap_err();
    assert_eq!(
        (e.code, e.nonce.as_deref()),
        (ErrorCode::BadRequest, Some("n2"))
    );
    assert!(ClientFrame::parse(r#"{"type":"history","room":"a","limit":0}"#).is_err());
    assert!(ClientFrame::parse(r#"{"type":"history","room":"a","limit":100}"#).is_ok());
    assert!(ClientFrame::parse(r#"{"type":"history","room":"a","limit":101}"#).is_err());
    assert!(ClientFrame::parse(r#"{"type":"nope"}"#).is_err());
    let pong = ServerFrame::Pong.to_json();
    assert_eq!(pong, r#"{"type":"pong"}"#);
    let msg = ServerFrame::Message(ChatMessage {
        room: "r".into(),
        id: 1,
        user: "u".into(),
        text: "t".into(),
        html: "t".into(),
        ts: 5,
        nonce: None,
        ..ChatMessage::default()
    })
    .to_json();
    assert_eq!(
        msg,
        r#"{"type":"message","room":"r","id":1,"user":"u","text":"t","html":"t","ts":5}"#
    );
}
