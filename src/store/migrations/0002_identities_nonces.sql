-- Protocol 1.1: identities own their names, and a send is posted once.

-- Identities, by public id. Only a hash of each token is kept.
CREATE TABLE identities (
    id         TEXT    PRIMARY KEY,
    token_hash BLOB    NOT NULL UNIQUE,
    name       TEXT    NOT NULL,
    seen_ms    INTEGER NOT NULL
) WITHOUT ROWID;

-- Who posted each message (an identity id; NULL before 1.1) and its nonce.
ALTER TABLE messages ADD COLUMN author TEXT;
ALTER TABLE messages ADD COLUMN nonce TEXT;

-- A resend is found by (room, author, nonce); only messages with a nonce are indexed.
CREATE INDEX messages_by_nonce ON messages (room_id, author, nonce) WHERE nonce IS NOT NULL;
