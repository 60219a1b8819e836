-- A new ticket writes two index entries fewer (docs/bench.md, issue 16).
--
-- Every read of backend.ticket_players by player either asks for the
-- player's active ticket, which the partial unique index
-- ticket_players_one_active answers, or names the ticket too, which the
-- primary key (ticket_id, player_id) answers: ticket_players_player was
-- only ever written.
DROP INDEX backend.ticket_players_player;

-- matchmaking.tickets had two indexes of the tickets in play: one by
-- configuration and creation (the matchmaker's waiting tickets) and one by
-- configuration and status (state-metrics' gauges, sql/028). One index by
-- configuration, status and creation answers both: the matchmaker always
-- names the status it wants (QUEUED to search, SEARCHING for its pool in
-- creation order, both to expire), and the gauges count by configuration and
-- status.
DROP INDEX matchmaking.tickets_waiting;
DROP INDEX matchmaking.tickets_active;
CREATE INDEX tickets_active ON matchmaking.tickets (configuration_name, status, created_at)
    WHERE status IN ('QUEUED', 'SEARCHING', 'REQUIRES_ACCEPTANCE', 'PLACING');
