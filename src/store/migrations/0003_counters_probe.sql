-- Each room keeps the id of its newest message itself, so that removing old
-- messages (CHAT_RETENTION_DAYS) never lets an id be given out again. The
-- group-commit writer advances it in the transaction that inserts.
ALTER TABLE rooms ADD COLUMN last_id INTEGER NOT NULL DEFAULT 0;
UPDATE rooms SET last_id = COALESCE((SELECT MAX(id) FROM messages m WHERE m.room_id = rooms.id), 0);

-- One row the health check rewrites: proof that a write commits.
CREATE TABLE probe (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    at_ms INTEGER NOT NULL
);
