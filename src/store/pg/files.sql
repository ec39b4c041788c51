-- The PostgreSQL store's schema, version 11: uploaded files (protocol 1.2
-- section 5, `store::files`). The bytes are in the files directory
-- (CHAT_FILES_DIR, which every node must share); this is who uploaded each,
-- what it is, and the message it was posted with (`room` NULL: not posted
-- yet, seen only by its uploader).
CREATE TABLE uploads (
    id         TEXT   PRIMARY KEY,
    identity   TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    size       BIGINT NOT NULL,
    mime       TEXT   NOT NULL,
    width      BIGINT,
    height     BIGINT,
    thumb      BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    room       TEXT,
    message    BIGINT
);
CREATE INDEX uploads_by_identity ON uploads (identity);
CREATE INDEX uploads_unposted ON uploads (created_ms) WHERE room IS NULL;
CREATE INDEX uploads_by_message ON uploads (room, message) WHERE room IS NOT NULL;

-- Files whose message went (deleted, purged, past retention) or that were
-- never posted: their rows are gone, their bytes wait here for the sweeper
-- (server/files/sweep.rs), which removes them and then these rows.
CREATE TABLE files_gone (
    id TEXT PRIMARY KEY
);
