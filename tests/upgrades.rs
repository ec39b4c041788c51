//! Upgrades from every schema the project shipped, both stores: each
//! fixture under `tests/fixtures/` was made by that version's own
//! migrations (the files as they stood when it shipped, read from git)
//! with a few rows, and today's store opens each, migrates it, and still
//! has its messages, identities and read marks. SQLite: migrations 1-12
//! (`sqlite-vNN.sqlite3`); PostgreSQL: schema versions 1-12
//! (`postgres-vNN.sql`, a `pg_dump`, loaded with `psql` into a throw-away
//! cluster).
//!
//! The fixtures are made again with
//! `cargo test --features ssr --test upgrades -- --ignored make_`
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
        holds_its_rows(version, &r, &mut w, (2, 4));
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

/// What a migrated fixture of `version` must hold: `TEXTS` in `general`,
/// Ann's identity from schema version `since.0` on, her read mark from
/// `since.1` on; and its next message gets id 4.
fn holds_its_rows(
    version: usize,
    r: &dyn StoreReader,
    w: &mut dyn StoreWriter,
    since: (usize, usize),
) {
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
    if version >= since.0 {
        let ids = r.identities().unwrap();
        assert!(
            ids.iter().any(|i| i.id == "id-ann" && i.name == "Ann"),
            "version {version}: {ids:?}"
        );
    }
    if version >= since.1 {
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

/// Where schema version `version` (of the files `paths`, in order)
/// shipped: the tree just before version N+1's file was added (the
/// newest: as it is now).
fn shipped_at(paths: &[String], version: usize) -> String {
    match paths.get(version) {
        Some(next) => format!("{}^", added_in(next)),
        None => "HEAD".to_owned(),
    }
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
        let rev = shipped_at(&paths, version);
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

// PostgreSQL: each fixture is a `pg_dump` (plain SQL) of a database made
// by that version's schema files as they shipped, with the same rows.

mod common;

fn pg_fixture(version: usize) -> PathBuf {
    fixtures().join(format!("postgres-v{version:02}.sql"))
}

/// PostgreSQL's schema files in version order, as `store::pg` lists them.
fn pg_schema_paths() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = std::fs::read_to_string(root.join("src/store/pg/mod.rs")).unwrap();
    let start = src.find("const SCHEMAS").expect("the list of versions");
    let end = start + src[start..].find("];").unwrap();
    src[start..end]
        .split("include_str!(\"")
        .skip(1)
        .map(|s| format!("src/store/pg/{}", &s[..s.find('"').unwrap()]))
        .collect()
}

/// A fresh database `name` in `cluster`; its URL.
fn database(cluster: &common::pg::PgCluster, name: &str) -> String {
    let mut admin = postgres::Client::connect(&cluster.url, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    cluster.url.replace("/postgres", &format!("/{name}"))
}

#[test]
fn every_shipped_postgres_schema_opens_migrated_with_its_messages_identities_and_read_marks() {
    let versions = chat::store::pg::SCHEMA_VERSION as usize;
    assert_eq!(pg_schema_paths().len(), versions);
    let cluster = common::pg::PgCluster::start();
    for version in 1..=versions {
        let url = database(&cluster, &format!("v{version}"));
        let path = pg_fixture(version);
        assert!(path.exists(), "{}", path.display());
        let loaded = std::process::Command::new(common::pg::bin("psql"))
            .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", &url, "-f"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            loaded.status.success(),
            "version {version}: {}",
            String::from_utf8_lossy(&loaded.stderr)
        );
        let data = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            data_dir: data.path().to_owned(),
            sync: SyncMode::Normal,
            busy_timeout: Duration::from_secs(1),
            database_url: Some(url.clone()),
        };
        let (r, mut w) = chat::store::pg::open(&url, &options, "node-a")
            .unwrap_or_else(|e| panic!("version {version}: {e}"));
        holds_its_rows(version, &r, &mut w, (1, 3));
        drop((r, w));
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let now: i32 = client
            .query_one("SELECT version FROM chat_schema", &[])
            .unwrap()
            .get(0);
        assert_eq!(now as usize, versions, "version {version}: migrated");
    }
}

#[test]
#[ignore = "makes the PostgreSQL fixtures from the git history; run by hand"]
fn make_postgres_fixtures() {
    let paths = pg_schema_paths();
    let cluster = common::pg::PgCluster::start();
    for version in 1..=paths.len() {
        let rev = shipped_at(&paths, version);
        let url = database(&cluster, &format!("make{version}"));
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        for path in &paths[..version] {
            let sql = git_show(&rev, path).unwrap_or_else(|| panic!("{path} at {rev}"));
            client
                .batch_execute(&sql)
                .unwrap_or_else(|e| panic!("{path} at {rev}: {e}"));
        }
        client
            .batch_execute(&format!(
                "CREATE TABLE chat_schema (version INTEGER NOT NULL);
                 INSERT INTO chat_schema (version) VALUES ({version});
                 UPDATE rooms SET last_id = 3 WHERE name = 'general';
                 INSERT INTO identities (id, token_hash, name, seen_ms)
                   VALUES ('id-ann', '\\x{}', 'Ann', 1000);",
                "00".repeat(32)
            ))
            .unwrap();
        for (i, text) in TEXTS.iter().enumerate() {
            let id = i as i64 + 1;
            client
                .execute(
                    "INSERT INTO messages (room_id, id, \"user\", text, ts, author) \
                     SELECT id, $1, 'Ann', $2, $3, 'id-ann' FROM rooms WHERE name = 'general'",
                    &[&id, text, &(1000 + id)],
                )
                .unwrap();
        }
        if version >= 3 {
            client
                .batch_execute(
                    "INSERT INTO read_marks (identity, room_id, last_read)
                     SELECT 'id-ann', id, 2 FROM rooms WHERE name = 'general'",
                )
                .unwrap();
        }
        drop(client);
        let out = pg_fixture(version);
        let dumped = std::process::Command::new(common::pg::bin("pg_dump"))
            .args([
                "--no-owner",
                "--no-privileges",
                "--format=plain",
                "-d",
                &url,
                "-f",
            ])
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            dumped.status.success(),
            "{}",
            String::from_utf8_lossy(&dumped.stderr)
        );
        println!("{} from {rev}", out.display());
    }
}
