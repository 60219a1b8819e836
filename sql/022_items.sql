-- World items (issue 13, docs/worlds.md "Items"): per world, keys with a
-- JSON or binary value of any size (no 400 KB limit: PostgreSQL stores a
-- large value out of line, in pieces, and reads it back whole), a version
-- per key for conditional writes.
--
-- Functions (applied after the migrations): sql/functions/world.sql.

CREATE TABLE world.items (
    world_key   bigint NOT NULL REFERENCES world.worlds ON DELETE CASCADE,
    key         text NOT NULL COLLATE "C",   -- byte order: prefix reads page in it
    version     bigint NOT NULL,             -- 1 when made, one more each write
    kind        text NOT NULL,               -- json | binary
    value       bytea NOT NULL,              -- json: its UTF-8 text
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (world_key, key)
);
