-- World saves (issue 13, docs/worlds.md "Saves"): a world's snapshot blobs
-- of any size, uploaded in parts (each one row), SHA-256 checked when the
-- save is completed, and kept up to the world's retention count.
--
-- Functions (applied after the migrations): sql/functions/world.sql.

ALTER TABLE world.worlds ADD COLUMN save_retention integer NOT NULL DEFAULT 5
    CHECK (save_retention BETWEEN 1 AND 1000);

CREATE TABLE world.saves (
    world_key     bigint NOT NULL REFERENCES world.worlds ON DELETE CASCADE,
    version       integer NOT NULL,                     -- 1, 2, ... a world
    status        text NOT NULL DEFAULT 'UPLOADING',    -- UPLOADING | COMPLETE
    parts         integer,                              -- once COMPLETE
    size          bigint,
    sha256        text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    PRIMARY KEY (world_key, version)
);

-- A part is stored as it came: saves are mostly compressed already, so
-- PostgreSQL's compression would cost time for nothing (EXTERNAL: out of
-- line, uncompressed).
CREATE TABLE world.save_parts (
    world_key  bigint NOT NULL,
    version    integer NOT NULL,
    part       integer NOT NULL,
    data       bytea NOT NULL,
    PRIMARY KEY (world_key, version, part),
    FOREIGN KEY (world_key, version) REFERENCES world.saves ON DELETE CASCADE
);
ALTER TABLE world.save_parts ALTER COLUMN data SET STORAGE EXTERNAL;
