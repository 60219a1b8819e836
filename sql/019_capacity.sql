-- Per-location capacity of a fleet (config/fleets/ Locations' MinSize,
-- MaxSize, DesiredInstances; GameLift's UpdateFleetCapacity and
-- DescribeFleetCapacity; docs/agent.md "Capacity"). rally's unit of
-- capacity is the server process: its hosts are fixed, and their agents
-- run as many of the fleet's processes as the location's desired count
-- gives each. A location without a row is not sized: its agents run the
-- whole RuntimeConfiguration.
--
-- Functions (applied after the migrations, README "SQL layout"):
-- fleet.configure_capacity, fleet.update_capacity, fleet.scale_location,
-- fleet.compute_share: sql/functions/fleet.sql.

CREATE TABLE fleet.location_capacity (
    fleet_id    text NOT NULL,
    location    text NOT NULL,
    minimum     integer NOT NULL,
    maximum     integer NOT NULL,
    desired     integer NOT NULL,
    configured  jsonb,   -- config/'s values as last loaded: a reload changes only what config/ changed
    changed_at  timestamptz NOT NULL DEFAULT now(),   -- desired last changed: scaling in waits a minute
    PRIMARY KEY (fleet_id, location),
    CHECK (0 <= minimum AND minimum <= desired AND desired <= maximum)
);

-- A compute is live while its agent reports (POST /v1/fleet/computes, every
-- few seconds): a location's processes are split among its live computes.
ALTER TABLE fleet.computes ADD COLUMN last_seen timestamptz NOT NULL DEFAULT now();

-- MaxConcurrentGameSessionActivations counts a compute's game sessions
-- still ACTIVATING (fleet.activation_room): few at any time.
CREATE INDEX game_sessions_activating ON fleet.game_sessions (process_id)
    WHERE status = 'ACTIVATING';
