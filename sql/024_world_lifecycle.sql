-- World lifecycle (issue 13, docs/worlds.md "Lifecycle"): a world is a game
-- session plus its state. A world with a fleet is started on it when a
-- player joins (world.join), ended when idle for idle_seconds (world.tend:
-- TerminateGameSession, the server saves and ends), and started again when
-- its game session ended without being asked to (a crash).

ALTER TABLE world.worlds
    ADD COLUMN fleet_id         text,             -- where its game sessions run (NULL: storage only)
    ADD COLUMN location         text,             -- NULL: the fleet's first
    ADD COLUMN max_players      integer NOT NULL DEFAULT 10
        CHECK (max_players BETWEEN 1 AND 200),
    ADD COLUMN idle_seconds     integer CHECK (idle_seconds BETWEEN 1 AND 604800), -- NULL: never idle
    ADD COLUMN game_properties  jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN sessions         integer NOT NULL DEFAULT 0,  -- game sessions started for it
    ADD COLUMN running          boolean NOT NULL DEFAULT false, -- wanted up: started, not asked to end
    ADD COLUMN crashes          integer NOT NULL DEFAULT 0,  -- quick ends in a row (restart backoff)
    ADD COLUMN restart_at       timestamptz;      -- not restarted before (after a crash)

-- world.tend's scan: the worlds that may need it.
CREATE INDEX worlds_tended ON world.worlds (world_key) WHERE fleet_id IS NOT NULL;

-- TerminateGameSession asked for this game session to end (either mode): a
-- world whose game session ended so is not started again by itself.
ALTER TABLE fleet.game_sessions ADD COLUMN ending_asked boolean NOT NULL DEFAULT false;
