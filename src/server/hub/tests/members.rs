//! Member lists and counts (protocol 1.1): the capped first page, paging,
//! and `presence` or `member_count` on each side of the threshold.

use super::*;

/// The `names` of `members` replies, and the last `more`.
fn paged(frames: &[Value]) -> (Vec<String>, bool) {
    let mut names = Vec::new();
    let mut more = false;
    for f in frames.iter().filter(|f| f["type"] == "members") {
        names.extend(
            f["names"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_owned()),
        );
        more = f["more"].as_bool().unwrap();
    }
    (names, more)
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn joined_lists_every_member_up_to_the_page_size_then_the_first_page_and_the_count() {
    let mut h = Harness::new(Config {
        member_page: 3,
        presence_threshold: 100,
        ..config()
    });
    let _a = h.member("cy", "general");
    let _b = h.member("Bo", "general");
    // At the page size: everyone, in member order (case-insensitive, then exact).
    let mut ada = h.user("ada");
    h.frame(&ada, json!({"type": "join", "room": "general"}));
    let joined = ada.only();
    assert_eq!(names(&joined["members"]), ["ada", "Bo", "cy"]);
    assert_eq!(joined["member_count"], 3);
    // One past it: the first page, and the count.
    let mut dee = h.user("Dee");
    h.frame(&dee, json!({"type": "join", "room": "general"}));
    let joined = dee.only();
    assert_eq!(names(&joined["members"]), ["ada", "Bo", "cy"]);
    assert_eq!(joined["member_count"], 4);
}

#[test]
fn paging_returns_every_member_once_in_order_while_members_come_and_go() {
    let mut h = Harness::new(config());
    let mut peers: Vec<Peer> = (0..30)
        .map(|i| h.member(&format!("m{i:02}"), "general"))
        .collect();
    let mut reader = h.member("reader", "general");
    let mut after: Option<String> = None;
    let mut seen = Vec::new();
    let mut round = 0;
    loop {
        let mut req = json!({"type": "members", "room": "general", "limit": 7});
        if let Some(a) = &after {
            req["after"] = json!(a);
        }
        h.frame(&reader, req);
        let (page, more) = paged(&reader.frames());
        seen.extend(page.iter().cloned());
        after = page.last().cloned();
        // Between pages: one member before the cursor leaves, a new one after it joins.
        if round < 3 {
            let gone = peers.remove(0);
            h.handle(Command::Disconnect(gone.conn));
            peers.push(h.member(&format!("z{round}"), "general"));
        }
        round += 1;
        if !more {
            break;
        }
    }
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| crate::protocol::member_key(a).cmp(&crate::protocol::member_key(b)));
    sorted.dedup();
    assert_eq!(seen, sorted, "in member order, each once");
    // Everyone present throughout is there; the late joiners after the cursor too.
    for i in 3..30 {
        assert!(seen.contains(&format!("m{i:02}")), "m{i:02}");
    }
    for late in ["z0", "z1", "z2", "reader"] {
        assert!(seen.contains(&late.to_owned()), "{late}");
    }
}

#[test]
fn members_pages_at_their_limits_and_refuses_a_room_not_joined() {
    let mut h = Harness::new(config());
    for i in 0..501 {
        let _ = h.member(&format!("u{i:03}"), "big");
    }
    let mut ada = h.member("ada", "big");
    ada.frames();
    h.frame(
        &ada,
        json!({"type": "members", "room": "big", "limit": 500}),
    );
    let (page, more) = paged(&ada.frames());
    assert_eq!((page.len(), more), (500, true));
    h.frame(
        &ada,
        json!({"type": "members", "room": "big", "after": page[499]}),
    );
    let (rest, more) = paged(&ada.frames());
    assert_eq!((rest.len(), more), (2, false));
    h.frame(&ada, json!({"type": "members", "room": "big", "limit": 1}));
    assert_eq!(paged(&ada.frames()), (vec!["ada".to_owned()], true));
    // Without a limit: 100.
    h.frame(&ada, json!({"type": "members", "room": "big"}));
    assert_eq!(paged(&ada.frames()).0.len(), 100);
    h.frame(&ada, json!({"type": "members", "room": "general"}));
    assert_eq!(ada.only()["code"], "not_in_room");
}

#[test]
fn a_room_crossing_the_presence_threshold_switches_to_counts_and_back() {
    let mut h = Harness::new(Config {
        presence_threshold: 3,
        ..config()
    });
    let mut ada = h.member("ada", "general");
    let _bo = h.member("bo", "general");
    let cy = h.member("cy", "general");
    // At the threshold: presence, as in version 1.
    assert_eq!(ada.of_type("presence").len(), 2);
    h.handle(Command::Tick);
    assert!(ada.frames().is_empty(), "no count below the threshold");

    // One past it: no presence; one count at the next tick, and only then.
    let dee = h.member("dee", "general");
    let _eve = h.member("eve", "general");
    assert!(ada.frames().is_empty());
    h.handle(Command::Tick);
    assert_eq!(
        ada.only(),
        json!({"type": "member_count", "room": "general", "count": 5})
    );
    h.handle(Command::Tick);
    assert!(ada.frames().is_empty(), "no count when nothing changed");
    // A leave and a join within one second: the count did not change.
    h.handle(Command::Disconnect(dee.conn));
    let fay = h.member("fay", "general");
    h.handle(Command::Tick);
    assert!(ada.frames().is_empty());

    // Back to the threshold: the leave is a presence again, and one last count.
    h.handle(Command::Disconnect(cy.conn));
    h.frame(&ada, json!({"type": "ping"}));
    let frames = ada.frames();
    assert!(frames.iter().all(|f| f["type"] != "presence"), "{frames:?}");
    h.handle(Command::Disconnect(fay.conn));
    assert_eq!(ada.of_type("presence").len(), 1);
    h.handle(Command::Tick);
    assert_eq!(
        ada.only(),
        json!({"type": "member_count", "room": "general", "count": 3})
    );
    // Below it, presence only: a leave is told at once, and no count follows.
    h.handle(Command::Disconnect(_bo.conn));
    assert_eq!(ada.of_type("presence").len(), 1);
    h.handle(Command::Tick);
    assert!(ada.frames().is_empty());
}
