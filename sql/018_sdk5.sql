-- GameLift's server SDK 5 over rally's WebSocket gateway (gateway/,
-- docs/sdk5.md).
--
-- A compute is a host of a fleet, registered by its agent (or by hand,
-- GameLift's RegisterCompute): an SDK 5 process names only its compute
-- (ComputeId) when it calls ProcessReady, and takes its location and
-- address from there.
--
-- What the gateway told each SDK 5 process is kept with the process, so
-- that every push (CreateGameSession, UpdateGameSession, TerminateProcess)
-- is sent at most once, whichever gateway holds the connection and across
-- a gateway restart: the SDK runs OnStartGameSession again for a second
-- CreateGameSession.
--
-- Functions (applied after the migrations, README "SQL layout"):
-- fleet.register_compute, fleet.process_ready (by compute),
-- fleet.sdk_heartbeats, fleet.sdk_pushes, and the triggers that wake the
-- gateways: sql/functions/fleet.sql.

CREATE TABLE fleet.computes (
    fleet_id       text NOT NULL,
    compute_name   text NOT NULL,
    location       text NOT NULL,
    ip_address     text NOT NULL,
    dns_name       text,
    registered_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (fleet_id, compute_name)
);

ALTER TABLE fleet.processes
    ADD COLUMN sdk text,                 -- "Go 5.6.0": ready through the gateway; NULL: HTTP SDK
    ADD COLUMN sdk_game_session text,    -- CreateGameSession was sent for this game session
    ADD COLUMN sdk_matchmaker_md5 text,  -- of the MatchmakerData the process was last sent
    ADD COLUMN sdk_terminate_sent boolean NOT NULL DEFAULT false;
