-- Fleets, game session queues, and what runs on them: server processes,
-- game sessions and player sessions (GameLift's shapes, reference/aws-flow.md
-- §5.5-5.6 and §6).
--
-- Who writes what:
--   rally-admin       fleets and queues, from config/fleets and config/queues;
--   fleet-api         processes (ProcessReady, heartbeat, ProcessEnding), game
--                     session activation, player session accept and remove;
--   rally-matchmaker  game sessions (placement) and player sessions (RESERVED
--                     once the game session is ACTIVE);
--   rally-sweeper     fleet.expire(): what lost its heartbeat or its
--                     reservation, made visible. Nothing depends on it for
--                     correctness: placement reads heartbeats and accept reads
--                     reservation deadlines directly.

CREATE SCHEMA fleet;

CREATE TABLE fleet.fleets (
    fleet_id                     text PRIMARY KEY,
    locations                    text[] NOT NULL,
    activation_timeout_seconds   integer NOT NULL,  -- GameSessionActivationTimeoutSeconds
    reservation_timeout_seconds  integer NOT NULL,  -- player sessions RESERVED at most this long
    heartbeat_timeout_seconds    integer NOT NULL,  -- a process silent this long gets no placement
    body                         jsonb NOT NULL,
    updated_at                   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE fleet.queues (
    name        text PRIMARY KEY,
    body        jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE fleet.processes (
    process_id       text PRIMARY KEY,
    fleet_id         text NOT NULL,
    location         text NOT NULL,
    ip_address       text NOT NULL,
    dns_name         text,
    port             integer NOT NULL,
    max_players      integer NOT NULL,
    status           text NOT NULL DEFAULT 'ACTIVE',  -- ACTIVE | TERMINATED
    status_reason    text,   -- PROCESS_ENDING | HEARTBEAT_LOST | ACTIVATION_TIMEOUT
    game_session_id  text,   -- the game session it hosts now
    last_heartbeat   timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    ended_at         timestamptz
);
CREATE INDEX processes_idle ON fleet.processes (fleet_id, location)
    WHERE status = 'ACTIVE' AND game_session_id IS NULL;

CREATE TABLE fleet.game_sessions (
    game_session_id     text PRIMARY KEY,   -- gsess-<uuid>
    game_session_arn    text NOT NULL,      -- arn:aws:gamelift:<region>::gamesession/<fleet>/<location>/<id>
    fleet_id            text NOT NULL,
    location            text NOT NULL,
    process_id          text NOT NULL,
    match_id            text,
    status              text NOT NULL DEFAULT 'ACTIVATING',  -- ACTIVATING | ACTIVE | TERMINATED
    status_reason       text,   -- TRIGGERED_ON_PROCESS_TERMINATE | INTERRUPTED | ACTIVATION_TIMEOUT
    ip_address          text NOT NULL,
    dns_name            text,
    port                integer NOT NULL,
    maximum_players     integer NOT NULL,
    game_properties     jsonb NOT NULL DEFAULT '[]',
    game_session_data   text,
    matchmaker_data     text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    activated_at        timestamptz,
    ended_at            timestamptz
);
CREATE INDEX game_sessions_process ON fleet.game_sessions (process_id);

CREATE TABLE fleet.player_sessions (
    player_session_id  text PRIMARY KEY,   -- psess-<uuid>
    game_session_id    text NOT NULL REFERENCES fleet.game_sessions ON DELETE CASCADE,
    player_id          text NOT NULL,
    status             text NOT NULL DEFAULT 'RESERVED',  -- RESERVED | ACTIVE | COMPLETED | TIMEDOUT
    reserved_until     timestamptz NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    activated_at       timestamptz,
    ended_at           timestamptz
);
CREATE INDEX player_sessions_game ON fleet.player_sessions (game_session_id);
CREATE INDEX player_sessions_reserved ON fleet.player_sessions (reserved_until)
    WHERE status = 'RESERVED';

-- Placement state of a match (WITH_QUEUE): when it started, and the game
-- session it waits on.
ALTER TABLE matchmaking.matches
    ADD COLUMN placement_started_at timestamptz,
    ADD COLUMN game_session_id text;

-- Functions (applied after the migrations, README "SQL layout"): the fleet.* functions and
-- the trigger processes_ready: sql/functions/fleet.sql; backend.event_supersedes:
-- sql/functions/backend.sql.
