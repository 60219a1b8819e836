-- Review fixes: one lock order for tickets (the pool row first, then the
-- result row) and for fleets (the process first, then its game session), so
-- concurrent calls wait for each other instead of deadlocking; a refused
-- party changes nothing; abandoning a game session leaves one that became
-- ACTIVE meanwhile alone.

-- StartMatchmaking for a party (010), in two passes: every other unfinished
-- ticket of these players is locked and checked first, and only when none is
-- in a proposed match or being placed are the searching ones cancelled.
-- A ticket the matchmaker already finished (its event not yet applied) keeps
-- its result; its players are simply free again.
CREATE OR REPLACE FUNCTION matchmaking.start_party(
    p_ticket_id text, p_configuration text, p_players jsonb, p_ttl_seconds integer,
    OUT outcome text, OUT ticket_id text, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    conf matchmaking.configurations%ROWTYPE;
    rules jsonb;
    defaults jsonb;
    p jsonb;
    k text;
    v jsonb;
    decl jsonb;
    pid text;
    old record;
    pool_status text;
    attrs jsonb;
    pool jsonb := '[]';
    n integer := 0;
    olds text[] := '{}';
BEGIN
    SELECT * INTO conf FROM matchmaking.configurations WHERE name = p_configuration;
    IF NOT FOUND THEN
        outcome := 'unknown_configuration';
        detail := p_configuration;
        RETURN;
    END IF;
    SELECT body, rs.attribute_defaults INTO rules, defaults
        FROM matchmaking.rule_sets rs WHERE name = conf.rule_set_name;
    FOR p IN SELECT * FROM jsonb_array_elements(p_players) LOOP
        FOR k, v IN SELECT * FROM jsonb_each(coalesce(p->'PlayerAttributes', '{}')) LOOP
            SELECT a INTO decl FROM jsonb_array_elements(rules->'playerAttributes') a
                WHERE a->>'name' = k;
            IF decl IS NOT NULL AND NOT v ? matchmaking.type_key(decl->>'type') THEN
                outcome := 'attribute_type';
                detail := k;
                RETURN;
            END IF;
        END LOOP;
    END LOOP;

    FOR pid IN SELECT x->>'PlayerId' FROM jsonb_array_elements(p_players) x ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(hashtextextended(pid, 0));
    END LOOP;

    ticket_id := coalesce(p_ticket_id, gen_random_uuid()::text);
    PERFORM 1 FROM backend.ticket_results r WHERE r.ticket_id = start_party.ticket_id
        UNION ALL SELECT 1 FROM matchmaking.tickets t WHERE t.ticket_id = start_party.ticket_id;
    IF FOUND THEN
        outcome := 'ticket_id_taken';
        RETURN;
    END IF;

    UPDATE backend.ticket_players tp SET active = false
        FROM backend.ticket_results r
        WHERE tp.player_id IN (SELECT x->>'PlayerId' FROM jsonb_array_elements(p_players) x)
          AND tp.active AND r.ticket_id = tp.ticket_id AND r.expires_at <= now();

    -- Pass 1: lock and check; nothing is changed yet.
    FOR old IN SELECT DISTINCT tp.ticket_id, tp.player_id FROM backend.ticket_players tp
               WHERE tp.active AND tp.player_id IN
                   (SELECT x->>'PlayerId' FROM jsonb_array_elements(p_players) x)
               ORDER BY tp.ticket_id
    LOOP
        SELECT t.status INTO pool_status FROM matchmaking.tickets t
            WHERE t.ticket_id = old.ticket_id FOR UPDATE;
        IF pool_status IN ('REQUIRES_ACCEPTANCE', 'PLACING') THEN
            outcome := 'player_busy';
            detail := old.player_id;
            RETURN;
        END IF;
        olds := olds || old.ticket_id;
    END LOOP;

    -- Pass 2: the searching ones are cancelled (no event, as FlexMatch).
    FOR old IN SELECT t.ticket_id FROM matchmaking.tickets t
               WHERE t.ticket_id = ANY (olds) AND t.status IN ('QUEUED', 'SEARCHING')
    LOOP
        UPDATE matchmaking.tickets t SET status = 'CANCELLED', cancel_announced = true,
               updated_at = now()
            WHERE t.ticket_id = old.ticket_id;
        UPDATE backend.ticket_results SET status = 'CANCELLED', status_reason = 'Cancelled',
               status_message = 'Cancelled due to duplicate player', end_time = now(),
               updated_at = now()
            WHERE backend.ticket_results.ticket_id = old.ticket_id
              AND status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT');
    END LOOP;
    UPDATE backend.ticket_players SET active = false
        WHERE backend.ticket_players.ticket_id = ANY (olds);

    INSERT INTO backend.ticket_results (ticket_id, configuration_name, status, expires_at)
        VALUES (ticket_id, conf.name, 'QUEUED', now() + make_interval(secs => p_ttl_seconds));
    FOR p IN SELECT * FROM jsonb_array_elements(p_players) LOOP
        pid := p->>'PlayerId';
        SELECT defaults || coalesce((SELECT bp.attributes FROM backend.players bp
                                     WHERE bp.player_id = pid), '{}')
               || coalesce(p->'PlayerAttributes', '{}')
            INTO attrs;
        INSERT INTO backend.ticket_players (ticket_id, player_id, ord, attributes, latency, active)
            VALUES (ticket_id, pid, n, attrs, coalesce(p->'LatencyInMs', '{}'), true);
        pool := pool || jsonb_build_array(jsonb_build_object(
            'PlayerId', pid, 'PlayerAttributes', attrs,
            'LatencyInMs', coalesce(p->'LatencyInMs', '{}')));
        n := n + 1;
    END LOOP;
    INSERT INTO matchmaking.tickets (ticket_id, configuration_name, players)
        VALUES (ticket_id, conf.name, pool);
    outcome := 'created';
END;
$$;

-- StopMatchmaking (010): the pool row is locked before the result row.
CREATE OR REPLACE FUNCTION matchmaking.stop_matchmaking(p_ticket_id text, p_player_id text,
                                                        OUT outcome text, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    r backend.ticket_results%ROWTYPE;
    pool_status text;
BEGIN
    SELECT status INTO pool_status FROM matchmaking.tickets WHERE ticket_id = p_ticket_id FOR UPDATE;
    SELECT res.* INTO r FROM backend.ticket_results res
        WHERE res.ticket_id = p_ticket_id AND res.expires_at > now()
          AND (p_player_id IS NULL OR EXISTS (SELECT 1 FROM backend.ticket_players tp
                                              WHERE tp.ticket_id = res.ticket_id
                                                AND tp.player_id = p_player_id))
        FOR UPDATE OF res;
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    IF r.status NOT IN ('QUEUED', 'SEARCHING', 'REQUIRES_ACCEPTANCE')
       OR pool_status IN ('PLACING', 'COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT') THEN
        outcome := 'conflict';
        detail := CASE WHEN pool_status = 'PLACING' THEN 'PLACING' ELSE r.status END;
        RETURN;
    END IF;
    UPDATE matchmaking.tickets SET status = 'CANCELLED', updated_at = now()
        WHERE ticket_id = p_ticket_id;
    UPDATE backend.ticket_results SET status = 'CANCELLED', status_reason = 'Cancelled',
           status_message = 'Cancelled by request.', end_time = now(), updated_at = now(),
           last_event = 'MatchmakingCancelled', last_event_time = now()
        WHERE ticket_id = p_ticket_id;
    UPDATE backend.ticket_players SET active = false WHERE ticket_id = p_ticket_id;
    PERFORM pg_notify('rally_tickets', r.configuration_name);
    outcome := 'cancelled';
END;
$$;

-- AcceptMatch by a player (002), through accept_match_players: the pool row
-- is locked first. An answer that lands just after the matchmaker sent the
-- ticket back to the pool cannot carry over: a new proposal clears the
-- answers of its tickets (matcher.c, MATCHED).
CREATE OR REPLACE FUNCTION matchmaking.accept_match(p_ticket_id text, p_player_id text,
                                                    p_accept boolean,
                                                    OUT outcome text, OUT detail text)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT a.outcome, a.detail INTO outcome, detail
        FROM matchmaking.accept_match_players(p_ticket_id, ARRAY[p_player_id], p_accept) a;
    IF outcome = 'not_a_player' THEN
        outcome := 'not_found';  -- a player learns nothing of tickets not theirs
        detail := NULL;
    END IF;
END;
$$;

-- AcceptMatch for several players (010), all or nothing, pool row first.
CREATE OR REPLACE FUNCTION matchmaking.accept_match_players(p_ticket_id text, p_players text[],
                                                            p_accept boolean,
                                                            OUT outcome text, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    r backend.ticket_results%ROWTYPE;
    pool_status text;
BEGIN
    SELECT status INTO pool_status FROM matchmaking.tickets WHERE ticket_id = p_ticket_id FOR UPDATE;
    SELECT res.* INTO r FROM backend.ticket_results res
        WHERE res.ticket_id = p_ticket_id AND res.expires_at > now() FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    SELECT x INTO detail FROM unnest(p_players) x
        WHERE NOT EXISTS (SELECT 1 FROM backend.ticket_players tp
                          WHERE tp.ticket_id = p_ticket_id AND tp.player_id = x)
        LIMIT 1;
    IF detail IS NOT NULL THEN
        outcome := 'not_a_player';
        RETURN;
    END IF;
    IF r.status <> 'REQUIRES_ACCEPTANCE'
       OR pool_status IN ('PLACING', 'COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT') THEN
        outcome := 'conflict';
        detail := r.status;
        RETURN;
    END IF;
    UPDATE backend.ticket_players SET accepted = p_accept
        WHERE ticket_id = p_ticket_id AND player_id = ANY (p_players);
    PERFORM pg_notify('rally_acceptance', p_ticket_id);
    outcome := 'recorded';
END;
$$;

-- A game session that will not start (009): the process is locked first
-- (ProcessEnding and fleet.expire lock process, then session), and only a
-- session still ACTIVATING is ended: one the server activated meanwhile is
-- left to complete. Returns whether it was abandoned.
DROP FUNCTION fleet.abandon_game_session(text, text);
CREATE FUNCTION fleet.abandon_game_session(p_id text, p_reason text) RETURNS boolean
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
