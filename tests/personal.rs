//! A person's own data against a real server (both stores): the archive
//! from the account page and from `chat admin user-data`, and deleting an
//! account in both modes (`CHAT_DELETED_USER_MESSAGES` keep / remove),
//! from the account page and from `chat admin delete-user`.

mod common;

use common::files::{fetch, post_with, upload};
use common::http::{accounts_config, form, signed_up, token, PASSWORD};
use common::*;
use serde_json::{json, Value};

/// A signed-in account's socket, said hello, and its cookie.
async fn account(server: &TestServer, name: &str) -> (Client, String) {
    let cookie = signed_up(server, name).await;
    let (ws, _) = signed_socket(server, &cookie).await;
    (ws, cookie)
}

/// `c` says `text` in `room` (joined); the stored message.
async fn say(c: &mut Client, room: &str, text: &str) -> Value {
    c.send(json!({"type": "send", "room": room, "text": text}))
        .await;
    c.recv_type("message").await
}

/// The archive the account page gives `cookie`.
async fn archive(server: &TestServer, cookie: &str) -> (common::http::Response, Value) {
    let got = form(server, "/account/data", &[], cookie).await;
    let json = serde_json::from_str(&got.body).unwrap_or(Value::Null);
    (got, json)
}

fn texts(archive: &Value) -> Vec<String> {
    archive["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_persons_archive_holds_everything_of_theirs_and_nothing_of_anyone_elses_private_rooms() {
    let server = TestServer::start(accounts_config()).await;
    let (mut bob, _) = account(&server, "Bob").await;
    let made = answer(
        &mut bob,
        json!({"type": "create", "room": "bobs-plans", "visibility": "private"}),
        "joined",
    )
    .await;
    assert_eq!(made["type"], "joined", "{made}");
    say(&mut bob, "bobs-plans", "bob's secret words").await;
    bob.join("general").await;
    let bobs = say(&mut bob, "general", "bob in public").await;

    let (mut ann, cookie) = account(&server, "Ann").await;
    ann.join("general").await;
    // One more than a page (500) of the archive's messages.
    let mut want = Vec::new();
    for i in 0..501 {
        let text = format!("ann {i}");
        say(&mut ann, "general", &text).await;
        want.push(text);
    }
    let made = answer(
        &mut ann,
        json!({"type": "create", "room": "anns-room", "visibility": "private"}),
        "joined",
    )
    .await;
    assert_eq!(made["type"], "joined", "{made}");
    say(&mut ann, "anns-room", "ann alone").await;
    want.push("ann alone".into());
    let file = upload(&server, &cookie, "notes.txt", b"hello").await.json();
    let file_id = file["id"].as_str().unwrap().to_owned();
    post_with(&mut ann, "general", "with a file", &[&file_id]).await;
    want.push("with a file".into());
    ann.send(json!({"type": "react", "room": "general", "id": bobs["id"], "emoji": "👍"}))
        .await;
    ann.recv_type("reaction").await;
    ann.send(json!({"type": "read", "room": "general", "id": 3}))
        .await;
    token(&server, &cookie, "my bot", "").await;

    let (got, data) = archive(&server, &cookie).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(
        got.header("content-disposition"),
        Some("attachment; filename=\"chat-data-Ann.json\"")
    );
    assert_eq!(data["format"], "chat-personal-data");
    assert_eq!(data["identity"]["name"], "Ann");
    assert_eq!(data["account"]["role"], "user");
    let mut got_texts = texts(&data);
    got_texts.sort();
    want.sort();
    assert_eq!(got_texts, want, "every message Ann posted, once");
    assert!(
        !got.body.contains("bob's secret") && !got.body.contains("bobs-plans"),
        "nothing of another's private room"
    );
    assert!(
        !got.body.contains("bob in public"),
        "nor another's messages"
    );
    assert_eq!(
        data["reactions"],
        json!([{"room": "general", "id": bobs["id"], "emoji": "👍"}])
    );
    // The read mark is written beside the hub: wait for it, not a sleep.
    let mut data = data;
    for _ in 0..200 {
        if data["read_marks"].as_array().is_some_and(|m| !m.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        data = archive(&server, &cookie).await.1;
    }
    assert_eq!(
        data["read_marks"],
        json!([{"room": "general", "last_read": 3}])
    );
    assert_eq!(data["uploads"][0]["id"], file_id);
    assert_eq!(data["uploads"][0]["name"], "notes.txt");
    assert_eq!(data["uploads"][0]["room"], "general");
    assert_eq!(data["api_tokens"][0]["label"], "my bot");
    let standings: Vec<(&str, &str)> = data["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["room"].as_str().unwrap(), r["standing"].as_str().unwrap()))
        .collect();
    assert_eq!(standings, [("anns-room", "owner"), ("general", "member")]);
    let session = &data["sessions"][0];
    assert!(session["used_ms"].as_u64().unwrap() > 0, "{session}");
    assert!(
        !got.body.contains(&cookie["chat_session=".len()..]),
        "no session id"
    );

    // The admin's copy is the same archive (but for its time).
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ann.json");
    let (status, said, err) = admin_cli(
        &server,
        &["user-data", "Ann", "--out", out.to_str().unwrap()],
        "",
    )
    .await;
    assert_eq!(status, 0, "{said}{err}");
    let mut by_admin: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    by_admin["exported_ms"] = data["exported_ms"].clone();
    assert_eq!(by_admin, data);
    let (status, _, err) = admin_cli(&server, &["user-data", "Nobody"], "").await;
    assert_eq!(
        (status, err.contains("no account is named")),
        (1, true),
        "{err}"
    );

    // A request from another site gets nothing.
    let cross = common::http::http(
        &server,
        "POST",
        "/account/data",
        &[("Cookie", &cookie), ("Sec-Fetch-Site", "cross-site")],
        "",
    )
    .await;
    assert_eq!(cross.status, 403);
}

#[tokio::test]
async fn deleting_an_account_ends_its_sessions_frees_its_name_removes_its_uploads_and_keeps_its_words_as_deleted_user(
) {
    let server = TestServer::start(accounts_config()).await;
    let mut bob = server.member("Bob", "general").await;
    let (mut ann, cookie) = account(&server, "Ann").await;
    ann.join("general").await;
    let file = upload(&server, &cookie, "me.txt", b"mine").await.json();
    let path = format!("/files/{}", file["id"].as_str().unwrap());
    let posted = post_with(
        &mut ann,
        "general",
        "kept words",
        &[file["id"].as_str().unwrap()],
    )
    .await;
    bob.recv_type("message").await;
    assert_eq!(fetch(&server, "", &path).await.status, 200);

    let wrong = form(
        &server,
        "/account/delete",
        &[("password", "not it at all")],
        &cookie,
    )
    .await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    assert!(wrong.body.contains("not deleted"), "{}", wrong.body);
    assert_eq!(
        form(&server, "/account/data", &[], &cookie).await.status,
        200,
        "still there"
    );

    let gone = form(
        &server,
        "/account/delete",
        &[("password", PASSWORD)],
        &cookie,
    )
    .await;
    assert_eq!(gone.status, 303, "{}", gone.body);
    assert_eq!(gone.set_cookie("chat_session").as_deref(), Some(""));
    let (code, _) = ann.closed().await;
    assert_eq!(code, chat::protocol::CLOSE_SESSION_ENDED);
    let again = form(&server, "/account/data", &[], &cookie).await;
    assert_eq!(
        (again.status, again.header("location")),
        (303, Some("/login"))
    );
    let sign_in = form(
        &server,
        "/login",
        &[("name", "Ann"), ("password", PASSWORD)],
        "",
    )
    .await;
    assert_ne!(sign_in.status, 303, "no account to sign in to");
    assert_eq!(
        fetch(&server, "", &path).await.status,
        404,
        "its uploads go"
    );
    let bytes = server
        .data_dir
        .join("files")
        .join(file["id"].as_str().unwrap());
    common::files::removed(&bytes).await;

    let history = answer(
        &mut bob,
        json!({"type": "history", "room": "general"}),
        "history",
    )
    .await;
    let kept = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == posted["id"])
        .unwrap()
        .clone();
    assert_eq!(
        (kept["user"].as_str(), kept["text"].as_str()),
        (Some("deleted user"), Some("kept words"))
    );
    assert!(
        kept["attachments"].as_array().is_none_or(|a| a.is_empty()),
        "{kept}"
    );
    // The name is free: someone else signs up with it.
    let (_, _) = account(&server, "Ann").await;
}

#[tokio::test]
async fn an_admin_deletes_an_account_and_with_remove_its_messages_go_from_every_room() {
    let config = chat::Config {
        keep_deleted_users_messages: false,
        ..accounts_config()
    };
    let server = TestServer::start(config).await;
    let mut bob = server.member("Bob", "general").await;
    let (mut ann, _) = account(&server, "Ann").await;
    ann.join("general").await;
    let mut ids = Vec::new();
    for text in ["one", "two", "three"] {
        ids.push(say(&mut ann, "general", text).await["id"].clone());
        bob.recv_type("message").await;
    }
    answer(
        &mut ann,
        json!({"type": "create", "room": "anns-room", "visibility": "private"}),
        "joined",
    )
    .await;
    say(&mut ann, "anns-room", "alone").await;
    let bobs = say(&mut bob, "general", "bob stays").await;

    let (status, said, err) = admin_cli(&server, &["delete-user", "Ann"], "").await;
    assert_eq!(status, 0, "{said}{err}");
    assert!(said.contains("removed"), "{said}");
    for id in &ids {
        let deleted = bob.recv_type("deleted").await;
        assert_eq!(&deleted["id"], id, "{deleted}");
    }
    let history = answer(
        &mut bob,
        json!({"type": "history", "room": "general"}),
        "history",
    )
    .await;
    let left: Vec<(&Value, bool)> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (&m["id"], m["deleted"].as_bool().unwrap_or(false)))
        .collect();
    for id in &ids {
        assert!(left.contains(&(id, true)), "{left:?}");
    }
    assert!(left.contains(&(&bobs["id"], false)), "{left:?}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("room.json");
    let (status, _, err) = admin_cli(
        &server,
        &[
            "export",
            "--room",
            "anns-room",
            "--out",
            out.to_str().unwrap(),
        ],
        "",
    )
    .await;
    assert_eq!(status, 0, "{err}");
    let export: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let messages = export["rooms"][0]["messages"].as_array().unwrap();
    assert!(
        !messages.is_empty() && messages.iter().all(|m| m["deleted"] == true),
        "{export}"
    );
    let (status, _, err) = admin_cli(&server, &["delete-user", "Ann"], "").await;
    assert_eq!(
        (status, err.contains("no account is named")),
        (1, true),
        "{err}"
    );
}
