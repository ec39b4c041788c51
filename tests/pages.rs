//! The page routes against a real server: the server-rendered page and the
//! plain form (`POST /`) that browsers without JavaScript use.

mod common;

use axum::body::Body;
use axum::http::Request;
use chat::Config;
use common::http::*;
use common::*;
use serde_json::json;
use tower::ServiceExt;

async fn post_form(
    server: &TestServer,
    fields: &[(&str, &str)],
    extra: &[(&str, &str)],
) -> Response {
    let body = serde_urlencoded::to_string(fields).unwrap();
    // As a browser posts the page's own form (no `Origin` given here).
    let mut headers = vec![
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Sec-Fetch-Site", "same-origin"),
    ];
    headers.extend_from_slice(extra);
    http(server, "POST", "/", &headers, &body).await
}

#[tokio::test]
async fn the_page_renders_general_and_its_members() {
    let server = TestServer::start(fast()).await;
    let mut alice = server.member("alice", "general").await;
    alice
        .send(json!({"type": "send", "room": "general", "text": "<b>hi</b> & bye"}))
        .await;
    alice.recv_type("message").await;

    let page = http(&server, "GET", "/", &[], "").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        page.body.contains("&lt;b&gt;hi&lt;&#x2F;b&gt; &amp; bye"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<b>hi</b>"));
    assert!(page
        .body
        .contains(r#"<span class="member-name">alice</span>"#));
    assert!(page
        .body
        .contains(r#"<form method="post" action="/" class="composer">"#));

    let missing = http(&server, "GET", "/nope", &[], "").await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("Page not found"));
    server.stop().await;
}

#[tokio::test]
async fn a_form_post_goes_through_the_hub_to_live_members() {
    let server = TestServer::start(fast()).await;
    let mut bob = server.member("bob", "general").await;
    bob.send(json!({"type": "send", "room": "general", "text": "first"}))
        .await;
    bob.recv_type("message").await;

    let posted = post_form(
        &server,
        &[
            ("name", " Zoë "),
            ("text", "<script>x</script>\r\nline 2"),
            ("room", "general"),
        ],
        &[],
    )
    .await;
    assert_eq!(posted.status, 303);
    assert_eq!(posted.header("location"), Some("/#end"));
    let cookie = posted.header("set-cookie").unwrap();
    assert!(cookie.starts_with("chat_name=Zo%C3%AB;"), "{cookie}");
    assert!(cookie.contains("HttpOnly"));

    // The same broadcast as a WebSocket send: next id, sanitized text, escaped html.
    let message = bob.recv_type("message").await;
    assert_eq!(message["id"], 2);
    assert_eq!(message["user"], "Zoë");
    assert_eq!(message["text"], "<script>x</script>\nline 2");
    assert_eq!(
        message["html"],
        "&lt;script&gt;x&lt;&#x2F;script&gt;<br>line 2"
    );

    // The page shows it, and remembers the name from the cookie.
    let page = http(&server, "GET", "/", &[("Cookie", "chat_name=Zo%C3%AB")], "").await;
    assert!(page
        .body
        .contains("&lt;script&gt;x&lt;&#x2F;script&gt;<br>line 2"));
    assert!(
        page.body.contains(r#"data-testid="name" value="Zoë""#),
        "{}",
        page.body
    );
    server.stop().await;
}

#[tokio::test]
async fn refused_form_posts_say_why_and_keep_the_text() {
    let config = Config {
        rate_per_sec: 0.001,
        rate_burst: 2.0,
        ..Config::default()
    };
    let server = TestServer::start(config).await;
    let (mut live, _) = server.user("taken").await;
    live.join("general").await;
    let addr = &server;

    // The refused text comes back in the textarea, and cannot leave it.
    let text = "keep </textarea><script>alert(1)</script> &amp;";
    let empty_name = post_form(addr, &[("name", "  "), ("text", text)], &[]).await;
    assert_eq!(empty_name.status, 422);
    assert!(empty_name.body.contains("a name is 1 to 32 characters"));
    assert!(
        empty_name
            .body
            .contains(">keep &lt;/textarea>&lt;script>alert(1)&lt;/script> &amp;amp;</textarea>"),
        "{}",
        empty_name.body
    );
    assert!(!empty_name.body.contains("<script>alert(1)"));

    let taken = post_form(addr, &[("name", "TAKEN"), ("text", "hi")], &[]).await;
    assert_eq!(taken.status, 422);
    assert!(taken.body.contains("is in use"));

    let long = "x".repeat(2001);
    let too_long = post_form(addr, &[("name", "carol"), ("text", &long)], &[]).await;
    assert_eq!(too_long.status, 422);
    assert!(too_long
        .body
        .contains("Not sent: a message is 1 to 2000 characters"));

    let no_room = post_form(
        addr,
        &[("name", "carol"), ("text", "hi"), ("room", "nowhere")],
        &[],
    )
    .await;
    assert_eq!(no_room.status, 422);
    let bad_room = post_form(
        addr,
        &[("name", "carol"), ("text", "hi"), ("room", "<b>")],
        &[],
    )
    .await;
    assert_eq!(bad_room.status, 422);

    let foreign = post_form(
        addr,
        &[("name", "carol"), ("text", "csrf")],
        &[("Origin", "http://evil.example")],
    )
    .await;
    assert_eq!(foreign.status, 403);
    // Without `Origin`, only a browser's `Sec-Fetch-Site: same-origin`
    // will do: a post that says neither (a cross-site form from a page
    // that strips `Origin`) is refused, and nothing is posted.
    for site in [None, Some("cross-site"), Some("same-site")] {
        let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
        headers.extend(site.map(|site| ("Sec-Fetch-Site", site)));
        let answer = http(addr, "POST", "/", &headers, "name=carol&text=csrf").await;
        assert_eq!(answer.status, 403, "{site:?}");
    }

    // The rate limit is per identity and per address: a burst of 2, then
    // 429, under the same name (with its cookie) or a new one.
    let first = post_form(addr, &[("name", "dan"), ("text", "ok")], &[]).await;
    assert_eq!(first.status, 303);
    let cookie = first.identity_cookie().expect("a new identity's cookie");
    let dan = [("Cookie", cookie.as_str())];
    assert_eq!(
        post_form(addr, &[("name", "dan"), ("text", "ok")], &dan)
            .await
            .status,
        303
    );
    let limited = post_form(addr, &[("name", "dan"), ("text", "one too many")], &dan).await;
    assert_eq!(limited.status, 429);
    assert!(limited.body.contains("slow down"));
    let renamed = post_form(addr, &[("name", "erin"), ("text", "new name")], &[]).await;
    assert_eq!(renamed.status, 429);

    // Only the two accepted posts reached the room, with ids 1 and 2.
    let mut got = Vec::new();
    for _ in 0..2 {
        let m = live.recv_type("message").await;
        got.push((
            m["id"].as_u64().unwrap(),
            m["user"].as_str().unwrap().to_owned(),
        ));
    }
    assert_eq!(got, [(1, "dan".into()), (2, "dan".into())]);
    live.quiet().await;
    server.stop().await;
}

#[tokio::test]
async fn a_form_post_the_store_cannot_write_gets_503_and_keeps_the_text() {
    if on_postgres() {
        return; // It breaks the SQLite file; tests/postgres.rs stops PostgreSQL instead.
    }
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(fast(), dir.path()).await;
    server.user("opener").await; // the store is open from here
                                 // Make the database refuse this text, as a full disk or I/O error would.
    let db = rusqlite::Connection::open(dir.path().join(chat::store::DB_FILE)).unwrap();
    db.execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.text = 'boom <b>'
         BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END;",
    )
    .unwrap();
    let fields = [("name", "zoe"), ("text", "boom <b>"), ("room", "general")];
    let refused = post_form(&server, &fields, &[]).await;
    assert_eq!(refused.status, 503);
    assert!(
        refused.body.contains(">boom &lt;b></textarea>"),
        "{}",
        refused.body
    );
    // Nothing was stored: the next post gets id 1. The identity made for
    // the refused post is zoe's already (its cookie came with the 503).
    let cookie = refused.identity_cookie().expect("the identity cookie");
    let fields = [("name", "zoe"), ("text", "fine"), ("room", "general")];
    let again = post_form(&server, &fields, &[("Cookie", cookie.as_str())]).await;
    assert_eq!(again.status, 303);
    let (mut reader, _) = server.user("reader").await;
    let joined = reader.join("general").await;
    assert_eq!(ids(&joined["messages"]), [1]);
    server.stop().await;
}

#[tokio::test]
async fn the_page_allows_only_its_own_scripts_and_says_how_to_treat_it() {
    let server = TestServer::start(Config::default()).await;
    let page = http(&server, "GET", "/", &[], "").await;
    let csp = page.header("content-security-policy").unwrap();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce in the policy");
    assert!(nonce.len() >= 16, "{nonce}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    // Every inline script of the page carries that nonce.
    let scripts = page.body.matches("<script").count();
    assert!(scripts > 0);
    assert!(page.body.matches(&format!("nonce=\"{nonce}\"")).count() >= scripts);
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("referrer-policy"), Some("same-origin"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("cache-control"), Some("private, no-cache"));
    // Another render, another nonce.
    let again = http(&server, "GET", "/", &[], "").await;
    assert!(!again
        .header("content-security-policy")
        .unwrap()
        .contains(nonce));
    // The not-found page has its own nonce and hydrates under it too.
    let missing = http(&server, "GET", "/nowhere", &[], "").await;
    assert_eq!(missing.status, 404);
    assert!(missing
        .header("content-security-policy")
        .unwrap()
        .contains("'nonce-"));

    let request = Request::builder()
        .uri("/")
        .header("host", server.addr.to_string())
        .header("accept-encoding", "gzip")
        .body(Body::empty())
        .unwrap();
    let compressed = server.router.clone().oneshot(request).await.unwrap();
    assert_eq!(compressed.headers()["content-encoding"], "gzip");
    server.stop().await;
}

#[tokio::test]
async fn a_room_has_an_address_that_renders_it_and_its_form_posts_back_to_it() {
    let server = TestServer::start(fast()).await;
    let mut ada = server.member("ada", "side").await;
    ada.send(json!({"type": "send", "room": "side", "text": "only in side"}))
        .await;
    ada.recv_type("message").await;
    let mut bob = server.member("bob", "general").await;
    bob.send(json!({"type": "send", "room": "general", "text": "only in general"}))
        .await;
    bob.recv_type("message").await;

    let page = http(&server, "GET", "/r/side", &[], "").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("only in side"));
    assert!(!page.body.contains("only in general"));
    // The form posts into the room in view.
    assert!(
        page.body.contains(r#"name="room" value="side""#),
        "{}",
        page.body
    );
    // Every room is a link to its page, the one in view and the others.
    for link in [r#"href="/r/side""#, r#"href="/""#] {
        assert!(page.body.contains(link), "{link}: {}", page.body);
    }
    for missing in ["/r/nope", "/r/Not%20A%20Room", "/r/"] {
        let answer = http(&server, "GET", missing, &[], "").await;
        assert_eq!(answer.status, 404, "{missing}");
        assert!(answer.body.contains("Page not found"), "{missing}");
    }
    let posted = post_form(
        &server,
        &[("name", "cy"), ("text", "posted in side"), ("room", "side")],
        &[],
    )
    .await;
    assert_eq!(posted.status, 303);
    assert_eq!(posted.header("location"), Some("/r/side#end"));
    assert_eq!(ada.recv_type("message").await["text"], "posted in side");
    let general = post_form(
        &server,
        &[
            ("name", "dan"),
            ("text", "posted in general"),
            ("room", "general"),
        ],
        &[],
    )
    .await;
    assert_eq!(general.header("location"), Some("/#end"));
    server.stop().await;
}
