-- Version 11 (protocol 1.2 section 5, `store::files`): uploaded files. The
-- bytes are in the files directory (CHAT_FILES_DIR), named by `id`; this is
-- who uploaded each, what it is, and the message it was posted with
-- (`room` NULL: not posted yet, seen only by its uploader).
CREATE TABLE uploads (
    id         TEXT    PRIMARY KEY,
    identity   TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    mime       TEXT    NOT NULL,
    width      INTEGER,
    height     INTEGER,
    thumb      INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    room       TEXT,
    message    INTEGER
) WITHOUT ROWID;
CREATE INDEX uploads_by_identity ON uploads (identity);
CREATE INDEX uploads_unposted ON uploads (created_ms) WHERE room IS NULL;
CREATE INDEX uploads_by_message ON uploads (room, message) WHERE room IS NOT NULL;

-- Files whose message went (deleted, purged, past retention) or that were
-- never posted: their rows are gone, their bytes wait here for the sweeper
-- (server/files/sweep.rs), which removes them and then these rows.
CREATE TABLE files_gone (
    id TEXT PRIMARY KEY
) WITHOUT ROWID;
