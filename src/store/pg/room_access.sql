-- Version 7 (protocol 1.2 section 2, `store::access`): who may see a room
-- (`kind`: 0 public, 1 private, 2 a direct message) and each identity's
-- standing in it (`invited`, `member`, `moderator`, `owner`): memberships
-- belong to identities, not connections, and every node reads them here.
ALTER TABLE rooms ADD COLUMN kind SMALLINT NOT NULL DEFAULT 0;

CREATE TABLE room_members (
    room     TEXT    NOT NULL,
    identity TEXT    NOT NULL,
    standing TEXT    NOT NULL,
    since_ms BIGINT  NOT NULL,
    PRIMARY KEY (room, identity)
);
CREATE INDEX room_members_identity ON room_members (identity);
