-- A player without a value for a declared attribute that has no default
-- cannot be matched ("If no default is declared and a request doesn't
-- include a value, FlexMatch can't fulfill the request"), and GameLift
-- refuses such a StartMatchmaking (InvalidRequestException). rally used to
-- accept the ticket and let it time out, the matchmaker warning about it on
-- every tick. Both StartMatchmaking functions now refuse it with the new
-- outcome attribute_missing (detail: the attribute, the first the rule set
-- declares that the player lacks).
--
-- "Has a value" is what the matchmaker reads: a key of the player's
-- attributes once the rule set's defaults, what rally stores for the player
-- and what the caller gives are merged. Every other path is unchanged: the
-- player route still answers an earlier ticket (same ticketId, or the active
-- one for the compatibility routes) before this check, and a refused
-- request writes nothing.

-- The player route (004), checked just before anything is written.
CREATE OR REPLACE FUNCTION matchmaking.start_matchmaking(
    p_ticket_id text, p_configuration text, p_player_id text, p_latency jsonb,
    p_client_attributes jsonb, p_ttl_seconds integer, p_reuse_active boolean,
    OUT outcome text, OUT ticket_id text, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    conf matchmaking.configurations%ROWTYPE;
    rules jsonb;
    defaults jsonb;
    attrs jsonb;
    k text;
    v jsonb;
    decl jsonb;
    active_id text;
    missing text;
BEGIN
    SELECT * INTO conf FROM matchmaking.configurations WHERE name = p_configuration;
    IF NOT FOUND THEN
        outcome := 'unknown_configuration';
        detail := p_configuration;
        RETURN;
    END IF;
    SELECT body, rs.attribute_defaults INTO rules, defaults
        FROM matchmaking.rule_sets rs WHERE name = conf.rule_set_name;

    FOR k, v IN SELECT * FROM jsonb_each(p_client_attributes) LOOP
        IF NOT coalesce(conf.body->'ClientSettableAttributes', '[]'::jsonb) ? k THEN
            outcome := 'attribute_not_settable';
            detail := k;
            RETURN;
        END IF;
        SELECT a INTO decl FROM jsonb_array_elements(rules->'playerAttributes') a
            WHERE a->>'name' = k;
        IF decl IS NULL OR NOT v ? matchmaking.type_key(decl->>'type') THEN
            outcome := 'attribute_type';
            detail := k;
            RETURN;
        END IF;
    END LOOP;

    -- Serialise this player's requests: the checks below then cannot race.
    PERFORM pg_advisory_xact_lock(hashtextextended(p_player_id, 0));

    -- A ticket whose result expired is over for its players.
    UPDATE backend.ticket_players tp SET active = false
        FROM backend.ticket_results r
        WHERE tp.player_id = p_player_id AND tp.active AND r.ticket_id = tp.ticket_id
          AND r.expires_at <= now();

    IF p_ticket_id IS NOT NULL THEN
        PERFORM 1 FROM backend.ticket_results r WHERE r.ticket_id = p_ticket_id;
        IF FOUND THEN
            PERFORM 1 FROM backend.ticket_players tp JOIN backend.ticket_results r USING (ticket_id)
                WHERE tp.ticket_id = p_ticket_id AND tp.player_id = p_player_id
                  AND r.expires_at > now();
            outcome := CASE WHEN FOUND THEN 'existing' ELSE 'ticket_id_taken' END;
            ticket_id := p_ticket_id;
            RETURN;
        END IF;
        PERFORM 1 FROM matchmaking.tickets t WHERE t.ticket_id = p_ticket_id;
        IF FOUND THEN
            outcome := 'ticket_id_taken';
            ticket_id := p_ticket_id;
            RETURN;
        END IF;
    END IF;

    SELECT tp.ticket_id INTO active_id FROM backend.ticket_players tp
        WHERE tp.player_id = p_player_id AND tp.active;
    IF active_id IS NOT NULL THEN
        outcome := CASE WHEN p_reuse_active THEN 'existing' ELSE 'active' END;
        ticket_id := active_id;
        detail := active_id;
        RETURN;
    END IF;

    -- The players row is created with the defaults on first use, so this is
    -- the merge below it makes, known before it is written.
    attrs := defaults || coalesce((SELECT p.attributes FROM backend.players p
                                   WHERE p.player_id = p_player_id), '{}'::jsonb)
             || p_client_attributes;
    SELECT a->>'name' INTO missing
        FROM jsonb_array_elements(rules->'playerAttributes') WITH ORDINALITY AS x(a, i)
        WHERE NOT attrs ? (a->>'name') ORDER BY i LIMIT 1;
    IF missing IS NOT NULL THEN
        outcome := 'attribute_missing';
        detail := missing;
        RETURN;
    END IF;

    INSERT INTO backend.players (player_id, attributes)
        VALUES (p_player_id, defaults)
        ON CONFLICT (player_id) DO NOTHING;

    ticket_id := coalesce(p_ticket_id, gen_random_uuid()::text);
    INSERT INTO backend.ticket_results (ticket_id, configuration_name, status, expires_at)
        VALUES (ticket_id, conf.name, 'QUEUED', now() + make_interval(secs => p_ttl_seconds));
    INSERT INTO backend.ticket_players (ticket_id, player_id, attributes, latency, active)
        VALUES (ticket_id, p_player_id, attrs, p_latency, true);
    INSERT INTO matchmaking.tickets (ticket_id, configuration_name, players)
        VALUES (ticket_id, conf.name, jsonb_build_array(jsonb_build_object(
            'PlayerId', p_player_id, 'PlayerAttributes', attrs, 'LatencyInMs', p_latency)));
    outcome := 'created';
END;
$$;

-- The server route (011), checked with the other request checks, before
-- any lock is taken or any older ticket cancelled.
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
    missing text;
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
    FOR p IN SELECT * FROM jsonb_array_elements(p_players) LOOP
        pid := p->>'PlayerId';
        attrs := defaults || coalesce((SELECT bp.attributes FROM backend.players bp
                                       WHERE bp.player_id = pid), '{}')
                 || coalesce(p->'PlayerAttributes', '{}');
        SELECT a->>'name' INTO missing
            FROM jsonb_array_elements(rules->'playerAttributes') WITH ORDINALITY AS x(a, i)
            WHERE NOT attrs ? (a->>'name') ORDER BY i LIMIT 1;
        IF missing IS NOT NULL THEN
            outcome := 'attribute_missing';
            detail := missing;
            RETURN;
        END IF;
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
