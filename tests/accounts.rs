//! *1.2* accounts against a real server (protocol 1.2 section 1): sign-up
//! keeping a guest's identity, sign-in on a second device, sessions that
//! end with 4004, and the attacks: wrong password and unknown name alike,
//! failure limits, cross-origin forms, session fixation.

mod common;

use chat::Config;
use common::http::{accounts_config, form, hello_with, http, session_cookie, PASSWORD};
use common::*;
use serde_json::json;
use std::time::Duration;

/// Accounts with a cheap hash (the cost is measured in `make bench`), and
/// limits that tests reach quickly.
fn config() -> Config {
    Config {
        sign_in_failures: 3,
        sign_in_addr_failures: 5,
        ..accounts_config()
    }
}

/// Signs `name` in with `password`; the session's `Cookie` header.
async fn sign_in(server: &TestServer, name: &str, password: &str) -> String {
    let answer = form(
        server,
        "/login",
        &[("name", name), ("password", password)],
        "",
    )
    .await;
    assert_eq!(answer.status, 303, "{}", answer.body);
    session_cookie(&answer)
}

/// Every password hash the store holds.
fn stored_passwords(server: &TestServer) -> Vec<String> {
    match server.database_url() {
        Some(url) => {
            let url = url.to_owned();
            std::thread::spawn(move || {
                let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                let rows = db.query("SELECT password FROM accounts", &[]).unwrap();
                rows.iter().map(|r| r.get(0)).collect()
            })
            .join()
            .unwrap()
        }
        None => {
            let path = server.data_dir.join(chat::store::DB_FILE);
            let db = rusqlite::Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .unwrap();
            let mut rows = db.prepare("SELECT password FROM accounts").unwrap();
            rows.query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        }
    }
}

#[tokio::test]
async fn a_guest_who_signs_up_keeps_its_identity_and_a_second_device_is_the_same_person() {
    let server = TestServer::start(config()).await;
    // A guest, in a browser: its upgrade sets the identity cookie.
    let (mut guest, cookies) = Client::connect_with(server.addr, &[]).await;
    let identity = cookies
        .iter()
        .find_map(|c| c.strip_prefix("chat_id="))
        .map(|c| format!("chat_id={}", c.split(';').next().unwrap()))
        .expect("an identity cookie");
    guest.send(json!({"type": "hello", "name": "Ada"})).await;
    let welcome = guest.recv_type("welcome").await;
    assert_eq!(
        (
            welcome["user"]["account"].clone(),
            welcome["user"]["role"].clone()
        ),
        (json!(false), json!("guest"))
    );
    let id = welcome["user"]["id"].clone();
    guest.join("general").await;
    guest
        .send(json!({"type": "send", "room": "general", "text": "before the account"}))
        .await;
    guest.recv_type("message").await;
    // "Keep this name: set a password".
    let offer = http(
        &server,
        "GET",
        "/signup",
        &[("Cookie", identity.as_str())],
        "",
    )
    .await;
    assert!(
        offer.body.contains("Keep the name <strong>Ada</strong>"),
        "{}",
        offer.body
    );
    let signed_up = form(
        &server,
        "/signup",
        &[("name", "Ada"), ("password", PASSWORD)],
        &identity,
    )
    .await;
    assert_eq!(signed_up.status, 303, "{}", signed_up.body);
    let laptop = session_cookie(&signed_up);
    // The store keeps a hash, never the password.
    let stored = stored_passwords(&server);
    assert_eq!(stored.len(), 1);
    assert!(
        stored[0].starts_with("$argon2id$v=19$m=64,t=2,p=1$"),
        "{}",
        stored[0]
    );
    assert!(!stored[0].contains(PASSWORD));
    // The guest cookie alone no longer proves the account.
    let (_, stale) = hello_with(&server, &identity, "Ada").await;
    assert_eq!(stale["code"], "name_taken", "{stale}");
    // A second device signs in (any case of the name): the same person.
    let phone = sign_in(&server, "ADA", PASSWORD).await;
    assert_ne!(phone, laptop, "each sign-in is a session of its own");
    let (mut on_phone, welcome) = hello_with(&server, &phone, "").await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    assert_eq!(welcome["user"]["id"], id);
    assert_eq!(welcome["user"]["name"], "Ada");
    assert_eq!(
        (
            welcome["user"]["account"].clone(),
            welcome["user"]["role"].clone()
        ),
        (json!(true), json!("user"))
    );
    assert_eq!(welcome["token"], "", "nothing but the cookie proves it");
    let (mut on_laptop, welcome) = hello_with(&server, &laptop, "").await;
    assert_eq!(welcome["user"]["id"], id);
    // Both at once: a device does not replace the other. The guest's
    // history is the account's.
    let joined = on_phone.join("general").await;
    let texts: Vec<&str> = joined["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["before the account"]);
    on_laptop.join("general").await;
    on_laptop
        .send(json!({"type": "send", "room": "general", "text": "from the laptop"}))
        .await;
    let seen = on_phone.recv_type("message").await;
    assert_eq!(
        (seen["user"].as_str(), seen["text"].as_str()),
        (Some("Ada"), Some("from the laptop"))
    );
    // The page says who is signed in.
    let page = http(&server, "GET", "/", &[("Cookie", phone.as_str())], "").await;
    assert!(
        page.body.contains("Signed in as <strong>Ada</strong>"),
        "{}",
        page.body
    );
    // Signing out everywhere closes every device's socket with 4004.
    let out = form(&server, "/logout", &[("everywhere", "1")], &laptop).await;
    assert_eq!(out.status, 303);
    assert_eq!(
        out.set_cookie("chat_session").as_deref(),
        Some(""),
        "the cookie is cleared"
    );
    assert_eq!(on_phone.closed().await.0, 4004);
    assert_eq!(on_laptop.closed().await.0, 4004);
    // Neither session signs anything in any more.
    let account = http(
        &server,
        "GET",
        "/account",
        &[("Cookie", phone.as_str())],
        "",
    )
    .await;
    assert_eq!(
        (account.status, account.header("location")),
        (303, Some("/login"))
    );
    let (_, refused) = hello_with(&server, &phone, "").await;
    assert_eq!(
        refused["code"], "bad_request",
        "a guest must name itself: {refused}"
    );
    server.stop().await;
}

#[tokio::test]
async fn signing_out_ends_one_session_and_a_password_change_ends_the_others() {
    let server = TestServer::start(config()).await;
    let made = form(
        &server,
        "/signup",
        &[("name", "Grace"), ("password", PASSWORD)],
        "",
    )
    .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let first = session_cookie(&made);
    let second = sign_in(&server, "grace", PASSWORD).await;
    let third = sign_in(&server, "grace", PASSWORD).await;
    let (mut a, _) = hello_with(&server, &first, "").await;
    let (mut b, _) = hello_with(&server, &second, "").await;
    let (mut c, _) = hello_with(&server, &third, "").await;
    // The account page lists the three, this one marked.
    let page = http(
        &server,
        "GET",
        "/account",
        &[("Cookie", first.as_str())],
        "",
    )
    .await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.body.matches("data-testid=\"session-row\"").count(),
        3,
        "{}",
        page.body
    );
    assert_eq!(page.body.matches("(this device)").count(), 1);
    // Signing out (one session) closes that device alone.
    let out = form(&server, "/logout", &[], &third).await;
    assert_eq!(out.status, 303);
    assert_eq!(c.closed().await.0, 4004);
    a.alive().await;
    b.alive().await;
    // A wrong current password changes nothing.
    let wrong = form(
        &server,
        "/account/password",
        &[
            ("current", "not it at all"),
            ("password", "a brand new passphrase"),
        ],
        &first,
    )
    .await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    b.alive().await;
    let changed = form(
        &server,
        "/account/password",
        &[
            ("current", PASSWORD),
            ("password", "a brand new passphrase"),
        ],
        &first,
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(b.closed().await.0, 4004, "the other device is signed out");
    a.alive().await;
    let old = form(
        &server,
        "/login",
        &[("name", "Grace"), ("password", PASSWORD)],
        "",
    )
    .await;
    assert_eq!(old.status, 401);
    sign_in(&server, "Grace", "a brand new passphrase").await;
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_name_get_the_same_answer() {
    let server = TestServer::start(config()).await;
    let made = form(
        &server,
        "/signup",
        &[("name", "Ada"), ("password", PASSWORD)],
        "",
    )
    .await;
    assert_eq!(made.status, 303);
    let wrong = form(
        &server,
        "/login",
        &[("name", "Ada"), ("password", "wrong password!")],
        "",
    )
    .await;
    let unknown = form(
        &server,
        "/login",
        &[("name", "Nobody"), ("password", "wrong password!")],
        "",
    )
    .await;
    assert_eq!((wrong.status, unknown.status), (401, 401));
    // The same page but for the name typed, which the form keeps.
    assert_eq!(
        wrong.body.replace("Ada", "N"),
        unknown.body.replace("Nobody", "N")
    );
    assert!(
        wrong.set_cookie("chat_session").is_none() && unknown.set_cookie("chat_session").is_none()
    );
    server.stop().await;
}

#[tokio::test]
async fn failed_sign_ins_are_limited_per_account_and_per_address_at_their_bounds() {
    let server = TestServer::start(config()).await;
    let made = form(
        &server,
        "/signup",
        &[("name", "Ada"), ("password", PASSWORD)],
        "",
    )
    .await;
    assert_eq!(made.status, 303);
    // Three failures for Ada (the bound) are answered; the fourth attempt
    // is refused before any password is checked, the right one too.
    for _ in 0..3 {
        let wrong = form(
            &server,
            "/login",
            &[("name", "ada"), ("password", "wrong password!")],
            "",
        )
        .await;
        assert_eq!(wrong.status, 401);
    }
    let limited = form(
        &server,
        "/login",
        &[("name", "Ada"), ("password", PASSWORD)],
        "",
    )
    .await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(limited.header("retry-after"), Some("900"));
    // The address has failed three times; two more (other names) reach its
    // bound of five, and then it is refused for every name.
    for name in ["Bob", "Cy"] {
        let wrong = form(
            &server,
            "/login",
            &[("name", name), ("password", "wrong password!")],
            "",
        )
        .await;
        assert_eq!(wrong.status, 401, "{name}");
    }
    let limited = form(
        &server,
        "/login",
        &[("name", "Dee"), ("password", "wrong password!")],
        "",
    )
    .await;
    assert_eq!(limited.status, 429);
    server.stop().await;
}

#[tokio::test]
async fn account_forms_from_another_origin_are_refused() {
    let server = TestServer::start(config()).await;
    let body = serde_urlencoded::to_string([("name", "Ada"), ("password", PASSWORD)]).unwrap();
    let form_type = ("Content-Type", "application/x-www-form-urlencoded");
    for path in [
        "/signup",
        "/login",
        "/logout",
        "/account/password",
        "/account/sessions/end",
    ] {
        let foreign = http(
            &server,
            "POST",
            path,
            &[form_type, ("Origin", "http://evil.example")],
            &body,
        )
        .await;
        assert_eq!(foreign.status, 403, "{path}");
        let unsaid = http(&server, "POST", path, &[form_type], &body).await;
        assert_eq!(
            unsaid.status, 403,
            "{path}: neither Origin nor Sec-Fetch-Site"
        );
        let cross = http(
            &server,
            "POST",
            path,
            &[form_type, ("Sec-Fetch-Site", "cross-site")],
            &body,
        )
        .await;
        assert_eq!(cross.status, 403, "{path}");
    }
    // Nothing was made: the name is free.
    let (_, welcome) = server.user("Ada").await;
    assert_eq!(welcome["type"], "welcome");
    server.stop().await;
}

#[tokio::test]
async fn a_session_cookie_set_before_sign_in_is_never_the_session_after_it() {
    let server = TestServer::start(config()).await;
    let made = form(
        &server,
        "/signup",
        &[("name", "Ada"), ("password", PASSWORD)],
        "",
    )
    .await;
    assert_eq!(made.status, 303);
    let earlier = session_cookie(&made);
    // An attacker plants a session id of their choosing, then the victim signs in.
    let planted = format!("chat_session={}", "ab".repeat(32));
    let fields = [("name", "Ada"), ("password", PASSWORD)];
    let signed = form(&server, "/login", &fields, &planted).await;
    assert_eq!(signed.status, 303);
    let given = session_cookie(&signed);
    assert_ne!(given, planted, "a new id is minted");
    let (_, refused) = hello_with(&server, &planted, "").await;
    assert_eq!(
        refused["code"], "bad_request",
        "the planted id signs nothing in"
    );
    // Signing in over a live session rotates it: the old one ends.
    let again = form(&server, "/login", &fields, &earlier).await;
    let rotated = session_cookie(&again);
    assert_ne!(rotated, earlier);
    let (_, old) = hello_with(&server, &earlier, "").await;
    assert_eq!(old["code"], "bad_request", "{old}");
    let (_, new) = hello_with(&server, &rotated, "").await;
    assert_eq!(new["type"], "welcome");
    server.stop().await;
}

#[tokio::test]
async fn sign_up_refuses_bad_passwords_and_names_at_their_bounds() {
    let server = TestServer::start(config()).await;
    let (_bob, _) = server.user("Bob").await;
    let sign_up = |name: &'static str, password: String| {
        let server = &server;
        async move {
            form(
                server,
                "/signup",
                &[("name", name), ("password", password.as_str())],
                "",
            )
            .await
        }
    };
    let short = sign_up("Ada", "qz!7 Vx".into()).await;
    assert_eq!(short.status, 422);
    assert!(
        short.body.contains("at least 8 characters"),
        "{}",
        short.body
    );
    let common = sign_up("Ada", "password".into()).await;
    assert_eq!(common.status, 422);
    assert!(common.body.contains("too easy to guess"), "{}", common.body);
    let long = sign_up(
        "Ada",
        format!("{PASSWORD} {}", "x".repeat(256 - PASSWORD.len())),
    );
    assert_eq!(long.await.status, 422, "257 characters");
    let taken = sign_up("bob", PASSWORD.into()).await;
    assert_eq!(taken.status, 422);
    assert!(taken.body.contains("is in use"), "{}", taken.body);
    let bad = sign_up("", PASSWORD.into()).await;
    assert_eq!(bad.status, 422);
    let longest = format!("{PASSWORD} {}", "x".repeat(255 - PASSWORD.len()));
    assert_eq!(longest.chars().count(), 256);
    let made = sign_up("Ada", longest.clone()).await;
    assert_eq!(made.status, 303, "256 characters: {}", made.body);
    sign_in(&server, "Ada", &longest).await;
    let past = format!("{longest}y");
    let refused = form(
        &server,
        "/login",
        &[("name", "Ada"), ("password", past.as_str())],
        "",
    )
    .await;
    assert_eq!(
        refused.status, 401,
        "a password past the bound matches nothing"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_session_unused_past_its_time_signs_nothing_in() {
    let server = TestServer::start(Config {
        session_idle: Duration::ZERO,
        ..config()
    })
    .await;
    let made = form(
        &server,
        "/signup",
        &[("name", "Ada"), ("password", PASSWORD)],
        "",
    )
    .await;
    assert_eq!(made.status, 303);
    let (_, refused) = hello_with(&server, &session_cookie(&made), "").await;
    assert_eq!(refused["code"], "bad_request", "{refused}");
    server.stop().await;
}
