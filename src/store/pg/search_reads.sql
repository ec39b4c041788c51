-- Version 3: full-text search (`store::search`), an index on the text's
-- words ('simple': lower-cased, no stemming, any language) ...
CREATE INDEX messages_search ON messages USING GIN (to_tsvector('simple', text));

-- ... and where each identity stopped reading each room (`read`,
-- extension): the newest id it has seen there, only ever raised.
CREATE TABLE read_marks (
    identity  TEXT   NOT NULL,
    room_id   BIGINT NOT NULL,
    last_read BIGINT NOT NULL,
    PRIMARY KEY (identity, room_id)
);
