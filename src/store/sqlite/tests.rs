//! The SQLite store against temporary files: schema, ids, nonces,
//! identities, migrations from each earlier version, expiry.

use super::*;
use crate::render::render_html;
use crate::store::Replay;
use std::time::Duration;

#[test]
fn a_second_open_of_a_data_directory_is_refused_until_the_first_writer_is_gone() {
    let (dir, r, w) = temp_store();
    let options = StoreOptions {
        data_dir: dir.path().join("nested/data"),
        sync: SyncMode::Normal,
        busy_timeout: Duration::from_secs(1),
        database_url: None,
    };
    let err = open(&options).err().expect("the directory is locked");
    assert!(
        err.to_string()
            .contains("another chat server is using this data directory"),
        "{err}"
    );
    drop((r, w));
    assert!(open(&options).is_ok());
}

pub(crate) fn temp_store() -> (tempfile::TempDir, SqliteReader, SqliteWriter) {
    let dir = tempfile::tempdir().unwrap();
    let (r, w) = open(&StoreOptions {
        data_dir: dir.path().join("nested/data"),
        sync: SyncMode::Normal,
        busy_timeout: Duration::from_secs(1),
        database_url: None,
    })
    .unwrap();
    (dir, r, w)
}

fn msg(room: &str, text: &str) -> NewMessage {
    NewMessage {
        room: room.into(),
        user: "u".into(),
        text: text.into(),
        html: render_html(text),
        ts: 7,
        author: None,
        nonce: None,
        reply_to: None,
        attachments: Vec::new(),
    }
}

#[test]
fn a_new_data_dir_gets_the_schema_and_general() {
    let (dir, r, _w) = temp_store();
    assert!(dir.path().join("nested/data").join(DB_FILE).exists());
    assert_eq!(
        ids_of_rooms(&r),
        [(crate::protocol::GENERAL_ROOM.to_owned(), 0)]
    );
    let version: i64 = r
        .conn
        .pragma_query_value(None, "user_version", |x| x.get(0))
        .unwrap();
    assert_eq!(version, MIGRATIONS.len() as i64);
}

#[test]
fn ids_are_per_room_consecutive_and_reads_are_cut_at_upto() {
    let (_dir, r, mut w) = temp_store();
    w.create_room("a").unwrap();
    let batch: Vec<_> = (0..5)
        .map(|i| msg(if i % 2 == 0 { "a" } else { "general" }, "<x>"))
        .collect();
    let ids: Vec<(String, u64)> = w
        .append(&batch)
        .into_iter()
        .map(|m| m.map(|s| (s.message.room, s.message.id)).unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            ("a".into(), 1),
            ("general".into(), 1),
            ("a".into(), 2),
            ("general".into(), 2),
            ("a".into(), 3)
        ]
    );
    let page = r.before("a", None, 50, 2, None).unwrap();
    assert_eq!(page.iter().map(|m| m.id).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(page[0].html, "&lt;x&gt;");
    let replay = r.after("a", 0, 2, 3, None).unwrap();
    assert_eq!(
        (
            replay.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            replay.missed
        ),
        (vec![2, 3], true)
    );
    assert_eq!(r.after("a", 3, 10, 3, None).unwrap(), Replay::default());
    assert_eq!(r.after("a", 4, 10, 3, None).unwrap(), Replay::default());
    assert_eq!(
        r.after("a", u64::MAX, 10, 3, None).unwrap(),
        Replay::default()
    );
    assert_eq!(r.before("a", Some(1), 10, 3, None).unwrap(), []);
}

#[test]
fn a_failing_insert_is_left_out_and_its_id_is_not_skipped() {
    let (_dir, r, mut w) = temp_store();
    r.conn
        .execute_batch(
            "CREATE TRIGGER boom BEFORE INSERT ON messages WHEN NEW.text = 'boom'
             BEGIN SELECT RAISE(ABORT, 'simulated failure'); END;",
        )
        .unwrap();
    let results = w.append(&[
        msg("general", "one"),
        msg("general", "boom"),
        msg("general", "two"),
    ]);
    assert_eq!(results[0].as_ref().unwrap().message.id, 1);
    assert!(results[1].is_err());
    assert_eq!(results[2].as_ref().unwrap().message.id, 2);
    assert_eq!(ids_of_rooms(&r), [("general".to_owned(), 2)]);
}

/// Each room's name and newest id.
fn ids_of_rooms(r: &SqliteReader) -> Vec<(String, u64)> {
    let rooms = r.rooms().unwrap();
    rooms
        .into_iter()
        .map(|row| (row.name, row.last_id))
        .collect()
}

#[test]
fn a_room_is_deleted_only_without_messages_and_is_active_as_of_its_newest() {
    let (_dir, r, mut w) = temp_store();
    w.create_room("empty").unwrap();
    w.create_room("busy").unwrap();
    let mut m = msg("busy", "x");
    m.ts = 4_000_000_000_000;
    w.append(&[m]);
    let busy = r
        .rooms()
        .unwrap()
        .into_iter()
        .find(|row| row.name == "busy");
    assert_eq!(busy.unwrap().active_ms, 4_000_000_000_000);
    w.delete_room("empty").unwrap();
    w.delete_room("busy").unwrap();
    assert_eq!(
        ids_of_rooms(&r),
        [("busy".to_owned(), 1), ("general".to_owned(), 0)]
    );
    // A deleted room can come back, numbered from 1.
    w.append(&[msg("empty", "again")]);
    assert_eq!(r.range("empty", 1, 1).unwrap()[0].text, "again");
}

#[test]
fn a_nonce_repeats_for_its_author_and_room_for_exactly_ten_minutes() {
    let (_dir, r, mut w) = temp_store();
    let t0 = 1_000_000_000;
    let by = |author: &str, room: &str, ts: u64, text: &str| NewMessage {
        author: Some(author.into()),
        nonce: Some("n".into()),
        ts,
        ..msg(room, text)
    };
    let first = w.append(&[by("ada", "general", t0, "first")]);
    assert_eq!(first[0].as_ref().unwrap().message.id, 1);
    let results = w.append(&[
        by("ada", "general", t0 + NONCE_WINDOW_MS, "again"),
        by("bob", "general", t0 + 1, "bob's own"),
        by("ada", "other", t0 + 1, "another room"),
    ]);
    let got: Vec<(u64, bool, String)> = results
        .into_iter()
        .map(|x| x.unwrap())
        .map(|s| (s.message.id, s.repeat, s.message.text))
        .collect();
    assert_eq!(
        got,
        [
            (1, true, "first".into()),
            (2, false, "bob's own".into()),
            (1, false, "another room".into())
        ]
    );
    let later = w.append(&[by("ada", "general", t0 + NONCE_WINDOW_MS + 1, "later")]);
    let later = later[0].as_ref().unwrap();
    assert_eq!((later.message.id, later.repeat), (3, false));
    // Every copy read back carries the nonce.
    let stored = r.before("general", None, 10, 3, None).unwrap();
    assert!(stored.iter().all(|m| m.nonce.as_deref() == Some("n")));
}

#[test]
fn identities_are_saved_replaced_and_forgotten() {
    let (_dir, r, mut w) = temp_store();
    let row = |name: &str| IdentityRow {
        id: "id1".into(),
        token_hash: [7; 32],
        name: name.into(),
        seen_ms: 5,
    };
    w.save_identities(&[IdentityChange::Save(row("Ada"))])
        .unwrap();
    w.save_identities(&[IdentityChange::Save(row("Grace"))])
        .unwrap();
    assert_eq!(r.identities().unwrap(), [row("Grace")]);
    w.save_identities(&[IdentityChange::Forget("id1".into())])
        .unwrap();
    assert_eq!(r.identities().unwrap(), []);
}

#[test]
fn a_version_1_store_is_migrated_with_its_messages_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    let old = Connection::open(&path).unwrap();
    old.execute_batch(MIGRATIONS[0]).unwrap();
    old.execute_batch(
        "INSERT INTO messages (room_id, id, user, text, ts) VALUES (1, 1, 'ada', 'old', 5);
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(old);
    let (r, mut w) = open(&StoreOptions {
        data_dir: dir.path().to_owned(),
        sync: SyncMode::Normal,
        busy_timeout: Duration::from_secs(1),
        database_url: None,
    })
    .unwrap();
    let kept = r.before("general", None, 10, 1, None).unwrap();
    assert_eq!(
        (kept[0].text.as_str(), kept[0].nonce.as_deref()),
        ("old", None)
    );
    assert_eq!(r.identities().unwrap(), []);
    // Version 3 keeps the counter on the room, filled in from the messages.
    assert_eq!(ids_of_rooms(&r), [("general".to_owned(), 1)]);
    let next = w.append(&[msg("general", "new")]);
    assert_eq!(next[0].as_ref().unwrap().message.id, 2);
}

#[test]
fn old_messages_expire_oldest_first_within_the_bound_and_ids_are_never_reused() {
    let (_dir, r, mut w) = temp_store();
    let at = |room: &str, ts: u64| NewMessage {
        ts,
        ..msg(room, &format!("{room}@{ts}"))
    };
    let batch: Vec<NewMessage> = (1..=5)
        .map(|ts| at("a", ts * 100))
        .chain([at("b", 150), at("b", 900)])
        .collect();
    w.append(&batch);
    // Older than 350: a's 100, 200, 300 and b's 150; at most 3 at once.
    assert_eq!(w.expire(350, 3).unwrap(), 3);
    assert_eq!(w.expire(350, 3).unwrap(), 1);
    assert_eq!(w.expire(350, 3).unwrap(), 0);
    let left =
        |room: &str| -> Vec<u64> { r.range(room, 1, 10).unwrap().iter().map(|m| m.ts).collect() };
    assert_eq!(left("a"), [400, 500]);
    assert_eq!(left("b"), [900]);
    // Every message of a room gone: its next id still follows the last.
    assert_eq!(w.expire(10_000, 100).unwrap(), 3);
    assert_eq!(ids_of_rooms(&r)[0], ("a".to_owned(), 5));
    let next = w.append(&[at("a", 20_000)]);
    assert_eq!(next[0].as_ref().unwrap().message.id, 6);
    // A room whose messages expired is not removed as never used.
    w.delete_room("a").unwrap();
    assert_eq!(ids_of_rooms(&r)[0], ("a".to_owned(), 6));
}

#[test]
fn the_wal_is_cut_back_after_checkpoints_and_a_probe_commits() {
    let (_dir, r, mut w) = temp_store();
    let limit: i64 = r
        .conn
        .pragma_query_value(None, "journal_size_limit", |x| x.get(0))
        .unwrap();
    assert_eq!(limit, WAL_LIMIT_BYTES);
    w.probe().unwrap();
    let at: i64 = r
        .conn
        .query_row("SELECT at_ms FROM probe", [], |x| x.get(0))
        .unwrap();
    assert!(at > 0);
}

#[test]
fn an_edit_is_allowed_up_to_the_end_of_its_window_and_refused_one_ms_past_it() {
    use crate::store::changes::{ChangeKind, ChangeRequest, Changed, Refusal};
    let (_dir, _r, mut w) = temp_store();
    let posted = NewMessage {
        author: Some("ada".into()),
        ts: 1_000,
        ..msg("general", "typo")
    };
    w.append(&[posted]);
    let edit = |now_ms: u64, text: &str| ChangeRequest {
        room: "general".into(),
        id: 1,
        by: "ada".into(),
        name: "ada".into(),
        kind: ChangeKind::Edit {
            text: text.into(),
            html: render_html(text),
            window_ms: Some(60_000),
        },
        now_ms,
    };
    let results = w.change(&[edit(61_000, "at the bound"), edit(61_001, "one past")]);
    assert!(
        matches!(results[0], Ok(Changed::Applied { .. })),
        "{results:?}"
    );
    assert_eq!(results[1], Err(Refusal::TooLate));
}
