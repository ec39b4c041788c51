//! What goes into a member's outbound queue, in bytes: replies cut to their
//! budget, a re-`join` that re-sends nothing, and a crowd leaving at once.

use super::*;
use crate::protocol::ChatMessage;
use crate::server::hub::rooms::fit;

fn message(id: u64, text_bytes: usize) -> ChatMessage {
    ChatMessage {
        room: "r".into(),
        id,
        user: "u".into(),
        text: "t".repeat(text_bytes),
        html: String::new(),
        ts: 0,
        nonce: None,
        ..ChatMessage::default()
    }
}

#[test]
fn replies_fit_their_budget_exactly_at_the_bound_and_drop_the_oldest_past_it() {
    // Each message counts 2 × (text + user + room) + 100 = 2 × 47 + 100 = 194.
    let all: Vec<ChatMessage> = (1..=3).map(|id| message(id, 45)).collect();
    let mut at = all.clone();
    assert!(!fit(&mut at, 3 * 194), "exactly the budget: all kept");
    assert_eq!(at.len(), 3);
    let mut past = all.clone();
    assert!(
        fit(&mut past, 3 * 194 - 1),
        "one byte less: the oldest goes"
    );
    assert_eq!(past.iter().map(|m| m.id).collect::<Vec<_>>(), [2, 3]);
    let mut tiny = all;
    fit(&mut tiny, 1);
    assert_eq!(tiny.len(), 1, "the newest always goes out");
    assert_eq!(tiny[0].id, 3);
}

#[test]
fn joined_and_history_replies_carry_at_most_a_quarter_of_the_outbound_bound() {
    let mut h = Harness::new(Config {
        outbound_bytes: 64 * 1024,
        ..config()
    });
    let poster = h.member("poster", "general");
    // 2,000-character messages count about 8 KB each: two fit in 16 KiB.
    for i in 1..=10 {
        h.send(&poster, "general", &format!("{i:02}{}", "x".repeat(1998)));
    }
    h.commit();
    let mut late = h.user("late");
    h.frame(&late, json!({"type": "join", "room": "general"}));
    let joined = late.only();
    assert_eq!(ids(&joined["messages"]), [9, 10], "the newest that fit");
    assert_eq!(
        joined.get("missed"),
        None,
        "a plain join pages back with history"
    );
    let mut back = h.user("back");
    h.frame(
        &back,
        json!({"type": "join", "room": "general", "after": 0}),
    );
    let replay = back.only();
    assert_eq!(ids(&replay["messages"]), [9, 10]);
    assert_eq!(replay["missed"], true, "a cut replay says so");
    h.frame(
        &late,
        json!({"type": "history", "room": "general", "before": 9, "limit": 100}),
    );
    assert_eq!(ids(&late.of_type("history")[0]["messages"]), [7, 8]);
}

#[test]
fn a_join_of_a_room_already_joined_reads_and_resends_nothing() {
    let mut h = Harness::new(config());
    let mut a = h.member("a", "general");
    for i in 0..3 {
        h.send(&a, "general", &i.to_string());
    }
    h.commit();
    a.frames();
    for after in [json!(0), json!(null)] {
        h.frame(
            &a,
            json!({"type": "join", "room": "general", "after": after}),
        );
        let joined = a.only();
        assert_eq!(joined["messages"], json!([]));
        assert_eq!(joined["member_count"], 1);
    }
    assert_eq!(h.hub.rooms["general"].members.len(), 1, "still one member");
}

#[test]
fn a_member_stays_and_gets_everything_when_1100_members_drop_at_once() {
    let mut h = Harness::new(config());
    let mut stays = h.member("stays", "general");
    let crowd: Vec<Peer> = (0..1100)
        .map(|i| h.member(&format!("m{i:04}"), "general"))
        .collect();
    stays.frames();
    for p in &crowd {
        h.handle(Command::Disconnect(p.conn));
    }
    h.handle(Command::Tick);
    h.send(&stays, "general", "still here");
    h.commit();
    let frames = stays.frames();
    assert_eq!(stays.close_code(), None);
    let presence = frames.iter().filter(|f| f["type"] == "presence").count();
    // Presence again only once the room is down to the threshold (100).
    assert!(presence <= 100, "{presence} presence frames");
    let last_count = frames.iter().rev().find(|f| f["type"] == "member_count");
    assert_eq!(last_count.map(|f| f["count"].clone()), Some(json!(1)));
    assert_eq!(frames.last().unwrap()["text"], "still here");
}

/// The ids of a `messages` array.
fn ids(messages: &Value) -> Vec<u64> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect()
}
