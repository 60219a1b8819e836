-- Matchmaking configurations, the ticket pool, and the client-facing ticket
-- results (DESIGN §4).
--
-- Two views of a ticket, as in the AWS flow:
--   matchmaking.tickets     the matchmaker's pool (FlexMatch's own state);
--   backend.ticket_results  what clients read: created with the ticket, then
--                           moved only by FlexMatch events arriving through
--                           event-ingest (the DynamoDB table of the samples).
-- Client reads go to backend.*, never to the pool, so rally's event-ingest
-- works the same fed by rally's matchmaker or by AWS FlexMatch itself.

CREATE SCHEMA matchmaking;
CREATE SCHEMA backend;

CREATE TABLE matchmaking.rule_sets (
    name        text PRIMARY KEY,
    body        jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- body holds the CreateMatchmakingConfiguration fields as loaded from
-- config/configurations/*.json, including rally's ClientSettableAttributes.
CREATE TABLE matchmaking.configurations (
    name           text PRIMARY KEY,
    rule_set_name  text NOT NULL REFERENCES matchmaking.rule_sets (name),
    body           jsonb NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE matchmaking.tickets (
    ticket_id           text PRIMARY KEY,
    configuration_name  text NOT NULL,
    status              text NOT NULL DEFAULT 'QUEUED',
    players             jsonb NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tickets_waiting ON matchmaking.tickets (configuration_name, created_at)
    WHERE status IN ('QUEUED', 'SEARCHING');

-- Server-side player attributes (skill and the like), FlexMatch-typed:
-- {"skill": {"N": 10}}. Created with the rule set defaults on first use.
CREATE TABLE backend.players (
    player_id   text PRIMARY KEY,
    attributes  jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE backend.ticket_results (
    ticket_id            text PRIMARY KEY,
    configuration_name   text NOT NULL,
    status               text NOT NULL,
    status_reason        text,
    status_message       text,
    last_event           text,          -- detail.type of the last applied event
    last_event_time      timestamptz,
    match_id             text,
    acceptance           text,          -- AcceptMatchCompleted.acceptance
    start_time           timestamptz NOT NULL DEFAULT now(),
    end_time             timestamptz,
    estimated_wait_time  integer,
    game_session_arn     text,
    ip_address           text,
    dns_name             text,
    port                 integer,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    expires_at           timestamptz NOT NULL
);
CREATE INDEX ticket_results_expiry ON backend.ticket_results (expires_at);

-- The players of a ticket. `active` marks a ticket still in play for that
-- player: at most one per player.
CREATE TABLE backend.ticket_players (
    ticket_id          text NOT NULL REFERENCES backend.ticket_results ON DELETE CASCADE,
    player_id          text NOT NULL,
    ord                integer NOT NULL DEFAULT 0,
    attributes         jsonb NOT NULL DEFAULT '{}',
    latency            jsonb NOT NULL DEFAULT '{}',
    team               text,
    player_session_id  text,
    accepted           boolean,
    active             boolean NOT NULL,
    PRIMARY KEY (ticket_id, player_id)
);
CREATE UNIQUE INDEX ticket_players_one_active ON backend.ticket_players (player_id) WHERE active;
CREATE INDEX ticket_players_player ON backend.ticket_players (player_id);

-- SNS MessageIds already processed (dedupe) and subscription handshakes seen.
CREATE TABLE backend.sns_messages (
    message_id   text PRIMARY KEY,
    topic_arn    text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX sns_messages_expiry ON backend.sns_messages (expires_at);

CREATE TABLE backend.sns_subscriptions (
    message_id     text PRIMARY KEY,
    message_type   text NOT NULL,
    topic_arn      text NOT NULL,
    subscribe_url  text,
    token          text,
    received_at    timestamptz NOT NULL DEFAULT now()
);

-- FlexMatch typed defaults of a rule set's playerAttributes.
CREATE FUNCTION matchmaking.attribute_defaults(p_rule_set jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_object_agg(a->>'name', jsonb_build_object(
               CASE a->>'type' WHEN 'number' THEN 'N' WHEN 'string' THEN 'S'
                               WHEN 'string_list' THEN 'SL' ELSE 'SDM' END, a->'default')),
           '{}'::jsonb)
    FROM jsonb_array_elements(coalesce(p_rule_set->'playerAttributes', '[]'::jsonb)) a
    WHERE a ? 'default';
$$;

CREATE FUNCTION matchmaking.type_key(p_type text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_type WHEN 'number' THEN 'N' WHEN 'string' THEN 'S'
                       WHEN 'string_list' THEN 'SL' WHEN 'string_number_map' THEN 'SDM' END;
$$;

-- StartMatchmaking for one player (the player route). Outcomes:
--   created | existing (same ticket again, or a compat retry) |
--   active (another ticket is active: detail = its id) |
--   ticket_id_taken | unknown_configuration |
--   attribute_not_settable / attribute_type (detail = attribute name).
-- p_reuse_active: answer 'existing' with the active ticket instead of
-- 'active' (the AWS sample clients restart matchmaking blindly).
CREATE FUNCTION matchmaking.start_matchmaking(
    p_ticket_id text, p_configuration text, p_player_id text, p_latency jsonb,
    p_client_attributes jsonb, p_ttl_seconds integer, p_reuse_active boolean,
    OUT outcome text, OUT ticket_id text, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    conf matchmaking.configurations%ROWTYPE;
    rules jsonb;
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
    SELECT body INTO rules FROM matchmaking.rule_sets WHERE name = conf.rule_set_name;

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
        VALUES (p_player_id, matchmaking.attribute_defaults(rules))
        ON CONFLICT (player_id) DO NOTHING;
    SELECT matchmaking.attribute_defaults(rules) || p.attributes || p_client_attributes
        INTO attrs FROM backend.players p WHERE p.player_id = p_player_id;

    ticket_id := coalesce(p_ticket_id, gen_random_uuid()::text);
    INSERT INTO backend.ticket_results (ticket_id, configuration_name, status, expires_at)
        VALUES (ticket_id, conf.name, 'QUEUED', now() + make_interval(secs => p_ttl_seconds));
    INSERT INTO backend.ticket_players (ticket_id, player_id, attributes, latency, active)
        VALUES (ticket_id, p_player_id, attrs, p_latency, true);
    INSERT INTO matchmaking.tickets (ticket_id, configuration_name, players)
        VALUES (ticket_id, conf.name, jsonb_build_array(jsonb_build_object(
            'PlayerId', p_player_id, 'PlayerAttributes', attrs, 'LatencyInMs', p_latency)));
    PERFORM pg_notify('rally_tickets', conf.name);
    outcome := 'created';
END;
$$;

-- StopMatchmaking by a player of the ticket. Outcomes: cancelled |
-- not_found | conflict (detail = current status: PLACING or ended).
CREATE FUNCTION matchmaking.stop_matchmaking(p_ticket_id text, p_player_id text,
                                             OUT outcome text, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    r backend.ticket_results%ROWTYPE;
    pool_status text;
BEGIN
    SELECT res.* INTO r FROM backend.ticket_results res
        JOIN backend.ticket_players tp ON tp.ticket_id = res.ticket_id AND tp.player_id = p_player_id
        WHERE res.ticket_id = p_ticket_id AND res.expires_at > now()
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

-- AcceptMatch by a player of the ticket. Outcomes: recorded | not_found |
-- conflict (detail = current status).
CREATE FUNCTION matchmaking.accept_match(p_ticket_id text, p_player_id text, p_accept boolean,
                                         OUT outcome text, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    r backend.ticket_results%ROWTYPE;
    pool_status text;
BEGIN
    SELECT res.* INTO r FROM backend.ticket_results res
        JOIN backend.ticket_players tp ON tp.ticket_id = res.ticket_id AND tp.player_id = p_player_id
        WHERE res.ticket_id = p_ticket_id AND res.expires_at > now()
        FOR UPDATE OF res;
    IF NOT FOUND THEN
        outcome := 'not_found';
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
        WHERE ticket_id = p_ticket_id AND player_id = p_player_id;
    PERFORM pg_notify('rally_acceptance', p_ticket_id);
    outcome := 'recorded';
END;
$$;
