-- The PostgreSQL store's schema, version 10: fallback sessions (protocol 1.2
-- section 6) by the node holding their stream, and the POSTs another node
-- got for them, on their way there (see handoff.rs).

-- Each fallback session of each node, by the sha256 of its id (the id itself
-- is only ever held by its client). A session's row goes when the session
-- ends, and with its node when the node leaves or its lease runs out.
CREATE TABLE live_sessions (
    hash BYTEA PRIMARY KEY,
    node TEXT  NOT NULL
);
CREATE INDEX live_sessions_by_node ON live_sessions (node);

-- A POST that reached a node not holding its session: `node` holds it,
-- `origin` got it and waits for the answer. `id` is the origin's random
-- ticket. The holder takes the row (deletes it) before applying it; the
-- origin deletes it when it stops waiting.
CREATE TABLE live_posts (
    id     BIGINT PRIMARY KEY,
    node   TEXT    NOT NULL,
    origin TEXT    NOT NULL,
    hash   BYTEA   NOT NULL,
    seq    BIGINT  NOT NULL,
    ends   BOOLEAN NOT NULL,
    body   BYTEA   NOT NULL
);
CREATE INDEX live_posts_by_node ON live_posts (node);
