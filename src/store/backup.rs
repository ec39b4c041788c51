//! Backups of the SQLite store and its files, taken while the server runs,
//! and their restore into an empty data directory.
//!
//! A backup is a directory: `chat.sqlite3` (SQLite's `VACUUM INTO` from a
//! read-only connection of its own: one consistent snapshot, taken in a
//! read transaction, so the writer goes on committing beside it and never
//! waits; the WAL is part of what it reads), `files/` (each upload the
//! snapshot holds, with its thumbnail: files never change once in place),
//! and `manifest.json` ([`Manifest`]), written last: a backup without one
//! is unfinished. Restore checks the manifest against the bytes (every
//! checksum), refuses a backup from a newer schema and a data directory
//! that holds anything, and copies; the server started on it then
//! migrates as at any upgrade.
//!
//! PostgreSQL's own tools back a PostgreSQL store up (`pg_dump` /
//! `pg_restore`, README "Backups"); the files directory is copied beside.

use super::now_ms;
use super::sqlite::{DB_FILE, MIGRATIONS};
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The manifest's file name in a backup.
pub const MANIFEST: &str = "manifest.json";
/// The backup format this server writes and reads.
pub const FORMAT: u32 = 1;

/// What a backup holds, written last (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The backup format ([`FORMAT`]).
    pub format: u32,
    /// When it was taken (ms since the epoch).
    pub taken_ms: u64,
    /// Its content: two backups of a server that did nothing between
    /// them have equal contents.
    pub content: Content,
}

/// A backup's content, counted from the snapshot itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    /// The schema version (migrations applied, SQLite's `user_version`).
    pub schema: u32,
    /// Each room, by name.
    pub rooms: Vec<RoomCount>,
    /// Messages in all.
    pub messages: u64,
    /// Identities (guests and accounts).
    pub identities: u64,
    /// Accounts.
    pub accounts: u64,
    /// Uploads, posted or not.
    pub uploads: u64,
    /// Bytes of the files copied (thumbnails included).
    pub file_bytes: u64,
    /// SHA-256 of `chat.sqlite3`, hex.
    pub database_sha256: String,
    /// SHA-256 over every file copied, in name order (each name, a NUL,
    /// its SHA-256), hex.
    pub files_sha256: String,
}

/// One room in a [`Content`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomCount {
    /// Its name.
    pub name: String,
    /// The messages it holds.
    pub messages: u64,
    /// Its newest id (ids of removed messages are never given again).
    pub last_id: u64,
}

/// Why a backup or restore did not happen.
#[derive(Debug)]
pub enum BackupError {
    /// The request cannot be done as asked (the message says why).
    Refused(String),
    /// The disk or the database failed.
    Failed(String),
}

impl std::fmt::Display for BackupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackupError::Refused(why) | BackupError::Failed(why) => f.write_str(why),
        }
    }
}

impl From<rusqlite::Error> for BackupError {
    fn from(e: rusqlite::Error) -> Self {
        BackupError::Failed(format!("the database: {e}"))
    }
}

/// `what` at `path` failed with `e`.
fn failed(what: &str, path: &Path, e: io::Error) -> BackupError {
    BackupError::Failed(format!("{what} {}: {e}", path.display()))
}

/// Refused unless `dir` is missing or empty (then made).
fn empty_dir(dir: &Path, what: &str) -> Result<(), BackupError> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BackupError::Refused(format!(
                    "{what} {} is not empty: nothing was written",
                    dir.display()
                )));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(failed("cannot read", dir, e)),
    }
    fs::create_dir_all(dir).map_err(|e| failed("cannot make", dir, e))
}

/// Held by a backup from its snapshot until its last file is copied, and
/// by the files sweeper while it removes files: a file whose message went
/// after the snapshot was taken is still there to copy (the snapshot
/// still has the message). Blocking code only, on either side.
pub static FILES_HELD: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Backs up the database at `db` (its data directory's `chat.sqlite3`)
/// and the files under `files` into `dest` (missing or empty). Blocking:
/// run it off the async workers.
pub fn backup_sqlite(db: &Path, files: &Path, dest: &Path) -> Result<Manifest, BackupError> {
    empty_dir(dest, "the backup directory")?;
    let _held = FILES_HELD.lock().unwrap_or_else(|e| e.into_inner());
    let copy = dest.join(DB_FILE);
    let source = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    source.busy_timeout(std::time::Duration::from_secs(5))?;
    let into = copy
        .to_str()
        .ok_or_else(|| BackupError::Refused(format!("{} is not a UTF-8 path", copy.display())))?;
    source.execute("VACUUM INTO ?1", [into])?;
    drop(source);
    let (mut content, uploads) = count(&copy)?;
    let into_files = dest.join("files");
    fs::create_dir_all(&into_files).map_err(|e| failed("cannot make", &into_files, e))?;
    let mut names = Vec::new();
    for (id, thumb) in uploads {
        names.push(id.clone());
        if thumb {
            names.push(format!("{id}.thumb"));
        }
    }
    names.sort();
    let mut all = Sha256::new();
    for name in &names {
        let (from, to) = (files.join(name), into_files.join(name));
        let (bytes, hash) = copy_hashed(&from, &to)?;
        content.file_bytes += bytes;
        all.update(name.as_bytes());
        all.update([0]);
        all.update(hash);
    }
    content.files_sha256 = hex(&all.finalize());
    content.database_sha256 = hex(&hash_file(&copy)?);
    let manifest = Manifest {
        format: FORMAT,
        taken_ms: now_ms(),
        content,
    };
    write_manifest(dest, &manifest)?;
    Ok(manifest)
}

/// The content of the database at `path` (checksums left empty), and its
/// uploads (id, whether a thumbnail goes with it).
fn count(path: &Path) -> Result<(Content, Vec<(String, bool)>), BackupError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let schema: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let one = |sql: &str| -> Result<u64, BackupError> {
        Ok(conn.query_row(sql, [], |r| r.get::<_, i64>(0))?.max(0) as u64)
    };
    let mut rooms = Vec::new();
    {
        let mut stmt = conn.prepare(
            "SELECT r.name, r.last_id, (SELECT COUNT(*) FROM messages m WHERE m.room_id = r.id) \
             FROM rooms r ORDER BY r.name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(RoomCount {
                name: r.get(0)?,
                last_id: r.get::<_, i64>(1)?.max(0) as u64,
                messages: r.get::<_, i64>(2)?.max(0) as u64,
            })
        })?;
        for room in rows {
            rooms.push(room?);
        }
    }
    let has = |table: &str| -> Result<bool, BackupError> {
        let sql = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1";
        Ok(conn.query_row(sql, [table], |r| r.get::<_, i64>(0))? > 0)
    };
    let accounts = match has("accounts")? {
        true => one("SELECT COUNT(*) FROM accounts")?,
        false => 0,
    };
    let mut uploads = Vec::new();
    if has("uploads")? {
        let mut stmt = conn.prepare("SELECT id, thumb FROM uploads ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? != 0))
        })?;
        for row in rows {
            uploads.push(row?);
        }
    }
    let content = Content {
        schema,
        messages: rooms.iter().map(|r| r.messages).sum(),
        rooms,
        identities: one("SELECT COUNT(*) FROM identities")?,
        accounts,
        uploads: uploads.len() as u64,
        file_bytes: 0,
        database_sha256: String::new(),
        files_sha256: String::new(),
    };
    Ok((content, uploads))
}

/// Copies `from` to `to` (synced), returning its length and SHA-256.
fn copy_hashed(from: &Path, to: &Path) -> Result<(u64, [u8; 32]), BackupError> {
    let mut input = fs::File::open(from).map_err(|e| failed("cannot read", from, e))?;
    let mut output = fs::File::create(to).map_err(|e| failed("cannot write", to, e))?;
    let (mut hash, mut buf, mut total) = (Sha256::new(), vec![0; 64 * 1024], 0u64);
    loop {
        let n = input
            .read(&mut buf)
            .map_err(|e| failed("cannot read", from, e))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        output
            .write_all(&buf[..n])
            .map_err(|e| failed("cannot write", to, e))?;
        total += n as u64;
    }
    output
        .sync_all()
        .map_err(|e| failed("cannot write", to, e))?;
    Ok((total, hash.finalize().into()))
}

/// The SHA-256 of the file at `path`.
fn hash_file(path: &Path) -> Result<[u8; 32], BackupError> {
    let mut input = fs::File::open(path).map_err(|e| failed("cannot read", path, e))?;
    let (mut hash, mut buf) = (Sha256::new(), vec![0; 64 * 1024]);
    loop {
        let n = input
            .read(&mut buf)
            .map_err(|e| failed("cannot read", path, e))?;
        if n == 0 {
            return Ok(hash.finalize().into());
        }
        hash.update(&buf[..n]);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `manifest` into `dir` (through a temporary name, synced): the
/// backup is complete once it is there.
fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), BackupError> {
    let (temp, path) = (dir.join(format!("{MANIFEST}.new")), dir.join(MANIFEST));
    let json = serde_json::to_vec_pretty(manifest).expect("a manifest serialises");
    let mut file = fs::File::create(&temp).map_err(|e| failed("cannot write", &temp, e))?;
    file.write_all(&json)
        .and_then(|()| file.sync_all())
        .map_err(|e| failed("cannot write", &temp, e))?;
    fs::rename(&temp, &path).map_err(|e| failed("cannot write", &path, e))?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads and checks the backup in `src`: its manifest, its format and
/// schema (not newer than this server's), and every checksum.
pub fn verify(src: &Path) -> Result<Manifest, BackupError> {
    let path = src.join(MANIFEST);
    let raw = fs::read(&path).map_err(|e| {
        BackupError::Refused(format!(
            "{} cannot be read ({e}): not a backup, or an unfinished one",
            path.display()
        ))
    })?;
    let manifest: Manifest = serde_json::from_slice(&raw)
        .map_err(|e| BackupError::Refused(format!("{} is not a manifest: {e}", path.display())))?;
    if manifest.format != FORMAT {
        return Err(BackupError::Refused(format!(
            "this backup's format is {}; this server reads format {FORMAT}",
            manifest.format
        )));
    }
    let known = MIGRATIONS.len();
    if manifest.content.schema as usize > known {
        return Err(BackupError::Refused(format!(
            "this backup is of schema version {}, from a newer server; this server knows versions up to {known}: restore it with that server or a newer one",
            manifest.content.schema
        )));
    }
    let db = src.join(DB_FILE);
    if hex(&hash_file(&db)?) != manifest.content.database_sha256 {
        return Err(BackupError::Refused(format!(
            "{} does not match the manifest's checksum: the backup is damaged",
            db.display()
        )));
    }
    let (content, _) = count(&db)?;
    let mut all = Sha256::new();
    let mut names = file_names(&src.join("files"))?;
    names.sort();
    for name in &names {
        all.update(name.as_bytes());
        all.update([0]);
        all.update(hash_file(&src.join("files").join(name))?);
    }
    let same = Content {
        database_sha256: manifest.content.database_sha256.clone(),
        files_sha256: hex(&all.finalize()),
        file_bytes: manifest.content.file_bytes,
        ..content
    };
    if same != manifest.content {
        return Err(BackupError::Refused(
            "the backup's files or counts do not match its manifest: the backup is damaged".into(),
        ));
    }
    Ok(manifest)
}

/// The names of the files in `dir` (none when it is missing).
fn file_names(dir: &Path) -> Result<Vec<String>, BackupError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(failed("cannot read", dir, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| failed("cannot read", dir, e))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

/// Restores the backup in `src` ([`verify`]ed first) into `data_dir` and
/// `files` (each missing or empty; `files` may be inside `data_dir`,
/// which then holds nothing else). Blocking.
pub fn restore_sqlite(src: &Path, data_dir: &Path, files: &Path) -> Result<Manifest, BackupError> {
    let manifest = verify(src)?;
    empty_dir(data_dir, "the data directory")?;
    empty_dir(files, "the files directory")?;
    let place = |from: PathBuf, to: PathBuf| -> Result<(), BackupError> {
        let mut part = to.clone().into_os_string();
        part.push(".part");
        let part = PathBuf::from(part);
        copy_hashed(&from, &part)?;
        fs::rename(&part, &to).map_err(|e| failed("cannot write", &to, e))
    };
    for name in file_names(&src.join("files"))? {
        place(src.join("files").join(&name), files.join(&name))?;
    }
    // The database last: a data directory with one is a restored one.
    place(src.join(DB_FILE), data_dir.join(DB_FILE))?;
    for dir in [files, data_dir] {
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(manifest)
}
