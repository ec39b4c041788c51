-- Version 8 (protocol 1.2 section 3, `store::changes`): as SQLite's
-- migration 9. The search index (an expression index on `text`) follows
-- edits by itself; a deleted message's text is empty.
ALTER TABLE messages ADD COLUMN edited_ts BIGINT;
ALTER TABLE messages ADD COLUMN deleted BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE messages ADD COLUMN reply_to BIGINT;
ALTER TABLE messages ADD COLUMN reply_user TEXT;
ALTER TABLE messages ADD COLUMN reply_text TEXT;
ALTER TABLE rooms ADD COLUMN last_rev BIGINT NOT NULL DEFAULT 0;

CREATE TABLE reactions (
    room_id  BIGINT NOT NULL,
    msg_id   BIGINT NOT NULL,
    emoji    TEXT   NOT NULL,
    identity TEXT   NOT NULL,
    "user"   TEXT   NOT NULL,
    rev      BIGINT NOT NULL,
    PRIMARY KEY (room_id, msg_id, emoji, identity)
);

CREATE TABLE changes (
    room_id BIGINT   NOT NULL,
    rev     BIGINT   NOT NULL,
    msg_id  BIGINT   NOT NULL,
    at_id   BIGINT   NOT NULL,
    kind    SMALLINT NOT NULL,
    emoji   TEXT     NOT NULL,
    "user"  TEXT     NOT NULL,
    count   INTEGER  NOT NULL,
    PRIMARY KEY (room_id, rev)
);
CREATE INDEX changes_by_at ON changes (room_id, at_id);
