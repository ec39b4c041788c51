-- The PostgreSQL store's schema, version 2: what several nodes share besides
-- messages. Each node keeps its own rows here (see cluster.rs) and tells the
-- others of every change on the channel `chat_cluster`; these tables are
-- what a node reads when it (re)starts listening.

-- Each node's lease: `seen` is renewed every third of the lease (the
-- database's clock, so the nodes' clocks do not matter). A node whose
-- lease ran out is removed, with its sessions, by the first other node to
-- see it.
CREATE TABLE cluster_nodes (
    id   TEXT        PRIMARY KEY,
    seen TIMESTAMPTZ NOT NULL
);

-- Each node's welcomed connections and the identities they hold.
CREATE TABLE cluster_sessions (
    node       TEXT   NOT NULL,
    conn       BIGINT NOT NULL,
    identity   TEXT   NOT NULL,
    token_hash BYTEA  NOT NULL,
    name       TEXT   NOT NULL,
    seen_ms    BIGINT NOT NULL,
    PRIMARY KEY (node, conn)
);

-- The rooms those connections joined.
CREATE TABLE cluster_members (
    node TEXT   NOT NULL,
    conn BIGINT NOT NULL,
    room TEXT   NOT NULL,
    PRIMARY KEY (node, conn, room)
);

-- Who holds each name key (see hub/names.rs), so that two nodes cannot give
-- one free name to two identities at the same moment: a claim inserts the
-- keys, and takes a key over only from an identity of its own, or from one
-- past its lease and held by no session. A claim moving an identity to a
-- new name drops its other keys.
CREATE TABLE name_keys (
    key      TEXT   PRIMARY KEY,
    identity TEXT   NOT NULL,
    seen_ms  BIGINT NOT NULL
);
