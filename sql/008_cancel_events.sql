-- StopMatchmaking is announced by the matchmaker: the tick publishes
-- MatchmakingCancelled ("Cancelled by request.") once for each ticket
-- stop_matchmaking cancelled. Tickets the matchmaker cancels itself (a
-- failed acceptance) are announced when they are cancelled.

ALTER TABLE matchmaking.tickets ADD COLUMN cancel_announced boolean NOT NULL DEFAULT false;
CREATE INDEX tickets_cancel_unannounced ON matchmaking.tickets (configuration_name)
    WHERE status = 'CANCELLED' AND NOT cancel_announced;
