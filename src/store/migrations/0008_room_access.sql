-- Version 8 (protocol 1.2 section 2, `store::access`): who may see a room
-- (`kind`: 0 public, 1 private, 2 a direct message) and each identity's
-- standing in it (`invited`, `member`, `moderator`, `owner`): memberships
-- belong to identities, not connections.
ALTER TABLE rooms ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;

CREATE TABLE room_members (
    room     TEXT    NOT NULL,
    identity TEXT    NOT NULL,
    standing TEXT    NOT NULL,
    since_ms INTEGER NOT NULL,
    PRIMARY KEY (room, identity)
) WITHOUT ROWID;
CREATE INDEX room_members_identity ON room_members (identity);
