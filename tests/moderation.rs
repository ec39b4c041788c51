//! *1.2* (section 4) on a real server: kick, ban/unban, mute/unmute,
//! room settings (slow mode, read-only, topic), purge, the server's ban
//! and the audit log, each by each role.

mod common;

use common::http::{accounts_config, api_post, form, hello_with, signed_up, token, PASSWORD};
use common::*;
use serde_json::{json, Value};

const ROOM: &str = "mods";

/// The next `message` `c` gets whose text is `text` (others skipped).
async fn message_with(c: &mut Client, text: &str) -> Value {
    loop {
        let m = c.recv_type("message").await;
        if m["text"] == text {
            return m;
        }
    }
}

/// Ada owns the public room, Mo moderates it, Eve is a plain member.
async fn staffed(server: &TestServer) -> (Client, Client, Client, [Value; 2]) {
    let (mut ada, ada_welcome) = server.user("ada").await;
    let made = answer(
        &mut ada,
        json!({"type": "create", "room": ROOM, "visibility": "public"}),
        "joined",
    )
    .await;
    assert_eq!(made["role"], "owner", "{made}");
    let mut mo = server.member("mo", ROOM).await;
    let role = answer(
        &mut ada,
        json!({"type": "set_role", "room": ROOM, "user": "mo", "role": "moderator"}),
        "role",
    )
    .await;
    assert_eq!(role["role"], "moderator", "{role}");
    mo.recv_type("role").await;
    let (mut eve, welcome) = server.user("eve").await;
    eve.join(ROOM).await;
    (ada, mo, eve, [ada_welcome, welcome])
}

#[tokio::test]
async fn moderator_requests_are_refused_to_plain_members_and_over_equals_or_superiors() {
    let server = TestServer::start(fast()).await;
    let (mut ada, mut mo, mut eve, _) = staffed(&server).await;
    let by_member = [
        json!({"type": "kick", "room": ROOM, "user": "mo"}),
        json!({"type": "ban", "room": ROOM, "user": "mo"}),
        json!({"type": "unban", "room": ROOM, "user": "mo"}),
        json!({"type": "mute", "room": ROOM, "user": "mo", "minutes": 5}),
        json!({"type": "unmute", "room": ROOM, "user": "mo"}),
        json!({"type": "purge", "room": ROOM, "user": "mo"}),
        json!({"type": "room_settings", "room": ROOM, "topic": "mine"}),
        json!({"type": "audit", "room": ROOM}),
        // The server's ban and audit log are the admins'.
        json!({"type": "ban", "user": "mo"}),
        json!({"type": "audit"}),
    ];
    for frame in by_member {
        eve.expect_error(frame, "forbidden").await;
    }
    // A moderator moderates members, not an owner, an equal, or itself.
    for user in ["ada", "mo"] {
        mo.expect_error(
            json!({"type": "kick", "room": ROOM, "user": user}),
            "forbidden",
        )
        .await;
    }
    // An owner may not read another room's log, nor the server's.
    mo.expect_error(json!({"type": "audit", "room": ROOM}), "forbidden")
        .await;
    ada.expect_error(json!({"type": "audit"}), "forbidden")
        .await;
    // A room one cannot see does not exist; nobody of the name is `bad_request`.
    ada.expect_error(
        json!({"type": "kick", "room": "nowhere", "user": "eve"}),
        "no_such_room",
    )
    .await;
    ada.expect_error(
        json!({"type": "kick", "room": ROOM, "user": "nobody"}),
        "bad_request",
    )
    .await;
    // The owner moderates the moderator.
    let done = answer(
        &mut ada,
        json!({"type": "mute", "room": ROOM, "user": "mo", "minutes": 1}),
        "moderated",
    )
    .await;
    assert_eq!(
        (done["action"].clone(), done["user"].clone()),
        (json!("mute"), json!("mo"))
    );
}

#[tokio::test]
async fn a_kicked_member_leaves_at_once_told_why_and_may_come_back() {
    let server = TestServer::start(fast()).await;
    let (_ada, mut mo, mut eve, _) = staffed(&server).await;
    let done = answer(
        &mut mo,
        json!({"type": "kick", "room": ROOM, "user": "eve"}),
        "moderated",
    )
    .await;
    assert_eq!(done["action"], "kick");
    let left = eve.recv_type("left").await;
    assert_eq!(
        left,
        json!({"type": "left", "room": ROOM, "reason": "kicked"})
    );
    mo.send(json!({"type": "members", "room": ROOM})).await;
    assert_eq!(mo.recv_type("members").await["names"], json!(["ada", "mo"]));
    // Not a ban: Eve may join again.
    assert_eq!(eve.join(ROOM).await["type"], "joined");
}

#[tokio::test]
async fn a_ban_keeps_its_identity_out_until_unbanned_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(fast(), dir.path()).await;
    let (mut ada, _mo, mut eve, [ada_welcome, welcome]) = staffed(&server).await;
    let done = answer(
        &mut ada,
        json!({"type": "ban", "room": ROOM, "user": "eve", "reason": "flood <b>"}),
        "moderated",
    )
    .await;
    assert_eq!(done["action"], "ban");
    let left = eve.recv_type("left").await;
    assert_eq!(left["reason"], "banned");
    for frame in [
        json!({"type": "join", "room": ROOM}),
        json!({"type": "watch", "room": ROOM}),
    ] {
        eve.expect_error(frame, "banned").await;
    }
    eve.expect_error(
        json!({"type": "send", "room": ROOM, "text": "back"}),
        "not_in_room",
    )
    .await;
    // Other rooms are not touched.
    assert_eq!(eve.join("general").await["type"], "joined");
    // Bounds of a timed ban and of a reason.
    for (minutes, code) in [(0, "bad_request"), (525_601, "bad_request")] {
        ada.expect_error(
            json!({"type": "ban", "room": ROOM, "user": "eve", "minutes": minutes}),
            code,
        )
        .await;
    }
    let reason = "r".repeat(201);
    ada.expect_error(
        json!({"type": "ban", "room": ROOM, "user": "eve", "reason": reason}),
        "bad_request",
    )
    .await;
    answer(
        &mut ada,
        json!({"type": "ban", "room": ROOM, "user": "eve", "minutes": 525_600, "reason": "r".repeat(200)}),
        "moderated",
    )
    .await;
    drop((ada, eve));
    server.stop().await;

    // After a restart the ban holds; unbanned, Eve comes back.
    let server = TestServer::start_in(fast(), dir.path()).await;
    let mut eve = server.client().await;
    eve.send(json!({"type": "hello", "name": "eve", "token": welcome["token"]}))
        .await;
    eve.recv_type("welcome").await;
    eve.expect_error(json!({"type": "join", "room": ROOM}), "banned")
        .await;
    let mut ada = server.client().await;
    ada.send(json!({"type": "hello", "name": "ada", "token": ada_welcome["token"]}))
        .await;
    ada.recv_type("welcome").await;
    answer(
        &mut ada,
        json!({"type": "unban", "room": ROOM, "user": "eve"}),
        "moderated",
    )
    .await;
    assert_eq!(eve.join(ROOM).await["type"], "joined");
    server.stop().await;
}

#[tokio::test]
async fn a_mute_stops_posting_reacting_and_typing_but_not_reading_until_unmuted() {
    let server = TestServer::start(fast()).await;
    let (mut ada, _mo, mut eve, _) = staffed(&server).await;
    ada.post_numbered(ROOM, 1).await;
    eve.recv_type("message").await;
    for minutes in [0, 525_601] {
        ada.expect_error(
            json!({"type": "mute", "room": ROOM, "user": "eve", "minutes": minutes}),
            "bad_request",
        )
        .await;
    }
    answer(
        &mut ada,
        json!({"type": "mute", "room": ROOM, "user": "eve", "minutes": 10}),
        "moderated",
    )
    .await;
    for frame in [
        json!({"type": "send", "room": ROOM, "text": "hi"}),
        json!({"type": "react", "room": ROOM, "id": 1, "emoji": "👍"}),
        json!({"type": "typing", "room": ROOM}),
    ] {
        eve.expect_error(frame, "muted").await;
    }
    // Still a reader.
    ada.post_numbered(ROOM, 1).await;
    assert_eq!(eve.recv_type("message").await["text"], "m1");
    answer(
        &mut ada,
        json!({"type": "unmute", "room": ROOM, "user": "eve"}),
        "moderated",
    )
    .await;
    eve.send(json!({"type": "send", "room": ROOM, "text": "thanks"}))
        .await;
    assert_eq!(eve.recv_type("message").await["text"], "thanks");
}

#[tokio::test]
async fn slow_mode_read_only_and_the_topic_hold_at_their_bounds() {
    let server = TestServer::start(fast()).await;
    let (mut ada, mut mo, mut eve, _) = staffed(&server).await;
    ada.expect_error(
        json!({"type": "room_settings", "room": ROOM, "slow_mode_secs": 3601}),
        "bad_request",
    )
    .await;
    ada.expect_error(
        json!({"type": "room_settings", "room": ROOM, "topic": "t".repeat(201)}),
        "bad_request",
    )
    .await;
    ada.send(json!({"type": "room_settings", "room": ROOM, "slow_mode_secs": 3600, "topic": "<i>t</i>".repeat(25)}))
        .await;
    let updated = eve.recv_type("room_updated").await;
    assert_eq!(
        updated,
        json!({"type": "room_updated", "room": ROOM, "slow_mode_secs": 3600, "topic": "<i>t</i>".repeat(25)})
    );
    // `joined` carries the settings.
    let joined = server.member("zoe", ROOM).await.join(ROOM).await;
    assert_eq!(joined["slow_mode_secs"], 3600, "{joined}");
    // One message per interval for a plain member; moderators are free.
    eve.send(json!({"type": "send", "room": ROOM, "text": "one"}))
        .await;
    assert_eq!(eve.recv_type("message").await["text"], "one");
    let e = eve
        .error(json!({"type": "send", "room": ROOM, "text": "two"}))
        .await;
    assert_eq!(e["code"], "slow_mode", "{e}");
    let wait = e["retry_after_ms"].as_u64().unwrap();
    assert!(wait > 3_590_000 && wait <= 3_600_000, "{e}");
    for text in ["a", "b"] {
        mo.send(json!({"type": "send", "room": ROOM, "text": text}))
            .await;
        message_with(&mut mo, text).await;
    }
    // Slow mode off: the wait is gone at once.
    ada.send(
        json!({"type": "room_settings", "room": ROOM, "slow_mode_secs": 0, "read_only": true}),
    )
    .await;
    assert_eq!(
        eve.recv_type("room_updated").await,
        json!({"type": "room_updated", "room": ROOM, "read_only": true, "topic": "<i>t</i>".repeat(25)})
    );
    eve.expect_error(
        json!({"type": "send", "room": ROOM, "text": "x"}),
        "read_only",
    )
    .await;
    // A read-only room still takes reactions; its moderators post.
    eve.send(json!({"type": "react", "room": ROOM, "id": 1, "emoji": "👍"}))
        .await;
    assert_eq!(eve.recv_type("reaction").await["count"], 1);
    mo.send(json!({"type": "send", "room": ROOM, "text": "notice"}))
        .await;
    message_with(&mut mo, "notice").await;
}

#[tokio::test]
async fn a_purge_of_500_messages_reaches_every_member_and_every_later_read() {
    let server = TestServer::start(fast()).await;
    let (mut ada, mut mo, mut eve, _) = staffed(&server).await;
    // Eve's 500 (at her own pace: the rate limit), one of Ada's between.
    for i in 0..500 {
        if i == 250 {
            ada.send(json!({"type": "send", "room": ROOM, "text": "ada's"}))
                .await;
            ada.recv_type("message").await;
        }
        eve.send(json!({"type": "send", "room": ROOM, "text": format!("e{i}")}))
            .await;
        eve.recv_type("message").await;
    }
    let done = answer(
        &mut mo,
        json!({"type": "purge", "room": ROOM, "user": "eve"}),
        "moderated",
    )
    .await;
    assert_eq!(
        (done["action"].clone(), done["count"].clone()),
        (json!("purge"), json!(500))
    );
    let mut deleted = Vec::new();
    while deleted.len() < 500 {
        let v = ada.recv().await;
        if v["type"] == "deleted" {
            deleted.push(v["id"].as_u64().unwrap());
        }
    }
    let expected: Vec<u64> = (1..=501).filter(|&id| id != 251).collect();
    assert_eq!(deleted, expected);
    ada.send(json!({"type": "history", "room": ROOM, "limit": 100}))
        .await;
    let history = ada.recv_type("history").await;
    let alive: Vec<&Value> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["deleted"] != true)
        .collect();
    assert_eq!(alive.len(), 0, "the newest 100 are all Eve's, all gone");
    ada.send(json!({"type": "search", "query": "ada's"})).await;
    assert_eq!(ids(&ada.recv_type("results").await["messages"]), [251]);
    ada.send(json!({"type": "search", "query": "e1"})).await;
    assert_eq!(ada.recv_type("results").await["messages"], json!([]));
    // A purge of nobody's messages deletes nothing.
    let again = answer(
        &mut mo,
        json!({"type": "purge", "room": ROOM, "user": "eve"}),
        "moderated",
    )
    .await;
    assert_eq!(again["count"], 0);
}

#[tokio::test]
async fn the_audit_log_holds_every_action_newest_first_for_owners() {
    let server = TestServer::start(fast()).await;
    let (mut ada, mut mo, _eve, _) = staffed(&server).await;
    for frame in [
        json!({"type": "mute", "room": ROOM, "user": "eve", "minutes": 5}),
        json!({"type": "unmute", "room": ROOM, "user": "eve"}),
        json!({"type": "kick", "room": ROOM, "user": "eve"}),
        json!({"type": "ban", "room": ROOM, "user": "eve", "minutes": 60, "reason": "spam <script>"}),
    ] {
        answer(&mut mo, frame, "moderated").await;
    }
    mo.send(json!({"type": "room_settings", "room": ROOM, "topic": "rules"}))
        .await;
    mo.recv_type("room_updated").await;
    // Deleting one's own message is no moderator action; another's is.
    ada.post_numbered(ROOM, 1).await;
    mo.send(json!({"type": "send", "room": ROOM, "text": "mine"}))
        .await;
    message_with(&mut mo, "mine").await;
    for id in [2, 1] {
        mo.send(json!({"type": "delete", "room": ROOM, "id": id}))
            .await;
        assert_eq!(mo.recv_type("deleted").await["id"], id);
    }
    let audit = answer(&mut ada, json!({"type": "audit", "room": ROOM}), "audit").await;
    let entries = audit["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["delete", "room_settings", "ban", "kick", "unmute", "mute"]
    );
    assert_eq!(entries[0]["detail"], "message 1");
    let entries = &entries[1..];
    assert_eq!(audit["more"], false);
    let ban = &entries[1];
    assert_eq!(
        (
            ban["by"].clone(),
            ban["user"].clone(),
            ban["room"].clone(),
            ban["reason"].clone()
        ),
        (
            json!("mo"),
            json!("eve"),
            json!(ROOM),
            json!("spam <script>")
        )
    );
    assert_eq!(ban["detail"], "60 minutes");
    // Paged with `before`.
    let older = answer(
        &mut ada,
        json!({"type": "audit", "room": ROOM, "before": entries[3]["id"]}),
        "audit",
    )
    .await;
    assert_eq!(older["entries"].as_array().unwrap().len(), 1);
    assert_eq!(older["entries"][0]["action"], "mute");
}

#[tokio::test]
async fn a_server_ban_closes_every_connection_with_4005_and_refuses_hello() {
    let server = TestServer::start(accounts_config()).await;
    let zed = signed_up(&server, "Zed").await;
    let spam = signed_up(&server, "Spam").await;
    assert_eq!(admin_cli(&server, &["grant-admin", "Zed"], "").await.0, 0);
    let (mut z, _) = hello_with(&server, &zed, "").await;
    let api = token(&server, &spam, "bot", "").await;
    let text = json!({"text": "buy now"});
    assert_eq!(
        api_post(&server, "general", &api, text.clone()).await.0,
        201
    );
    let (mut s1, _) = hello_with(&server, &spam, "").await;
    let (mut s2, _) = hello_with(&server, &spam, "").await;
    s1.join("general").await;
    let done = answer(
        &mut z,
        json!({"type": "ban", "user": "Spam", "reason": "spam"}),
        "moderated",
    )
    .await;
    assert_eq!(done.get("room"), None, "{done}");
    assert_eq!(s1.closed().await.0, 4005);
    assert_eq!(s2.closed().await.0, 4005);
    let (_, refused) = hello_with(&server, &spam, "").await;
    assert_eq!(refused["code"], "banned", "{refused}");
    let (status, body, _) = api_post(&server, "general", &api, text).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("banned")),
        "{body}"
    );
    // Nor does the sign-in form let it in again.
    let refused = form(
        &server,
        "/login",
        &[("name", "Spam"), ("password", PASSWORD)],
        "",
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("banned"), "{}", refused.body);
    let zed = form(
        &server,
        "/login",
        &[("name", "Zed"), ("password", PASSWORD)],
        "",
    )
    .await;
    assert_eq!(zed.status, 303);
    // The log holds it; unbanned, the account comes back.
    let audit = answer(&mut z, json!({"type": "audit"}), "audit").await;
    assert_eq!(audit["entries"][0]["action"], "ban");
    assert_eq!(audit["entries"][0].get("room"), None);
    // `chat admin audit` prints it, with the identities' ids.
    let (status, out, _) = admin_cli(&server, &["audit"], "").await;
    assert_eq!(status, 0);
    let line = out.lines().nth(1).unwrap();
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!(
        (fields[2], fields[4], fields[5], fields[6], fields[8]),
        ("Zed", "ban", "-", "Spam", "spam"),
        "{out}"
    );
    answer(
        &mut z,
        json!({"type": "unban", "user": "Spam"}),
        "moderated",
    )
    .await;
    let (_, welcome) = hello_with(&server, &spam, "").await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    server.stop().await;
}

#[tokio::test]
async fn slow_mode_and_a_mute_hold_for_the_http_api_too() {
    let server = TestServer::start(accounts_config()).await;
    let ann = signed_up(&server, "Ann").await;
    let bot = signed_up(&server, "Bot").await;
    let (mut a, _) = hello_with(&server, &ann, "").await;
    answer(
        &mut a,
        json!({"type": "create", "room": ROOM, "visibility": "public"}),
        "joined",
    )
    .await;
    a.send(json!({"type": "room_settings", "room": ROOM, "slow_mode_secs": 60}))
        .await;
    a.recv_type("room_updated").await;
    let api = token(&server, &bot, "bot", "").await;
    let text = || json!({"text": "news"});
    assert_eq!(api_post(&server, ROOM, &api, text()).await.0, 201);
    let (status, body, _) = api_post(&server, ROOM, &api, text()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (429, Some("slow_mode")),
        "{body}"
    );
    answer(
        &mut a,
        json!({"type": "mute", "room": ROOM, "user": "Bot", "minutes": 1}),
        "moderated",
    )
    .await;
    let (status, body, _) = api_post(&server, ROOM, &api, text()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("muted")),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_purge_one_past_a_transaction_s_chunk_deletes_them_all_in_order() {
    let server = TestServer::start(fast()).await;
    let (_ada, mut mo, mut eve, _) = staffed(&server).await;
    // 501: one more than a purge deletes in one transaction (500).
    for i in 0..501 {
        eve.send(json!({"type": "send", "room": ROOM, "text": format!("e{i}")}))
            .await;
    }
    message_with(&mut mo, "e500").await;
    mo.send(json!({"type": "purge", "room": ROOM, "user": "eve"}))
        .await;
    let mut deleted = Vec::new();
    let done = loop {
        let v = mo.recv().await;
        match v["type"].as_str() {
            Some("deleted") => deleted.push(v["id"].as_u64().unwrap()),
            Some("moderated") => break v,
            _ => {}
        }
    };
    assert_eq!(done["count"], 501);
    assert_eq!(deleted, (1..=501).collect::<Vec<u64>>());
}
