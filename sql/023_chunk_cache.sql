-- A chunk's solid blocks, as the read answers them, kept with the chunk
-- once read (docs/worlds.md, "Blocks"): the seed's "fast reads and lazy
-- writes". A write that changes the chunk empties it; the next full read
-- fills it again. So a chunk many players read between changes costs one
-- row, not its 2,000 block rows.
ALTER TABLE world.chunks ADD COLUMN solid text;   -- JSON [[x, y, z, w], ...]; NULL: not known
