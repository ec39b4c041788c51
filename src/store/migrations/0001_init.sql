-- Rooms, by name; `id` is the compact key messages refer to.
CREATE TABLE rooms (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL
);

-- Messages, clustered by (room, id): per-room ids are 1, 2, 3, ... with no gaps.
-- Only the sanitized text is kept; `html` is rendered from it on read.
CREATE TABLE messages (
    room_id INTEGER NOT NULL REFERENCES rooms(id),
    id      INTEGER NOT NULL,
    user    TEXT    NOT NULL,
    text    TEXT    NOT NULL,
    ts      INTEGER NOT NULL,
    PRIMARY KEY (room_id, id)
) WITHOUT ROWID;

INSERT INTO rooms (name, created_ms) VALUES ('general', CAST(unixepoch('subsec') * 1000 AS INTEGER));
