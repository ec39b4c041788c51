-- Bounded search (`store::search`): every message gets `seq`, its place in
-- the order messages were stored in (across rooms), and the full-text
-- index is keyed by it. A search then reads the index newest first and
-- stops at its page (`ORDER BY rowid DESC LIMIT n` is native to FTS5),
-- instead of collecting and sorting every match: on 1,000,000 messages a
-- word every message has took seconds, now a page of it takes
-- milliseconds (README, Benchmarks). Existing messages are numbered in
-- the order of their time.
ALTER TABLE messages ADD COLUMN seq INTEGER;
UPDATE messages SET seq = o.n
  FROM (SELECT room_id AS r, id AS i, row_number() OVER (ORDER BY ts, room_id, id) AS n FROM messages) AS o
  WHERE messages.room_id = o.r AND messages.id = o.i;
CREATE UNIQUE INDEX messages_by_seq ON messages (seq);

DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TABLE messages_fts;
CREATE VIRTUAL TABLE messages_fts USING fts5(text, content='', contentless_delete=1, detail=none);
INSERT INTO messages_fts (rowid, text) SELECT seq, text FROM messages;
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.seq, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    DELETE FROM messages_fts WHERE rowid = old.seq;
END;
