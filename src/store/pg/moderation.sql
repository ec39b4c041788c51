-- Version 9 (protocol 1.2 section 4, `store::moderation`): as SQLite's
-- migration 10.
CREATE TABLE sanctions (
    room     TEXT   NOT NULL,
    identity TEXT   NOT NULL,
    kind     TEXT   NOT NULL,
    until_ms BIGINT,
    PRIMARY KEY (room, identity, kind)
);

CREATE TABLE room_settings (
    room           TEXT    PRIMARY KEY,
    slow_mode_secs INTEGER NOT NULL DEFAULT 0,
    read_only      BOOLEAN NOT NULL DEFAULT false,
    topic          TEXT    NOT NULL DEFAULT ''
);

CREATE TABLE audit (
    id          BIGSERIAL PRIMARY KEY,
    at_ms       BIGINT NOT NULL,
    by_identity TEXT   NOT NULL,
    by_name     TEXT   NOT NULL,
    action      TEXT   NOT NULL,
    room        TEXT,
    target      TEXT,
    target_name TEXT,
    reason      TEXT,
    detail      TEXT
);
CREATE INDEX audit_room ON audit (room, id);
