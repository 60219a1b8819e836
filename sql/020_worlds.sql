-- World state (issue 13, docs/worlds.md): persistent worlds that game
-- servers save to and restore from. This first step holds the block store
-- of the MMO seed: chunks of 32x32 columns keyed (p, q), blocks (x, y, z)
-- -> w with 0 <= y < 256 and w = 0 for air, a version per chunk so that a
-- server can ask what changed since its last read.
--
-- A world is written by the game servers of the fleet whose running game
-- session hosts it, and by backend principals.
--
-- Functions (applied after the migrations, README "SQL layout"):
-- sql/functions/world.sql.

CREATE SCHEMA world;

CREATE TABLE world.worlds (
    world_key        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- what its rows carry
    world_id         text NOT NULL UNIQUE,        -- [A-Za-z0-9-_.]{1,128}
    game_session_id  text,                        -- the game session hosting it (fleet.game_sessions)
    created_at       timestamptz NOT NULL DEFAULT now(),
    hosted_at        timestamptz
);

-- A chunk's version grows with each batch that changes it; a block carries
-- the version that last changed it. Clearing a chunk deletes its blocks and
-- remembers the version it happened at: a reader behind it starts over.
CREATE TABLE world.chunks (
    world_key        bigint NOT NULL REFERENCES world.worlds ON DELETE CASCADE,
    p                integer NOT NULL,
    q                integer NOT NULL,
    version          bigint NOT NULL,
    cleared_version  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (world_key, p, q)
);

CREATE TABLE world.blocks (
    world_key  bigint NOT NULL,
    p          integer NOT NULL,
    q          integer NOT NULL,
    x          integer NOT NULL,   -- world coordinates: p = floor(x / 32), q = floor(z / 32)
    y          smallint NOT NULL,
    z          integer NOT NULL,
    w          integer NOT NULL,   -- 0: air (a removed block stays, as air, for readers since)
    version    bigint NOT NULL,
    PRIMARY KEY (world_key, p, q, x, y, z),
    FOREIGN KEY (world_key, p, q) REFERENCES world.chunks ON DELETE CASCADE
) WITH (fillfactor = 90);
