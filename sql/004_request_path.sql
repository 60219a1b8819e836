-- The request path of StartMatchmaking, made cheaper (measured by make bench,
-- docs/bench.md):
--   * a rule set's typed attribute defaults are computed once, when it is
--     loaded, into a generated column, instead of by a SQL function that
--     PostgreSQL re-plans on every call, twice per request;
--   * a new ticket no longer sends NOTIFY: PostgreSQL takes one global lock
--     at the commit of every notifying transaction, which made concurrent
--     StartMatchmaking calls commit one at a time. The matchmaker finds new
--     tickets on its own tick; NOTIFY stays on the rarer cancel and accept.

ALTER TABLE matchmaking.rule_sets ADD COLUMN attribute_defaults jsonb
    GENERATED ALWAYS AS (matchmaking.attribute_defaults(body)) STORED;

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

    INSERT INTO backend.players (player_id, attributes)
        VALUES (p_player_id, defaults)
        ON CONFLICT (player_id) DO NOTHING;
    SELECT defaults || p.attributes || p_client_attributes
        INTO attrs FROM backend.players p WHERE p.player_id = p_player_id;

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
