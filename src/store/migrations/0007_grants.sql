-- Version 7 (protocol 1.2 section 1, `store::grants`): invites and API
-- tokens, each kept as the SHA-256 of the code shown once; and the indexes
-- that remove sessions unused for too long and failure counts whose window
-- is over without reading them all.
CREATE TABLE invites (
    hash       BLOB    NOT NULL PRIMARY KEY,
    uses_left  INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE api_tokens (
    hash       BLOB    NOT NULL PRIMARY KEY,
    identity   TEXT    NOT NULL,            -- the account it posts as
    label      TEXT    NOT NULL,
    rooms      TEXT    NOT NULL,            -- space-separated; empty: every room
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX api_tokens_identity ON api_tokens (identity);

CREATE INDEX sessions_used ON sessions (used_ms);
CREATE INDEX sign_in_failures_since ON sign_in_failures (since_ms);
