-- Version 6 (protocol 1.2 section 1, `store::accounts`): accounts, the
-- identities that have a password; their sessions; and failed sign-ins,
-- counted here so that every node sees the same counts.
CREATE TABLE accounts (
    identity   TEXT    NOT NULL PRIMARY KEY, -- identities.id
    name_key   TEXT    NOT NULL UNIQUE,      -- its name's first key, for sign-in
    password   TEXT    NOT NULL,             -- an Argon2id PHC string
    role       TEXT    NOT NULL CHECK (role IN ('admin', 'user')),
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE sessions (
    hash       BLOB    NOT NULL PRIMARY KEY, -- SHA-256 of the session id
    identity   TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    used_ms    INTEGER NOT NULL,
    addr       TEXT    NOT NULL,             -- where it was last used
    agent      TEXT    NOT NULL              -- and by what (User-Agent, cut)
) WITHOUT ROWID;
CREATE INDEX sessions_identity ON sessions (identity);

CREATE TABLE sign_in_failures (
    key       TEXT    NOT NULL PRIMARY KEY, -- an account's or an address's
    failures  INTEGER NOT NULL,
    since_ms  INTEGER NOT NULL              -- the start of its window
) WITHOUT ROWID;
