-- Functions of the backend schema: FlexMatch events (delivered over SNS)
-- applied to ticket results, and the sweep of expired rows.
--
-- Ordering rules (events may arrive twice, late, or out of order):
--   * a terminal status (COMPLETED, FAILED, CANCELLED, TIMED_OUT) is final;
--   * a terminal event always applies to a ticket that is not final;
--   * within one match (same matchId) events only move forward:
--     PotentialMatchCreated < AcceptMatch < AcceptMatchCompleted, and repeated
--     AcceptMatch events apply in time order (they carry acceptance progress);
--   * a new match (another matchId) replaces an older one only if newer;
--   * MatchmakingSearching never overwrites PotentialMatchCreated or its
--     acceptance round; it applies over an older Searching, after an
--     acceptance round that failed (the ticket went back to the pool), or
--     when strictly newer than the current event (a placement timed out).
--
-- This is the current text of each function, view and trigger of the
-- schema, and the only one (README, "SQL layout"). scripts/migrate.sh
-- applies it after the numbered migrations on every run, in the same
-- transaction, so every statement here must be re-runnable: CREATE OR
-- REPLACE, and a changed signature or result type dropped first under a
-- guard. Table changes go in a new numbered migration, never here.

-- The order of FlexMatch events within one match; 9: a terminal event.
CREATE OR REPLACE FUNCTION backend.event_rank(p_type text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_type
        WHEN 'MatchmakingSearching' THEN 1
        WHEN 'PotentialMatchCreated' THEN 2
        WHEN 'AcceptMatch' THEN 3
        WHEN 'AcceptMatchCompleted' THEN 4
        WHEN 'MatchmakingSucceeded' THEN 9
        WHEN 'MatchmakingFailed' THEN 9
        WHEN 'MatchmakingTimedOut' THEN 9
        WHEN 'MatchmakingCancelled' THEN 9
    END;
$$;

-- Whether an event (new_*) applies over the ticket's last one (cur_*), by
-- the ordering rules above. A placement that timed out sends its tickets
-- back to the pool with a MatchmakingSearching event (FlexMatch sends none;
-- a client would otherwise see PLACING until the request times out). That
-- event is newer than the match's, so a strictly newer Searching replaces
-- any non-final status: every Searching is published when a ticket
-- (re)enters the pool, so one newer than the match means the match is over.
CREATE OR REPLACE FUNCTION backend.event_supersedes(
    cur_type text, cur_match text, cur_time timestamptz, cur_acceptance text, cur_status text,
    new_type text, new_match text, new_time timestamptz) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN cur_status IN ('COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT') THEN false
        WHEN cur_type IS NULL THEN true
        WHEN backend.event_rank(new_type) = 9 THEN true
        WHEN new_type = 'MatchmakingSearching' THEN
            new_time > cur_time
            OR (cur_type = 'MatchmakingSearching' AND new_time >= cur_time)
            OR (cur_type = 'AcceptMatchCompleted' AND cur_acceptance IS DISTINCT FROM 'Accepted'
                AND new_time >= cur_time)
        WHEN new_match IS NOT NULL AND new_match = cur_match THEN
            backend.event_rank(new_type) > backend.event_rank(cur_type)
            OR (new_type = 'AcceptMatch' AND cur_type = 'AcceptMatch' AND new_time >= cur_time)
        WHEN cur_type = 'MatchmakingSearching' THEN new_time >= cur_time OR new_type = 'PotentialMatchCreated'
        ELSE new_time > cur_time AND new_type = 'PotentialMatchCreated'
    END;
$$;

-- The GameLift ticket status an event leaves the ticket in.
CREATE OR REPLACE FUNCTION backend.status_for_event(p_type text, p_acceptance_required boolean,
                                         p_acceptance text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_type
        WHEN 'MatchmakingSearching' THEN 'SEARCHING'
        WHEN 'PotentialMatchCreated' THEN
            CASE WHEN p_acceptance_required THEN 'REQUIRES_ACCEPTANCE' ELSE 'PLACING' END
        WHEN 'AcceptMatch' THEN 'REQUIRES_ACCEPTANCE'
        WHEN 'AcceptMatchCompleted' THEN
            CASE WHEN p_acceptance = 'Accepted' THEN 'PLACING' ELSE 'SEARCHING' END
        WHEN 'MatchmakingSucceeded' THEN 'COMPLETED'
        WHEN 'MatchmakingFailed' THEN 'FAILED'
        WHEN 'MatchmakingTimedOut' THEN 'TIMED_OUT'
        WHEN 'MatchmakingCancelled' THEN 'CANCELLED'
    END;
$$;

-- Applies one SNS Notification carrying a FlexMatch event (event-ingest),
-- exactly once per MessageId: backend.apply_event after the MessageId is
-- recorded. Returns 'duplicate' or the number of tickets changed as text.
-- The caller has validated the envelope's shape; a bad timestamp raises
-- (22007/22008) and nothing is written.
CREATE OR REPLACE FUNCTION backend.apply_matchmaking_event(p_message_id text, p_topic_arn text,
                                                p_event jsonb, p_ttl_seconds integer)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO backend.sns_messages (message_id, topic_arn, expires_at)
        VALUES (p_message_id, p_topic_arn, now() + interval '7 days')
        ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'duplicate';
    END IF;
    RETURN backend.apply_event(p_event, p_ttl_seconds)::text;
END;
$$;

-- rally's own matchmaker reporting a change of its tickets, in the
-- transaction that made it: the event goes to the outbox of p_topic_arn
-- (NULL: the configuration has no NotificationTarget) and is applied to
-- the client's view by backend.apply_event, the function event-ingest
-- applies an SNS delivery with, so the two paths cannot disagree. A
-- published event's MessageId is recorded as applied: an event-ingest an
-- operator subscribed to the topic acknowledges it as a duplicate.
-- Returns the number of tickets changed.
CREATE OR REPLACE FUNCTION backend.apply_own_event(p_topic_arn text, p_message text,
                                                   p_ttl_seconds integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    id uuid;
BEGIN
    IF p_topic_arn IS NOT NULL THEN
        id := events.publish(p_topic_arn, p_message);
    END IF;
    IF id IS NOT NULL THEN
        INSERT INTO backend.sns_messages (message_id, topic_arn, expires_at)
            VALUES (id::text, p_topic_arn, now() + interval '7 days');
    END IF;
    RETURN backend.apply_event(p_message::jsonb, p_ttl_seconds);
END;
$$;

-- backend.apply_own_event for each of p_messages, in their order, in one
-- call (a tick reports thousands); returns the ids of the tickets named by
-- the events that changed something.
CREATE OR REPLACE FUNCTION backend.apply_own_events(p_topic_arn text, p_messages text[],
                                                    p_ttl_seconds integer)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    m text;
BEGIN
    FOREACH m IN ARRAY p_messages LOOP
        IF backend.apply_own_event(p_topic_arn, m, p_ttl_seconds) > 0 THEN
            RETURN QUERY SELECT tk->>'ticketId' FROM jsonb_array_elements(m::jsonb->'detail'->'tickets') tk;
        END IF;
    END LOOP;
END;
$$;

-- Applies a FlexMatch event to the results of the tickets it names, by the
-- ordering rules above; returns how many tickets it changed.
--
-- An event that names a player not yet on its ticket (a ticket started
-- elsewhere, AWS FlexMatch feeding us, or a late event of an older one)
-- adds the player to the ticket (whose players may read it) while the
-- player's active ticket stays the one it was, as the StartMatchmaking
-- functions keep it: one per player, under the same per-player lock, taken
-- in one order, expired results released first (a result that expired is
-- over: its players are new to the ticket made again, and locked then). rally's own
-- events name only players their tickets already have, so they take no
-- player lock: the matchmaker's tick, which holds pool rows, does not wait
-- on a StartMatchmaking that holds a player lock and waits on those rows.
-- The exception is a ticket still in the pool whose result expired
-- (RequestTimeoutSeconds above the result's TTL): should that meet
-- start_party for the same player, PostgreSQL ends the deadlock and the
-- tick is rolled back and runs again.
--
-- jit = off: the planner guesses 100 rows for each jsonb_array_elements, so
-- a probe below can be costed past jit_above_cost, and a call then compiles
-- it with LLVM (tens of milliseconds) to run a few index probes.
CREATE OR REPLACE FUNCTION backend.apply_event(p_event jsonb, p_ttl_seconds integer)
RETURNS integer LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    d jsonb := p_event->'detail';
    ev_type text := p_event->'detail'->>'type';
    ev_time timestamptz := (p_event->>'time')::timestamptz;
    ev_match text := p_event->'detail'->>'matchId';
    gsi jsonb := p_event->'detail'->'gameSessionInfo';
    conf_name text := regexp_replace(coalesce(p_event->'resources'->>0, ''), '^.*/', '');
    t jsonb;
    p jsonb;
    tid text;
    cur backend.ticket_results%ROWTYPE;
    attempt integer;
    applied boolean;
    terminal boolean := backend.event_rank(ev_type) = 9;
    changed integer := 0;
    ord integer;
    pid text;
    newcomers text[] := '{}';
BEGIN
    -- One primary-key probe per player named: LATERAL ... LIMIT 1 keeps it a
    -- probe (a join is planned for jsonb_array_elements' guess of 100 rows,
    -- a scan of the whole table).
    SELECT coalesce(array_agg(DISTINCT pl->>'playerId'), '{}') INTO newcomers
        FROM jsonb_array_elements(d->'tickets') tk,
             jsonb_array_elements(coalesce(tk->'players', '[]'::jsonb)) pl
             LEFT JOIN LATERAL (SELECT 1 AS found FROM backend.ticket_players tp
                                WHERE tp.ticket_id = tk->>'ticketId'
                                  AND tp.player_id = pl->>'playerId' LIMIT 1) f ON true
        WHERE f.found IS NULL;
    FOR pid IN SELECT x FROM unnest(newcomers) x ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock(hashtextextended(pid, 0));
        UPDATE backend.ticket_players tp SET active = false
            FROM backend.ticket_results r
            WHERE tp.player_id = pid AND tp.active AND r.ticket_id = tp.ticket_id
              AND r.expires_at <= now();
    END LOOP;

    <<tickets>>
    FOR t IN SELECT * FROM jsonb_array_elements(d->'tickets') LOOP
        tid := t->>'ticketId';
        -- The usual case in one statement: a live result the event
        -- supersedes. Otherwise the row is locked and looked at: an expired
        -- result is over, a missing one is made, and one the event does not
        -- supersede (judged again under the lock) is left; then the same
        -- UPDATE again.
        FOR attempt IN 1..2 LOOP
            UPDATE backend.ticket_results r SET
                status = backend.status_for_event(ev_type, coalesce((d->>'acceptanceRequired')::boolean,
                                                                    r.status = 'REQUIRES_ACCEPTANCE'),
                                                  d->>'acceptance'),
                status_reason = CASE
                    WHEN ev_type = 'MatchmakingFailed' THEN coalesce(d->>'reason', 'UNEXPECTED_ERROR')
                    WHEN ev_type IN ('MatchmakingTimedOut', 'MatchmakingCancelled') THEN d->>'reason'
                    WHEN ev_type = 'AcceptMatchCompleted'
                         AND d->>'acceptance' IS DISTINCT FROM 'Accepted'
                        THEN 'ACCEPTANCE_' || upper(coalesce(d->>'acceptance', 'FAILED'))
                    ELSE NULL END,
                status_message = CASE WHEN terminal THEN d->>'message' ELSE NULL END,
                last_event = ev_type,
                last_event_time = ev_time,
                match_id = coalesce(ev_match, CASE WHEN ev_type = 'MatchmakingSearching' THEN NULL
                                                   ELSE r.match_id END),
                acceptance = CASE WHEN ev_type = 'AcceptMatchCompleted' THEN d->>'acceptance' END,
                end_time = CASE WHEN terminal THEN ev_time ELSE NULL END,
                estimated_wait_time = CASE
                    WHEN jsonb_typeof(d->'estimatedWaitMillis') = 'number'
                        THEN (d->>'estimatedWaitMillis')::numeric::integer
                    ELSE r.estimated_wait_time END,
                game_session_arn = CASE WHEN ev_type = 'MatchmakingSucceeded'
                                        THEN gsi->>'gameSessionArn' ELSE r.game_session_arn END,
                ip_address = CASE WHEN ev_type = 'MatchmakingSucceeded'
                                  THEN gsi->>'ipAddress' ELSE r.ip_address END,
                dns_name = CASE WHEN ev_type = 'MatchmakingSucceeded'
                                THEN gsi->>'dnsName' ELSE r.dns_name END,
                port = CASE WHEN ev_type = 'MatchmakingSucceeded'
                            THEN (gsi->>'port')::numeric::integer ELSE r.port END,
                updated_at = now(),
                expires_at = now() + make_interval(secs => p_ttl_seconds)
            WHERE r.ticket_id = tid AND r.expires_at > now()
              AND backend.event_supersedes(r.last_event, r.match_id, r.last_event_time,
                                           r.acceptance, r.status, ev_type, ev_match, ev_time);
            applied := FOUND;
            EXIT WHEN applied OR attempt = 2;
            SELECT * INTO cur FROM backend.ticket_results WHERE ticket_id = tid FOR UPDATE;
            IF FOUND AND cur.expires_at <= now() THEN
                DELETE FROM backend.ticket_results WHERE ticket_id = tid;
                cur := NULL;
            END IF;
            IF cur.ticket_id IS NULL THEN
                -- A ticket this backend did not start (AWS FlexMatch feeding
                -- us, or a server-side ticket), or one whose result expired
                -- (its players went with it): its players become its owners,
                -- each new to it, under its lock.
                FOR pid IN SELECT DISTINCT pl->>'playerId'
                           FROM jsonb_array_elements(coalesce(t->'players', '[]'::jsonb)) pl
                           WHERE NOT (pl->>'playerId') = ANY (newcomers) ORDER BY 1
                LOOP
                    PERFORM pg_advisory_xact_lock(hashtextextended(pid, 0));
                    UPDATE backend.ticket_players tp SET active = false
                        FROM backend.ticket_results r
                        WHERE tp.player_id = pid AND tp.active AND r.ticket_id = tp.ticket_id
                          AND r.expires_at <= now();
                    newcomers := newcomers || pid;
                END LOOP;
                INSERT INTO backend.ticket_results (ticket_id, configuration_name, status,
                                                    start_time, expires_at)
                    VALUES (tid, conf_name, 'QUEUED',
                            coalesce((t->>'startTime')::timestamptz, ev_time),
                            now() + make_interval(secs => p_ttl_seconds));
            ELSIF NOT backend.event_supersedes(cur.last_event, cur.match_id, cur.last_event_time,
                                               cur.acceptance, cur.status, ev_type, ev_match,
                                               ev_time) THEN
                CONTINUE tickets;
            END IF;
        END LOOP;
        CONTINUE tickets WHEN NOT applied;

        -- Each player gets what its own ticket entry says (its own
        -- playerSessionId), never the first player's of the match.
        ord := 0;
        FOR p IN SELECT * FROM jsonb_array_elements(coalesce(t->'players', '[]'::jsonb)) LOOP
            -- A player the ticket has, named with nothing new (Searching
            -- events name only the id), is left as it is: the upsert below
            -- would change nothing (a final event's UPDATE follows).
            IF p->>'team' IS NULL AND p->>'playerSessionId' IS NULL AND p->>'accepted' IS NULL
               AND NOT (p->>'playerId') = ANY (newcomers) THEN
                ord := ord + 1;
                CONTINUE;
            END IF;
            -- A player already active on another ticket stays active there.
            INSERT INTO backend.ticket_players AS tp (ticket_id, player_id, ord, team,
                                                      player_session_id, accepted, active)
                VALUES (tid, p->>'playerId', ord, p->>'team', p->>'playerSessionId',
                        (p->>'accepted')::boolean,
                        NOT terminal AND NOT EXISTS (
                            SELECT 1 FROM backend.ticket_players o
                            WHERE o.player_id = p->>'playerId' AND o.active AND o.ticket_id <> tid))
                ON CONFLICT (ticket_id, player_id) DO UPDATE SET
                    team = coalesce(excluded.team, tp.team),
                    player_session_id = coalesce(excluded.player_session_id, tp.player_session_id),
                    accepted = coalesce(excluded.accepted, tp.accepted),
                    active = tp.active AND NOT terminal
                -- No new row version when nothing changes: a tick applies
                -- several events to one ticket in one transaction, and each
                -- version costs every later lookup of the row.
                WHERE (tp.team, tp.player_session_id, tp.accepted, tp.active) IS DISTINCT FROM
                      (coalesce(excluded.team, tp.team),
                       coalesce(excluded.player_session_id, tp.player_session_id),
                       coalesce(excluded.accepted, tp.accepted), tp.active AND NOT terminal);
            ord := ord + 1;
        END LOOP;
        IF terminal THEN
            -- IS NOT FALSE, not "AND active": with that, PostgreSQL chose to
            -- scan the partial index of active players for the ticket.
            UPDATE backend.ticket_players SET active = false
                WHERE ticket_id = tid AND active IS NOT FALSE;
        END IF;
        changed := changed + 1;
    END LOOP;
    RETURN changed;
END;
$$;

-- Deletes up to p_batch expired rows of each kind; returns how many in all.
-- Small batches with SKIP LOCKED keep a sweep off the hot path.
CREATE OR REPLACE FUNCTION backend.sweep_expired(p_batch integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
    total integer := 0;
BEGIN
    DELETE FROM backend.ticket_results WHERE ticket_id IN (
        SELECT ticket_id FROM backend.ticket_results WHERE expires_at <= now()
        LIMIT p_batch FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    DELETE FROM matchmaking.tickets t WHERE t.ticket_id IN (
        SELECT pt.ticket_id FROM matchmaking.tickets pt
        WHERE NOT EXISTS (SELECT 1 FROM backend.ticket_results r WHERE r.ticket_id = pt.ticket_id)
          AND pt.updated_at < now() - interval '1 hour'
        LIMIT p_batch FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    DELETE FROM backend.sns_messages WHERE message_id IN (
        SELECT message_id FROM backend.sns_messages WHERE expires_at <= now()
        LIMIT p_batch FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    -- Used refresh tokens once they would have expired, and the session
    -- families once every token they may have issued has (identity.sql).
    DELETE FROM identity.refresh_tokens WHERE token_sha256 IN (
        SELECT token_sha256 FROM identity.refresh_tokens WHERE expires_at <= now()
        LIMIT p_batch FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    DELETE FROM identity.refresh_families WHERE family_id IN (
        SELECT family_id FROM identity.refresh_families WHERE expires_at <= now()
        LIMIT p_batch FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    DELETE FROM fleet.game_session_logs WHERE game_session_id IN (
        SELECT game_session_id FROM fleet.game_session_logs WHERE expires_at <= now()
        LIMIT p_batch FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    RETURN total;
END;
$$;
