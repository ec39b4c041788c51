//! *1.1*: identities own their names, cookies prove them, new ones are
//! limited, and a resent nonce posts nothing new.

use super::*;
use crate::protocol::ErrorCode;
use crate::server::hub::{FormPost, Posted};

const COOKIE: &str = "0123456789abcdef0123456789abcdef";

/// A `hello` on a new connection from `client`: the connection and its answer.
fn hello(h: &mut Harness, client: Client, name: &str, token: Option<&str>) -> (Peer, Value) {
    let mut p = h.connect_from(client);
    let mut frame = json!({"type": "hello", "name": name});
    if let Some(token) = token {
        frame["token"] = json!(token);
    }
    h.frame(&p, frame);
    let answer = p.only();
    (p, answer)
}

fn local() -> Client {
    client("127.0.0.1", None)
}

fn code(answer: &Value) -> &str {
    answer["code"].as_str().unwrap_or("(none)")
}

/// A form post, stored if accepted.
fn post(h: &mut Harness, client: Client, name: &str, text: &str) -> Result<Posted, ErrorCode> {
    let (reply, mut answer) = tokio::sync::oneshot::channel();
    let form = FormPost {
        name: name.into(),
        room: "general".into(),
        text: text.into(),
        nonce: Some(format!("form-{text}")),
        client,
    };
    let text = crate::server::hub::post::check_text(&form.text);
    h.hub.on_post(form, text, reply);
    if let Ok(refused) = answer.try_recv() {
        return Err(refused.unwrap_err().code);
    }
    h.commit();
    answer.try_recv().unwrap().map_err(|e| e.code)
}

#[test]
fn a_name_stays_its_owners_while_offline_and_only_its_token_takes_it_back() {
    let mut h = Harness::new(config());
    let (ada, welcome) = hello(&mut h, local(), "Ada", None);
    let token = welcome["token"].as_str().unwrap().to_owned();
    let id = welcome["user"]["id"].clone();
    // Online, offline (a closed tab, a reconnect backoff): the same answer.
    assert_eq!(code(&hello(&mut h, local(), "ada", None).1), "name_taken");
    h.handle(Command::Disconnect(ada.conn));
    for look_alike in ["Ada", "ADA", "\u{410}da", "Ad\u{430}"] {
        let (_, answer) = hello(&mut h, local(), look_alike, None);
        assert_eq!(code(&answer), "name_taken", "{look_alike:?}");
    }
    let (_, answer) = hello(&mut h, local(), "Ada", Some("not-her-token"));
    assert_eq!(code(&answer), "name_taken");
    let (_, answer) = hello(&mut h, local(), "Ada", Some(&token));
    assert_eq!(
        (answer["type"].as_str(), &answer["user"]["id"]),
        (Some("welcome"), &id)
    );
}

#[test]
fn a_browser_proves_its_identity_by_cookie_and_is_never_shown_the_token() {
    let mut h = Harness::new(config());
    // What the upgrade makes of a cookie that proves nothing: replaced by
    // a value minted for its answer, which the new identity takes.
    let upgraded = Client {
        minted: Some(COOKIE.into()),
        replaced: true,
        ..client("10.0.0.1", Some("eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"))
    };
    let (zoe, welcome) = hello(&mut h, upgraded, "Zoë", None);
    assert_eq!(welcome["token"], "");
    h.handle(Command::Disconnect(zoe.conn));
    let (_, again) = hello(&mut h, client("10.0.0.2", Some(COOKIE)), "Zoë", None);
    assert_eq!(
        (&again["user"]["id"], &again["token"]),
        (&welcome["user"]["id"], &json!(""))
    );
    let other = "ffffffffffffffffffffffffffffffff";
    let (_, answer) = hello(&mut h, client("10.0.0.1", Some(other)), "Zoe\u{308}", None);
    assert_eq!(code(&answer), "name_taken");
}

#[test]
fn a_cookie_value_the_server_did_not_mint_never_becomes_a_token() {
    // Session fixation: an attacker plants `chat_id=PLANTED` in the
    // victim's browser, the victim picks a name, and the attacker later
    // proves that identity with the value it planted.
    let planted = "abababababababababababababababab";
    let mut h = Harness::new(config());
    let (victim, welcome) = hello(&mut h, client("10.0.0.1", Some(planted)), "Victim", None);
    let token = welcome["token"].as_str().unwrap().to_owned();
    assert!(
        token.len() == 32 && token != planted,
        "a fresh token: {token}"
    );
    h.handle(Command::Disconnect(victim.conn));
    let (_, by_cookie) = hello(&mut h, client("10.0.0.9", Some(planted)), "Victim", None);
    assert_eq!(
        code(&by_cookie),
        "name_taken",
        "the planted cookie proves nothing"
    );
    let (_, by_token) = hello(&mut h, local(), "Victim", Some(planted));
    assert_eq!(code(&by_token), "name_taken");
    let (_, owner) = hello(&mut h, local(), "Victim", Some(&token));
    assert_eq!(owner["user"]["id"], welcome["user"]["id"]);
}

#[test]
fn a_reclaim_closes_the_older_connection_and_a_rename_frees_the_old_name() {
    let mut h = Harness::new(config());
    let (old, welcome) = hello(&mut h, local(), "Ada", None);
    let token = welcome["token"].as_str().unwrap().to_owned();
    let (_, renamed) = hello(&mut h, local(), "Grace", Some(&token));
    assert_eq!(
        renamed["user"],
        json!({"id": welcome["user"]["id"], "name": "Grace", "account": false, "role": "guest"})
    );
    assert_eq!(old.close_code(), Some(CLOSE_REPLACED));
    assert_eq!(hello(&mut h, local(), "ada", None).1["type"], "welcome");
    assert_eq!(code(&hello(&mut h, local(), "GRACE", None).1), "name_taken");
}

#[test]
fn new_identities_are_limited_per_address_at_the_burst_and_ipv6_counts_by_64() {
    let mut h = Harness::new(Config {
        identity_burst: 3.0,
        identity_rate_per_min: 1e-9,
        ..config()
    });
    let mut tokens = Vec::new();
    for i in 0..3 {
        let (_, w) = hello(&mut h, client("10.0.0.1", None), &format!("a{i}"), None);
        tokens.push(w["token"].as_str().unwrap().to_owned());
    }
    let (_, refused) = hello(&mut h, client("10.0.0.1", None), "a3", None);
    assert_eq!(code(&refused), "rate_limited");
    // Taking an identity back is not creating one.
    let (_, back) = hello(&mut h, client("10.0.0.1", None), "a0", Some(&tokens[0]));
    assert_eq!(back["type"], "welcome");
    assert_eq!(
        hello(&mut h, client("10.0.0.2", None), "b0", None).1["type"],
        "welcome"
    );
    for i in 0..3 {
        let addr = format!("2001:db8::{}", i + 1);
        let (_, w) = hello(&mut h, client(&addr, None), &format!("v{i}"), None);
        assert_eq!(w["type"], "welcome");
    }
    assert_eq!(
        code(&hello(&mut h, client("2001:db8::ff", None), "v3", None).1),
        "rate_limited"
    );
    let (_, w) = hello(&mut h, client("2001:db8:0:1::1", None), "v4", None);
    assert_eq!(w["type"], "welcome");
}

#[test]
fn new_identities_are_limited_per_ipv6_network_by_48_and_on_the_whole_server() {
    let mut h = Harness::new(Config {
        identity_burst: 2.0,
        identity_rate_per_min: 1e-9,
        identity_net_burst: 3.0,
        identity_net_rate_per_min: 1e-9,
        identity_server_burst: 5.0,
        identity_server_rate_per_min: 1e-9,
        ..config()
    });
    let welcomed = |h: &mut Harness, addr: &str, name: &str| {
        let answer = hello(h, client(addr, None), name, None).1;
        match answer["type"].as_str() {
            Some("welcome") => "welcome".to_owned(),
            _ => code(&answer).to_owned(),
        }
    };
    // Three /64s of one /48: three names in all, not two each.
    for (i, addr) in ["2001:db8:7:1::1", "2001:db8:7:2::1", "2001:db8:7:3::1"]
        .iter()
        .enumerate()
    {
        assert_eq!(welcomed(&mut h, addr, &format!("n{i}")), "welcome");
    }
    assert_eq!(
        welcomed(&mut h, "2001:db8:7:4::1", "n3"),
        "rate_limited",
        "the /48"
    );
    // Another /48, and IPv4: the server allows 5 in all; 3 went.
    assert_eq!(welcomed(&mut h, "2001:db8:8::1", "m0"), "welcome");
    assert_eq!(welcomed(&mut h, "10.1.1.1", "m1"), "welcome");
    assert_eq!(
        welcomed(&mut h, "10.2.2.2", "m2"),
        "rate_limited",
        "the server"
    );
}

#[test]
fn at_the_cap_the_identity_unused_longest_makes_room_and_a_connected_one_never() {
    let mut h = Harness::new(Config {
        max_identities: 3,
        ..config()
    });
    let (_live, _) = hello(&mut h, local(), "live", None);
    for name in ["gone1", "gone2"] {
        let (p, _) = hello(&mut h, local(), name, None);
        h.handle(Command::Disconnect(p.conn));
    }
    // Within their lease, but unused: the oldest goes (the cap used to
    // refuse every new name for the whole lease, 30 days).
    let (_newcomer, w) = hello(&mut h, local(), "newcomer", None);
    assert_eq!(w["type"], "welcome");
    assert_eq!(code(&hello(&mut h, local(), "LIVE", None).1), "name_taken");
    // One of the two went (they were let go in the same millisecond): its
    // name was freed with it, the other's was not.
    let (_again, w) = hello(&mut h, local(), "gone1", None);
    let (_held, freed) = match w["type"].as_str() {
        Some("welcome") => (_again, "gone1"),
        _ => {
            assert_eq!(code(&w), "name_taken");
            let (again, w) = hello(&mut h, local(), "gone2", None);
            assert_eq!(w["type"], "welcome", "one of the two was freed");
            (again, "gone2")
        }
    };
    // Every identity is held now: nothing can go.
    let (_, full) = hello(&mut h, local(), "one-more", None);
    assert_eq!(code(&full), "unavailable");
    // The store forgets them too.
    h.commit();
    // (Read beside the hub's store: a second `open` would find it locked.)
    let db = h.store_options().data_dir.join(crate::store::DB_FILE);
    let db = rusqlite::Connection::open(db).unwrap();
    let names: Vec<String> = db
        .prepare("SELECT name FROM identities ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(names, [freed, "live", "newcomer"]);
}

#[test]
fn a_resent_nonce_gets_the_original_to_the_sender_alone_even_within_one_commit() {
    let mut h = Harness::new(config());
    let mut ada = h.member("ada", "general");
    let mut bob = h.member("bob", "general");
    ada.frames();
    let send = |h: &mut Harness, p: &Peer, text: &str, nonce: &str| {
        h.frame(
            p,
            json!({"type": "send", "room": "general", "text": text, "nonce": nonce}),
        );
    };
    send(&mut h, &ada, "once", "n1");
    send(&mut h, &ada, "once", "n1");
    h.commit();
    send(&mut h, &ada, "changed text", "n1");
    h.commit();
    let to_ada = ada.of_type("message");
    assert_eq!(to_ada.len(), 3);
    assert!(to_ada
        .iter()
        .all(|m| m["id"] == 1 && m["text"] == "once" && m["nonce"] == "n1"));
    assert_eq!(seen(&bob.frames()), [(1, "ada".into(), "once".into())]);
    // Another identity's nonce is its own.
    send(&mut h, &bob, "mine", "n1");
    h.commit();
    assert_eq!(seen(&ada.frames()), [(2, "bob".into(), "mine".into())]);
}

#[test]
fn a_nonce_is_at_most_128_characters() {
    let mut h = Harness::new(config());
    let mut ada = h.member("ada", "general");
    let long = "n".repeat(128);
    h.frame(
        &ada,
        json!({"type": "send", "room": "general", "text": "ok", "nonce": long}),
    );
    h.commit();
    assert_eq!(ada.only()["nonce"], json!(long));
    let longer = "n".repeat(129);
    h.frame(
        &ada,
        json!({"type": "send", "room": "general", "text": "no", "nonce": longer}),
    );
    let refused = ada.only();
    assert_eq!((code(&refused), h.commit()), ("bad_request", 0));
}

#[test]
fn a_form_post_speaks_as_the_cookies_identity_and_never_as_another() {
    let mut h = Harness::new(config());
    let (ada, _) = hello(&mut h, local(), "Ada", None);
    let mut bob = h.member("bob", "general");
    assert_eq!(
        post(&mut h, local(), "ada", "hi").unwrap_err(),
        ErrorCode::NameTaken
    );
    h.handle(Command::Disconnect(ada.conn));
    assert_eq!(
        post(&mut h, local(), "\u{410}da", "hi").unwrap_err(),
        ErrorCode::NameTaken
    );
    // A first post of a free name makes an identity, with the minted token.
    let minted = Client {
        minted: Some(COOKIE.into()),
        ..local()
    };
    let posted = post(&mut h, minted, "Grace", "hello").unwrap();
    assert_eq!(posted.token.as_deref(), Some(COOKIE));
    assert_eq!(seen(&bob.frames()), [(1, "Grace".into(), "hello".into())]);
    let cookie = client("127.0.0.1", Some(COOKIE));
    let again = post(&mut h, cookie.clone(), "grace", "again").unwrap();
    assert_eq!((again.token, again.message.id), (None, 2));
    assert_eq!(
        post(&mut h, cookie.clone(), "Ada", "x").unwrap_err(),
        ErrorCode::NameTaken
    );
    // The same form posted twice (same nonce): the original, nothing new.
    assert_eq!(
        post(&mut h, cookie.clone(), "grace", "again")
            .unwrap()
            .message
            .id,
        2
    );
    assert_eq!(seen(&bob.frames()).len(), 1);
    // The JS client with the same cookie is the same identity.
    let (_, w) = hello(&mut h, cookie, "grace", None);
    assert_eq!(
        (w["type"].as_str(), w["token"].as_str()),
        (Some("welcome"), Some(""))
    );
}

#[test]
fn the_form_is_rate_limited_per_address_even_under_new_names() {
    let mut h = Harness::new(Config {
        rate_per_sec: 1e-9,
        rate_burst: 2.0,
        ..config()
    });
    assert!(post(&mut h, client("10.0.0.9", None), "n1", "a").is_ok());
    assert!(post(&mut h, client("10.0.0.9", None), "n2", "b").is_ok());
    assert_eq!(
        post(&mut h, client("10.0.0.9", None), "n3", "c").unwrap_err(),
        ErrorCode::RateLimited
    );
    assert!(post(&mut h, client("10.0.0.10", None), "n3", "c").is_ok());
}
