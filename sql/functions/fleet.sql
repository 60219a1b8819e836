-- Functions and triggers of the fleet schema: server processes, game
-- sessions and player sessions (sql/009_fleet.sql says who writes what).
--
-- This is the current text of each function, view and trigger of the
-- schema, and the only one (README, "SQL layout"). scripts/migrate.sh
-- applies it after the numbered migrations on every run, in the same
-- transaction, so every statement here must be re-runnable: CREATE OR
-- REPLACE, and a changed signature or result type dropped first under a
-- guard. Table changes go in a new numbered migration, never here.

-- Ends a game session and what it holds: reserved seats time out, taken ones
-- complete.
CREATE OR REPLACE FUNCTION fleet.end_game_session(p_id text, p_reason text) RETURNS void
LANGUAGE sql AS $$
    UPDATE fleet.game_sessions SET status = 'TERMINATED', status_reason = p_reason, ended_at = now()
        WHERE game_session_id = p_id AND status <> 'TERMINATED';
    UPDATE fleet.player_sessions
        SET status = CASE status WHEN 'RESERVED' THEN 'TIMEDOUT' ELSE 'COMPLETED' END,
            ended_at = now()
        WHERE game_session_id = p_id AND status IN ('RESERVED', 'ACTIVE');
$$;

-- ProcessReady: a server process of p_fleet is up in p_location.
CREATE OR REPLACE FUNCTION fleet.process_ready(
    p_process_id text, p_fleet text, p_location text, p_ip text, p_dns text, p_port integer,
    p_max_players integer, OUT outcome text, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    f fleet.fleets%ROWTYPE;
BEGIN
    SELECT * INTO f FROM fleet.fleets WHERE fleet_id = p_fleet;
    IF NOT FOUND THEN
        outcome := 'unknown_fleet';
        detail := p_fleet;
        RETURN;
    END IF;
    IF NOT p_location = ANY (f.locations) THEN
        outcome := 'unknown_location';
        detail := array_to_string(f.locations, ', ');
        RETURN;
    END IF;
    INSERT INTO fleet.processes (process_id, fleet_id, location, ip_address, dns_name, port,
                                 max_players)
        VALUES (p_process_id, p_fleet, p_location, p_ip, p_dns, p_port, p_max_players);
    outcome := 'ready';
    detail := p_process_id;
END;
$$;

-- Heartbeat: the process is alive; answers its state and the game session it
-- should host (ACTIVATING: start it; ACTIVE: it runs).
CREATE OR REPLACE FUNCTION fleet.heartbeat(p_process_id text, p_fleet text,
                                OUT outcome text, OUT game_session jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    p fleet.processes%ROWTYPE;
BEGIN
    UPDATE fleet.processes SET last_heartbeat = now()
        WHERE process_id = p_process_id AND fleet_id = p_fleet AND status = 'ACTIVE'
        RETURNING * INTO p;
    IF NOT FOUND THEN
        SELECT CASE WHEN status = 'TERMINATED' THEN 'terminated' ELSE 'not_found' END
            INTO outcome FROM fleet.processes
            WHERE process_id = p_process_id AND fleet_id = p_fleet;
        outcome := coalesce(outcome, 'not_found');
        RETURN;
    END IF;
    outcome := 'alive';
    SELECT jsonb_build_object(
               'gameSessionId', g.game_session_id, 'gameSessionArn', g.game_session_arn,
               'fleetId', g.fleet_id, 'location', g.location, 'status', g.status,
               'ipAddress', g.ip_address, 'dnsName', g.dns_name, 'port', g.port,
               'maximumPlayerSessionCount', g.maximum_players,
               'gameProperties', g.game_properties, 'gameSessionData', g.game_session_data,
               'matchmakerData', g.matchmaker_data)
        INTO game_session FROM fleet.game_sessions g
        WHERE g.game_session_id = p.game_session_id AND g.status IN ('ACTIVATING', 'ACTIVE');
END;
$$;

-- ProcessEnding: the process stops; its game session ends with it.
CREATE OR REPLACE FUNCTION fleet.process_ending(p_process_id text, p_fleet text, p_reason text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    p fleet.processes%ROWTYPE;
BEGIN
    UPDATE fleet.processes
        SET status = 'TERMINATED', status_reason = p_reason, ended_at = now()
        WHERE process_id = p_process_id AND fleet_id = p_fleet AND status = 'ACTIVE'
        RETURNING * INTO p;
    IF NOT FOUND THEN
        RETURN CASE WHEN EXISTS (SELECT 1 FROM fleet.processes
                                 WHERE process_id = p_process_id AND fleet_id = p_fleet)
                    THEN 'ended' ELSE 'not_found' END;
    END IF;
    IF p.game_session_id IS NOT NULL THEN
        PERFORM fleet.end_game_session(p.game_session_id, 'TRIGGERED_ON_PROCESS_TERMINATE');
        PERFORM pg_notify('rally_placement', p.game_session_id);
    END IF;
    RETURN 'ended';
END;
$$;

-- ActivateGameSession: the process hosting an ACTIVATING game session is
-- ready for players. The matchmaker, woken, reserves their seats.
CREATE OR REPLACE FUNCTION fleet.activate_game_session(p_id text, p_fleet text, OUT outcome text,
                                            OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    g fleet.game_sessions%ROWTYPE;
BEGIN
    SELECT * INTO g FROM fleet.game_sessions
        WHERE game_session_id = p_id AND fleet_id = p_fleet FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    IF g.status = 'ACTIVE' THEN
        outcome := 'activated';   -- a repeated call is answered as the first
        RETURN;
    END IF;
    IF g.status <> 'ACTIVATING' THEN
        outcome := 'conflict';
        detail := g.status;
        RETURN;
    END IF;
    UPDATE fleet.game_sessions SET status = 'ACTIVE', activated_at = now()
        WHERE game_session_id = p_id;
    PERFORM pg_notify('rally_placement', p_id);
    outcome := 'activated';
END;
$$;

-- AcceptPlayerSession: only a RESERVED session of an ACTIVE game session of
-- this fleet, within its reservation, becomes ACTIVE. An expired reservation
-- becomes TIMEDOUT here, as the caller learns of it.
CREATE OR REPLACE FUNCTION fleet.accept_player_session(p_psess text, p_fleet text, p_game_session text,
                                            OUT outcome text, OUT detail text,
                                            OUT player text, OUT game_session text)
LANGUAGE plpgsql AS $$
DECLARE
    ps fleet.player_sessions%ROWTYPE;
    g fleet.game_sessions%ROWTYPE;
BEGIN
    SELECT s.* INTO ps FROM fleet.player_sessions s
        JOIN fleet.game_sessions gs USING (game_session_id)
        WHERE s.player_session_id = p_psess AND gs.fleet_id = p_fleet FOR UPDATE OF s;
    IF NOT FOUND OR (p_game_session IS NOT NULL AND ps.game_session_id <> p_game_session) THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    player := ps.player_id;
    game_session := ps.game_session_id;
    IF ps.status = 'TIMEDOUT' THEN
        outcome := 'expired';
        RETURN;
    END IF;
    IF ps.status <> 'RESERVED' THEN
        outcome := 'not_reserved';
        detail := ps.status;
        RETURN;
    END IF;
    IF ps.reserved_until <= now() THEN
        UPDATE fleet.player_sessions SET status = 'TIMEDOUT', ended_at = now()
            WHERE player_session_id = p_psess;
        outcome := 'expired';
        RETURN;
    END IF;
    SELECT * INTO g FROM fleet.game_sessions WHERE game_session_id = ps.game_session_id;
    IF g.status <> 'ACTIVE' THEN
        outcome := 'game_session_not_active';
        detail := g.status;
        RETURN;
    END IF;
    UPDATE fleet.player_sessions SET status = 'ACTIVE', activated_at = now()
        WHERE player_session_id = p_psess;
    outcome := 'accepted';
END;
$$;

-- RemovePlayerSession: the player left; the seat is free again.
CREATE OR REPLACE FUNCTION fleet.remove_player_session(p_psess text, p_fleet text,
                                            OUT outcome text, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    ps fleet.player_sessions%ROWTYPE;
BEGIN
    SELECT s.* INTO ps FROM fleet.player_sessions s
        JOIN fleet.game_sessions gs USING (game_session_id)
        WHERE s.player_session_id = p_psess AND gs.fleet_id = p_fleet FOR UPDATE OF s;
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    IF ps.status NOT IN ('RESERVED', 'ACTIVE') THEN
        outcome := 'conflict';
        detail := ps.status;
        RETURN;
    END IF;
    UPDATE fleet.player_sessions SET status = 'COMPLETED', ended_at = now()
        WHERE player_session_id = p_psess;
    outcome := 'removed';
END;
$$;

-- What the clock decided, made visible: processes silent past their fleet's
-- heartbeat timeout end (and their game sessions), reservations past their
-- deadline time out. Returns the number of rows changed.
CREATE OR REPLACE FUNCTION fleet.expire() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer := 0;
    k integer;
    p record;
BEGIN
    FOR p IN UPDATE fleet.processes pr
                SET status = 'TERMINATED', status_reason = 'HEARTBEAT_LOST', ended_at = now()
                FROM fleet.fleets f
                WHERE f.fleet_id = pr.fleet_id AND pr.status = 'ACTIVE'
                  AND pr.last_heartbeat <= now() - f.heartbeat_timeout_seconds * interval '1 second'
                RETURNING pr.process_id, pr.game_session_id
    LOOP
        n := n + 1;
        IF p.game_session_id IS NOT NULL THEN
            PERFORM fleet.end_game_session(p.game_session_id, 'INTERRUPTED');
            PERFORM pg_notify('rally_placement', p.game_session_id);
        END IF;
    END LOOP;
    UPDATE fleet.player_sessions SET status = 'TIMEDOUT', ended_at = now()
        WHERE status = 'RESERVED' AND reserved_until <= now();
    GET DIAGNOSTICS k = ROW_COUNT;
    RETURN n + k;
END;
$$;

-- A new process can take a match waiting for capacity: wake the matchmaker
-- (trigger processes_ready).
CREATE OR REPLACE FUNCTION fleet.notify_process_ready() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('rally_placement', NEW.process_id);
    RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER processes_ready AFTER INSERT ON fleet.processes
    FOR EACH ROW EXECUTE FUNCTION fleet.notify_process_ready();

-- A game session that will not start (activation timed out): it ends, its
-- process is taken out of placement as broken, and the match it was for
-- waits for another. The process is locked first (ProcessEnding and
-- fleet.expire lock process, then session), and only a session still
-- ACTIVATING is ended: one the server activated meanwhile is left to
-- complete. Returns whether it was abandoned.
--
-- It returned void before sql/011; CREATE OR REPLACE cannot change a result
-- type, so a void one is dropped first (in this file's transaction: callers
-- never see it missing).
DO $$
BEGIN
    IF (SELECT prorettype FROM pg_proc
        WHERE oid = to_regprocedure('fleet.abandon_game_session(text, text)')) = 'void'::regtype THEN
        DROP FUNCTION fleet.abandon_game_session(text, text);
    END IF;
END
$$;
CREATE OR REPLACE FUNCTION fleet.abandon_game_session(p_id text, p_reason text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    proc text;
BEGIN
    SELECT process_id INTO proc FROM fleet.game_sessions WHERE game_session_id = p_id;
    PERFORM 1 FROM fleet.processes WHERE process_id = proc FOR UPDATE;
    PERFORM 1 FROM fleet.game_sessions
        WHERE game_session_id = p_id AND status = 'ACTIVE' FOR UPDATE;
    IF FOUND THEN
        RETURN false;
    END IF;
    PERFORM fleet.end_game_session(p_id, p_reason);
    UPDATE fleet.processes SET status = 'TERMINATED', status_reason = p_reason, ended_at = now()
        WHERE process_id = proc AND game_session_id = p_id AND status = 'ACTIVE';
    UPDATE matchmaking.matches SET game_session_id = NULL, updated_at = now()
        WHERE game_session_id = p_id;
    RETURN true;
END;
$$;
