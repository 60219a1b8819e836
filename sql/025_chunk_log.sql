-- A chunk's blocks packed in one row (docs/worlds.md, "Blocks"): the log of
-- what was written to it, 16 bytes a block (x, y, z, w as big-endian int4),
-- appended by each batch; a reader takes the last value of each block and
-- leaves out air, in world-state. Once it holds more than world.write_blocks'
-- threshold, the batch that crossed it rewrites it as the chunk's solid
-- blocks. So any read of a chunk costs one row of at most 64 KB, whether or
-- not the chunk changed since it was last read; the block rows stay for
-- reads of what changed since a version. It replaces the text cache of
-- sql/023 (solid), which only the first read after a change could fill.

ALTER TABLE world.chunks
    ADD COLUMN log          bytea NOT NULL DEFAULT '',
    ADD COLUMN log_records  integer NOT NULL DEFAULT 0;
-- Rewritten whole at each append: kept out of line, uncompressed (a block
-- log barely compresses, and compressing costs each write).
ALTER TABLE world.chunks ALTER COLUMN log SET STORAGE EXTERNAL;

UPDATE world.chunks c
    SET log = s.log, log_records = s.n
    FROM (SELECT b.world_key, b.p, b.q, count(*)::integer AS n,
                 string_agg(int4send(b.x) || int4send(b.y::integer) || int4send(b.z) || int4send(b.w),
                            ''::bytea ORDER BY b.x, b.y, b.z) AS log
          FROM world.blocks b WHERE b.w <> 0 GROUP BY b.world_key, b.p, b.q) s
    WHERE c.world_key = s.world_key AND c.p = s.p AND c.q = s.q;

ALTER TABLE world.chunks DROP COLUMN solid;
