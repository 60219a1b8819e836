-- Player acceptance of proposed matches (AcceptanceRequired), and delivery
-- in publication order.
--
-- Acceptances are recorded by AcceptMatch (matchmaking.accept_match) in
-- backend.ticket_players.accepted; the leading matchmaker reads them on its
-- tick (woken by NOTIFY rally_acceptance) and decides the match: all
-- accepted, someone rejected, or the deadline passed.

ALTER TABLE matchmaking.matches
    ADD COLUMN acceptance_deadline timestamptz,
    ADD COLUMN acceptance_reported jsonb NOT NULL DEFAULT '{}';  -- the last AcceptMatch event's view

-- Events of one transaction share now(): seq keeps the order they were
-- published in, which is the order their deliveries are first tried in.
ALTER TABLE events.outbox ADD COLUMN seq bigserial;
