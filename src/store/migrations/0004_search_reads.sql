-- Full-text search (FTS5, `store::search`): an index only (`content=''`,
-- nothing stored twice), its rowid made from the message's key
-- (room_id * 2^32 + id; ids in a room stay far below 2^32). Triggers keep
-- it in step with every insert and delete (retention, room removal).
-- `detail=none`: rowids only, no positions (queries are words and
-- prefixes, never phrases); a smaller index, and 3-10 % faster stores
-- (`make bench`'s 10- and 100-member scenarios, two runs each).
CREATE VIRTUAL TABLE messages_fts USING fts5(text, content='', contentless_delete=1, detail=none);
INSERT INTO messages_fts (rowid, text) SELECT room_id * 4294967296 + id, text FROM messages;
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.room_id * 4294967296 + new.id, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    DELETE FROM messages_fts WHERE rowid = old.room_id * 4294967296 + old.id;
END;

-- Where each identity stopped reading each room (`read`, extension): the
-- newest id it has seen there. Only raised, never lowered.
CREATE TABLE read_marks (
    identity  TEXT    NOT NULL,
    room_id   INTEGER NOT NULL,
    last_read INTEGER NOT NULL,
    PRIMARY KEY (identity, room_id)
) WITHOUT ROWID;
