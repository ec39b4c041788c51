-- The PostgreSQL store's schema, version 1 (the SQLite schema after its
-- migration 3, in PostgreSQL's types). Applied once, under an advisory lock,
-- so that nodes starting together do not race.

CREATE TABLE rooms (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT   NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL,
    -- The newest message id: advanced under the row's lock in the
    -- transaction that inserts, so ids stay 1, 2, 3, ... across nodes.
    last_id    BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE messages (
    room_id BIGINT NOT NULL REFERENCES rooms(id),
    id      BIGINT NOT NULL,
    "user"  TEXT   NOT NULL,
    text    TEXT   NOT NULL,
    ts      BIGINT NOT NULL,
    author  TEXT,
    nonce   TEXT,
    PRIMARY KEY (room_id, id)
);

CREATE INDEX messages_by_nonce ON messages (room_id, author, nonce) WHERE nonce IS NOT NULL;

CREATE TABLE identities (
    id         TEXT   PRIMARY KEY,
    token_hash BYTEA  NOT NULL UNIQUE,
    name       TEXT   NOT NULL,
    seen_ms    BIGINT NOT NULL
);

CREATE TABLE probe (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    at_ms BIGINT NOT NULL
);

INSERT INTO rooms (name, created_ms) VALUES ('general', (extract(epoch from now()) * 1000)::BIGINT);
