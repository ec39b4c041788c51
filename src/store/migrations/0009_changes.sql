-- Version 9 (protocol 1.2 section 3, `store::changes`): messages that
-- change. A message row holds its current state (an edit's text and
-- `edited_ts`; a deleted one is emptied and marked); a reply keeps what it
-- answered as it was then. Each room numbers its changes (`last_rev`) and
-- logs them in `changes`, for `join` with `after` and other nodes.
ALTER TABLE messages ADD COLUMN edited_ts INTEGER;
ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN reply_to INTEGER;
ALTER TABLE messages ADD COLUMN reply_user TEXT;
ALTER TABLE messages ADD COLUMN reply_text TEXT;
ALTER TABLE rooms ADD COLUMN last_rev INTEGER NOT NULL DEFAULT 0;

CREATE TABLE reactions (
    room_id  INTEGER NOT NULL,
    msg_id   INTEGER NOT NULL,
    emoji    TEXT    NOT NULL,
    identity TEXT    NOT NULL,
    user     TEXT    NOT NULL,
    rev      INTEGER NOT NULL,
    PRIMARY KEY (room_id, msg_id, emoji, identity)
) WITHOUT ROWID;

CREATE TABLE changes (
    room_id INTEGER NOT NULL,
    rev     INTEGER NOT NULL,
    msg_id  INTEGER NOT NULL,
    at_id   INTEGER NOT NULL,
    kind    INTEGER NOT NULL,
    emoji   TEXT    NOT NULL,
    user    TEXT    NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (room_id, rev)
) WITHOUT ROWID;
CREATE INDEX changes_by_at ON changes (room_id, at_id);

-- The search index follows edits and deletions (a deleted message's text
-- is empty, and is not indexed again).
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
    DELETE FROM messages_fts WHERE rowid = old.seq;
    INSERT INTO messages_fts (rowid, text) SELECT new.seq, new.text WHERE new.deleted = 0;
END;
