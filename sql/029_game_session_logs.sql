-- Game-session logs (issue 15, docs/observability.md "Game-session logs"):
-- what a game-server process wrote to stdout and stderr while it hosted a
-- game session, as its agent sends it (the last bytes when there were more
-- than the agent keeps), kept RALLY_GAME_SESSION_LOG_DAYS (14) days as
-- GameLift keeps them, and read back through GetGameSessionLogUrl's URL or
-- an operator's token.
CREATE TABLE fleet.game_session_logs (
    game_session_id text PRIMARY KEY REFERENCES fleet.game_sessions ON DELETE CASCADE,
    fleet_id text NOT NULL,
    process_id text NOT NULL,
    log bytea NOT NULL,
    truncated boolean NOT NULL DEFAULT false, -- the log's head was cut: the tail is kept
    uploaded_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX game_session_logs_expiry ON fleet.game_session_logs (expires_at);
