-- Game session placements: GameLift's StartGameSessionPlacement, a request
-- for a new game session from a game session queue, with seats for a group
-- of players and no matchmaking (functions/gamelift-placement).
--
-- Who writes what:
--   gamelift-placement  a placement (PENDING); its cancellation
--                       (StopGameSessionPlacement);
--   rally-matchmaker    its game session, opened on an idle process the
--                       queue chose (matchmaker/daemon/group_placement.c),
--                       and its end: FULFILLED once that game session is
--                       ACTIVE (seats reserved for DesiredPlayerSessions),
--                       TIMED_OUT after the queue's TimeoutInSeconds, FAILED
--                       when its queue is gone.
-- Each end is a queue placement event to the queue's NotificationTarget
-- (reference/gamelift-api.md §6), written in the same transaction.
--
-- A placement id is never reused (GameLift's rule), so rows are kept.
--
-- Functions (applied after the migrations, README "SQL layout"):
-- fleet.start_placement, fleet.stop_placement, fleet.fulfil_placement,
-- fleet.end_placement, fleet.placement_json, fleet.placement_event:
-- sql/functions/fleet.sql.

CREATE TABLE fleet.placements (
    placement_id        text PRIMARY KEY,
    queue_name          text NOT NULL,
    status              text NOT NULL DEFAULT 'PENDING',  -- PENDING | FULFILLED | CANCELLED | TIMED_OUT | FAILED
    maximum_players     integer NOT NULL,
    game_session_name   text,
    game_properties     jsonb NOT NULL DEFAULT '[]',
    game_session_data   text,
    player_latencies    jsonb NOT NULL DEFAULT '[]',      -- [PlayerLatency]
    desired_players     jsonb NOT NULL DEFAULT '[]',      -- [DesiredPlayerSession]
    priority_override   jsonb,                            -- PriorityConfigurationOverride
    game_session_id     text,       -- the game session opened for it, while PENDING and once FULFILLED
    -- Final once FULFILLED: where the players connect, and their seats.
    game_session_arn    text,
    location            text,
    ip_address          text,
    dns_name            text,
    port                integer,
    placed_players      jsonb,                            -- [PlacedPlayerSession]
    start_time          timestamptz NOT NULL DEFAULT now(),
    end_time            timestamptz
);
-- What the matchmaker works on, queue by queue, oldest first.
CREATE INDEX placements_pending ON fleet.placements (queue_name, start_time)
    WHERE status = 'PENDING';
