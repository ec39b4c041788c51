-- Migration 12 (a person's own data, `store::personal`): a person's
-- messages and reactions found without a walk over every room's, so the
-- archive's pages and an account's deletion cost what that person wrote.
CREATE INDEX messages_by_author ON messages (author, room_id, id) WHERE author IS NOT NULL;
CREATE INDEX reactions_by_identity ON reactions (identity, room_id, msg_id);
