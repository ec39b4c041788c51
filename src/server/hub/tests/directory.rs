//! Requests a client could repeat to slow everyone down, rooms made and
//! left empty, and what `welcome` and `rooms` list (issue 11, item 5).

use super::*;

/// The rooms a new connection's `welcome` lists, as `name`.
fn welcome_rooms(h: &mut Harness, name: &str) -> Vec<String> {
    let mut peer = h.connect();
    h.frame(&peer, json!({"type": "hello", "name": name}));
    let welcome = peer.only();
    assert_eq!(welcome["type"], "welcome");
    serde_json::from_value(welcome["rooms"].clone()).unwrap()
}

/// The `code` of the one frame queued for `peer` (an error).
fn refused(peer: &mut Peer) -> String {
    let frame = peer.only();
    assert_eq!(frame["type"], "error", "{frame}");
    frame["code"].as_str().unwrap().to_owned()
}

#[test]
fn a_connection_looping_join_and_leave_is_limited_at_its_burst() {
    let mut h = Harness::new(Config {
        request_rate_per_sec: 1e-9,
        request_burst: 5.0,
        ..config()
    });
    let mut ada = h.user("ada"); // 1: hello
    for _ in 0..2 {
        h.frame(&ada, json!({"type": "join", "room": "general"}));
        h.frame(&ada, json!({"type": "leave", "room": "general"}));
    }
    assert_eq!(ada.frames().len(), 4, "requests 2 to 5 are answered");
    h.frame(&ada, json!({"type": "join", "room": "general"}));
    assert_eq!(refused(&mut ada), "rate_limited");
    h.frame(&ada, json!({"type": "history", "room": "general"}));
    assert_eq!(refused(&mut ada), "rate_limited");
    // `send` keeps its own bucket: not joined, so `not_in_room`, not limited.
    h.frame(
        &ada,
        json!({"type": "send", "room": "general", "text": "x"}),
    );
    assert_eq!(refused(&mut ada), "not_in_room");
    // Another connection has its own allowance.
    let mut bob = h.user("bob");
    h.frame(&bob, json!({"type": "join", "room": "general"}));
    assert_eq!(bob.only()["type"], "joined");
}

#[test]
fn an_identity_creates_rooms_at_its_allowance_which_a_reconnect_does_not_renew() {
    let mut h = Harness::new(Config {
        new_rooms_per_min: 2.0,
        new_rooms_addr_per_min: 3.0,
        ..config()
    });
    let mut ada = h.connect();
    h.frame(&ada, json!({"type": "hello", "name": "ada"}));
    let token = ada.only()["token"].as_str().unwrap().to_owned();
    for room in ["a", "b"] {
        h.frame(&ada, json!({"type": "join", "room": room}));
        assert_eq!(ada.only()["type"], "joined");
    }
    h.frame(&ada, json!({"type": "join", "room": "c"}));
    assert_eq!(refused(&mut ada), "rate_limited");
    h.frame(&ada, json!({"type": "join", "room": "general"}));
    assert_eq!(ada.only()["type"], "joined", "existing rooms stay open");
    // The same identity on a new connection: no new allowance.
    let mut again = h.connect();
    h.frame(
        &again,
        json!({"type": "hello", "name": "ada", "token": token}),
    );
    assert_eq!(again.only()["type"], "welcome");
    h.frame(&again, json!({"type": "join", "room": "c"}));
    assert_eq!(refused(&mut again), "rate_limited");
    // Another identity from the same address: the address allows 3 in all.
    let mut bob = h.user("bob");
    h.frame(&bob, json!({"type": "join", "room": "c"}));
    assert_eq!(bob.only()["type"], "joined");
    h.frame(&bob, json!({"type": "join", "room": "d"}));
    assert_eq!(refused(&mut bob), "rate_limited", "per address");
    let mut far = h.connect_from(client("10.7.7.7", None));
    h.frame(&far, json!({"type": "hello", "name": "far"}));
    assert_eq!(far.only()["type"], "welcome");
    h.frame(&far, json!({"type": "join", "room": "d"}));
    assert_eq!(far.only()["type"], "joined");
}

#[test]
fn one_client_with_many_rooms_of_its_own_cannot_fill_the_room_list() {
    let mut h = Harness::new(Config {
        welcome_rooms: 10,
        new_rooms_per_min: 1e6,
        new_rooms_addr_per_min: 1e6,
        ..config()
    });
    // A room where two people talked, before the flood.
    let ada = h.member("ada", "team");
    let bob = h.member("bob", "team");
    h.send(&ada, "team", "hi");
    h.send(&bob, "team", "hello");
    h.commit();
    // Then one client makes 30 rooms and posts in each (so none is removed).
    let spam = h.user("spam");
    for i in 0..30 {
        let room = format!("spam-{i:02}");
        h.frame(&spam, json!({"type": "join", "room": room}));
        h.send(&spam, &room, "buy");
    }
    h.commit();
    let mut visitor = h.connect();
    h.frame(&visitor, json!({"type": "hello", "name": "visitor"}));
    let welcome = visitor.only();
    let rooms: Vec<&str> = welcome["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(rooms.len(), 10);
    assert!(
        rooms.contains(&"general") && rooms.contains(&"team"),
        "{rooms:?}"
    );
}

#[test]
fn a_room_without_messages_or_members_is_removed_after_its_time_and_only_then() {
    let ttl = Duration::from_millis(50);
    let mut h = Harness::new(Config {
        empty_room_ttl: ttl,
        ..config()
    });
    let ada = h.member("ada", "left");
    h.frame(&ada, json!({"type": "leave", "room": "left"}));
    let bob = h.member("bob", "kept");
    let cy = h.member("cy", "spoken");
    h.send(&cy, "spoken", "hello");
    h.frame(&cy, json!({"type": "leave", "room": "spoken"}));
    h.commit();
    h.handle(Command::Tick);
    assert_eq!(
        welcome_rooms(&mut h, "dee"),
        ["general", "kept", "left", "spoken"]
    );
    std::thread::sleep(ttl + Duration::from_millis(20));
    h.handle(Command::Tick);
    h.commit();
    assert_eq!(welcome_rooms(&mut h, "dee2"), ["general", "kept", "spoken"]);
    assert_eq!(h.stored_rooms(), ["general", "kept", "spoken"]);
    // A removed room can be made again.
    let mut eve = h.user("eve");
    h.frame(&eve, json!({"type": "join", "room": "left"}));
    assert_eq!(eve.only()["type"], "joined");
    drop(bob);
}

#[test]
fn welcome_lists_general_then_the_rooms_people_posted_in_then_the_most_active_and_rooms_pages_through_all(
) {
    let mut h = Harness::new(Config {
        welcome_rooms: 3,
        ..config()
    });
    let ada = h.user("ada");
    for room in ["a", "b", "c", "d", "e"] {
        h.frame(&ada, json!({"type": "join", "room": room}));
        std::thread::sleep(Duration::from_millis(2));
    }
    h.send(&ada, "a", "a is active again");
    h.commit();
    // general always; a (a poster); then e, the most recently active.
    assert_eq!(welcome_rooms(&mut h, "cy"), ["a", "e", "general"]);
    let mut bob = h.user("bob");
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut ask = json!({"type": "rooms", "limit": 2});
        if let Some(after) = &after {
            ask["after"] = json!(after);
        }
        h.frame(&bob, ask);
        let page = bob.only();
        assert_eq!(page["type"], "rooms");
        let names: Vec<String> = serde_json::from_value(page["rooms"].clone()).unwrap();
        after = names.last().cloned();
        pages.push(names);
        if page["more"] == false {
            break;
        }
    }
    assert_eq!(
        pages,
        [vec!["a", "b"], vec!["c", "d"], vec!["e", "general"]]
    );
    h.frame(&bob, json!({"type": "rooms", "after": "general"}));
    assert_eq!(
        bob.only(),
        json!({"type": "rooms", "rooms": [], "more": false})
    );
}
