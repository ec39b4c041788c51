-- Version 3: full-text search (`store::search`), an index on the text's
-- words ('simple': lower-cased, no stemming, any language).
CREATE INDEX messages_search ON messages USING GIN (to_tsvector('simple', text));
