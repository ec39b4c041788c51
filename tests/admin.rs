//! *1.2*: `chat admin …` against a running server (both stores), and the
//! registration settings it serves: `CHAT_REGISTRATION` open / invite /
//! closed, invites with uses, `CHAT_GUESTS=off`.

mod common;

use chat::server::config::Registration;
use chat::Config;
use common::admin_cli as admin;
use common::http::{accounts_config, form, http, PASSWORD};
use common::*;
use serde_json::json;
use std::process::Command;

#[tokio::test]
async fn the_admin_command_line_works_on_a_running_server() {
    let server = TestServer::start(accounts_config()).await;
    let (status, out, err) = admin(
        &server,
        &["create-user", "Root", "--admin"],
        &format!("{PASSWORD}\n"),
    )
    .await;
    assert_eq!(status, 0, "{out}{err}");
    assert!(out.contains("\"Root\" (\"admin\")"), "{out}");
    // The account signs in, and says it is an admin.
    let signed = form(
        &server,
        "/login",
        &[("name", "root"), ("password", PASSWORD)],
        "",
    )
    .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let cookie = format!(
        "chat_session={}",
        signed.set_cookie("chat_session").unwrap()
    );
    let (mut c, _) = Client::connect_with(server.addr, &[("Cookie", cookie.as_str())]).await;
    c.send(json!({"type": "hello"})).await;
    let welcome = c.recv_type("welcome").await;
    assert_eq!(welcome["user"]["role"], "admin");
    let (status, _, err) = admin(&server, &["create-user", "Weak"], "password\n").await;
    assert_eq!(status, 1, "a guessable password is refused");
    assert!(err.contains("too easy to guess"), "{err}");
    let (status, out, _) = admin(&server, &["create-user", "Ada"], &format!("{PASSWORD}\n")).await;
    assert_eq!(status, 0, "{out}");
    let (status, out, _) = admin(&server, &["list-users"], "").await;
    assert_eq!(status, 0);
    let names: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(names, ["Ada", "Root"], "{out}");
    // Role changes, password changes and sign-outs, on the running server.
    assert_eq!(admin(&server, &["grant-admin", "Ada"], "").await.0, 0);
    assert_eq!(admin(&server, &["revoke-admin", "Root"], "").await.0, 0);
    let (_, out, _) = admin(&server, &["list-users"], "").await;
    assert!(
        out.contains("Ada\tadmin") && out.contains("Root\tuser"),
        "{out}"
    );
    let (status, _, err) = admin(
        &server,
        &["set-password", "Nobody"],
        &format!("{PASSWORD}\n"),
    )
    .await;
    assert_eq!(status, 1);
    assert!(err.contains("no account is named"), "{err}");
    let (status, _, _) = admin(&server, &["end-sessions", "Root"], "").await;
    assert_eq!(status, 0);
    assert_eq!(c.closed().await.0, 4004, "ended from the command line");
    let (status, _, _) = admin(
        &server,
        &["set-password", "Root"],
        "another fine passphrase\n",
    )
    .await;
    assert_eq!(status, 0);
    let old = form(
        &server,
        "/login",
        &[("name", "Root"), ("password", PASSWORD)],
        "",
    )
    .await;
    assert_eq!(old.status, 401);
    // Without the secret, the listener refuses.
    let refused = common::http_until(
        server.ops_addr,
        "GET /admin/users HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer nope\r\nConnection: close\r\n\r\n",
        "HTTP/1.1 401",
    )
    .await;
    assert!(refused.contains("admin secret"), "{refused}");
    server.stop().await;
}

#[tokio::test]
async fn without_a_running_server_the_command_says_so() {
    // The data directory outlives the server: its secret is still there.
    let kept = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(accounts_config(), kept.path()).await;
    let ops = server.ops_addr;
    let dir = server.data_dir.clone();
    server.stop().await;
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_chat"))
            .args(["admin", "--data-dir"])
            .arg(&dir)
            .args(["--ops-addr", &ops.to_string(), "list-users"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no chat server answers"));
}

#[tokio::test]
async fn invite_only_registration_takes_an_invite_for_its_uses_and_no_more() {
    let server = TestServer::start(Config {
        registration: Registration::Invite,
        ..accounts_config()
    })
    .await;
    let fields = |name: &'static str, invite: &'static str| {
        [("name", name), ("password", PASSWORD), ("invite", invite)]
    };
    let without = form(&server, "/signup", &fields("Ada", ""), "").await;
    assert_eq!(without.status, 422);
    assert!(
        without.body.contains("An invite is needed"),
        "{}",
        without.body
    );
    let (status, link, err) = admin(&server, &["invite", "--uses", "2", "--days", "1"], "").await;
    assert_eq!(status, 0, "{err}");
    let code: &'static str = link
        .trim()
        .rsplit("invite=")
        .next()
        .unwrap()
        .to_owned()
        .leak();
    assert!(
        link.starts_with("http://localhost:3000/signup?invite="),
        "{link}"
    );
    let page = http(&server, "GET", &format!("/signup?invite={code}"), &[], "").await;
    assert!(
        page.body.contains(&format!("value=\"{code}\"")),
        "the form carries it"
    );
    // Two uses: two accounts; the third is refused, and makes nothing.
    assert_eq!(
        form(&server, "/signup", &fields("Ada", code), "")
            .await
            .status,
        303
    );
    assert_eq!(
        form(&server, "/signup", &fields("Bob", code), "")
            .await
            .status,
        303
    );
    let third = form(&server, "/signup", &fields("Cy", code), "").await;
    assert_eq!(third.status, 422, "{}", third.body);
    let (_, welcome) = server.user("Cy").await;
    assert_eq!(welcome["type"], "welcome", "Cy is free: nothing was made");
    let made = form(
        &server,
        "/signup",
        &fields("Dee", "0123456789abcdef0123456789abcdef"),
        "",
    )
    .await;
    assert_eq!(made.status, 422, "an invite the server did not make");
    let (status, _, err) = admin(&server, &["invite", "--uses", "0"], "").await;
    assert_eq!(status, 1, "uses at least 1: {err}");
    let (status, _, _) = admin(&server, &["invite", "--uses", "10000", "--days", "365"], "").await;
    assert_eq!(status, 0, "the bounds themselves");
    let (status, _, _) = admin(&server, &["invite", "--uses", "10001"], "").await;
    assert_eq!(status, 1);
    let (status, _, _) = admin(&server, &["invite", "--days", "365.01"], "").await;
    assert_eq!(status, 1, "days at most 365");
    let (status, _, _) = admin(&server, &["invite", "--days", "0"], "").await;
    assert_eq!(status, 1, "days above 0");
    server.stop().await;
}

#[tokio::test]
async fn closed_registration_refuses_sign_ups_and_the_admin_still_makes_accounts() {
    let server = TestServer::start(Config {
        registration: Registration::Closed,
        ..accounts_config()
    })
    .await;
    let page = http(&server, "GET", "/signup", &[], "").await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("Sign-ups are closed"));
    let posted = form(
        &server,
        "/signup",
        &[("name", "Ada"), ("password", PASSWORD)],
        "",
    )
    .await;
    assert_eq!(posted.status, 403);
    let (status, _, err) = admin(&server, &["create-user", "Ada"], &format!("{PASSWORD}\n")).await;
    assert_eq!(status, 0, "{err}");
    let signed = form(
        &server,
        "/login",
        &[("name", "Ada"), ("password", PASSWORD)],
        "",
    )
    .await;
    assert_eq!(signed.status, 303);
    server.stop().await;
}

#[tokio::test]
async fn with_guests_off_only_a_signed_in_connection_may_say_hello() {
    let server = TestServer::start(Config {
        guests: false,
        ..accounts_config()
    })
    .await;
    let mut guest = server.client().await;
    guest
        .expect_error(
            json!({"type": "hello", "name": "Guest"}),
            "account_required",
        )
        .await;
    let posted = form(
        &server,
        "/",
        &[("name", "Guest"), ("text", "hi"), ("room", "general")],
        "",
    )
    .await;
    assert_eq!(posted.status, 422);
    assert!(
        posted.body.contains("sign in or make an account"),
        "{}",
        posted.body
    );
    let made = form(
        &server,
        "/signup",
        &[("name", "Ada"), ("password", PASSWORD)],
        "",
    )
    .await;
    assert_eq!(made.status, 303);
    let cookie = format!("chat_session={}", made.set_cookie("chat_session").unwrap());
    let (mut ada, _) = Client::connect_with(server.addr, &[("Cookie", cookie.as_str())]).await;
    ada.send(json!({"type": "hello"})).await;
    assert_eq!(ada.recv_type("welcome").await["user"]["name"], "Ada");
    server.stop().await;
}
