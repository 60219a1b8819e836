-- Functions of the matchmaking schema: the player and server StartMatchmaking,
-- StopMatchmaking and AcceptMatch.
--
-- matchmaking.attribute_defaults is not here: the generated column
-- rule_sets.attribute_defaults (sql/004) is computed by it, so it belongs to
-- that table and lives in sql/002_matchmaking.sql. Changing it means a
-- migration that also recomputes the column.
--
-- This is the current text of each function, view and trigger of the
-- schema, and the only one (README, "SQL layout"). scripts/migrate.sh
-- applies it after the numbered migrations on every run, in the same
-- transaction, so every statement here must be re-runnable: CREATE OR
-- REPLACE, and a changed signature or result type dropped first under a
-- guard. Table changes go in a new numbered migration, never here.

-- The key of a FlexMatch attribute value of a rule set's attribute type:
-- {"N": 10} for a number.
CREATE OR REPLACE FUNCTION matchmaking.type_key(p_type text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_type WHEN 'number' THEN 'N' WHEN 'string' THEN 'S'
                       WHEN 'string_list' THEN 'SL' WHEN 'string_number_map' THEN 'SDM' END;
$$;

-- StartMatchmaking for one player (the player route). Outcomes:
--   created | existing (same ticket again, or a compat retry) |
--   active (another ticket is active: detail = its id) |
--   ticket_id_taken | unknown_configuration |
--   attribute_not_settable / attribute_type / attribute_missing (detail =
--   attribute name).
-- p_reuse_active: answer 'existing' with the active ticket instead of
-- 'active' (the AWS sample clients restart matchmaking blindly).
--
-- attribute_missing: a player without a value for a declared attribute that
-- has no default cannot be matched, and GameLift refuses such a request
-- (InvalidRequestException). "Has a value" is what the matchmaker reads: a
-- key of the player's attributes once the rule set's defaults, what rally
-- stores for the player and what the caller gives are merged; detail is the
-- first such attribute the rule set declares. It is checked after an earlier
-- ticket is answered (same ticketId, or the active one for the
-- compatibility routes), just before anything is written: a refused request
-- writes nothing.
--
-- A new ticket sends no NOTIFY: PostgreSQL takes one global lock at the
-- commit of every notifying transaction, which made concurrent calls commit
-- one at a time. The matchmaker finds new tickets on its own tick.
--
-- attributes: a created ticket's player attributes as stored (the rule
-- set's defaults, the player's row and the caller's, merged), so that the
-- caller can answer with the ticket without reading it back (request-
-- matchmaking's START statement); NULL for every other outcome. It came with
-- sql/031; CREATE OR REPLACE cannot add an OUT column, so a version without
-- it is dropped first (in this file's transaction: callers never see it
-- missing).
DO $$
BEGIN
    IF NOT (SELECT 'attributes' = ANY (proargnames) FROM pg_proc
            WHERE oid = to_regprocedure('matchmaking.start_matchmaking(text, text, text, jsonb, '
                                        'jsonb, integer, boolean)')) THEN
        DROP FUNCTION matchmaking.start_matchmaking(text, text, text, jsonb, jsonb, integer,
                                                    boolean);
    END IF;
END
$$;
CREATE OR REPLACE FUNCTION matchmaking.start_matchmaking(
    p_ticket_id text, p_configuration text, p_player_id text, p_latency jsonb,
    p_client_attributes jsonb, p_ttl_seconds integer, p_reuse_active boolean,
    OUT outcome text, OUT ticket_id text, OUT detail text, OUT attributes jsonb)
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
    stored jsonb;
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
    SELECT p.attributes INTO stored FROM backend.players p WHERE p.player_id = p_player_id;
    attrs := defaults || coalesce(stored, '{}'::jsonb) || p_client_attributes;
    SELECT a->>'name' INTO missing
        FROM jsonb_array_elements(rules->'playerAttributes') WITH ORDINALITY AS x(a, i)
        WHERE NOT attrs ? (a->>'name') ORDER BY i LIMIT 1;
    IF missing IS NOT NULL THEN
        outcome := 'attribute_missing';
        detail := missing;
        RETURN;
    END IF;

    -- A new ticket commits asynchronously (docs/failures.md, "What a crash
    -- may lose"): lost in a crash, its player's next poll answers 404 and
    -- the client asks again. No match can hold it: the matchmaker's own
    -- commit is synchronous and makes every earlier one durable with it.
    PERFORM set_config('synchronous_commit', 'off', true);
    ticket_id := coalesce(p_ticket_id, gen_random_uuid()::text);
    -- A client-chosen ticketId another player's start inserted after the
    -- check above: taken, once that one commits (it is waited for).
    INSERT INTO backend.ticket_results (ticket_id, configuration_name, status, expires_at)
        VALUES (ticket_id, conf.name, 'QUEUED', now() + make_interval(secs => p_ttl_seconds))
        ON CONFLICT ON CONSTRAINT ticket_results_pkey DO NOTHING;
    IF NOT FOUND THEN
        outcome := 'ticket_id_taken';
        RETURN;
    END IF;
    -- A returning player's row is there already: nothing to write.
    IF stored IS NULL THEN
        INSERT INTO backend.players (player_id, attributes)
            VALUES (p_player_id, defaults)
            ON CONFLICT (player_id) DO NOTHING;
    END IF;
    INSERT INTO backend.ticket_players (ticket_id, player_id, attributes, latency, active)
        VALUES (ticket_id, p_player_id, attrs, p_latency, true);
    INSERT INTO matchmaking.tickets (ticket_id, configuration_name, players)
        VALUES (ticket_id, conf.name, jsonb_build_array(jsonb_build_object(
            'PlayerId', p_player_id, 'PlayerAttributes', attrs, 'LatencyInMs', p_latency)));
    outcome := 'created';
    attributes := attrs;
END;
$$;

-- start_matchmaking for many requests in one transaction (request-
-- matchmaking runs the player starts waiting on its socket together:
-- docs/bench.md, issue 16). Element k of each array is request k's
-- argument; row k of the result is its answer, in order, with
-- start_matchmaking's outcomes and one more:
--   later: nothing was done; the caller runs the request again, waiting.
-- Without p_wait (a first run), no one waits for a busy player: each
-- player's lock is tried, and the start of one whose lock is held
-- elsewhere (a request of theirs in another batch, a party start waiting
-- on the matchmaker) is later. Any other lock wait (a row the event
-- applier holds, a client-chosen ticketId another transaction is
-- inserting) is cut at 200 ms; the start that waited is undone (its own
-- subtransaction) and later, and so is every start after it, since what
-- held it may hold them too. With p_wait (the second run), locks are
-- waited for, taken in the order start_party and the event applier take
-- theirs; a start that still fails (a deadlock) is later, alone. A player
-- named twice is served in array order, as two requests one after the
-- other would be. Each start is its own subtransaction: at most 32 a call
-- (request-matchmaking's batch), under PostgreSQL's 64 cached per
-- transaction.
DROP FUNCTION IF EXISTS matchmaking.start_matchmaking_many(text[], text[], text[], jsonb[], jsonb[],
                                                           integer, boolean[]);
CREATE OR REPLACE FUNCTION matchmaking.start_matchmaking_many(
    p_ticket_ids text[], p_configurations text[], p_player_ids text[], p_latencies jsonb[],
    p_client_attributes jsonb[], p_ttl_seconds integer, p_reuse_active boolean[], p_wait boolean)
RETURNS TABLE (i integer, outcome text, ticket_id text, detail text, attributes jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    pid text;
    busy text[] := '{}';
    stalled boolean := false;
BEGIN
    IF NOT p_wait THEN
        PERFORM set_config('lock_timeout', '200ms', true);
    END IF;
    FOR pid IN SELECT DISTINCT x FROM unnest(p_player_ids) x ORDER BY 1 LOOP
        IF p_wait THEN
            PERFORM pg_advisory_xact_lock(hashtextextended(pid, 0));
        ELSIF NOT pg_try_advisory_xact_lock(hashtextextended(pid, 0)) THEN
            busy := busy || pid;
        END IF;
    END LOOP;
    FOR k IN 1 .. coalesce(cardinality(p_player_ids), 0) LOOP
        i := k;
        outcome := 'later';
        ticket_id := NULL;
        detail := NULL;
        attributes := NULL;
        IF NOT stalled AND NOT p_player_ids[k] = ANY (busy) THEN
            BEGIN
                SELECT s.outcome, s.ticket_id, s.detail, s.attributes
                    INTO outcome, ticket_id, detail, attributes
                    FROM matchmaking.start_matchmaking(p_ticket_ids[k], p_configurations[k],
                                                       p_player_ids[k], p_latencies[k],
                                                       p_client_attributes[k], p_ttl_seconds,
                                                       p_reuse_active[k]) s;
            EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
                outcome := 'later';
                ticket_id := NULL;
                detail := NULL;
                attributes := NULL;
                stalled := NOT p_wait;
            END;
        END IF;
        RETURN NEXT;
    END LOOP;
END;
$$;

-- What keeps a party's players ([{"PlayerId", "PlayerAttributes"?}]) from
-- matching under a rule set: an attribute it declares given with another
-- type (attribute_type), or one it declares without a default that a
-- player has no value for (attribute_missing), the value taken from the
-- request, then (p_stored) what rally stores for the player, then the rule
-- set's default. NULL outcome: none.
CREATE OR REPLACE FUNCTION matchmaking.party_attribute_problem(
    p_players jsonb, p_rule_set text, p_stored boolean, OUT outcome text, OUT detail text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    rules jsonb;
    defaults jsonb;
    p jsonb;
    k text;
    v jsonb;
    decl jsonb;
    attrs jsonb;
BEGIN
    SELECT body, rs.attribute_defaults INTO rules, defaults
        FROM matchmaking.rule_sets rs WHERE name = p_rule_set;
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
        attrs := defaults
                 || CASE WHEN p_stored THEN coalesce((SELECT bp.attributes FROM backend.players bp
                                                      WHERE bp.player_id = p->>'PlayerId'), '{}')
                    ELSE '{}' END
                 || coalesce(p->'PlayerAttributes', '{}');
        SELECT a->>'name' INTO detail
            FROM jsonb_array_elements(rules->'playerAttributes') WITH ORDINALITY AS x(a, i)
            WHERE NOT attrs ? (a->>'name') ORDER BY i LIMIT 1;
        IF detail IS NOT NULL THEN
            outcome := 'attribute_missing';
            RETURN;
        END IF;
    END LOOP;
END;
$$;

-- StartMatchmaking for a party (server scope, GameLift's request shape).
-- p_players: [{"PlayerId", "PlayerAttributes"?, "LatencyInMs"?}], shapes
-- checked by the caller. Attributes: the rule set's defaults, then what
-- rally stores for the player, then what the caller gives; a declared
-- attribute of the wrong type is refused, and so is a player without a
-- value for a declared attribute (as start_matchmaking), both before any
-- lock is taken or any older ticket cancelled.
--
-- FlexMatch's duplicate-player rule: another unfinished ticket of one of
-- these players is cancelled, without an event, with the message "Cancelled
-- due to duplicate player". It goes in two passes: every such ticket is
-- locked (pool row first, in ticket order) and checked first, and only when
-- none is in a proposed match or being placed are the searching ones
-- cancelled; otherwise the new ticket is refused (player_busy) and nothing
-- changes. A ticket the matchmaker already finished (its event not yet
-- applied) keeps its result; its players are simply free again.
--
-- Outcomes: created | unknown_configuration | attribute_type /
-- attribute_missing (detail: the attribute) | ticket_id_taken |
-- player_busy (detail: the player).
CREATE OR REPLACE FUNCTION matchmaking.start_party(
    p_ticket_id text, p_configuration text, p_players jsonb, p_ttl_seconds integer,
    OUT outcome text, OUT ticket_id text, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    conf matchmaking.configurations%ROWTYPE;
    rules jsonb;
    defaults jsonb;
    p jsonb;
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
    SELECT c.outcome, c.detail INTO outcome, detail
        FROM matchmaking.party_attribute_problem(p_players, conf.rule_set_name, true) c;
    IF outcome IS NOT NULL THEN
        RETURN;
    END IF;

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

-- StopMatchmaking: by a player of the ticket, or (p_player_id NULL) by a
-- trusted backend for any ticket. The pool row is locked before the result
-- row (the one lock order of tickets). Outcomes: cancelled | not_found |
-- conflict (detail: PLACING or the final status).
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

-- AcceptMatch for several players of one ticket at once (a trusted
-- backend answering for them). All or nothing; the pool row is locked
-- before the result row. Outcomes: recorded | not_found | not_a_player
-- (detail: the id) | conflict (detail: the status) | backfill (a backfill
-- ticket's players are in the game already: only its new players accept;
-- detail: the ticket).
CREATE OR REPLACE FUNCTION matchmaking.accept_match_players(p_ticket_id text, p_players text[],
                                                            p_accept boolean,
                                                            OUT outcome text, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    r backend.ticket_results%ROWTYPE;
    pool_status text;
    game_session text;
BEGIN
    SELECT status, game_session_id INTO pool_status, game_session
        FROM matchmaking.tickets WHERE ticket_id = p_ticket_id FOR UPDATE;
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
    IF game_session IS NOT NULL THEN
        outcome := 'backfill';
        detail := p_ticket_id;
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

-- AcceptMatch by a player of the ticket, through accept_match_players (so
-- the pool row is locked first). Outcomes: recorded | not_found | conflict
-- (detail = current status). An answer that lands just after the matchmaker
-- sent the ticket back to the pool cannot carry over: a new proposal clears
-- the answers of its tickets (matcher.c, MATCHED).
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

-- StartMatchBackfill: a backfill ticket for an ACTIVE game session (by ARN
-- or rally's id; of fleet p_fleet, NULL: any) holding the players already
-- in it ([{"PlayerId", "PlayerAttributes"?, "Team", "LatencyInMs"?}],
-- shapes checked by the caller), each on a team of the rule set. Their
-- attributes are the request's (over the rule set's defaults): FlexMatch
-- takes the game server's word for who is playing. Each game session has
-- one backfill request at a time: an earlier one still searching is
-- cancelled (MatchmakingCancelled: "Cancelled by a new backfill request.");
-- one in a match being placed makes this one wait (busy).
-- Outcomes: created | unknown_configuration | not_found | not_active
-- (detail: the status) | unknown_team (detail: the team) | attribute_type /
-- attribute_missing (detail: the attribute) | ticket_id_taken | busy.
--
-- p_skip_locked: an earlier request the matchmaker holds at the moment
-- counts as busy instead of being waited for. Callers that hold the game
-- session's row (RemovePlayerSession's seat count) pass true: the
-- matchmaker locks tickets before game sessions.
CREATE OR REPLACE FUNCTION matchmaking.start_backfill(
    p_ticket_id text, p_configuration text, p_game_session text, p_fleet text, p_players jsonb,
    p_ttl_seconds integer, p_skip_locked boolean,
    OUT outcome text, OUT ticket_id text, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    conf matchmaking.configurations%ROWTYPE;
    g fleet.game_sessions%ROWTYPE;
    rules jsonb;
    defaults jsonb;
    p jsonb;
    attrs jsonb;
    old record;
    pool jsonb := '[]';
    n integer := 0;
BEGIN
    SELECT * INTO conf FROM matchmaking.configurations WHERE name = p_configuration;
    IF NOT FOUND THEN
        outcome := 'unknown_configuration';
        detail := p_configuration;
        RETURN;
    END IF;
    SELECT * INTO g FROM fleet.game_sessions gs
        WHERE (gs.game_session_arn = p_game_session OR gs.game_session_id = p_game_session)
          AND (p_fleet IS NULL OR gs.fleet_id = p_fleet);
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    IF g.status <> 'ACTIVE' THEN
        outcome := 'not_active';
        detail := g.status;
        RETURN;
    END IF;
    SELECT body, rs.attribute_defaults INTO rules, defaults
        FROM matchmaking.rule_sets rs WHERE name = conf.rule_set_name;
    -- The teams as matches name them: a definition with a quantity of
    -- more than one is <name>_1, <name>_2, ... (the engine's naming).
    SELECT x->>'Team' INTO detail FROM jsonb_array_elements(p_players) x
        WHERE NOT EXISTS (
            SELECT 1 FROM jsonb_array_elements(rules->'teams') t,
                          generate_series(1, coalesce((t->>'quantity')::integer, 1)) k
                WHERE CASE WHEN coalesce((t->>'quantity')::integer, 1) = 1 THEN t->>'name'
                           ELSE (t->>'name') || '_' || k END = x->>'Team')
        LIMIT 1;
    IF detail IS NOT NULL THEN
        outcome := 'unknown_team';
        RETURN;
    END IF;
    SELECT c.outcome, c.detail INTO outcome, detail
        FROM matchmaking.party_attribute_problem(p_players, conf.rule_set_name, false) c;
    IF outcome IS NOT NULL THEN
        RETURN;
    END IF;

    PERFORM pg_advisory_xact_lock(hashtext('rally-backfill'), hashtext(g.game_session_id));
    ticket_id := coalesce(p_ticket_id, gen_random_uuid()::text);
    PERFORM 1 FROM backend.ticket_results r WHERE r.ticket_id = start_backfill.ticket_id
        UNION ALL SELECT 1 FROM matchmaking.tickets t WHERE t.ticket_id = start_backfill.ticket_id;
    IF FOUND THEN
        outcome := 'ticket_id_taken';
        RETURN;
    END IF;
    SELECT count(*) INTO n FROM matchmaking.tickets t
        WHERE t.game_session_id = g.game_session_id
          AND t.status IN ('QUEUED', 'SEARCHING', 'REQUIRES_ACCEPTANCE', 'PLACING');
    FOR old IN EXECUTE format(
        'SELECT t.ticket_id, t.status FROM matchmaking.tickets t WHERE t.game_session_id = $1 '
        'AND t.status IN (''QUEUED'', ''SEARCHING'', ''REQUIRES_ACCEPTANCE'', ''PLACING'') '
        'ORDER BY t.ticket_id FOR UPDATE %s', CASE WHEN p_skip_locked THEN 'SKIP LOCKED' END)
        USING g.game_session_id
    LOOP
        n := n - 1;
        IF old.status IN ('REQUIRES_ACCEPTANCE', 'PLACING') THEN
            n := 1;
            detail := old.ticket_id;
            EXIT;
        END IF;
    END LOOP;
    IF n > 0 THEN  -- one in a match being placed, or one we did not get
        outcome := 'busy';
        RETURN;
    END IF;
    n := 0;
    UPDATE backend.ticket_results r
        SET status = 'CANCELLED', status_reason = 'Cancelled',
            status_message = 'Cancelled by a new backfill request.', end_time = now(),
            updated_at = now()
        FROM matchmaking.tickets t
        WHERE t.ticket_id = r.ticket_id AND t.game_session_id = g.game_session_id
          AND t.status IN ('QUEUED', 'SEARCHING');
    UPDATE matchmaking.tickets t SET status = 'CANCELLED', updated_at = now()
        WHERE t.game_session_id = g.game_session_id AND t.status IN ('QUEUED', 'SEARCHING');

    INSERT INTO backend.ticket_results (ticket_id, configuration_name, status, expires_at)
        VALUES (ticket_id, conf.name, 'QUEUED', now() + make_interval(secs => p_ttl_seconds));
    FOR p IN SELECT * FROM jsonb_array_elements(p_players) LOOP
        attrs := defaults || coalesce(p->'PlayerAttributes', '{}');
        INSERT INTO backend.ticket_players (ticket_id, player_id, ord, attributes, latency, active)
            VALUES (ticket_id, p->>'PlayerId', n, attrs, coalesce(p->'LatencyInMs', '{}'), false);
        pool := pool || jsonb_build_array(jsonb_build_object(
            'PlayerId', p->>'PlayerId', 'PlayerAttributes', attrs,
            'LatencyInMs', coalesce(p->'LatencyInMs', '{}'), 'Team', p->>'Team'));
        n := n + 1;
    END LOOP;
    INSERT INTO matchmaking.tickets (ticket_id, configuration_name, players, game_session_id)
        VALUES (ticket_id, conf.name, pool, g.game_session_id);
    outcome := 'created';
END;
$$;

-- BackfillMode AUTOMATIC: a game session of such a configuration with empty
-- seats gets a backfill ticket holding the players who still have theirs
-- (ACTIVE, or RESERVED within the reservation), each on the team
-- MatchmakerData puts them in, with the attributes and latency (to the
-- game session's location) of the ticket that brought them, replacing one
-- still searching. Called when the game session starts (placement), after a
-- backfill, and when a player leaves (RemovePlayerSession). Nothing when
-- the configuration is MANUAL, a backfill of the game session is being
-- placed (its completion calls again) or held by the matchmaker this
-- moment, every seat is taken, or nobody is left. The ticket's id is MatchmakerData's autoBackfillTicketId
-- when that is still unused; else a new one, written there. Returns the
-- ticket's id, or NULL.
CREATE OR REPLACE FUNCTION matchmaking.auto_backfill(p_game_session text, p_ttl_seconds integer)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    g fleet.game_sessions%ROWTYPE;
    conf matchmaking.configurations%ROWTYPE;
    data jsonb;
    seats integer;
    players jsonb;
    tid text;
    made text;
BEGIN
    SELECT * INTO g FROM fleet.game_sessions
        WHERE game_session_id = p_game_session AND status = 'ACTIVE' AND match_id IS NOT NULL;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT c.* INTO conf FROM matchmaking.matches m
        JOIN matchmaking.configurations c ON c.name = m.configuration_name
        WHERE m.match_id = g.match_id;
    IF NOT FOUND OR coalesce(conf.body->>'BackfillMode', 'MANUAL') <> 'AUTOMATIC'
       OR EXISTS (SELECT 1 FROM matchmaking.tickets t
                  WHERE t.game_session_id = g.game_session_id
                    AND t.status IN ('REQUIRES_ACCEPTANCE', 'PLACING')) THEN
        RETURN NULL;  -- a backfill being placed: its completion calls again
    END IF;
    data := g.matchmaker_data::jsonb;
    SELECT sum((t->>'maxPlayers')::integer * coalesce((t->>'quantity')::integer, 1)) INTO seats
        FROM matchmaking.rule_sets rs, jsonb_array_elements(rs.body->'teams') t
        WHERE rs.name = conf.rule_set_name;
    WITH seated AS (
        SELECT DISTINCT ps.player_id FROM fleet.player_sessions ps
            WHERE ps.game_session_id = g.game_session_id
              AND (ps.status = 'ACTIVE' OR (ps.status = 'RESERVED' AND ps.reserved_until > now()))),
    known AS (
        SELECT DISTINCT ON (tp.player_id) tp.player_id, tp.attributes, tp.latency
            FROM matchmaking.matches m
            JOIN backend.ticket_players tp ON tp.ticket_id = ANY (m.ticket_ids)
            WHERE m.game_session_id = g.game_session_id AND m.status = 'COMPLETED'
            ORDER BY tp.player_id, m.created_at DESC),
    teams AS (
        SELECT p->>'playerId' AS player_id, tm->>'name' AS team
            FROM jsonb_array_elements(data->'teams') tm, jsonb_array_elements(tm->'players') p)
    SELECT jsonb_agg(jsonb_build_object(
               'PlayerId', s.player_id, 'Team', tm.team, 'PlayerAttributes', k.attributes,
               'LatencyInMs', CASE WHEN k.latency ? g.location
                                   THEN jsonb_build_object(g.location, k.latency->g.location)
                                   ELSE '{}' END) ORDER BY s.player_id)
        INTO players
        FROM seated s JOIN teams tm USING (player_id) JOIN known k USING (player_id);
    IF players IS NULL OR jsonb_array_length(players) >= seats THEN
        RETURN NULL;
    END IF;
    tid := data->>'autoBackfillTicketId';
    IF tid IS NULL OR EXISTS (SELECT 1 FROM matchmaking.tickets t WHERE t.ticket_id = tid) THEN
        tid := 'auto-backfill-' || gen_random_uuid();
    END IF;
    SELECT b.outcome INTO made
        FROM matchmaking.start_backfill(tid, conf.name, g.game_session_id, NULL, players,
                                        p_ttl_seconds, true) b;
    IF made <> 'created' THEN
        RETURN NULL;
    END IF;
    IF data->>'autoBackfillTicketId' IS DISTINCT FROM tid THEN
        UPDATE fleet.game_sessions
            SET matchmaker_data = (data || jsonb_build_object('autoBackfillTicketId', tid,
                                                              'autoBackfillMode', 'AUTOMATIC'))::text
            WHERE game_session_id = g.game_session_id;
    END IF;
    RETURN tid;
END;
$$;
