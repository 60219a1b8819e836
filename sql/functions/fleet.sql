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
-- complete, and a backfill request still waiting for players is cancelled
-- (MatchmakingCancelled, announced by the matchmaker). One the matchmaker
-- holds at that moment is left to it (SKIP LOCKED: the matcher locks
-- tickets before game sessions, this the other way round): matched to
-- the ended game session, it fails there.
CREATE OR REPLACE FUNCTION fleet.end_game_session(p_id text, p_reason text) RETURNS void
LANGUAGE sql AS $$
    UPDATE fleet.game_sessions SET status = 'TERMINATED', status_reason = p_reason, ended_at = now()
        WHERE game_session_id = p_id AND status <> 'TERMINATED';
    UPDATE fleet.player_sessions
        SET status = CASE status WHEN 'RESERVED' THEN 'TIMEDOUT' ELSE 'COMPLETED' END,
            ended_at = now()
        WHERE game_session_id = p_id AND status IN ('RESERVED', 'ACTIVE');
    UPDATE matchmaking.tickets SET status = 'CANCELLED', updated_at = now()
        WHERE ticket_id IN (SELECT t.ticket_id FROM matchmaking.tickets t
                            WHERE t.game_session_id = p_id AND t.status IN ('QUEUED', 'SEARCHING')
                            FOR UPDATE SKIP LOCKED);
$$;

-- ProcessReady: a server process of p_fleet is up in p_location.
-- Before sql/017 it had no p_compute, before sql/018 no p_sdk: the old
-- signatures are dropped (in this file's transaction: callers never see
-- them missing).
DROP FUNCTION IF EXISTS fleet.process_ready(text, text, text, text, text, integer, integer);
DROP FUNCTION IF EXISTS fleet.process_ready(text, text, text, text, text, integer, integer, text);
-- ProcessReady. The id is rally's, or the agent's (GAMELIFT_SDK_PROCESS_ID):
-- one that was ever ready before is refused (outcome 'exists'), as a
-- process ready twice would be hosted twice. Without a location (an SDK 5
-- process names only its compute), the registered compute gives the
-- location and address ('unknown_compute' when it is not registered).
-- p_sdk names the server SDK when it is GameLift's (the gateway's).
CREATE OR REPLACE FUNCTION fleet.process_ready(
    p_process_id text, p_fleet text, p_location text, p_ip text, p_dns text, p_port integer,
    p_max_players integer, p_compute text, p_sdk text, p_host text,
    OUT outcome text, OUT detail text)
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
    IF p_location IS NULL THEN
        SELECT c.location, c.ip_address, c.dns_name INTO p_location, p_ip, p_dns
            FROM fleet.computes c WHERE c.fleet_id = p_fleet AND c.compute_name = p_compute;
        IF NOT FOUND THEN
            outcome := 'unknown_compute';
            detail := p_compute;
            RETURN;
        END IF;
    END IF;
    IF NOT p_location = ANY (f.locations) THEN
        outcome := 'unknown_location';
        detail := array_to_string(f.locations, ', ');
        RETURN;
    END IF;
    INSERT INTO fleet.processes (process_id, fleet_id, location, ip_address, dns_name, port,
                                 max_players, compute_name, sdk, host_process)
        VALUES (p_process_id, p_fleet, p_location, p_ip, p_dns, p_port, p_max_players, p_compute,
                p_sdk, p_host)
        ON CONFLICT (process_id) DO NOTHING;
    IF NOT FOUND THEN
        outcome := 'exists';
        detail := p_process_id;
        RETURN;
    END IF;
    outcome := 'ready';
    detail := p_process_id;
END;
$$;

-- RegisterCompute: a host of the fleet in one of its locations, where its
-- processes are reached. Registering again replaces the address (an agent
-- restarted on a host that moved) and says the compute is live (its agent
-- does so every few seconds: fleet.compute_share). Outcomes: registered, unknown_fleet,
-- unknown_location (detail: the fleet's locations).
CREATE OR REPLACE FUNCTION fleet.register_compute(
    p_fleet text, p_name text, p_location text, p_ip text, p_dns text,
    OUT outcome text, OUT detail text)
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
    INSERT INTO fleet.computes (fleet_id, compute_name, location, ip_address, dns_name)
        VALUES (p_fleet, p_name, p_location, p_ip, p_dns)
        ON CONFLICT (fleet_id, compute_name) DO UPDATE
            SET location = EXCLUDED.location, ip_address = EXCLUDED.ip_address,
                dns_name = EXCLUDED.dns_name, last_seen = now();
    outcome := 'registered';
    detail := p_name;
END;
$$;

-- What an agent asks of the processes it launched, by their ids (of its
-- fleet; others are as unknown): whether each is ready, and whether rally
-- ended it. An id not returned has not called ProcessReady (yet).
--
-- A host process (rally-relay) is answered for its family: ACTIVE while
-- any of its processes is, hosting the first game session among them;
-- otherwise as the one it registered last.
CREATE OR REPLACE FUNCTION fleet.describe_processes(p_fleet text, p_ids text[])
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    WITH own AS (
        SELECT p.process_id AS id, p.status, p.status_reason, p.game_session_id
            FROM fleet.processes p
            WHERE p.fleet_id = p_fleet AND p.process_id = ANY (p_ids)
    ), families AS (
        SELECT DISTINCT ON (p.host_process) p.host_process AS id,
               CASE WHEN bool_or(p.status = 'ACTIVE') OVER w THEN 'ACTIVE' ELSE p.status END,
               CASE WHEN bool_or(p.status = 'ACTIVE') OVER w THEN NULL ELSE p.status_reason END,
               min(p.game_session_id) FILTER (WHERE p.status = 'ACTIVE') OVER w
            FROM fleet.processes p
            WHERE p.fleet_id = p_fleet AND p.host_process = ANY (p_ids)
              AND NOT EXISTS (SELECT 1 FROM own WHERE own.id = p.host_process)
            WINDOW w AS (PARTITION BY p.host_process)
            ORDER BY p.host_process, p.created_at DESC, p.process_id DESC
    )
    SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
               'processId', a.id, 'status', a.status, 'statusReason', a.status_reason,
               'gameSessionId', a.game_session_id)) ORDER BY a.id), '[]')
        FROM (SELECT * FROM own UNION ALL SELECT * FROM families) a;
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
        WHERE g.game_session_id = p.game_session_id
          AND g.status IN ('ACTIVATING', 'ACTIVE', 'TERMINATING');
END;
$$;

-- ProcessEnding: the process stops; its game session ends with it. For a
-- host process (rally-relay, whose agent says it on its behalf), each of
-- its processes still ACTIVE.
CREATE OR REPLACE FUNCTION fleet.process_ending(p_process_id text, p_fleet text, p_reason text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    p fleet.processes%ROWTYPE;
    member text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM fleet.processes WHERE process_id = p_process_id)
       AND EXISTS (SELECT 1 FROM fleet.processes
                   WHERE host_process = p_process_id AND fleet_id = p_fleet) THEN
        FOR member IN SELECT process_id FROM fleet.processes
                          WHERE host_process = p_process_id AND fleet_id = p_fleet
                            AND status = 'ACTIVE'
                          ORDER BY process_id LOOP
            PERFORM fleet.process_ending(member, p_fleet, p_reason);
        END LOOP;
        RETURN 'ended';
    END IF;
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
-- p_host (rally-relay): only a game session hosted by one of that host
-- process's processes; others are not_found.
CREATE OR REPLACE FUNCTION fleet.accept_player_session(p_psess text, p_fleet text, p_game_session text,
                                            p_host text,
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
    IF NOT FOUND OR (p_game_session IS NOT NULL AND ps.game_session_id <> p_game_session)
       OR (p_host IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM fleet.game_sessions gs JOIN fleet.processes p USING (process_id)
                   WHERE gs.game_session_id = ps.game_session_id AND p.host_process = p_host)) THEN
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
        WHERE s.player_session_id = p_psess AND gs.fleet_id = p_fleet;
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    -- The game session, then the seat: the order terminate_game_session locks
    -- in (the seat count's trigger updates the game session). The other
    -- order deadlocked with a TerminateGameSession as its players left.
    PERFORM 1 FROM fleet.game_sessions WHERE game_session_id = ps.game_session_id
        FOR NO KEY UPDATE;
    SELECT * INTO ps FROM fleet.player_sessions WHERE player_session_id = p_psess FOR UPDATE;
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
    -- Game sessions before their seats, as everywhere (remove_player_session).
    PERFORM 1 FROM fleet.game_sessions
        WHERE game_session_id IN (SELECT game_session_id FROM fleet.player_sessions
                                  WHERE status = 'RESERVED' AND reserved_until <= now())
        ORDER BY game_session_id FOR NO KEY UPDATE;
    UPDATE fleet.player_sessions SET status = 'TIMEDOUT', ended_at = now()
        WHERE status = 'RESERVED' AND reserved_until <= now();
    GET DIAGNOSTICS k = ROW_COUNT;
    n := n + k;
    -- A game session CreateGameSession asked for that its process never
    -- activated (a match's is the matchmaker's to place again).
    FOR p IN SELECT g.game_session_id FROM fleet.game_sessions g
                JOIN fleet.fleets f USING (fleet_id)
                WHERE g.status = 'ACTIVATING' AND g.match_id IS NULL
                  AND g.created_at <= now() - f.activation_timeout_seconds * interval '1 second'
    LOOP
        IF fleet.abandon_game_session(p.game_session_id, 'ACTIVATION_TIMEOUT') THEN
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
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
-- process is taken out of placement as broken, and the match or placement
-- it was for waits for another. The process is locked first (ProcessEnding and
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
    ended boolean;
BEGIN
    SELECT process_id, status = 'TERMINATED' INTO proc, ended
        FROM fleet.game_sessions WHERE game_session_id = p_id;
    IF ended THEN
        -- Ended already (its process ended, or TerminateGameSession): its
        -- reason and its process stand; only the match or placement lets
        -- go of it.
        UPDATE matchmaking.matches SET game_session_id = NULL, updated_at = now()
            WHERE game_session_id = p_id;
        UPDATE fleet.placements SET game_session_id = NULL
            WHERE game_session_id = p_id AND status = 'PENDING';
        RETURN true;
    END IF;
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
    UPDATE fleet.placements SET game_session_id = NULL
        WHERE game_session_id = p_id AND status = 'PENDING';
    RETURN true;
END;
$$;

-- ---- the GameLift service API (functions/gamelift-sessions) -----------------

-- A seat is taken while its player session is ACTIVE, or RESERVED within
-- its reservation. fleet.count_seats_now counts them exactly, for the
-- check of CreatePlayerSession(s) under the game session's lock;
-- game_sessions.seats_taken keeps a running count for describes.
CREATE OR REPLACE FUNCTION fleet.player_session_status(ps fleet.player_sessions) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN ps.status = 'RESERVED' AND ps.reserved_until <= now() THEN 'TIMEDOUT'
                ELSE ps.status END;
$$;

CREATE OR REPLACE FUNCTION fleet.count_seats_now(p_game_session text) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT count(*)::integer FROM fleet.player_sessions s
        WHERE s.game_session_id = p_game_session
          AND (s.status = 'ACTIVE' OR (s.status = 'RESERVED' AND s.reserved_until > now()));
$$;

-- A game session's seats_taken follows its player sessions: each
-- statement that inserts, changes or deletes player sessions adds what it
-- took and takes back what it released, one UPDATE per game session.
-- Transition tables allow one event per trigger, so there are three.
CREATE OR REPLACE FUNCTION fleet.count_seats_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    WITH delta AS (
        SELECT game_session_id, count(*)::integer AS d FROM new_rows
            WHERE status IN ('RESERVED', 'ACTIVE') GROUP BY game_session_id)
    UPDATE fleet.game_sessions g SET seats_taken = g.seats_taken + delta.d
        FROM delta WHERE g.game_session_id = delta.game_session_id;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION fleet.count_seats_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    WITH delta AS (
        SELECT game_session_id, sum(d)::integer AS d FROM (
            SELECT game_session_id, 1 AS d FROM new_rows WHERE status IN ('RESERVED', 'ACTIVE')
            UNION ALL
            SELECT game_session_id, -1 FROM old_rows WHERE status IN ('RESERVED', 'ACTIVE')) x
        GROUP BY game_session_id)
    UPDATE fleet.game_sessions g SET seats_taken = g.seats_taken + delta.d
        FROM delta WHERE g.game_session_id = delta.game_session_id AND delta.d <> 0;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION fleet.count_seats_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    WITH delta AS (
        SELECT game_session_id, count(*)::integer AS d FROM old_rows
            WHERE status IN ('RESERVED', 'ACTIVE') GROUP BY game_session_id)
    UPDATE fleet.game_sessions g SET seats_taken = g.seats_taken - delta.d
        FROM delta WHERE g.game_session_id = delta.game_session_id;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE TRIGGER player_sessions_seats_inserted AFTER INSERT ON fleet.player_sessions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fleet.count_seats_inserted();
CREATE OR REPLACE TRIGGER player_sessions_seats_changed AFTER UPDATE ON fleet.player_sessions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fleet.count_seats_changed();
CREATE OR REPLACE TRIGGER player_sessions_seats_deleted AFTER DELETE ON fleet.player_sessions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fleet.count_seats_deleted();

-- A player session in GameLift's shape (PlayerSession).
CREATE OR REPLACE FUNCTION fleet.player_session_json(ps fleet.player_sessions,
                                                     g fleet.game_sessions, p_arn text)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'PlayerSessionId', ps.player_session_id,
        'PlayerId', ps.player_id,
        'GameSessionId', g.game_session_arn,
        'FleetId', g.fleet_id,
        'FleetArn', p_arn || 'fleet/' || g.fleet_id,
        'CreationTime', extract(epoch FROM ps.created_at),
        'TerminationTime', extract(epoch FROM ps.ended_at),
        'Status', fleet.player_session_status(ps),
        'IpAddress', g.ip_address,
        'DnsName', nullif(g.dns_name, ''),
        'Port', g.port,
        'PlayerData', ps.player_data));
$$;

-- CreateGameSession: an idle process of the fleet in p_location (the
-- fleet's first location when NULL) is handed a new ACTIVATING game
-- session; it learns of it on its next heartbeat and activates it. With an
-- idempotency token, a second request gets the first one's game session
-- (outcome 'existing'). A CreatorId may make one game session a second,
-- or the fleet's ResourceCreationLimitPolicy (NewGameSessionsPerCreator in
-- PolicyPeriodInMinutes). Outcomes: created, existing, unknown_fleet,
-- unknown_location, creator_limit, no_capacity.
CREATE OR REPLACE FUNCTION fleet.create_game_session(
    p_fleet text, p_location text, p_max integer, p_name text, p_properties jsonb, p_data text,
    p_creator text, p_token text, p_region text,
    OUT outcome text, OUT detail text, OUT game_session_id text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    f fleet.fleets%ROWTYPE;
    p fleet.processes%ROWTYPE;
    loc text;
    id text := 'gsess-' || gen_random_uuid();
    policy jsonb;
    recent integer;
BEGIN
    SELECT * INTO f FROM fleet.fleets WHERE fleet_id = p_fleet;
    IF NOT FOUND THEN
        outcome := 'unknown_fleet';
        RETURN;
    END IF;
    loc := coalesce(p_location, f.locations[1]);
    IF NOT loc = ANY (f.locations) THEN
        outcome := 'unknown_location';
        detail := array_to_string(f.locations, ', ');
        RETURN;
    END IF;
    IF p_token IS NOT NULL THEN
        -- Requests with one token go one at a time: the second finds the first's.
        PERFORM pg_advisory_xact_lock(hashtext('gamelift-token'), hashtext(p_fleet || '/' || p_token));
        SELECT g.game_session_id INTO game_session_id FROM fleet.game_sessions g
            WHERE g.fleet_id = p_fleet AND g.idempotency_token = p_token;
        IF FOUND THEN
            outcome := 'existing';
            RETURN;
        END IF;
    END IF;
    IF p_creator IS NOT NULL THEN
        policy := f.body -> 'ResourceCreationLimitPolicy';
        PERFORM pg_advisory_xact_lock(hashtext('gamelift-creator'),
                                      hashtext(p_fleet || '/' || p_creator));
        SELECT count(*) INTO recent FROM fleet.game_sessions g
            WHERE g.fleet_id = p_fleet AND g.creator_id = p_creator
              AND g.created_at > clock_timestamp() - make_interval(
                      secs => coalesce((policy ->> 'PolicyPeriodInMinutes')::integer * 60, 1));
        IF recent >= coalesce((policy ->> 'NewGameSessionsPerCreator')::integer, 1) THEN
            outcome := 'creator_limit';
            RETURN;
        END IF;
    END IF;
    UPDATE fleet.processes SET game_session_id = id WHERE process_id = (
        SELECT q.process_id FROM fleet.processes q
            WHERE q.fleet_id = p_fleet AND q.location = loc AND q.status = 'ACTIVE'
              AND q.game_session_id IS NULL
              AND q.last_heartbeat > now() - f.heartbeat_timeout_seconds * interval '1 second'
              AND fleet.activation_room(q.fleet_id, q.compute_name)
            ORDER BY q.created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING * INTO p;
    IF NOT FOUND THEN
        outcome := 'no_capacity';
        detail := loc;
        RETURN;
    END IF;
    INSERT INTO fleet.game_sessions (game_session_id, game_session_arn, fleet_id, location,
                                     process_id, ip_address, dns_name, port, maximum_players,
                                     game_properties, game_session_data, name, creator_id,
                                     idempotency_token, created_at)
        VALUES (id, 'arn:aws:gamelift:' || p_region || '::gamesession/' || p_fleet || '/' || loc
                    || '/' || coalesce(p_token, id),
                p_fleet, loc, p.process_id, p.ip_address, p.dns_name, p.port, p_max,
                coalesce(p_properties, '[]'), p_data, p_name, p_creator, p_token,
                clock_timestamp());
    outcome := 'created';
    game_session_id := id;
END;
$$;

-- CreatePlayerSession(s): a seat for each player in an ACTIVE game session
-- that accepts new players and has room for all of them, reserved for the
-- fleet's reservation timeout. p_game_session is the ARN (or rally's id).
-- Outcomes: created (with the new ids in detail's place: see the caller),
-- not_found, not_active (detail: the status), deny_all, full (detail: the
-- seats left).
CREATE OR REPLACE FUNCTION fleet.create_player_sessions(
    p_game_session text, p_fleet text, p_players text[], p_data text[],
    OUT outcome text, OUT detail text, OUT player_session_ids text[])
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    g fleet.game_sessions%ROWTYPE;
    taken integer;
    timeout integer;
BEGIN
    SELECT * INTO g FROM fleet.game_sessions
        WHERE (game_session_arn = p_game_session OR game_session_id = p_game_session)
          AND (p_fleet IS NULL OR fleet_id = p_fleet)
        FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    IF g.status <> 'ACTIVE' THEN
        outcome := 'not_active';
        detail := g.status;
        RETURN;
    END IF;
    IF g.player_session_creation_policy = 'DENY_ALL' THEN
        outcome := 'deny_all';
        RETURN;
    END IF;
    taken := fleet.count_seats_now(g.game_session_id);
    IF taken + cardinality(p_players) > g.maximum_players THEN
        outcome := 'full';
        detail := (g.maximum_players - taken)::text;
        RETURN;
    END IF;
    SELECT reservation_timeout_seconds INTO timeout FROM fleet.fleets WHERE fleet_id = g.fleet_id;
    WITH made AS (
        INSERT INTO fleet.player_sessions (player_session_id, game_session_id, player_id,
                                           player_data, reserved_until)
            SELECT 'psess-' || gen_random_uuid(), g.game_session_id, u.player, u.data,
                   now() + timeout * interval '1 second'
            FROM unnest(p_players, p_data) WITH ORDINALITY AS u(player, data, n)
            ORDER BY u.n
            RETURNING player_session_id, player_id)
    SELECT array_agg(m.player_session_id ORDER BY array_position(p_players, m.player_id))
        INTO player_session_ids FROM made m;
    outcome := 'created';
END;
$$;

-- UpdateGameSession: the mutable properties of a game session that has not
-- ended; GameProperties are added or replaced by Key, never removed. NULL
-- leaves a property as it is. Outcomes: updated, not_found, ended.
CREATE OR REPLACE FUNCTION fleet.update_game_session(
    p_game_session text, p_fleet text, p_max integer, p_name text, p_policy text,
    p_protection text, p_properties jsonb, OUT outcome text, OUT game_session_id text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    g fleet.game_sessions%ROWTYPE;
BEGIN
    SELECT * INTO g FROM fleet.game_sessions
        WHERE (game_session_arn = p_game_session OR fleet.game_sessions.game_session_id = p_game_session)
          AND (p_fleet IS NULL OR fleet_id = p_fleet)
        FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    game_session_id := g.game_session_id;
    IF g.status IN ('TERMINATED', 'TERMINATING') THEN
        outcome := 'ended';
        RETURN;
    END IF;
    UPDATE fleet.game_sessions s SET
        maximum_players = coalesce(p_max, s.maximum_players),
        name = coalesce(p_name, s.name),
        player_session_creation_policy = coalesce(p_policy, s.player_session_creation_policy),
        protection_policy = coalesce(p_protection, s.protection_policy),
        game_properties = CASE WHEN p_properties IS NULL THEN s.game_properties ELSE (
            -- each Key once, where it first stood, with its newest Value
            SELECT coalesce(jsonb_agg(jsonb_build_object('Key', m.k, 'Value', m.v)
                                      ORDER BY m.first), '[]')
            FROM (SELECT e ->> 'Key' AS k, (array_agg(e ->> 'Value' ORDER BY o DESC))[1] AS v,
                         min(o) AS first
                  FROM jsonb_array_elements(s.game_properties || p_properties)
                       WITH ORDINALITY AS x(e, o)
                  GROUP BY e ->> 'Key') m) END
        WHERE s.game_session_id = g.game_session_id;
    outcome := 'updated';
END;
$$;

-- TerminateGameSession. TRIGGER_ON_PROCESS_TERMINATE: the game session is
-- TERMINATING and its process hears so on its next heartbeat (the server
-- SDK's OnProcessTerminate), ends what it does and calls ProcessEnding,
-- which ends the session. FORCE_TERMINATE: the session ends now and its
-- process with it (its next heartbeat is told so, 410). Outcomes:
-- terminating, terminated, not_found, ended (detail: the status).
CREATE OR REPLACE FUNCTION fleet.terminate_game_session(
    p_game_session text, p_fleet text, p_mode text,
    OUT outcome text, OUT detail text, OUT game_session_id text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    g fleet.game_sessions%ROWTYPE;
BEGIN
    SELECT * INTO g FROM fleet.game_sessions
        WHERE (game_session_arn = p_game_session OR fleet.game_sessions.game_session_id = p_game_session)
          AND (p_fleet IS NULL OR fleet_id = p_fleet);
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    game_session_id := g.game_session_id;
    -- Process first, then session: the order ProcessEnding and expire lock in.
    PERFORM 1 FROM fleet.processes WHERE process_id = g.process_id FOR UPDATE;
    SELECT * INTO g FROM fleet.game_sessions s WHERE s.game_session_id = g.game_session_id FOR UPDATE;
    IF g.status = 'TERMINATED' OR (g.status = 'TERMINATING' AND p_mode <> 'FORCE_TERMINATE') THEN
        outcome := 'ended';
        detail := g.status;
        RETURN;
    END IF;
    UPDATE fleet.game_sessions SET ending_asked = true
        WHERE fleet.game_sessions.game_session_id = g.game_session_id;
    IF p_mode = 'FORCE_TERMINATE' THEN
        PERFORM fleet.end_game_session(g.game_session_id, 'FORCE_TERMINATED');
        UPDATE fleet.processes SET status = 'TERMINATED', status_reason = 'FORCE_TERMINATED',
                                   ended_at = now()
            WHERE process_id = g.process_id AND status = 'ACTIVE';
        PERFORM pg_notify('rally_placement', g.game_session_id);
        outcome := 'terminated';
    ELSE
        UPDATE fleet.game_sessions SET status = 'TERMINATING',
                                       status_reason = 'TRIGGERED_ON_PROCESS_TERMINATE'
            WHERE fleet.game_sessions.game_session_id = g.game_session_id;
        outcome := 'terminating';
    END IF;
END;
$$;

-- ---- group placement (functions/gamelift-placement; the matchmaker's
-- ---- matchmaker/daemon/group_placement.c) ---------------------------------

-- StartGameSessionPlacement: a PENDING placement the matchmaker, woken,
-- works on. Outcomes: started, exists (the id was used before: GameLift
-- never reuses one), unknown_queue.
CREATE OR REPLACE FUNCTION fleet.start_placement(
    p_id text, p_queue text, p_max integer, p_name text, p_properties jsonb, p_data text,
    p_latencies jsonb, p_desired jsonb, p_override jsonb) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM fleet.queues WHERE name = p_queue) THEN
        RETURN 'unknown_queue';
    END IF;
    INSERT INTO fleet.placements (placement_id, queue_name, maximum_players, game_session_name,
                                  game_properties, game_session_data, player_latencies,
                                  desired_players, priority_override, start_time)
        VALUES (p_id, p_queue, p_max, p_name, coalesce(p_properties, '[]'), p_data,
                coalesce(p_latencies, '[]'), coalesce(p_desired, '[]'), p_override,
                clock_timestamp())
        ON CONFLICT (placement_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'exists';
    END IF;
    PERFORM pg_notify('rally_placement', p_id);
    RETURN 'started';
END;
$$;

-- A placement in GameLift's shape (GameSessionPlacement). Where the game
-- session runs is told once it is final (FULFILLED), as GameLift does.
CREATE OR REPLACE FUNCTION fleet.placement_json(pl fleet.placements) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'PlacementId', pl.placement_id,
        'GameSessionQueueName', pl.queue_name,
        'Status', pl.status,
        'GameProperties', pl.game_properties,
        'MaximumPlayerSessionCount', pl.maximum_players,
        'GameSessionName', pl.game_session_name,
        'GameSessionId', pl.game_session_arn,
        'GameSessionArn', pl.game_session_arn,
        'GameSessionRegion', pl.location,
        'PlayerLatencies', pl.player_latencies,
        'StartTime', extract(epoch FROM pl.start_time),
        'EndTime', extract(epoch FROM pl.end_time),
        'IpAddress', pl.ip_address,
        'DnsName', nullif(pl.dns_name, ''),
        'Port', pl.port,
        'PlacedPlayerSessions', pl.placed_players,
        'GameSessionData', pl.game_session_data,
        'PriorityConfigurationOverride', pl.priority_override,
        'PlayerGatewayStatus', 'DISABLED'));
$$;

-- A queue placement event (reference/gamelift-api.md §6): EventBridge's
-- envelope, the detail's times with milliseconds and its port a string, as
-- GameLift sends them.
CREATE OR REPLACE FUNCTION fleet.placement_event(pl fleet.placements, p_type text,
                                                 p_region text, p_account text) RETURNS text
LANGUAGE sql VOLATILE AS $$
    SELECT jsonb_build_object(
        'version', '0',
        'id', gen_random_uuid(),
        'detail-type', 'GameLift Queue Placement Event',
        'source', 'aws.gamelift',
        'account', p_account,
        'time', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'region', p_region,
        'resources', jsonb_build_array('arn:aws:gamelift:' || p_region || ':' || p_account
                                       || ':gamesessionqueue/' || pl.queue_name),
        'detail', jsonb_strip_nulls(jsonb_build_object(
            'type', p_type,
            'placementId', pl.placement_id,
            'port', pl.port::text,
            'gameSessionArn', pl.game_session_arn,
            'ipAddress', pl.ip_address,
            'dnsName', nullif(pl.dns_name, ''),
            'startTime', to_char(pl.start_time AT TIME ZONE 'UTC',
                                 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
            'endTime', to_char(pl.end_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
            'gameSessionRegion', pl.location,
            'placedPlayerSessions', CASE WHEN pl.placed_players IS NOT NULL THEN
                (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                     'playerId', x ->> 'PlayerId',
                                     'playerSessionId', x ->> 'PlayerSessionId') ORDER BY n), '[]')
                     FROM jsonb_array_elements(pl.placed_players) WITH ORDINALITY AS e(x, n))
                END)))::text;
$$;

-- An ended placement is told to its queue's NotificationTarget (none: no
-- event, as GameLift without a target), in the caller's transaction.
CREATE OR REPLACE FUNCTION fleet.publish_placement_event(pl fleet.placements, p_region text,
                                                         p_account text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    target text;
BEGIN
    SELECT nullif(q.body ->> 'NotificationTarget', '') INTO target
        FROM fleet.queues q WHERE q.name = pl.queue_name;
    IF target IS NOT NULL THEN
        PERFORM events.publish(target, fleet.placement_event(pl,
            CASE pl.status WHEN 'FULFILLED' THEN 'PlacementFulfilled'
                           WHEN 'CANCELLED' THEN 'PlacementCancelled'
                           WHEN 'TIMED_OUT' THEN 'PlacementTimedOut'
                           ELSE 'PlacementFailed' END,
            p_region, p_account));
    END IF;
END;
$$;

-- A PENDING placement ends without a game session (p_status CANCELLED,
-- TIMED_OUT or FAILED), and says so. False when it was not PENDING.
CREATE OR REPLACE FUNCTION fleet.end_placement(p_id text, p_status text, p_region text,
                                               p_account text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    pl fleet.placements%ROWTYPE;
BEGIN
    UPDATE fleet.placements SET status = p_status, end_time = clock_timestamp()
        WHERE placement_id = p_id AND status = 'PENDING'
        RETURNING * INTO pl;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM fleet.publish_placement_event(pl, p_region, p_account);
    RETURN true;
END;
$$;

-- The placement's game session is ACTIVE: a RESERVED seat for each desired
-- player (with its PlayerData), the placement FULFILLED with where to
-- connect, and PlacementFulfilled. The game session is locked while its
-- seats are reserved (a concurrent ProcessEnding waits, then ends them).
-- False when the game session is not ACTIVE (ended meanwhile: the caller
-- places again).
CREATE OR REPLACE FUNCTION fleet.fulfil_placement(p_id text, p_region text, p_account text)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    pl fleet.placements%ROWTYPE;
    g fleet.game_sessions%ROWTYPE;
    hold integer;
    seats jsonb;
BEGIN
    SELECT * INTO pl FROM fleet.placements WHERE placement_id = p_id AND status = 'PENDING';
    SELECT * INTO g FROM fleet.game_sessions
        WHERE game_session_id = pl.game_session_id AND status = 'ACTIVE' FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    SELECT reservation_timeout_seconds INTO hold FROM fleet.fleets WHERE fleet_id = g.fleet_id;
    WITH d AS MATERIALIZED (
        SELECT x ->> 'PlayerId' AS player_id, x ->> 'PlayerData' AS player_data,
               'psess-' || gen_random_uuid() AS id, n
            FROM jsonb_array_elements(pl.desired_players) WITH ORDINALITY AS e(x, n)),
    ins AS (
        INSERT INTO fleet.player_sessions (player_session_id, game_session_id, player_id,
                                           player_data, reserved_until)
            SELECT id, g.game_session_id, player_id, player_data,
                   now() + coalesce(hold, 60) * interval '1 second' FROM d)
    SELECT coalesce(jsonb_agg(jsonb_build_object('PlayerId', player_id, 'PlayerSessionId', id)
                              ORDER BY n), '[]')
        INTO seats FROM d;
    UPDATE fleet.placements
        SET status = 'FULFILLED', end_time = clock_timestamp(),
            game_session_arn = g.game_session_arn, location = g.location,
            ip_address = g.ip_address, dns_name = g.dns_name, port = g.port,
            placed_players = seats
        WHERE placement_id = p_id
        RETURNING * INTO pl;
    PERFORM fleet.publish_placement_event(pl, p_region, p_account);
    RETURN true;
END;
$$;

-- StopGameSessionPlacement: a PENDING placement without a game session yet
-- is CANCELLED (PlacementCancelled); a cancelled one is answered again.
-- Outcomes: cancelled, not_found, ended (detail: its status),
-- has_game_session (detail: the game session's ARN; GameLift refuses these:
-- TerminateGameSession ends it).
CREATE OR REPLACE FUNCTION fleet.stop_placement(p_id text, p_region text, p_account text,
                                                OUT outcome text, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    pl fleet.placements%ROWTYPE;
BEGIN
    SELECT * INTO pl FROM fleet.placements WHERE placement_id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'not_found';
    ELSIF pl.status = 'CANCELLED' THEN
        outcome := 'cancelled';
    ELSIF pl.status <> 'PENDING' THEN
        outcome := 'ended';
        detail := pl.status;
    ELSIF pl.game_session_id IS NOT NULL THEN
        outcome := 'has_game_session';
        SELECT game_session_arn INTO detail FROM fleet.game_sessions
            WHERE game_session_id = pl.game_session_id;
    ELSE
        PERFORM fleet.end_placement(p_id, 'CANCELLED', p_region, p_account);
        outcome := 'cancelled';
    END IF;
END;
$$;

-- ---- GameLift's server SDK 5 (gateway/, docs/sdk5.md) ----------------------

-- The SDK 5 processes a gateway holds, (p_fleets[i], p_ids[i]), are alive:
-- one statement for all their heartbeats of the last moment. Returns how
-- many were still ACTIVE.
CREATE OR REPLACE FUNCTION fleet.sdk_heartbeats(p_fleets text[], p_ids text[]) RETURNS integer
LANGUAGE sql AS $$
    WITH alive AS (
        UPDATE fleet.processes p SET last_heartbeat = now()
            FROM unnest(p_fleets, p_ids) AS k(fleet_id, process_id)
            WHERE p.fleet_id = k.fleet_id AND p.process_id = k.process_id AND p.status = 'ACTIVE'
            RETURNING 1)
    SELECT count(*)::integer FROM alive;
$$;

-- A game session as the SDK's GameSession (UpdateGameSession's); the
-- SDK's GameProperties are a map, rally's a list of {Key, Value}.
CREATE OR REPLACE FUNCTION fleet.sdk_game_session(g fleet.game_sessions) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'GameSessionId', g.game_session_arn, 'Name', coalesce(g.name, ''),
        'GameSessionData', coalesce(g.game_session_data, ''),
        'MatchmakerData', coalesce(g.matchmaker_data, ''), 'FleetId', g.fleet_id,
        'Location', g.location, 'MaximumPlayerSessionCount', g.maximum_players,
        'IpAddress', g.ip_address, 'Port', g.port, 'DnsName', coalesce(g.dns_name, ''),
        'GameProperties', (SELECT coalesce(jsonb_object_agg(e->>'Key', e->>'Value'), '{}')
                               FROM jsonb_array_elements(g.game_properties) e),
        'Status', g.status, 'StatusReason', coalesce(g.status_reason, ''));
$$;

-- What a gateway must push to the SDK 5 processes it holds, (p_fleets[i],
-- p_ids[i]), each message once, recorded as sent in this transaction:
--   TerminateProcess   rally ended the process (FORCE_TERMINATE, a lost
--                      heartbeat), or its game session is TERMINATING
--                      (TerminateGameSession); TerminationTime in epoch ms,
--                      when it should be gone: now, or in 5 minutes for a
--                      game session asked to end
--   CreateGameSession  a new game session to start (ACTIVATING)
--   UpdateGameSession  the running game session's MatchmakerData changed
--                      (a backfill seated players: MATCHMAKING_DATA_UPDATED)
-- A process some other transaction holds is skipped: its change notifies
-- again when that one commits.
CREATE OR REPLACE FUNCTION fleet.sdk_pushes(p_fleets text[], p_ids text[])
RETURNS TABLE (process_id text, action text, message jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    p fleet.processes%ROWTYPE;
    g fleet.game_sessions%ROWTYPE;
    mmd5 text;
BEGIN
    FOR p IN SELECT pr.* FROM fleet.processes pr
                 JOIN unnest(p_fleets, p_ids) AS k(fleet_id, process_id)
                   ON pr.fleet_id = k.fleet_id AND pr.process_id = k.process_id
                 WHERE pr.sdk IS NOT NULL AND NOT pr.sdk_terminate_sent
                 ORDER BY pr.process_id
                 FOR UPDATE OF pr SKIP LOCKED
    LOOP
        g := NULL;
        IF p.game_session_id IS NOT NULL THEN
            SELECT * INTO g FROM fleet.game_sessions gs WHERE gs.game_session_id = p.game_session_id;
        END IF;
        process_id := p.process_id;
        IF (p.status = 'TERMINATED' AND p.status_reason IS DISTINCT FROM 'PROCESS_ENDING')
           OR (p.status = 'ACTIVE' AND g.status = 'TERMINATING') THEN
            UPDATE fleet.processes SET sdk_terminate_sent = true
                WHERE fleet.processes.process_id = p.process_id;
            action := 'TerminateProcess';
            message := jsonb_build_object('TerminationTime', (extract(epoch FROM now()) * 1000)::bigint
                + CASE WHEN p.status = 'ACTIVE' THEN 300000 ELSE 0 END);
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF p.status <> 'ACTIVE' OR g.game_session_id IS NULL
           OR g.status NOT IN ('ACTIVATING', 'ACTIVE') THEN
            CONTINUE;
        END IF;
        mmd5 := md5(coalesce(g.matchmaker_data, ''));
        IF g.game_session_id IS DISTINCT FROM p.sdk_game_session THEN
            IF g.status <> 'ACTIVATING' THEN
                CONTINUE;   -- started without the gateway: not the SDK's to start
            END IF;
            UPDATE fleet.processes SET sdk_game_session = g.game_session_id, sdk_matchmaker_md5 = mmd5
                WHERE fleet.processes.process_id = p.process_id;
            action := 'CreateGameSession';
            message := jsonb_build_object(
                'GameSessionId', g.game_session_arn, 'GameSessionName', coalesce(g.name, ''),
                'GameSessionData', coalesce(g.game_session_data, ''),
                'MatchmakerData', coalesce(g.matchmaker_data, ''),
                'MaximumPlayerSessionCount', g.maximum_players, 'Port', g.port,
                'IpAddress', g.ip_address, 'DnsName', coalesce(g.dns_name, ''),
                'GameProperties', fleet.sdk_game_session(g)->'GameProperties');
            RETURN NEXT;
        ELSIF mmd5 IS DISTINCT FROM p.sdk_matchmaker_md5 THEN
            UPDATE fleet.processes SET sdk_matchmaker_md5 = mmd5
                WHERE fleet.processes.process_id = p.process_id;
            action := 'UpdateGameSession';
            message := jsonb_build_object('GameSession', fleet.sdk_game_session(g),
                                          'UpdateReason', 'MATCHMAKING_DATA_UPDATED');
            RETURN NEXT;
        END IF;
    END LOOP;
END;
$$;

-- Wakes the gateways (LISTEN rally_sdk, payload: the process id) when an
-- SDK 5 process may have something to be told: a game session handed to
-- it, its end, its game session's status or MatchmakerData changed.
CREATE OR REPLACE FUNCTION fleet.notify_sdk_process() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('rally_sdk', NEW.process_id);
    RETURN NULL;
END;
$$;
CREATE OR REPLACE FUNCTION fleet.notify_sdk_game_session() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM fleet.processes p
               WHERE p.process_id = NEW.process_id AND p.sdk IS NOT NULL) THEN
        PERFORM pg_notify('rally_sdk', NEW.process_id);
    END IF;
    RETURN NULL;
END;
$$;
CREATE OR REPLACE TRIGGER processes_sdk AFTER UPDATE OF game_session_id, status ON fleet.processes
    FOR EACH ROW
    WHEN (NEW.sdk IS NOT NULL AND (OLD.game_session_id IS DISTINCT FROM NEW.game_session_id
                                   OR OLD.status IS DISTINCT FROM NEW.status))
    EXECUTE FUNCTION fleet.notify_sdk_process();
CREATE OR REPLACE TRIGGER game_sessions_sdk AFTER UPDATE OF status, matchmaker_data ON fleet.game_sessions
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          OR OLD.matchmaker_data IS DISTINCT FROM NEW.matchmaker_data)
    EXECUTE FUNCTION fleet.notify_sdk_game_session();

-- ---- capacity (sql/019_capacity.sql) ----------------------------------------

-- config/'s capacity of a fleet's locations, p_caps [{"location", "minimum",
-- "maximum", "desired"}] (the locations that have one), as rally-admin
-- loads it. A location's row changes only when config/ changed it, so what
-- UpdateFleetCapacity set survives reloads of unrelated files; a location
-- config/ no longer sizes loses its row (its agents run all).
CREATE OR REPLACE FUNCTION fleet.configure_capacity(p_fleet text, p_caps jsonb) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM fleet.location_capacity c
        WHERE c.fleet_id = p_fleet
          AND NOT c.location IN (SELECT e->>'location' FROM jsonb_array_elements(p_caps) e);
    INSERT INTO fleet.location_capacity AS c (fleet_id, location, minimum, maximum, desired, configured)
        SELECT p_fleet, e->>'location', (e->>'minimum')::integer, (e->>'maximum')::integer,
               (e->>'desired')::integer, e
        FROM jsonb_array_elements(p_caps) e
    ON CONFLICT (fleet_id, location) DO UPDATE
        SET minimum = excluded.minimum, maximum = excluded.maximum, desired = excluded.desired,
            configured = excluded.configured, changed_at = now()
        WHERE c.configured IS DISTINCT FROM excluded.configured;
$$;

-- UpdateFleetCapacity of one location (NULL: the fleet's first): what is
-- given replaces what was; a location not sized before starts at 0..desired.
-- Outcomes: updated, unknown_fleet, unknown_location, invalid (detail: the
-- minimum, desired and maximum it would have had).
CREATE OR REPLACE FUNCTION fleet.update_capacity(
    p_fleet text, p_location text, p_desired integer, p_min integer, p_max integer,
    OUT outcome text, OUT detail text, OUT location text)
LANGUAGE plpgsql AS $$
DECLARE
    f fleet.fleets%ROWTYPE;
    c fleet.location_capacity%ROWTYPE;
BEGIN
    SELECT * INTO f FROM fleet.fleets WHERE fleet_id = p_fleet;
    IF NOT FOUND THEN
        outcome := 'unknown_fleet';
        RETURN;
    END IF;
    location := coalesce(p_location, f.locations[1]);
    IF NOT location = ANY (f.locations) THEN
        outcome := 'unknown_location';
        detail := array_to_string(f.locations, ', ');
        RETURN;
    END IF;
    SELECT * INTO c FROM fleet.location_capacity lc
        WHERE lc.fleet_id = p_fleet AND lc.location = update_capacity.location FOR UPDATE;
    IF NOT FOUND THEN
        c.minimum := 0;
        c.desired := coalesce(p_desired, p_min, 0);
        c.maximum := greatest(coalesce(p_desired, 0), coalesce(p_min, 0));
    END IF;
    c.minimum := coalesce(p_min, c.minimum);
    c.maximum := coalesce(p_max, c.maximum);
    c.desired := coalesce(p_desired, c.desired);
    IF NOT (c.minimum <= c.desired AND c.desired <= c.maximum) THEN
        outcome := 'invalid';
        detail := format('MinSize %s, DesiredInstances %s, MaxSize %s', c.minimum, c.desired,
                         c.maximum);
        RETURN;
    END IF;
    INSERT INTO fleet.location_capacity AS lc (fleet_id, location, minimum, maximum, desired)
        VALUES (p_fleet, update_capacity.location, c.minimum, c.maximum, c.desired)
    ON CONFLICT ON CONSTRAINT location_capacity_pkey DO UPDATE
        SET minimum = excluded.minimum, maximum = excluded.maximum, desired = excluded.desired,
            changed_at = CASE WHEN lc.desired = excluded.desired THEN lc.changed_at ELSE now() END;
    outcome := 'updated';
END;
$$;

-- The processes a sized location should run now. With the fleet's
-- target-based ScalingPolicy (PercentAvailableGameSessions), at least that
-- share of them free of game sessions, and always one free: it grows at
-- once, and shrinks a minute after it last changed (a burst is not cut
-- short), within MinSize..MaxSize. NULL: the location is not sized.
CREATE OR REPLACE FUNCTION fleet.scale_location(p_fleet text, p_location text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    c fleet.location_capacity%ROWTYPE;
    target double precision;
    in_use integer;
    wanted integer;
BEGIN
    SELECT * INTO c FROM fleet.location_capacity
        WHERE fleet_id = p_fleet AND location = p_location FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT (body #>> '{ScalingPolicy,TargetConfiguration,TargetValue}')::double precision
        INTO target FROM fleet.fleets WHERE fleet_id = p_fleet;
    IF target IS NULL THEN
        RETURN c.desired;
    END IF;
    -- A host process (rally-relay) counts once, as its agent launches it.
    SELECT count(DISTINCT coalesce(host_process, process_id)) INTO in_use FROM fleet.processes
        WHERE fleet_id = p_fleet AND location = p_location AND status = 'ACTIVE'
          AND game_session_id IS NOT NULL;
    wanted := greatest(ceil(in_use / (1 - target / 100))::integer, in_use + 1);
    wanted := least(greatest(wanted, c.minimum), c.maximum);
    IF wanted > c.desired OR (wanted < c.desired AND c.changed_at < now() - interval '60 seconds') THEN
        UPDATE fleet.location_capacity SET desired = wanted, changed_at = now()
            WHERE fleet_id = p_fleet AND location = p_location;
        RETURN wanted;
    END IF;
    RETURN c.desired;
END;
$$;

-- How many of the fleet's processes compute p_compute runs: its share of
-- its location's desired count, split evenly among the location's live
-- computes (those that reported within 30 s; the first ones by name take
-- the remainder). NULL: the location is not sized, run them all.
CREATE OR REPLACE FUNCTION fleet.compute_share(p_fleet text, p_compute text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    loc text;
    desired integer;
    live integer;
    ahead integer;
BEGIN
    SELECT location INTO loc FROM fleet.computes WHERE fleet_id = p_fleet AND compute_name = p_compute;
    desired := fleet.scale_location(p_fleet, loc);
    IF desired IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT count(*), count(*) FILTER (WHERE compute_name < p_compute) INTO live, ahead
        FROM fleet.computes
        WHERE fleet_id = p_fleet AND location = loc
          AND (last_seen > now() - interval '30 seconds' OR compute_name = p_compute);
    RETURN desired / live + CASE WHEN ahead < desired % live THEN 1 ELSE 0 END;
END;
$$;

-- Whether a process on compute p_compute may be handed a game session now:
-- its RuntimeConfiguration's MaxConcurrentGameSessionActivations (GameLift:
-- game sessions ACTIVATING at once on one instance; rally: on one compute)
-- is not reached. No limit, or a process of no compute: always. Checked
-- where a process is claimed (placement, CreateGameSession); two claims at
-- the same moment may both pass.
CREATE OR REPLACE FUNCTION fleet.activation_room(p_fleet text, p_compute text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
    cap integer;
BEGIN
    IF p_compute IS NULL THEN
        RETURN true;
    END IF;
    SELECT (body #>> '{RuntimeConfiguration,MaxConcurrentGameSessionActivations}')::integer
        INTO cap FROM fleet.fleets WHERE fleet_id = p_fleet;
    IF cap IS NULL THEN
        RETURN true;
    END IF;
    RETURN (SELECT count(*) FROM fleet.game_sessions g JOIN fleet.processes p USING (process_id)
            WHERE g.status = 'ACTIVATING' AND p.fleet_id = p_fleet AND p.compute_name = p_compute)
           < cap;
END;
$$;

-- A game session's log from its fleet's agent (fleet.game_session_logs):
-- 'stored', or 'not_found' when the game session is not the fleet's. A log
-- sent again replaces the one before (an agent sends the log so far while
-- the game session runs, and the whole of it when it ends).
CREATE OR REPLACE FUNCTION fleet.put_game_session_log(p_game_session text, p_fleet text,
        p_process text, p_log bytea, p_truncated boolean, p_days integer) RETURNS text
LANGUAGE sql AS $$
    WITH g AS (SELECT game_session_id FROM fleet.game_sessions
               WHERE game_session_id = p_game_session AND fleet_id = p_fleet),
    w AS (INSERT INTO fleet.game_session_logs AS l
              (game_session_id, fleet_id, process_id, log, truncated, expires_at)
          SELECT game_session_id, p_fleet, p_process, p_log, p_truncated,
                 now() + make_interval(days => p_days) FROM g
          ON CONFLICT (game_session_id) DO UPDATE SET process_id = EXCLUDED.process_id,
              log = EXCLUDED.log, truncated = EXCLUDED.truncated, uploaded_at = now(),
              expires_at = EXCLUDED.expires_at
          RETURNING 1)
    SELECT CASE WHEN EXISTS (SELECT 1 FROM w) THEN 'stored' ELSE 'not_found' END;
$$;
