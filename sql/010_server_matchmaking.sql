-- Matchmaking for trusted backends (server scope, GameLift's request shapes):
-- StartMatchmaking for a party of 1-10 players with their attributes,
-- StopMatchmaking and AcceptMatch on any ticket.

-- The matchmaker's EstimatedWaitTime reads a configuration's latest matches.
CREATE INDEX matches_recent ON matchmaking.matches (configuration_name, created_at);

-- Functions (applied after the migrations, README "SQL layout"): matchmaking.start_party,
-- stop_matchmaking and accept_match_players: sql/functions/matchmaking.sql.
