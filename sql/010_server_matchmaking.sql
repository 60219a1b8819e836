-- Matchmaking for trusted backends (server scope, GameLift's request shapes):
-- StartMatchmaking for a party of 1-10 players with their attributes,
-- StopMatchmaking and AcceptMatch on any ticket.

-- StartMatchmaking for a party. p_players: [{"PlayerId", "PlayerAttributes"?,
-- "LatencyInMs"?}], shapes checked by the caller. Attributes: the rule set's
-- defaults, then what rally stores for the player, then what the caller
-- gives; a declared attribute of the wrong type is refused.
--
-- FlexMatch's duplicate-player rule: another unfinished ticket of one of
-- these players is cancelled, without an event, with the message "Cancelled
-- due to duplicate player". A ticket already in a proposed match or being
-- placed cannot be cancelled: then the new ticket is refused (player_busy).
--
-- Outcomes: created | unknown_configuration | attribute_type (detail: the
-- attribute) | ticket_id_taken | player_busy (detail: the player).
CREATE FUNCTION matchmaking.start_party(
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
    attrs jsonb;
    pool jsonb := '[]';
    n integer := 0;
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

    -- Serialise these players' requests, in one order so two parties
    -- sharing players cannot deadlock.
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

    -- Results past their expiry are over for their players.
    UPDATE backend.ticket_players tp SET active = false
        FROM backend.ticket_results r
        WHERE tp.player_id IN (SELECT x->>'PlayerId' FROM jsonb_array_elements(p_players) x)
          AND tp.active AND r.ticket_id = tp.ticket_id AND r.expires_at <= now();

    FOR old IN SELECT DISTINCT tp.ticket_id, tp.player_id FROM backend.ticket_players tp
               WHERE tp.active AND tp.player_id IN
                   (SELECT x->>'PlayerId' FROM jsonb_array_elements(p_players) x)
    LOOP
        -- Waits for a matchmaker tick holding the ticket, then sees its
        -- status after it.
        UPDATE matchmaking.tickets t SET status = 'CANCELLED', cancel_announced = true,
               updated_at = now()
            WHERE t.ticket_id = old.ticket_id AND t.status IN ('QUEUED', 'SEARCHING');
        IF NOT FOUND AND EXISTS (SELECT 1 FROM matchmaking.tickets t
                                 WHERE t.ticket_id = old.ticket_id
                                   AND t.status IN ('REQUIRES_ACCEPTANCE', 'PLACING')) THEN
            outcome := 'player_busy';
            detail := old.player_id;
            RETURN;
        END IF;
        UPDATE backend.ticket_results SET status = 'CANCELLED', status_reason = 'Cancelled',
               status_message = 'Cancelled due to duplicate player', end_time = now(),
               updated_at = now()
            WHERE backend.ticket_results.ticket_id = old.ticket_id
              AND status NOT IN ('COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT');
        UPDATE backend.ticket_players SET active = false
            WHERE backend.ticket_players.ticket_id = old.ticket_id;
    END LOOP;

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

-- StopMatchmaking: by a player of the ticket, or (p_player_id NULL) by a
-- trusted backend for any ticket. Outcomes: cancelled | not_found |
-- conflict (detail: PLACING or the final status).
CREATE OR REPLACE FUNCTION matchmaking.stop_matchmaking(p_ticket_id text, p_player_id text,
                                                        OUT outcome text, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    r backend.ticket_results%ROWTYPE;
    pool_status text;
BEGIN
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
    SELECT status INTO pool_status FROM matchmaking.tickets WHERE ticket_id = p_ticket_id FOR UPDATE;
    IF r.status NOT IN ('QUEUED', 'SEARCHING', 'REQUIRES_ACCEPTANCE')
       OR pool_status IN ('PLACING', 'COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT') THEN
        outcome := 'conflict';
        detail := CASE WHEN pool_status = 'PLACING' THEN 'PLACING' ELSE r.status END;
        RETURN;
    END IF;
    UPDATE matchmaking.tickets SET status = 'CANCELLED', updated_at = now()
        WHERE ticket_id = p_ticket_id;
    -- The client sees the cancellation at once; the matchmaker's own
    -- MatchmakingCancelled event, when it comes, finds the ticket final.
    UPDATE backend.ticket_results SET status = 'CANCELLED', status_reason = 'Cancelled',
           status_message = 'Cancelled by request.', end_time = now(), updated_at = now(),
           last_event = 'MatchmakingCancelled', last_event_time = now()
        WHERE ticket_id = p_ticket_id;
    UPDATE backend.ticket_players SET active = false WHERE ticket_id = p_ticket_id;
    PERFORM pg_notify('rally_tickets', r.configuration_name);
    outcome := 'cancelled';
END;
$$;

-- AcceptMatch for several players of one ticket at once (a trusted
-- backend answering for them). All or nothing. Outcomes: recorded |
-- not_found | not_a_player (detail: the id) | conflict (detail: the status).
CREATE FUNCTION matchmaking.accept_match_players(p_ticket_id text, p_players text[],
                                                 p_accept boolean,
                                                 OUT outcome text, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    r backend.ticket_results%ROWTYPE;
    pool_status text;
BEGIN
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
    SELECT status INTO pool_status FROM matchmaking.tickets WHERE ticket_id = p_ticket_id;
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

-- The matchmaker's EstimatedWaitTime reads a configuration's latest matches.
CREATE INDEX matches_recent ON matchmaking.matches (configuration_name, created_at);
