//! Upgrades from every SQLite schema the project shipped: each fixture
//! under `tests/fixtures/` was made by that version's own migrations (the
//! migration files as they stood when it shipped, read from git) with a
//! few rows, and today's store opens each, migrates it, and still has its
//! messages, identities and read marks.
//!
//! The fixtures are made again with
//! `cargo test --features ssr --test upgrades -- --ignored make_fixtures`
//! (needs the git history); they are committed, so the check needs none.

use chat::store::{NewMessage, StoreOptions, StoreReader, StoreWriter, SyncMode, MIGRATIONS};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture(version: usize) -> PathBuf {
    fixtures().join(format!("sqlite-v{version:02}.sqlite3"))
}

/// The texts every fixture holds in `general`, ids 1, 2, 3.
const TEXTS: [&str; 3] = ["first words", "a second <b>one</b>", "third, and last"];

#[test]
fn every_shipped_sqlite_schema_opens_migrated_with_its_messages_identities_and_read_marks() {
    for version in 1..=MIGRATIONS.len() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let path = fixture(version);
        std::fs::copy(&path, data.join(chat::store::DB_FILE))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (r, mut w) = chat::store::open(&StoreOptions {
            data_dir: data.clone(),
            sync: SyncMode::Normal,
            busy_timeout: Duration::from_secs(1),
            database_url: None,
        })
        .unwrap_or_else(|e| panic!("version {version}: {e}"));
        let got: Vec<(u64, String, String)> = r
            .range("general", 1, 10)
            .unwrap()
            .into_iter()
            .map(|m| (m.id, m.user, m.text))
            .collect();
        let want: Vec<(u64, String, String)> = TEXTS
            .iter()
            .enumerate()
            .map(|(i, t)| (i as u64 + 1, "Ann".to_owned(), t.to_string()))
            .collect();
        assert_eq!(got, want, "version {version}: messages");
        if version >= 2 {
            let ids = r.identities().unwrap();
            assert!(
                ids.iter().any(|i| i.id == "id-ann" && i.name == "Ann"),
                "version {version}: {ids:?}"
            );
        }
        if version >= 4 {
            assert_eq!(
                r.last_read("id-ann", "general").unwrap(),
                Some(2),
                "version {version}: read mark"
            );
        }
        // It takes new messages after its old ones.
        let next = w.append(&[NewMessage {
            room: "general".into(),
            user: "Bob".into(),
            text: "after the upgrade".into(),
            html: "after the upgrade".into(),
            ts: 10_000,
            author: None,
            nonce: None,
            reply_to: None,
            attachments: Vec::new(),
        }]);
        assert_eq!(next[0].as_ref().unwrap().message.id, 4, "version {version}");
        drop((r, w));
        let conn = Connection::open(data.join(chat::store::DB_FILE)).unwrap();
        let now: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(
            now as usize,
            MIGRATIONS.len(),
            "version {version}: migrated"
        );
    }
}

/// `git show REV:PATH`.
fn git_show(rev: &str, path: &str) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["show", &format!("{rev}:{path}")])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap())
}

/// The commit that added `path` (the oldest one touching it with `A`).
fn added_in(path: &str) -> String {
    let out = std::process::Command::new("git")
        .args(["log", "--diff-filter=A", "--format=%H", "--", path])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines().last().expect("in the history").to_owned()
}

/// The migration files, in order, as paths in the repository.
fn migration_paths() -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/migrations"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| format!("src/store/migrations/{n}"))
        .collect()
}

fn has_table(conn: &Connection, table: &str) -> bool {
    conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [table],
        |r| r.get::<_, i64>(0),
    )
    .unwrap()
        > 0
}

fn has_column(conn: &Connection, table: &str, column: &str) -> bool {
    conn.prepare(&format!("SELECT * FROM {table} LIMIT 0"))
        .unwrap()
        .column_names()
        .any(|c| c == column)
}

#[test]
#[ignore = "makes the fixtures from the git history; run by hand"]
fn make_fixtures() {
    let paths = migration_paths();
    assert_eq!(paths.len(), MIGRATIONS.len());
    std::fs::create_dir_all(fixtures()).unwrap();
    for version in 1..=paths.len() {
        // Version N as it shipped: the tree just before migration N+1
        // was added (the newest: as it is now).
        let rev = match paths.get(version) {
            Some(next) => format!("{}^", added_in(next)),
            None => "HEAD".to_owned(),
        };
        let out = fixture(version);
        let _ = std::fs::remove_file(&out);
        let conn = Connection::open(&out).unwrap();
        for path in &paths[..version] {
            let sql = git_show(&rev, path).unwrap_or_else(|| panic!("{path} at {rev}"));
            conn.execute_batch(&sql)
                .unwrap_or_else(|e| panic!("{path} at {rev}: {e}"));
        }
        conn.pragma_update(None, "user_version", version as i64)
            .unwrap();
        for (i, text) in TEXTS.iter().enumerate() {
            let id = i as i64 + 1;
            match has_column(&conn, "messages", "author") {
                true => conn.execute(
                    "INSERT INTO messages (room_id, id, user, text, ts, author) \
                     VALUES (1, ?1, 'Ann', ?2, ?3, 'id-ann')",
                    rusqlite::params![id, text, 1000 + id],
                ),
                false => conn.execute(
                    "INSERT INTO messages (room_id, id, user, text, ts) VALUES (1, ?1, 'Ann', ?2, ?3)",
                    rusqlite::params![id, text, 1000 + id],
                ),
            }
            .unwrap();
        }
        if has_column(&conn, "rooms", "last_id") {
            conn.execute("UPDATE rooms SET last_id = 3 WHERE id = 1", [])
                .unwrap();
        }
        if has_table(&conn, "identities") {
            conn.execute(
                "INSERT INTO identities (id, token_hash, name, seen_ms) \
                 VALUES ('id-ann', zeroblob(32), 'Ann', 1000)",
                [],
            )
            .unwrap();
        }
        if has_table(&conn, "read_marks") {
            conn.execute(
                "INSERT INTO read_marks (identity, room_id, last_read) VALUES ('id-ann', 1, 2)",
                [],
            )
            .unwrap();
        }
        drop(conn);
        println!("{} from {rev}", out.display());
    }
}
