-- A chunk's blocks packed in a few rows (docs/worlds.md, "Blocks"): its log,
-- what was written to it, 16 bytes a block (x, y, z, w as big-endian int4).
-- Each batch adds one part per chunk it touches, numbered by the version it
-- gave the chunk; a reader takes the parts in order, the last value of each
-- block, air left out (in world-state). Once a chunk has more than
-- world.write_blocks' limit of parts, or of bytes, the batch that crossed it
-- replaces them with one: the chunk's solid blocks. So any read of a chunk costs a
-- few rows, whether or not it changed since it was last read, and no write
-- rewrites what an earlier one wrote. The block rows stay for reads of what
-- changed since a version. It replaces the text cache of sql/023 (solid),
-- which only the first read after a change could fill.

CREATE TABLE world.chunk_log (
    world_key  bigint NOT NULL,
    p          integer NOT NULL,
    q          integer NOT NULL,
    version    bigint NOT NULL,   -- the chunk's version its batch made (a rewrite: as of)
    log        bytea NOT NULL,
    PRIMARY KEY (world_key, p, q, version),
    FOREIGN KEY (world_key, p, q) REFERENCES world.chunks ON DELETE CASCADE
);
-- A block log barely compresses, and compressing costs each write.
ALTER TABLE world.chunk_log ALTER COLUMN log SET STORAGE EXTERNAL;

ALTER TABLE world.chunks
    ADD COLUMN log_parts  integer NOT NULL DEFAULT 0,  -- rows in chunk_log
    ADD COLUMN log_bytes  bigint NOT NULL DEFAULT 0,   -- their bytes
    ADD COLUMN log_base   bigint NOT NULL DEFAULT 0;   -- the bytes of the last rewrite

INSERT INTO world.chunk_log (world_key, p, q, version, log)
    SELECT c.world_key, c.p, c.q, c.version, s.log
    FROM world.chunks c
    JOIN (SELECT b.world_key, b.p, b.q,
                 string_agg(int4send(b.x) || int4send(b.y::integer) || int4send(b.z) || int4send(b.w),
                            ''::bytea ORDER BY b.x, b.y, b.z) AS log
          FROM world.blocks b WHERE b.w <> 0 GROUP BY b.world_key, b.p, b.q) s
        ON s.world_key = c.world_key AND s.p = c.p AND s.q = c.q;
UPDATE world.chunks c SET log_parts = 1, log_bytes = length(l.log), log_base = length(l.log)
    FROM world.chunk_log l
    WHERE l.world_key = c.world_key AND l.p = c.p AND l.q = c.q;

ALTER TABLE world.chunks DROP COLUMN solid;
