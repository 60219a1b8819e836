-- Match backfill (StartMatchBackfill): a ticket holding the players already
-- in a running game session, each on its team, that the matchmaker
-- completes with new players (matchmaker/daemon/matcher.c, placement.c).
--
-- A backfill ticket is a matchmaking ticket with the game session it fills;
-- a match that holds one records it, and is placed on that game session
-- rather than on a new one: its new players get seats there and the game
-- session's MatchmakerData names everyone.
--
-- Functions (applied after the migrations, README "SQL layout"):
-- matchmaking.start_backfill, matchmaking.auto_backfill:
-- sql/functions/matchmaking.sql.

ALTER TABLE matchmaking.tickets ADD COLUMN game_session_id text;
ALTER TABLE matchmaking.matches ADD COLUMN backfill_ticket_id text;
-- One backfill request at a time per game session: a new one replaces it.
CREATE INDEX tickets_backfill ON matchmaking.tickets (game_session_id)
    WHERE game_session_id IS NOT NULL;
-- The matches a game session was formed and backfilled by: who its players
-- are (matchmaking.auto_backfill).
CREATE INDEX matches_game_session ON matchmaking.matches (game_session_id)
    WHERE game_session_id IS NOT NULL;
