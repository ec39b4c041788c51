-- Version 10 (protocol 1.2 section 4, `store::moderation`): bans and mutes
-- (room '' is the whole server; until_ms NULL: until lifted), each room's
-- settings, and the audit log of moderator actions (newest read first).
CREATE TABLE sanctions (
    room     TEXT    NOT NULL,
    identity TEXT    NOT NULL,
    kind     TEXT    NOT NULL,
    until_ms INTEGER,
    PRIMARY KEY (room, identity, kind)
) WITHOUT ROWID;

CREATE TABLE room_settings (
    room           TEXT    PRIMARY KEY,
    slow_mode_secs INTEGER NOT NULL DEFAULT 0,
    read_only      INTEGER NOT NULL DEFAULT 0,
    topic          TEXT    NOT NULL DEFAULT ''
) WITHOUT ROWID;

CREATE TABLE audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms       INTEGER NOT NULL,
    by_identity TEXT    NOT NULL,
    by_name     TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    room        TEXT,
    target      TEXT,
    target_name TEXT,
    reason      TEXT,
    detail      TEXT
);
CREATE INDEX audit_room ON audit (room, id);
