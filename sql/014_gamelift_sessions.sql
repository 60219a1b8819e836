-- Game sessions and player sessions as the GameLift service API creates and
-- describes them (functions/gamelift-sessions): persistent worlds made by
-- CreateGameSession rather than by a match, their names, creators and
-- idempotency tokens, who may join (PlayerSessionCreationPolicy) and
-- whether scale-down may end them (ProtectionPolicy), and each player
-- session's PlayerData.
--
-- A game session's API identity is its ARN (GameSessionId in GameLift's
-- shapes): arn:aws:gamelift:<region>::gamesession/<fleet>/<location>/<id
-- string>, the id string being the IdempotencyToken (or the deprecated
-- GameSessionId) when one was given. game_session_id stays rally's own
-- (gsess-<uuid>), as the fleet routes name it.
--
-- Functions (applied after the migrations, README "SQL layout"):
-- fleet.create_game_session, fleet.create_player_sessions,
-- fleet.update_game_session, fleet.terminate_game_session,
-- fleet.player_session_json, and the player_sessions_seats triggers:
-- sql/functions/fleet.sql.

ALTER TABLE fleet.game_sessions
    -- Seats held (player sessions RESERVED or ACTIVE), kept by the
    -- player_sessions_seats triggers: describes and searches read it
    -- instead of counting a page's player sessions one game session at a
    -- time. A reservation past its deadline is counted until its status
    -- says so (the sweeper, or the accept that finds it late).
    ADD COLUMN seats_taken integer NOT NULL DEFAULT 0,
    ADD COLUMN name text,
    ADD COLUMN creator_id text,
    ADD COLUMN idempotency_token text,
    ADD COLUMN player_session_creation_policy text NOT NULL DEFAULT 'ACCEPT_ALL',
    ADD COLUMN protection_policy text NOT NULL DEFAULT 'NoProtection';

CREATE UNIQUE INDEX game_sessions_arn ON fleet.game_sessions (game_session_arn);
CREATE UNIQUE INDEX game_sessions_token ON fleet.game_sessions (fleet_id, idempotency_token)
    WHERE idempotency_token IS NOT NULL;
-- DescribeGameSessions by fleet, a page at a time; a creator's recent ones.
CREATE INDEX game_sessions_fleet ON fleet.game_sessions (fleet_id, game_session_arn);
CREATE INDEX game_sessions_creator ON fleet.game_sessions (fleet_id, creator_id, created_at)
    WHERE creator_id IS NOT NULL;

UPDATE fleet.game_sessions g SET seats_taken = s.n
    FROM (SELECT game_session_id, count(*)::integer AS n FROM fleet.player_sessions
          WHERE status IN ('RESERVED', 'ACTIVE') GROUP BY game_session_id) s
    WHERE g.game_session_id = s.game_session_id;

ALTER TABLE fleet.player_sessions ADD COLUMN player_data text;
CREATE INDEX player_sessions_player ON fleet.player_sessions (player_id, player_session_id);
