//! Backups taken while the chat runs and restored into a new data
//! directory (`chat admin backup` / `restore`, SQLite), and PostgreSQL's
//! `pg_dump` / `pg_restore` procedure as the README gives it.

mod common;

use common::files::{guest, upload};
use common::http::{accounts_config, hello_with, signed_up};
use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// `chat admin ARGS` with no server (restore); (status, stdout, stderr).
fn admin_offline(data_dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chat"))
        .arg("admin")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("CHAT_DATA_DIR")
        .env_remove("CHAT_FILES_DIR")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

/// Every message of `room` as (id, user, text), oldest first (`c` joins
/// it first, unless it is `general`, which it is in).
async fn history(c: &mut Client, room: &str) -> Vec<(u64, String, String)> {
    if room != "general" {
        c.join(room).await;
    }
    let pages = c.history_pages(room).await;
    pages
        .into_iter()
        .rev()
        .flatten()
        .map(|m| {
            (
                m["id"].as_u64().unwrap(),
                m["user"].as_str().unwrap().to_owned(),
                m["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

const ROOMS: [&str; 5] = ["general", "r1", "r2", "r3", "r4"];

#[tokio::test]
async fn a_backup_taken_while_ten_clients_post_restores_to_exactly_what_its_manifest_says() {
    let (data, kept) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = TestServer::start_in(accounts_config(), data.path()).await;
    let ann = signed_up(&server, "Ann").await;
    let (_bob, bob) = guest(&server, "bob").await;
    assert_eq!(
        upload(&server, &bob, "note.txt", b"kept bytes")
            .await
            .status,
        201
    );
    // Ten clients, two a room, each posting as fast as its messages come back.
    let stop = Arc::new(AtomicBool::new(false));
    let mut posters = Vec::new();
    for n in 0..10 {
        let room = ROOMS[n % ROOMS.len()];
        let mut c = server.member(&format!("poster{n}"), room).await;
        let stop = stop.clone();
        posters.push(tokio::spawn(async move {
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) {
                let text = format!("p{n} says {sent}");
                c.send(json!({"type": "send", "room": room, "text": text}))
                    .await;
                while c.recv_type("message").await["text"] != text {}
                sent += 1;
            }
            sent
        }));
    }
    // Posting is under way: each room has messages before the backup.
    let mut watcher = server.member("watcher", "r4").await;
    for _ in 0..20 {
        watcher.recv_type("message").await;
    }
    let backup = kept.path().join("b1");
    let (status, said, err) = admin_cli(&server, &["backup", backup.to_str().unwrap()], "").await;
    assert_eq!(status, 0, "{said}{err}");
    assert!(said.contains("backed up into"), "{said}");
    // Posting went on during and after it.
    for _ in 0..20 {
        watcher.recv_type("message").await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut posted = 0;
    for p in posters {
        posted += p.await.unwrap();
    }
    let m = manifest(&backup);
    let in_backup = m["content"]["messages"].as_u64().unwrap();
    assert!(
        in_backup > 0 && in_backup < posted,
        "{in_backup} of {posted}"
    );
    assert_eq!(m["content"]["uploads"], 1);
    let mut reader = server.member("reader", "general").await;
    let mut before = Vec::new();
    for room in ROOMS {
        before.push(history(&mut reader, room).await);
    }
    drop(reader);
    server.stop().await;

    // Restored into an empty data directory and served.
    let restored = tempfile::tempdir().unwrap();
    let target = restored.path().join("data");
    let (status, said, err) = admin_offline(&target, &["restore", backup.to_str().unwrap()]);
    assert_eq!(status, 0, "{said}{err}");
    let server = TestServer::start_in(accounts_config(), &target).await;
    let mut reader = server.member("reader2", "general").await;
    for (i, room) in ROOMS.iter().enumerate() {
        let counted = m["content"]["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == *room)
            .unwrap_or_else(|| panic!("{room} in {m}"));
        let last = counted["last_id"].as_u64().unwrap();
        assert_eq!(counted["messages"].as_u64().unwrap(), last, "{room}");
        let now = history(&mut reader, room).await;
        let ids: Vec<u64> = now.iter().map(|m| m.0).collect();
        assert_eq!(ids, (1..=last).collect::<Vec<_>>(), "{room}: 1..N, no gap");
        assert_eq!(now[..], before[i][..last as usize], "{room}: texts intact");
        // A client that saw more (of the server before) starts over, told.
        if before[i].len() as u64 > last {
            let (mut late, _) = server.user(&format!("late{i}")).await;
            late.send(json!({"type": "join", "room": room, "after": before[i].len()}))
                .await;
            let joined = late.recv_type("joined").await;
            assert_eq!(joined["missed"], true, "{room}: {joined}");
        }
    }
    // Identities, their names and the account's session are intact.
    let (_c, welcome) = signed_socket(&server, &ann).await;
    assert_eq!(welcome["user"]["name"], "Ann", "{welcome}");
    let (_c, welcome) = hello_with(&server, &bob, "bob").await;
    assert_eq!(welcome["user"]["name"], "bob", "{welcome}");
    let (_c, taken) = hello_with(&server, "", "bob").await;
    assert_eq!(taken["type"], "error", "bob's name is still owned: {taken}");
    // And the file.
    let id = std::fs::read_dir(target.join("files"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.len() == 32)
        .expect("the upload restored");
    let got = common::files::fetch(&server, &bob, &format!("/files/{id}")).await;
    assert_eq!((got.status, &got.body[..]), (200, &b"kept bytes"[..]));
}

#[tokio::test]
async fn two_backups_of_an_idle_server_have_the_same_content() {
    let (data, kept) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = TestServer::start_in(fast(), data.path()).await;
    let mut c = server.member("ann", "general").await;
    c.post_numbered("general", 5).await;
    let (one, two) = (kept.path().join("one"), kept.path().join("two"));
    for dir in [&one, &two] {
        let (status, said, err) = admin_cli(&server, &["backup", dir.to_str().unwrap()], "").await;
        assert_eq!(status, 0, "{said}{err}");
    }
    let (a, b) = (manifest(&one), manifest(&two));
    assert_eq!(a["content"], b["content"]);
    assert_eq!(a["content"]["messages"], 5);
    assert_eq!(
        std::fs::read(one.join("chat.sqlite3")).unwrap(),
        std::fs::read(two.join("chat.sqlite3")).unwrap(),
        "byte for byte"
    );
    // A directory that holds something is not written into.
    let (status, _, err) = admin_cli(&server, &["backup", one.to_str().unwrap()], "").await;
    assert_eq!(status, 1, "{err}");
    assert!(err.contains("is not empty"), "{err}");
    assert_eq!(manifest(&one), a, "untouched");
}

#[tokio::test]
async fn restore_refuses_a_full_directory_a_newer_backup_and_a_damaged_one() {
    let (data, kept) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let server = TestServer::start_in(fast(), data.path()).await;
    let backup = kept.path().join("b");
    let (status, said, err) = admin_cli(&server, &["backup", backup.to_str().unwrap()], "").await;
    assert_eq!(status, 0, "{said}{err}");
    server.stop().await;
    let arg = backup.to_str().unwrap();

    // A data directory that holds anything.
    let full = tempfile::tempdir().unwrap();
    std::fs::write(full.path().join("keep.txt"), "mine").unwrap();
    let (status, _, err) = admin_offline(full.path(), &["restore", arg]);
    assert_eq!(status, 1, "{err}");
    assert!(err.contains("is not empty"), "{err}");
    assert_eq!(
        std::fs::read_dir(full.path()).unwrap().count(),
        1,
        "nothing written"
    );

    // A backup of a newer schema: refused, naming both versions.
    let ours = chat::store::MIGRATIONS.len();
    let good = std::fs::read(backup.join("manifest.json")).unwrap();
    let mut newer: Value = serde_json::from_slice(&good).unwrap();
    newer["content"]["schema"] = json!(ours + 1);
    std::fs::write(backup.join("manifest.json"), newer.to_string()).unwrap();
    let empty = tempfile::tempdir().unwrap();
    let (status, _, err) = admin_offline(&empty.path().join("d"), &["restore", arg]);
    assert_eq!(status, 1, "{err}");
    assert!(
        err.contains(&format!("schema version {}", ours + 1))
            && err.contains(&format!("up to {ours}")),
        "{err}"
    );
    assert!(!empty.path().join("d").exists(), "nothing written");
    std::fs::write(backup.join("manifest.json"), &good).unwrap();

    // A database whose bytes do not match the manifest.
    let db = backup.join("chat.sqlite3");
    let mut bytes = std::fs::read(&db).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&db, bytes).unwrap();
    let (status, _, err) = admin_offline(&empty.path().join("d"), &["restore", arg]);
    assert_eq!(status, 1, "{err}");
    assert!(err.contains("damaged"), "{err}");
    assert!(!empty.path().join("d").exists(), "nothing written");
}

#[tokio::test]
async fn postgres_is_backed_up_with_pg_dump_while_it_runs_and_restored_with_pg_restore() {
    use common::pg::{bin, PgCluster};
    let cluster = PgCluster::start();
    let node = |url: &str| {
        let mut c = accounts_config();
        c.store.database_url = Some(url.to_owned());
        c
    };
    let server = TestServer::start(node(&cluster.url)).await;
    let ann = signed_up(&server, "Ann").await;
    let mut c = server.member("bob", "general").await;
    c.post_numbered("general", 30).await;
    let before = history(&mut c, "general").await;
    // `chat admin backup` says what to do instead.
    let kept = tempfile::tempdir().unwrap();
    let nowhere = kept.path().join("b");
    let (status, _, err) = admin_cli(&server, &["backup", nowhere.to_str().unwrap()], "").await;
    assert_eq!(status, 1, "{err}");
    assert!(err.contains("pg_dump"), "{err}");
    // The README's procedure, while the server runs.
    let dump = kept.path().join("chat.dump");
    let dumped = std::process::Command::new(bin("pg_dump"))
        .args(["--format=custom", "--file"])
        .arg(&dump)
        .args(["--dbname", &cluster.url])
        .output()
        .unwrap();
    assert!(
        dumped.status.success(),
        "{}",
        String::from_utf8_lossy(&dumped.stderr)
    );
    c.post_numbered("general", 3).await; // after the dump: not in it
    drop(c);
    server.stop().await;
    let admin = cluster.url.clone();
    tokio::task::spawn_blocking(move || {
        let mut db = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
        db.batch_execute("CREATE DATABASE restored").unwrap();
    })
    .await
    .unwrap();
    let url = cluster.url.replace("/postgres", "/restored");
    let restored = std::process::Command::new(bin("pg_restore"))
        .args(["--no-owner", "--exit-on-error", "--dbname", &url])
        .arg(&dump)
        .output()
        .unwrap();
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    let server = TestServer::start(node(&url)).await;
    let mut c = server.member("carol", "general").await;
    assert_eq!(history(&mut c, "general").await, before);
    let (_s, welcome) = signed_socket(&server, &ann).await;
    assert_eq!(welcome["user"]["name"], "Ann", "{welcome}");
}
