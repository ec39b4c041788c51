-- Version 12 (a person's own data, `store::personal`): as SQLite's
-- migration 12.
CREATE INDEX messages_by_author ON messages (author, room_id, id) WHERE author IS NOT NULL;
CREATE INDEX reactions_by_identity ON reactions (identity, room_id, msg_id);
