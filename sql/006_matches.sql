-- Matches formed by rally-matchmaker, and the ticket pool's link to them.
--
-- The matchmaker leading a configuration (a session advisory lock per
-- configuration: one leader, the others stand by) changes tickets and writes
-- their events (events.publish) in one transaction per tick, so a crash
-- loses nothing and repeats nothing.

CREATE TABLE matchmaking.matches (
    match_id            text PRIMARY KEY,
    configuration_name  text NOT NULL,
    status              text NOT NULL,   -- REQUIRES_ACCEPTANCE | PLACING | COMPLETED
    ticket_ids          text[] NOT NULL,
    teams               jsonb NOT NULL,  -- {"<PlayerId>": "<team>"}
    location            text,            -- the location the latency rules chose
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE matchmaking.tickets ADD COLUMN match_id text;
