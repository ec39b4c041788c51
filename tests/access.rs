//! *1.2* (section 2): private rooms, direct messages and roles against a
//! real server, and the leak matrix: every path × every viewer (a guest
//! and an account that are not members, an invited identity that has not
//! joined, a member, a former member), each denial compared with the
//! answer for a room that does not exist, and live frames: an outsider
//! connected the whole time receives nothing about the room.

mod common;

use common::http::{accounts_config, api_post, form, hello_with, http, signed_up, token};
use common::*;
use serde_json::{json, Value};

/// The private room of the matrix, and a name no room has.
const ROOM: &str = "team";
const NOWHERE: &str = "nowhere";

/// One viewer: its live connection and the `Cookie` its pages carry.
struct Viewer {
    ws: Client,
    cookie: String,
    name: String,
}

/// A signed-in viewer (`hello` without a name).
async fn account(server: &TestServer, name: &str) -> Viewer {
    let cookie = signed_up(server, name).await;
    let (ws, welcome) = hello_with(server, &cookie, "").await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    Viewer {
        ws,
        cookie,
        name: name.to_owned(),
    }
}

/// A guest viewer; its pages carry its identity cookie.
async fn guest(server: &TestServer, name: &str) -> Viewer {
    let (ws, welcome) = server.user(name).await;
    let token = welcome["token"].as_str().unwrap();
    Viewer {
        ws,
        cookie: format!("chat_id={token}"),
        name: name.to_owned(),
    }
}

/// `frame` about `ROOM` and about `NOWHERE` get the same answer (but for
/// the name), which is an error: the room is hidden.
async fn hidden(c: &mut Client, frame: Value, reply_type: &str) -> Value {
    let text = frame.to_string();
    let here = answer(c, frame, reply_type).await;
    let there: Value =
        serde_json::from_str(&text.replace(&format!("\"{ROOM}\""), &format!("\"{NOWHERE}\"")))
            .unwrap();
    let there = answer(c, there, reply_type).await;
    assert_eq!(here["type"], "error", "{text} → {here}");
    let normal = |v: &Value| v.to_string().replace(NOWHERE, ROOM);
    assert_eq!(normal(&here), normal(&there), "{text}: as a missing room");
    here
}

/// `history`, `members`, `typing`, `read` and `send` of `ROOM` are
/// `not_in_room`, exactly as for a missing room (version 1's answer for a
/// room not joined).
async fn not_joined(c: &mut Client, who: &str) {
    for (frame, ty) in [
        (json!({"type": "history", "room": ROOM}), "history"),
        (json!({"type": "members", "room": ROOM}), "members"),
        (json!({"type": "typing", "room": ROOM}), "typing"),
        (json!({"type": "read", "room": ROOM, "id": 1}), "read"),
        (
            json!({"type": "send", "room": ROOM, "text": "x"}),
            "message",
        ),
    ] {
        let e = hidden(c, frame, ty).await;
        assert_eq!(e["code"], "not_in_room", "{who}: {e}");
    }
}

/// The frames that arrived on `c` since it last asked (a short silence ends them).
async fn drained(c: &mut Client) -> Vec<Value> {
    c.send(json!({"type": "ping"})).await;
    let mut got = Vec::new();
    loop {
        let v = c.recv().await;
        if v["type"] == "pong" {
            return got;
        }
        got.push(v);
    }
}

/// Nothing in `frames` is about the room or its messages.
fn nothing_about_the_room(who: &str, frames: &[Value]) {
    for f in frames {
        let text = f.to_string();
        assert!(
            !text.contains(ROOM) && !text.contains("secret"),
            "{who} received {text}"
        );
    }
}

/// A page's body without what differs on every answer (its CSP nonce,
/// the plain form's nonce).
fn unnonced(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some(at) = ["nonce=\"", "crossorigin=\"", "name=\"nonce\" value=\""]
        .iter()
        .filter_map(|k| rest.find(k).map(|i| (i, k.len())))
        .min()
    {
        let (i, len) = at;
        out.push_str(&rest[..i + len]);
        rest = &rest[i + len..];
        rest = &rest[rest.find('"').unwrap_or(0)..];
    }
    out.push_str(rest);
    // The form's nonce in the page's data for hydration: 32 hex digits.
    let mut kept = String::with_capacity(out.len());
    let mut run = String::new();
    for c in out.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_hexdigit() && !c.is_ascii_uppercase() {
            run.push(c);
            continue;
        }
        if run.len() != 32 {
            kept.push_str(&run);
        }
        run.clear();
        kept.push(c);
    }
    kept.pop();
    kept
}

/// What the pages answer `cookie` for `/r/{room}`: status and body.
async fn page(server: &TestServer, room: &str, cookie: &str) -> (u16, String) {
    let headers: Vec<(&str, &str)> = match cookie {
        "" => vec![],
        c => vec![("Cookie", c)],
    };
    let r = http(server, "GET", &format!("/r/{room}"), &headers, "").await;
    (r.status, unnonced(&r.body))
}

/// The plain form's post of `text` to `room` as `v`.
async fn form_post(server: &TestServer, v: &Viewer, room: &str, text: &str) -> (u16, String) {
    let nonce = format!("n-{room}-{text}");
    let fields = [
        ("name", v.name.as_str()),
        ("room", room),
        ("text", text),
        ("nonce", nonce.as_str()),
    ];
    let r = form(server, "/", &fields, &v.cookie).await;
    (r.status, unnonced(&r.body))
}

/// `c` makes the private room `ROOM`.
async fn create_private(c: &mut Client) -> Value {
    let made = answer(
        c,
        json!({"type": "create", "room": ROOM, "visibility": "private"}),
        "joined",
    )
    .await;
    assert_eq!(made["type"], "joined", "{made}");
    made
}

/// The room names of a `rooms` page from the start.
async fn rooms_page(c: &mut Client) -> Vec<String> {
    let page = answer(c, json!({"type": "rooms"}), "rooms").await;
    serde_json::from_value(page["rooms"].clone()).unwrap()
}

/// The texts `search` for `secret` finds.
async fn found(c: &mut Client) -> Vec<String> {
    let results = answer(c, json!({"type": "search", "query": "secret"}), "results").await;
    results["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_private_room_answers_everyone_outside_it_as_a_room_that_does_not_exist() {
    let server = TestServer::start(accounts_config()).await;
    let mut ann = account(&server, "Ann").await;
    // Connected the whole time, never asking about the room.
    let mut passive = guest(&server, "Pat").await;
    passive.ws.join("general").await;
    let mut gus = guest(&server, "Gus").await;
    let mut otto = account(&server, "Otto").await;
    let mut ivy = account(&server, "Ivy").await;
    let mut mo = account(&server, "Mo").await;
    let mut fay = account(&server, "Fay").await;
    let mut anon = server.client().await; // no hello at all

    let made = answer(
        &mut ann.ws,
        json!({"type": "create", "room": ROOM, "visibility": "private"}),
        "joined",
    )
    .await;
    assert_eq!(
        (made["role"].as_str(), made["visibility"].as_str()),
        (Some("owner"), Some("private"))
    );
    for who in ["Ivy", "Mo", "Fay"] {
        let ok = answer(
            &mut ann.ws,
            json!({"type": "invite", "room": ROOM, "user": who}),
            "invited",
        )
        .await;
        assert_eq!(
            (ok["type"].as_str(), ok["user"].as_str()),
            (Some("invited"), Some(who)),
            "{ok}"
        );
    }
    for v in [&mut ivy, &mut mo, &mut fay] {
        let told = v.ws.recv_type("invited").await;
        assert_eq!(
            (told["room"].as_str(), told["by"].as_str()),
            (Some(ROOM), Some("Ann"))
        );
    }
    let joined = mo.ws.join(ROOM).await;
    assert_eq!(joined["role"], "member");
    fay.ws.join(ROOM).await;
    let left = answer(&mut fay.ws, json!({"type": "leave", "room": ROOM}), "left").await;
    assert_eq!(left["type"], "left");
    ann.ws
        .send(json!({"type": "send", "room": ROOM, "text": "the secret plan"}))
        .await;
    ann.ws.recv_type("message").await;
    mo.ws.recv_type("message").await;
    ann.ws.send(json!({"type": "typing", "room": ROOM})).await;
    mo.ws.recv_type("typing").await;
    mo.ws
        .send(json!({"type": "read", "room": ROOM, "id": 1}))
        .await;

    // Outsiders: a guest, an account, a former member.
    for (who, v) in [
        ("guest", &mut gus),
        ("account", &mut otto),
        ("former", &mut fay),
    ] {
        let c = &mut v.ws;
        let e = answer(c, json!({"type": "join", "room": ROOM}), "joined").await;
        assert_eq!(e["code"], "no_such_room", "{who}: join {e}");
        hidden(c, json!({"type": "watch", "room": ROOM}), "watching").await;
        not_joined(c, who).await;
        let e = hidden(c, json!({"type": "leave", "room": ROOM}), "left").await;
        assert_eq!(e["code"], "not_in_room", "{who}: leave");
        let e = hidden(
            c,
            json!({"type": "search", "query": "secret", "room": ROOM}),
            "results",
        )
        .await;
        assert_eq!(e["code"], "no_such_room", "{who}: search {e}");
        for frame in [
            json!({"type": "invite", "room": ROOM, "user": "Gus"}),
            json!({"type": "set_role", "room": ROOM, "user": "Mo", "role": "owner"}),
        ] {
            let e = hidden(c, frame, "invited").await;
            assert_eq!(e["code"], "no_such_room", "{who}: {e}");
        }
        let e = answer(
            c,
            json!({"type": "create", "room": ROOM, "visibility": "public"}),
            "joined",
        )
        .await;
        assert_eq!(
            e["code"], "room_exists",
            "the name is all an outsider learns"
        );
        assert!(found(c).await.is_empty(), "{who}: search of every room");
        assert!(
            !rooms_page(c).await.contains(&ROOM.to_owned()),
            "{who}: rooms"
        );
        let (status, body) = page(&server, ROOM, &v.cookie).await;
        let (missing, missing_body) = page(&server, NOWHERE, &v.cookie).await;
        assert_eq!((status, missing), (404, 404), "{who}: /r/{ROOM}");
        assert_eq!(
            body.replace(ROOM, NOWHERE),
            missing_body,
            "{who}: the same 404 page"
        );
        let posted = form_post(&server, v, ROOM, "x").await;
        let missing = form_post(&server, v, NOWHERE, "x").await;
        assert_eq!(posted.0, 422, "{who}: form");
        assert_eq!(
            posted.1.replace(ROOM, NOWHERE),
            missing.1,
            "{who}: the same form answer"
        );
    }
    // Before hello: public rooms only.
    let e = hidden(
        &mut anon,
        json!({"type": "watch", "room": ROOM}),
        "watching",
    )
    .await;
    assert_eq!(e["code"], "no_such_room");
    // Welcome: the room is listed for its members and the invited only.
    let (_guest, welcome) = server.user("Gwen").await;
    assert!(
        !welcome["rooms"].to_string().contains(ROOM),
        "guest: {welcome}"
    );
    assert!(
        welcome.get("mine").is_none(),
        "a new guest belongs nowhere yet"
    );
    for (who, cookie, listed) in [
        ("account", &otto.cookie, false),
        ("former", &fay.cookie, false),
        ("invited", &ivy.cookie, true),
        ("member", &mo.cookie, true),
    ] {
        let (_c, welcome) = hello_with(&server, cookie, "").await;
        let rooms = welcome["rooms"].to_string();
        assert_eq!(rooms.contains(ROOM), listed, "{who}: welcome {welcome}");
    }

    // Invited: may see and join; reads nothing before joining.
    let c = &mut ivy.ws;
    assert!(rooms_page(c).await.contains(&ROOM.to_owned()));
    assert!(found(c).await.is_empty(), "invited: search of every room");
    let e = answer(c, json!({"type": "watch", "room": ROOM}), "watching").await;
    assert_eq!(e["code"], "forbidden");
    let e = answer(
        c,
        json!({"type": "search", "query": "secret", "room": ROOM}),
        "results",
    )
    .await;
    assert_eq!(e["code"], "forbidden");
    // Not joined yet: as version 1 answers any room one has not joined.
    not_joined(c, "invited").await;
    let (status, body) = page(&server, ROOM, &ivy.cookie).await;
    assert_eq!(status, 200);
    assert!(
        !body.contains("secret"),
        "invited: the page holds no message"
    );
    let posted = form_post(&server, &ivy, ROOM, "x").await;
    assert_eq!(posted.0, 422, "invited: the form waits for the join");

    // A member reads everything.
    let c = &mut mo.ws;
    assert!(rooms_page(c).await.contains(&ROOM.to_owned()));
    assert_eq!(found(c).await, ["the secret plan"]);
    let w = answer(c, json!({"type": "watch", "room": ROOM}), "watching").await;
    assert_eq!(w["messages"][0]["text"], "the secret plan");
    let h = answer(c, json!({"type": "history", "room": ROOM}), "history").await;
    assert_eq!(h["messages"].as_array().unwrap().len(), 1);
    let m = answer(c, json!({"type": "members", "room": ROOM}), "members").await;
    assert_eq!(m["names"], json!(["Ann", "Mo"]), "{m}");
    // Typing and read marks are taken (no answer but silence).
    c.send(json!({"type": "typing", "room": ROOM})).await;
    c.send(json!({"type": "read", "room": ROOM, "id": 1})).await;
    assert!(drained(c).await.iter().all(|f| f["type"] != "error"));
    let (status, body) = page(&server, ROOM, &mo.cookie).await;
    assert_eq!(status, 200);
    assert!(body.contains("the secret plan"));
    let e = answer(
        c,
        json!({"type": "invite", "room": ROOM, "user": "Gus"}),
        "invited",
    )
    .await;
    assert_eq!(e["code"], "forbidden", "a plain member does not invite");
    assert_eq!(form_post(&server, &mo, ROOM, "by form").await.0, 303);
    mo.ws.recv_type("message").await;

    // Live: the outsiders heard nothing of all this; the former member
    // nothing after its `left`.
    for (who, v) in [
        ("passive", &mut passive),
        ("guest", &mut gus),
        ("account", &mut otto),
    ] {
        nothing_about_the_room(who, &drained(&mut v.ws).await);
    }
    ann.ws
        .send(json!({"type": "send", "room": ROOM, "text": "secret two"}))
        .await;
    ann.ws.recv_type("message").await;
    mo.ws.recv_type("message").await;
    for (who, v) in [
        ("passive", &mut passive),
        ("former", &mut fay),
        ("invited", &mut ivy),
    ] {
        nothing_about_the_room(who, &drained(&mut v.ws).await);
    }
    // The invited one joins and reads.
    let joined = ivy.ws.join(ROOM).await;
    assert_eq!(joined["messages"].as_array().unwrap().len(), 3);
    // Metrics name no room.
    let metrics = raw_http(
        server.ops_addr,
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(!metrics.contains(ROOM), "metrics name the room");
    server.stop().await;
}

#[tokio::test]
async fn the_http_api_answers_a_private_room_it_may_not_see_as_a_missing_one() {
    let server = TestServer::start(accounts_config()).await;
    let mut ann = account(&server, "Ann").await;
    create_private(&mut ann.ws).await;
    let otto = signed_up(&server, "Otto").await;
    let outsider = token(&server, &otto, "bot", "").await;
    let body = json!({"text": "hi"});
    let (status, here, _) = api_post(&server, ROOM, &outsider, body.clone()).await;
    let (missing, there, _) = api_post(&server, NOWHERE, &outsider, body.clone()).await;
    assert_eq!((status, missing), (404, 404));
    assert_eq!(here.to_string().replace(ROOM, NOWHERE), there.to_string());
    // Invited, not joined: the room is visible, posting waits for the join.
    let ivy = signed_up(&server, "Ivy").await;
    answer(
        &mut ann.ws,
        json!({"type": "invite", "room": ROOM, "user": "Ivy"}),
        "invited",
    )
    .await;
    let invited = token(&server, &ivy, "bot", "").await;
    let (status, e, _) = api_post(&server, ROOM, &invited, body.clone()).await;
    assert_eq!(status, 403, "{e}");
    let owner = token(&server, &ann.cookie, "bot", "").await;
    let (status, posted, _) = api_post(&server, ROOM, &owner, body).await;
    assert!(status == 200 || status == 201, "{status} {posted}");
    server.stop().await;
}

#[tokio::test]
async fn rooms_follow_the_identity_to_a_second_device_and_leaving_ends_them_everywhere() {
    let server = TestServer::start(accounts_config()).await;
    let mut ann = account(&server, "Ann").await;
    create_private(&mut ann.ws).await;
    ann.ws.join("side").await;
    let (mut phone, welcome) = hello_with(&server, &ann.cookie, "").await;
    let mine: Vec<(String, String)> = welcome["mine"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["room"].as_str().unwrap().into(),
                r["role"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        mine,
        [
            ("side".into(), "owner".into()),
            (ROOM.into(), "owner".into())
        ],
        "{welcome}"
    );
    phone.join(ROOM).await;
    // Leaving on one device leaves on every one.
    let left = answer(&mut phone, json!({"type": "leave", "room": "side"}), "left").await;
    assert_eq!(left["room"], "side");
    let told = ann.ws.recv_type("left").await;
    assert_eq!(told["room"], "side");
    let (_tablet, welcome) = hello_with(&server, &ann.cookie, "").await;
    assert!(!welcome["mine"].to_string().contains("side"), "{welcome}");
    server.stop().await;
}

#[tokio::test]
async fn a_direct_message_is_the_same_room_for_the_pair_and_nobody_else_can_reach_it() {
    let server = TestServer::start(accounts_config()).await;
    let mut ann = account(&server, "Ann").await;
    let mut bo = account(&server, "Bo").await;
    let mut cy = account(&server, "Cy").await;
    let joined = answer(&mut ann.ws, json!({"type": "dm", "user": "Bo"}), "joined").await;
    let room = joined["room"].as_str().unwrap().to_owned();
    assert!(room.starts_with('@'), "{joined}");
    assert_eq!(joined["dm"], "Bo");
    let told = bo.ws.recv_type("invited").await;
    assert_eq!(
        (told["room"].as_str(), told["dm"].as_bool()),
        (Some(room.as_str()), Some(true))
    );
    let again = answer(&mut bo.ws, json!({"type": "dm", "user": "Ann"}), "joined").await;
    assert_eq!(again["room"], room, "the same room whoever asks");
    assert_eq!(again["dm"], "Ann");
    ann.ws
        .send(json!({"type": "send", "room": room, "text": "secret between us"}))
        .await;
    bo.ws.recv_type("message").await;
    let c = &mut cy.ws;
    for (frame, ty, code) in [
        (
            json!({"type": "join", "room": room}),
            "joined",
            "no_such_room",
        ),
        (
            json!({"type": "watch", "room": room}),
            "watching",
            "no_such_room",
        ),
        (
            json!({"type": "search", "query": "secret", "room": room}),
            "results",
            "no_such_room",
        ),
        (
            json!({"type": "history", "room": room}),
            "history",
            "not_in_room",
        ),
    ] {
        let e = answer(c, frame.clone(), ty).await;
        assert_eq!(e["code"], code, "{frame}");
    }
    assert!(found(c).await.is_empty());
    let (status, _) = page(&server, &room, &cy.cookie).await;
    assert_eq!(status, 404);
    // Not even an admin reads a direct message.
    let e = answer(
        &mut ann.ws,
        json!({"type": "invite", "room": room, "user": "Cy"}),
        "invited",
    )
    .await;
    assert_eq!(e["code"], "forbidden");
    let e = answer(&mut ann.ws, json!({"type": "dm", "user": "Ann"}), "joined").await;
    assert_eq!(e["code"], "bad_request");
    server.stop().await;
}

#[tokio::test]
async fn roles_are_set_by_owners_only_and_everyone_in_the_room_hears_of_them() {
    let server = TestServer::start(accounts_config()).await;
    let mut ann = account(&server, "Ann").await;
    let mut mo = account(&server, "Mo").await;
    let mut ivy = account(&server, "Ivy").await;
    create_private(&mut ann.ws).await;
    answer(
        &mut ann.ws,
        json!({"type": "invite", "room": ROOM, "user": "Mo"}),
        "invited",
    )
    .await;
    mo.ws.join(ROOM).await;
    let e = answer(
        &mut mo.ws,
        json!({"type": "set_role", "room": ROOM, "user": "Ann", "role": "member"}),
        "role",
    )
    .await;
    assert_eq!(e["code"], "forbidden");
    let role = answer(
        &mut ann.ws,
        json!({"type": "set_role", "room": ROOM, "user": "Mo", "role": "moderator"}),
        "role",
    )
    .await;
    assert_eq!(
        (role["user"].as_str(), role["role"].as_str()),
        (Some("Mo"), Some("moderator"))
    );
    let heard = mo.ws.recv_type("role").await;
    assert_eq!(heard["role"], "moderator");
    // A moderator invites; the invited one is not a member yet.
    answer(
        &mut mo.ws,
        json!({"type": "invite", "room": ROOM, "user": "Ivy"}),
        "invited",
    )
    .await;
    ivy.ws.recv_type("invited").await;
    // Owners and moderators come with `joined`, for the member list's badges.
    let staff = |joined: &Value| joined["staff"].clone();
    let again = answer(&mut ann.ws, json!({"type": "join", "room": ROOM}), "joined").await;
    assert_eq!(
        staff(&again),
        json!([["Ann", "owner"], ["Mo", "moderator"]])
    );
    let e = answer(
        &mut ann.ws,
        json!({"type": "set_role", "room": ROOM, "user": "Ivy", "role": "owner"}),
        "role",
    )
    .await;
    assert_eq!(e["code"], "bad_request", "only members have roles");
    let e = answer(
        &mut ann.ws,
        json!({"type": "set_role", "room": ROOM, "user": "Ann", "role": "member"}),
        "role",
    )
    .await;
    assert_eq!(e["code"], "forbidden", "an owner cannot demote itself");
    let e = answer(
        &mut ann.ws,
        json!({"type": "create", "room": "general", "visibility": "private"}),
        "joined",
    )
    .await;
    assert_eq!(e["code"], "room_exists");
    server.stop().await;
}

#[tokio::test]
async fn memberships_invitations_and_private_members_are_limited_at_their_bounds() {
    let server = TestServer::start(chat::Config {
        max_rooms_per_identity: 2,
        max_invites_per_identity: 1,
        max_private_members: 3,
        ..accounts_config()
    })
    .await;
    let mut ann = account(&server, "Ann").await;
    let mut bo = account(&server, "Bo").await;
    let mut cy = account(&server, "Cy").await;
    account(&server, "Di").await;
    // Ann: general and one more is the bound; a third is one past it.
    ann.ws.join("general").await;
    create_private(&mut ann.ws).await;
    let e = answer(
        &mut ann.ws,
        json!({"type": "join", "room": "third"}),
        "joined",
    )
    .await;
    assert_eq!(e["code"], "too_many_rooms");
    let e = answer(
        &mut ann.ws,
        json!({"type": "create", "room": "third", "visibility": "public"}),
        "joined",
    )
    .await;
    assert_eq!(e["code"], "too_many_rooms");
    // Invitations waiting: one is the bound.
    answer(
        &mut ann.ws,
        json!({"type": "invite", "room": ROOM, "user": "Bo"}),
        "invited",
    )
    .await;
    bo.ws.recv_type("invited").await;
    answer(
        &mut cy.ws,
        json!({"type": "create", "room": "cys", "visibility": "private"}),
        "joined",
    )
    .await;
    let e = answer(
        &mut cy.ws,
        json!({"type": "invite", "room": "cys", "user": "Bo"}),
        "invited",
    )
    .await;
    assert_eq!(
        e["code"], "too_many_rooms",
        "a second invitation waiting is one past the bound"
    );
    // Members and invited of a private room: Ann, Bo (invited), Cy is the third.
    answer(
        &mut ann.ws,
        json!({"type": "invite", "room": ROOM, "user": "Cy"}),
        "invited",
    )
    .await;
    let e = answer(
        &mut ann.ws,
        json!({"type": "invite", "room": ROOM, "user": "Di"}),
        "invited",
    )
    .await;
    assert_eq!(
        e["code"], "too_many_rooms",
        "a fourth member is one past the bound"
    );
    // Bo declines (leave) and his invitation slot is free again.
    let left = answer(&mut bo.ws, json!({"type": "leave", "room": ROOM}), "left").await;
    assert_eq!(left["type"], "left");
    let mut di = hello_with(&server, &signed_up_again(&server, "Di").await, "")
        .await
        .0;
    answer(
        &mut ann.ws,
        json!({"type": "invite", "room": ROOM, "user": "Di"}),
        "invited",
    )
    .await;
    di.recv_type("invited").await;
    server.stop().await;
}

/// A session of the account `name` made earlier.
async fn signed_up_again(server: &TestServer, name: &str) -> String {
    let r = form(
        server,
        "/login",
        &[("name", name), ("password", common::http::PASSWORD)],
        "",
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    common::http::session_cookie(&r)
}

#[tokio::test]
async fn a_private_room_and_its_members_survive_a_restart_and_stay_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(accounts_config(), dir.path()).await;
    let mut ann = account(&server, "Ann").await;
    let cookie = ann.cookie.clone();
    create_private(&mut ann.ws).await;
    ann.ws
        .send(json!({"type": "send", "room": ROOM, "text": "secret kept"}))
        .await;
    ann.ws.recv_type("message").await;
    let otto = signed_up(&server, "Otto").await;
    drop(ann);
    server.stop().await;

    let server = TestServer::start_in(accounts_config(), dir.path()).await;
    let (mut c, welcome) = hello_with(&server, &cookie, "").await;
    assert_eq!(welcome["mine"][0]["room"], ROOM, "{welcome}");
    assert_eq!(welcome["mine"][0]["visibility"], "private");
    let joined = c.join(ROOM).await;
    assert_eq!(joined["role"], "owner");
    assert_eq!(joined["messages"][0]["text"], "secret kept");
    let (mut outsider, welcome) = hello_with(&server, &otto, "").await;
    assert!(!welcome["rooms"].to_string().contains(ROOM));
    let e = answer(
        &mut outsider,
        json!({"type": "join", "room": ROOM}),
        "joined",
    )
    .await;
    assert_eq!(e["code"], "no_such_room");
    assert!(found(&mut outsider).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn without_javascript_forms_make_a_private_room_invite_and_join_it() {
    let server = TestServer::start(accounts_config()).await;
    let ann = signed_up(&server, "Ann").await;
    let ivy = signed_up(&server, "Ivy").await;
    let otto = signed_up(&server, "Otto").await;
    let made = form(
        &server,
        "/rooms",
        &[("room", ROOM), ("visibility", "private"), ("invite", "Ivy")],
        &ann,
    )
    .await;
    assert_eq!(made.status, 303, "{}", made.body);
    assert_eq!(made.header("location"), Some("/r/team"));
    // Taken: the same form again is refused, and the page says why.
    let again = form(
        &server,
        "/rooms",
        &[("room", ROOM), ("visibility", "public")],
        &otto,
    )
    .await;
    assert_eq!(again.status, 422);
    assert!(
        again.body.contains("there is already a room"),
        "{}",
        again.body
    );
    // An outsider's join is a missing room's; the invited one's works.
    let joined = form(&server, "/r/team/join", &[], &otto).await;
    let missing = form(&server, "/r/nowhere/join", &[], &otto).await;
    assert_eq!((joined.status, missing.status), (422, 422));
    assert_eq!(
        unnonced(&joined.body).replace(ROOM, NOWHERE),
        unnonced(&missing.body)
    );
    let joined = form(&server, "/r/team/join", &[], &ivy).await;
    assert_eq!(joined.status, 303, "{}", joined.body);
    let (status, _) = page(&server, ROOM, &ivy).await;
    assert_eq!(status, 200);
    // A plain member may not invite; the owner may.
    let e = form(&server, "/r/team/invite", &[("user", "Otto")], &ivy).await;
    assert_eq!(e.status, 422);
    assert!(e.body.contains("only the room"), "{}", e.body);
    let ok = form(&server, "/r/team/invite", &[("user", "Otto")], &ann).await;
    assert_eq!(ok.status, 303);
    // A direct message without JavaScript: to its page; nobody else's.
    let dm = form(&server, "/dm", &[("user", "Ivy")], &ann).await;
    assert_eq!(dm.status, 303, "{}", dm.body);
    let to = dm.header("location").unwrap().to_owned();
    assert!(to.starts_with("/r/@"), "{to}");
    let room = to.trim_start_matches("/r/");
    assert_eq!(page(&server, room, &ivy).await.0, 200);
    assert_eq!(page(&server, room, &otto).await.0, 404);
    let nobody = form(&server, "/dm", &[("user", "Nobody Here")], &ann).await;
    assert_eq!(nobody.status, 422);
    assert!(
        nobody.body.contains("nobody here is called"),
        "{}",
        nobody.body
    );
    // Cross-site: refused before anything.
    let forged = http(
        &server,
        "POST",
        "/rooms",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Sec-Fetch-Site", "cross-site"),
            ("Cookie", ann.as_str()),
        ],
        "room=forged&visibility=public",
    )
    .await;
    assert_eq!(forged.status, 403);
    let (status, _) = page(&server, "forged", "").await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test]
async fn a_server_admin_acts_as_owner_in_every_room_but_direct_messages() {
    let server = TestServer::start(accounts_config()).await;
    let mut ann = account(&server, "Ann").await;
    let mut mo = account(&server, "Mo").await;
    account(&server, "Bo").await;
    let zed = signed_up(&server, "Zed").await;
    create_private(&mut ann.ws).await;
    answer(
        &mut ann.ws,
        json!({"type": "invite", "room": ROOM, "user": "Mo"}),
        "invited",
    )
    .await;
    mo.ws.join(ROOM).await;
    let dm = answer(&mut ann.ws, json!({"type": "dm", "user": "Bo"}), "joined").await;
    let dm = dm["room"].as_str().unwrap().to_owned();
    // Not yet an admin: the room does not exist for Zed.
    let (mut z, _) = hello_with(&server, &zed, "").await;
    let e = answer(&mut z, json!({"type": "watch", "room": ROOM}), "watching").await;
    assert_eq!(e["code"], "no_such_room");
    assert_eq!(admin_cli(&server, &["grant-admin", "Zed"], "").await.0, 0);
    // At once, on the same connection: the role is read at each request.
    let w = answer(&mut z, json!({"type": "watch", "room": ROOM}), "watching").await;
    assert_eq!(w["type"], "watching", "{w}");
    let joined = z.join(ROOM).await;
    assert_eq!(
        (joined["role"].as_str(), joined["visibility"].as_str()),
        (Some("owner"), Some("private"))
    );
    let role = answer(
        &mut z,
        json!({"type": "set_role", "room": ROOM, "user": "Mo", "role": "moderator"}),
        "role",
    )
    .await;
    assert_eq!(role["role"], "moderator", "{role}");
    // A direct message is its two people's only.
    for (frame, ty) in [
        (json!({"type": "join", "room": dm}), "joined"),
        (json!({"type": "watch", "room": dm}), "watching"),
    ] {
        let e = answer(&mut z, frame, ty).await;
        assert_eq!(e["code"], "no_such_room", "{e}");
    }
    assert_eq!(admin_cli(&server, &["revoke-admin", "Zed"], "").await.0, 0);
    let e = answer(
        &mut z,
        json!({"type": "invite", "room": ROOM, "user": "Bo"}),
        "invited",
    )
    .await;
    assert_eq!(e["code"], "forbidden", "a plain member again: {e}");
    server.stop().await;
}
