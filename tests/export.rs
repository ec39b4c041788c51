//! `chat admin export` against a real server: JSON that round-trips
//! through the protocol's message type with every change as it stands,
//! HTML that holds hostile input as text, and rooms longer than a page.

mod common;

use chat::protocol::ChatMessage;
use common::files::{guest, post_with, upload};
use common::*;
use serde_json::{json, Value};

/// Texts a page must show as typed.
const HOSTILE: [&str; 5] = [
    "<script>window.__pwned=1</script>",
    "<img src=x onerror=alert(1)>",
    "\"><svg onload=alert(2)>",
    "[x](javascript:alert(3))",
    "</ol></section><iframe src=//evil.test>",
];

/// `chat admin export ARGS --out FILE`: the status, stderr and the file.
async fn export(server: &TestServer, args: &[&str]) -> (i32, String, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("export");
    let mut all = vec!["export", "--out", out.to_str().unwrap()];
    all.extend_from_slice(args);
    let (status, said, err) = admin_cli(server, &all, "").await;
    let bytes = std::fs::read(&out).unwrap_or_default();
    (status, format!("{said}{err}"), bytes)
}

#[tokio::test]
async fn a_json_export_is_every_message_as_the_protocol_object_with_its_changes() {
    let server = TestServer::start(fast()).await;
    let (mut ann, cookie) = guest(&server, "ann").await;
    ann.join("general").await;
    for text in HOSTILE {
        ann.send(json!({"type": "send", "room": "general", "text": text}))
            .await;
        ann.recv_type("message").await;
    }
    let file = upload(&server, &cookie, "a\"b<c>.txt", b"bytes")
        .await
        .json();
    post_with(
        &mut ann,
        "general",
        "with a file",
        &[file["id"].as_str().unwrap()],
    )
    .await;
    ann.send(json!({"type": "send", "room": "general", "text": "a reply", "reply_to": 1}))
        .await;
    ann.recv_type("message").await;
    ann.send(json!({"type": "edit", "room": "general", "id": 2, "text": "edited <b>"}))
        .await;
    ann.recv_type("edited").await;
    ann.send(json!({"type": "delete", "room": "general", "id": 3}))
        .await;
    ann.recv_type("deleted").await;
    ann.send(json!({"type": "react", "room": "general", "id": 4, "emoji": "👍"}))
        .await;
    ann.recv_type("reaction").await;
    let mut seen: Vec<Value> = ann
        .history_pages("general")
        .await
        .into_iter()
        .rev()
        .flatten()
        .collect();
    for m in &mut seen {
        // Seen by nobody in particular: no reaction is "mine".
        if let Some(rs) = m.get_mut("reactions").and_then(Value::as_array_mut) {
            for r in rs {
                r["mine"] = json!(false);
            }
        }
    }

    let (status, said, bytes) = export(&server, &["--room", "general"]).await;
    assert_eq!(status, 0, "{said}");
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        (doc["format"].clone(), doc["version"].clone()),
        (json!("chat-export"), json!(1))
    );
    let rooms = doc["rooms"].as_array().unwrap();
    assert_eq!(rooms.len(), 1);
    assert_eq!(
        (rooms[0]["name"].clone(), rooms[0]["last_id"].clone()),
        (json!("general"), json!(7))
    );
    let messages = rooms[0]["messages"].as_array().unwrap();
    assert_eq!(messages, &seen, "the export is what history shows");
    for m in messages {
        let typed: ChatMessage = serde_json::from_value(m.clone()).unwrap();
        assert_eq!(&serde_json::to_value(&typed).unwrap(), m, "round trip");
    }
    assert_eq!(messages[1]["text"], "edited <b>");
    assert_eq!(messages[2]["deleted"], true);
    assert_eq!(messages[3]["reactions"][0]["count"], 1);
    assert_eq!(messages[5]["attachments"][0]["name"], "a\"b<c>.txt");
    assert_eq!(messages[6]["reply_to"]["id"], 1);

    // Every room (general, and the one below), and a bad request.
    let mut other = server.member("bob", "second").await;
    other.post_numbered("second", 1).await;
    let (status, said, bytes) = export(&server, &[]).await;
    assert_eq!(status, 0, "{said}");
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    let names: Vec<&str> = doc["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["general", "second"]);
    let (status, said, _) = export(&server, &["--room", "nowhere"]).await;
    assert_eq!(status, 1, "{said}");
    assert!(said.contains("no room is named"), "{said}");
}

#[tokio::test]
async fn an_html_export_holds_hostile_text_as_text_and_reads_without_the_server() {
    let server = TestServer::start(fast()).await;
    let (mut ann, cookie) = guest(&server, "ann").await;
    ann.join("general").await;
    for text in HOSTILE {
        ann.send(json!({"type": "send", "room": "general", "text": text}))
            .await;
        ann.recv_type("message").await;
    }
    let file = upload(&server, &cookie, "<img src=x onerror=alert(9)>.png", b"x")
        .await
        .json();
    post_with(&mut ann, "general", "file", &[file["id"].as_str().unwrap()]).await;
    let (status, said, bytes) = export(&server, &["--format", "html"]).await;
    assert_eq!(status, 0, "{said}");
    let page = String::from_utf8(bytes).unwrap();
    assert!(page.starts_with("<!doctype html>") && page.ends_with("</html>\n"));
    for tag in ["<script", "<img", "<svg", "<iframe", "href=\"javascript"] {
        assert!(!page.contains(tag), "{tag} in the page");
    }
    assert!(
        page.contains("&lt;script&gt;window.__pwned=1&lt;&#x2F;script&gt;"),
        "{page}"
    );
    assert!(
        page.contains("default-src 'none'"),
        "no script could run, and nothing is fetched"
    );
    assert!(
        !page.contains("src=\"") && !page.contains("href=\"/"),
        "nothing from the server"
    );
}

#[tokio::test]
async fn a_room_longer_than_a_page_is_exported_whole_and_in_order() {
    let server = TestServer::start(fast()).await;
    let mut ann = server.member("ann", "long").await;
    ann.post_numbered("long", 1203).await;
    let (status, said, bytes) = export(&server, &["--room", "long"]).await;
    assert_eq!(status, 0, "{said}");
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    let messages = doc["rooms"][0]["messages"].as_array().unwrap();
    assert_eq!(
        ids(&Value::Array(messages.clone())),
        (1..=1203).collect::<Vec<u64>>()
    );
    assert_eq!(messages[1202]["text"], "m1203");
}
