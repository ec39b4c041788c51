//! What every request costs: frames that did not parse count against the
//! request budget, an error echoes a bounded nonce, and a search counts
//! against its connection's, identity's, address's and server's budgets.

use super::*;
use crate::protocol::ProtocolError;

fn refused(h: &mut Harness, peer: &Peer, nonce: &str) {
    let e = ProtocolError::bad_request("malformed frame").with_nonce(Some(nonce));
    h.handle(Command::Frame(peer.conn, Request::Refused(e)));
}

#[test]
fn frames_that_did_not_parse_count_against_the_request_budget_at_its_bound() {
    let mut h = Harness::new(Config {
        request_burst: 3.0,
        request_rate_per_sec: 1e-9,
        ..config()
    });
    let mut peer = h.connect();
    for _ in 0..3 {
        refused(&mut h, &peer, "n");
    }
    let codes: Vec<Value> = peer.frames().iter().map(|f| f["code"].clone()).collect();
    assert_eq!(
        codes,
        vec![json!("bad_request"); 3],
        "the burst, each answered"
    );
    refused(&mut h, &peer, "n");
    assert_eq!(peer.only()["code"], "rate_limited", "one past it");
    h.frame(&peer, json!({"type": "hello", "name": "ada"}));
    assert_eq!(
        peer.only()["code"],
        "rate_limited",
        "and they took its place"
    );
}

#[test]
fn an_error_echoes_at_most_128_characters_of_a_nonce_and_none_with_control_characters() {
    let mut h = Harness::new(config());
    let mut ada = h.member("ada", "general");
    let long = "é".repeat(16 * 1024);
    h.frame(
        &ada,
        json!({"type": "send", "room": "general", "text": "x", "nonce": long}),
    );
    let error = ada.only();
    assert_eq!(error["code"], "bad_request");
    assert_eq!(error["nonce"], "é".repeat(128));
    refused(&mut h, &ada, &long);
    assert_eq!(ada.only()["nonce"], "é".repeat(128), "a parse error's too");
    for bad in ["a\u{0}b", "line\nbreak", "\u{1b}[31m", "del\u{7f}"] {
        h.frame(
            &ada,
            json!({"type": "send", "room": "general", "text": "x", "nonce": bad}),
        );
        assert_eq!(ada.only()["code"], "bad_request", "{bad:?}");
    }
    assert_eq!(h.commit(), 0, "nothing was posted");
    let fine = "n".repeat(128);
    h.frame(
        &ada,
        json!({"type": "send", "room": "general", "text": "x", "nonce": fine}),
    );
    assert_eq!(
        h.commit(),
        1,
        "128 characters without control characters are fine"
    );
}

/// A `search` of `peer`, and the code of its answer (`results` when none).
fn search(h: &mut Harness, peer: &mut Peer) -> String {
    h.frame(peer, json!({"type": "search", "query": "hello"}));
    let answer = peer.only();
    match answer["type"].as_str() {
        Some("results") => "results".into(),
        _ => answer["code"].as_str().unwrap().to_owned(),
    }
}

#[test]
fn searches_count_against_the_connection_the_identity_the_address_and_the_server() {
    let slow = 1e-9;
    let config = Config {
        search_burst: 2.0,
        search_rate_per_sec: slow,
        search_addr_burst: 3.0,
        search_addr_rate_per_sec: slow,
        search_server_burst: 4.0,
        search_server_rate_per_sec: slow,
        ..config()
    };
    let mut h = Harness::new(config);
    // One identity on two connections: 2 in all, not 2 each.
    let mut ada = h.user("ada");
    let token = {
        let mut again = h.connect();
        h.frame(&again, json!({"type": "hello", "name": "x"}));
        let welcome = again.only();
        welcome["token"].as_str().unwrap().to_owned()
    };
    let mut x2 = h.connect();
    h.frame(&x2, json!({"type": "hello", "name": "x", "token": token}));
    assert_eq!(x2.only()["type"], "welcome");
    assert_eq!(search(&mut h, &mut x2), "results");
    assert_eq!(search(&mut h, &mut x2), "results");
    let mut x3 = h.connect();
    h.frame(&x3, json!({"type": "hello", "name": "x", "token": token}));
    assert_eq!(x3.only()["type"], "welcome");
    assert_eq!(search(&mut h, &mut x3), "rate_limited", "per identity");
    // The address allows 3: ada has one more here, then none.
    assert_eq!(search(&mut h, &mut ada), "results");
    assert_eq!(search(&mut h, &mut ada), "rate_limited", "per address");
    // Another address: the server allows 4 in all; 3 went.
    let mut far = h.connect_from(client("10.9.9.9", None));
    h.frame(&far, json!({"type": "hello", "name": "far"}));
    assert_eq!(far.only()["type"], "welcome");
    assert_eq!(search(&mut h, &mut far), "results");
    let mut farther = h.connect_from(client("10.8.8.8", None));
    h.frame(&farther, json!({"type": "hello", "name": "farther"}));
    assert_eq!(farther.only()["type"], "welcome");
    assert_eq!(search(&mut h, &mut farther), "rate_limited", "per server");
}
