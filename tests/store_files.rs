//! *1.2* (section 5) at the store seam, the same checks on SQLite and on a
//! throw-away PostgreSQL: the quota is decided where the upload's row is
//! stored, and retention takes an expired message's files with it.

mod common;

use chat::store::accounts::AccountChange;
use chat::store::files::{FileChange, FileQuery, UploadRow};
use chat::store::{NewMessage, StoreError, StoreOptions, StoreReader, StoreWriter, SyncMode};
use common::pg::PgCluster;
use std::time::Duration;

fn upload(id: &str, size: u64) -> UploadRow {
    UploadRow {
        id: id.into(),
        identity: "ann".into(),
        name: format!("{id}.bin"),
        size,
        mime: "application/octet-stream".into(),
        dimensions: None,
        thumb: false,
        created_ms: 1,
        posted: None,
    }
}

fn save(w: &mut impl StoreWriter, row: UploadRow, quota: u64) -> Result<(), StoreError> {
    w.save_accounts(&[AccountChange::File(FileChange::Save { row, quota })])
}

/// Ann's message at `ts` with `files`.
fn posted(ts: u64, files: &[&str]) -> NewMessage {
    NewMessage {
        room: "general".into(),
        user: "Ann".into(),
        text: format!("at {ts}"),
        html: format!("at {ts}"),
        ts,
        author: Some("ann".into()),
        nonce: None,
        reply_to: None,
        attachments: files.iter().map(|f| f.to_string()).collect(),
    }
}

fn uploads_and_retention(r: impl StoreReader, mut w: impl StoreWriter) {
    let id = |n: u8| format!("{:032x}", n);
    let (old, new, extra) = (id(1), id(2), id(3));
    // The quota: a file that fills it is stored, one byte more is not.
    save(&mut w, upload(&old, 1000), 3000).unwrap();
    save(&mut w, upload(&new, 2000), 3000).unwrap();
    match save(&mut w, upload(&extra, 1), 3000) {
        Err(StoreError::Refused(why)) => {
            assert!(why.contains("3000 bytes are used"), "{why}")
        }
        other => panic!("one byte past the quota: {other:?}"),
    }
    assert_eq!(r.upload_usage("ann").unwrap(), 3000);
    assert!(r.uploads(&FileQuery::ById(extra)).unwrap().is_empty());

    // An old message with one file and a new one with the other.
    for stored in w.append(&[posted(100, &[&old]), posted(u64::MAX >> 3, &[&new])]) {
        stored.unwrap();
    }
    assert_eq!(w.expire(1000, 100).unwrap(), 1);
    assert!(
        r.uploads(&FileQuery::ById(old.clone())).unwrap().is_empty(),
        "the expired message's upload is gone"
    );
    assert_eq!(
        r.files_gone().unwrap(),
        [old],
        "its bytes are to be removed"
    );
    let kept = r.uploads(&FileQuery::ById(new)).unwrap();
    assert_eq!(kept[0].posted, Some(("general".into(), 2)));
    assert_eq!(r.upload_usage("ann").unwrap(), 2000, "the quota is freed");
}

#[test]
fn sqlite_decides_the_quota_and_retention_takes_an_expired_messages_files() {
    let dir = tempfile::tempdir().unwrap();
    let (r, w) = chat::store::open(&StoreOptions {
        data_dir: dir.path().to_owned(),
        sync: SyncMode::Normal,
        busy_timeout: Duration::from_secs(1),
        database_url: None,
    })
    .unwrap();
    uploads_and_retention(r, w);
}

#[test]
fn postgres_decides_the_quota_and_retention_takes_an_expired_messages_files() {
    let cluster = PgCluster::start();
    let options = StoreOptions {
        data_dir: std::env::temp_dir(),
        sync: SyncMode::Normal,
        busy_timeout: Duration::from_secs(5),
        database_url: Some(cluster.url.clone()),
    };
    let (r, w) = chat::store::pg::open(&cluster.url, &options, "t").unwrap();
    uploads_and_retention(r, w);
}
