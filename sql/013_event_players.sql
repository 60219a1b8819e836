-- An event that names a player already active on another ticket (a ticket
-- started elsewhere, or a late event of an older one) made the player active
-- twice: ticket_players_one_active refused it, event-ingest answered 500, and
-- the signed message came back on every retry. The event now applies to its
-- ticket (whose players may read it) while the player's active ticket stays
-- the one it was, as the StartMatchmaking functions keep it: one per player,
-- the same per-player lock, expired results released first. Found by
-- `make fuzz`; test_events.Ordering checks it.

CREATE OR REPLACE FUNCTION backend.apply_matchmaking_event(p_message_id text, p_topic_arn text,
                                                p_event jsonb, p_ttl_seconds integer)
RETURNS text LANGUAGE plpgsql AS $$
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
    new_status text;
    terminal boolean := backend.event_rank(ev_type) = 9;
    changed integer := 0;
    ord integer;
    pid text;
BEGIN
    INSERT INTO backend.sns_messages (message_id, topic_arn, expires_at)
        VALUES (p_message_id, p_topic_arn, now() + interval '7 days')
        ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'duplicate';
    END IF;

    -- The event's players first, in one order (as the StartMatchmaking
    -- functions lock theirs), then its tickets; a ticket whose result
    -- expired is over for its players.
    FOR pid IN SELECT DISTINCT pl->>'playerId' FROM jsonb_array_elements(d->'tickets') tk,
                   jsonb_array_elements(coalesce(tk->'players', '[]'::jsonb)) pl ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock(hashtextextended(pid, 0));
        UPDATE backend.ticket_players tp SET active = false
            FROM backend.ticket_results r
            WHERE tp.player_id = pid AND tp.active AND r.ticket_id = tp.ticket_id
              AND r.expires_at <= now();
    END LOOP;

    FOR t IN SELECT * FROM jsonb_array_elements(d->'tickets') LOOP
        tid := t->>'ticketId';
        SELECT * INTO cur FROM backend.ticket_results WHERE ticket_id = tid FOR UPDATE;
        IF FOUND AND cur.expires_at <= now() THEN
            DELETE FROM backend.ticket_results WHERE ticket_id = tid;
            cur := NULL;
        END IF;
        IF cur.ticket_id IS NULL THEN
            -- A ticket this backend did not start (AWS FlexMatch feeding us,
            -- or a server-side ticket): its players become its owners.
            INSERT INTO backend.ticket_results (ticket_id, configuration_name, status, start_time,
                                                expires_at)
                VALUES (tid, conf_name, 'QUEUED',
                        coalesce((t->>'startTime')::timestamptz, ev_time),
                        now() + make_interval(secs => p_ttl_seconds))
                RETURNING * INTO cur;
        ELSIF NOT backend.event_supersedes(cur.last_event, cur.match_id, cur.last_event_time,
                                           cur.acceptance, cur.status, ev_type, ev_match, ev_time) THEN
            CONTINUE;
        END IF;

        new_status := backend.status_for_event(ev_type, coalesce((d->>'acceptanceRequired')::boolean,
                                                                 cur.status = 'REQUIRES_ACCEPTANCE'),
                                               d->>'acceptance');
        UPDATE backend.ticket_results SET
            status = new_status,
            status_reason = CASE
                WHEN ev_type = 'MatchmakingFailed' THEN coalesce(d->>'reason', 'UNEXPECTED_ERROR')
                WHEN ev_type IN ('MatchmakingTimedOut', 'MatchmakingCancelled') THEN d->>'reason'
                WHEN ev_type = 'AcceptMatchCompleted' AND new_status = 'SEARCHING'
                    THEN 'ACCEPTANCE_' || upper(coalesce(d->>'acceptance', 'FAILED'))
                ELSE NULL END,
            status_message = CASE WHEN terminal THEN d->>'message' ELSE NULL END,
            last_event = ev_type,
            last_event_time = ev_time,
            match_id = coalesce(ev_match, CASE WHEN ev_type = 'MatchmakingSearching' THEN NULL
                                               ELSE match_id END),
            acceptance = CASE WHEN ev_type = 'AcceptMatchCompleted' THEN d->>'acceptance' END,
            end_time = CASE WHEN terminal THEN ev_time ELSE NULL END,
            estimated_wait_time = CASE
                WHEN jsonb_typeof(d->'estimatedWaitMillis') = 'number'
                    THEN (d->>'estimatedWaitMillis')::numeric::integer
                ELSE estimated_wait_time END,
            game_session_arn = CASE WHEN ev_type = 'MatchmakingSucceeded'
                                    THEN gsi->>'gameSessionArn' ELSE game_session_arn END,
            ip_address = CASE WHEN ev_type = 'MatchmakingSucceeded'
                              THEN gsi->>'ipAddress' ELSE ip_address END,
            dns_name = CASE WHEN ev_type = 'MatchmakingSucceeded'
                            THEN gsi->>'dnsName' ELSE dns_name END,
            port = CASE WHEN ev_type = 'MatchmakingSucceeded'
                        THEN (gsi->>'port')::numeric::integer ELSE port END,
            updated_at = now(),
            expires_at = now() + make_interval(secs => p_ttl_seconds)
        WHERE ticket_id = tid;

        -- Each player gets what its own ticket entry says (its own
        -- playerSessionId), never the first player's of the match.
        ord := 0;
        FOR p IN SELECT * FROM jsonb_array_elements(coalesce(t->'players', '[]'::jsonb)) LOOP
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
                    active = tp.active AND NOT terminal;
            ord := ord + 1;
        END LOOP;
        IF terminal THEN
            UPDATE backend.ticket_players SET active = false WHERE ticket_id = tid;
        END IF;
        changed := changed + 1;
    END LOOP;
    RETURN changed::text;
END;
$$;
