-- A new ticket writes one index entry fewer (docs/bench.md, issue 16).
-- Every read of backend.ticket_players by player either asks for the
-- player's active ticket, which the partial unique index
-- ticket_players_one_active answers, or names the ticket too, which the
-- primary key (ticket_id, player_id) answers: ticket_players_player was
-- only ever written.
DROP INDEX backend.ticket_players_player;
