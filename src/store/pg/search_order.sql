-- Version 4: bounded search (`store::search`). Every message gets `seq`,
-- its place in the order messages were stored in (across rooms and
-- nodes), indexed, and results are ordered by it: the planner can then
-- walk the newest messages and stop at a page instead of sorting every
-- match of a common word; the GIN index still serves rare ones. Each
-- search also runs under a statement timeout (`Search::budget`).
ALTER TABLE messages ADD COLUMN seq BIGSERIAL;
CREATE UNIQUE INDEX messages_by_seq ON messages (seq);
