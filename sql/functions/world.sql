-- Functions of the world schema (sql/020_worlds.sql, docs/worlds.md). The
-- current text of each, re-applied after the migrations (README, "SQL
-- layout"): every statement re-runnable.

-- Whether p_fleet's game servers (NULL: a backend principal) may use the
-- world: its key, or NULL when the world does not exist or is not hosted by
-- a game session of that fleet that has not ended (as if it did not exist).
-- With p_process (a sidecar's: X-Rally-Process-Id), that game session must
-- run on that process: a sidecar whose server died cannot write over the
-- world's next server. Before sql/024 it had no p_process.
DROP FUNCTION IF EXISTS world.key_for(text, text);
CREATE OR REPLACE FUNCTION world.key_for(p_world text, p_fleet text, p_process text)
RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT w.world_key FROM world.worlds w
        WHERE w.world_id = p_world
          AND (p_fleet IS NULL OR EXISTS (
                  SELECT 1 FROM fleet.game_sessions g
                  WHERE g.game_session_id = w.game_session_id AND g.fleet_id = p_fleet
                    AND g.status <> 'TERMINATED'
                    AND (p_process IS NULL OR g.process_id = p_process)));
$$;

-- A world made by a backend principal; an existing one is answered as is.
-- Outcomes: created, exists.
CREATE OR REPLACE FUNCTION world.create_world(p_world text, OUT outcome text)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO world.worlds (world_id) VALUES (p_world) ON CONFLICT (world_id) DO NOTHING;
    outcome := CASE WHEN FOUND THEN 'created' ELSE 'exists' END;
END;
$$;

-- The world is hosted by game session p_game_session (rally's id or its
-- ARN), of p_fleet when a game server asks (NULL: a backend principal). A
-- game server may make the world so. Outcomes: hosted, unknown_world (a
-- backend's world must exist), no_game_session (not of the fleet, or
-- ended), hosted_elsewhere (detail: the game session hosting it, which
-- runs).
CREATE OR REPLACE FUNCTION world.host_world(p_world text, p_game_session text, p_fleet text,
                                            OUT outcome text, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    g fleet.game_sessions%ROWTYPE;
    w world.worlds%ROWTYPE;
BEGIN
    SELECT * INTO g FROM fleet.game_sessions
        WHERE (game_session_id = p_game_session OR game_session_arn = p_game_session)
          AND (p_fleet IS NULL OR fleet_id = p_fleet) AND status <> 'TERMINATED';
    IF NOT FOUND THEN
        outcome := 'no_game_session';
        RETURN;
    END IF;
    IF p_fleet IS NOT NULL THEN
        INSERT INTO world.worlds (world_id) VALUES (p_world) ON CONFLICT (world_id) DO NOTHING;
    END IF;
    SELECT * INTO w FROM world.worlds WHERE world_id = p_world FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'unknown_world';
        RETURN;
    END IF;
    IF w.game_session_id IS NOT NULL AND w.game_session_id <> g.game_session_id
       AND EXISTS (SELECT 1 FROM fleet.game_sessions o WHERE o.game_session_id = w.game_session_id
                   AND o.status <> 'TERMINATED') THEN
        outcome := 'hosted_elsewhere';
        detail := w.game_session_id;
        RETURN;
    END IF;
    UPDATE world.worlds SET game_session_id = g.game_session_id, hosted_at = now()
        WHERE world_key = w.world_key;
    outcome := 'hosted';
    detail := g.game_session_id;
END;
$$;

-- One batch of block writes, (p_x[i], p_y[i], p_z[i]) -> p_w[i]: a block
-- written twice in the batch keeps its last value; each chunk the batch
-- touches gets one new version, which its written blocks carry, and a
-- part of its log with the batch's blocks (sql/025_chunk_log.sql). A chunk
-- of more than 16 parts, or whose parts grew past twice its last rewrite
-- and 64 KB more (blocks written over and over), gets its solid blocks as
-- one part instead, under the chunk's lock this batch holds, so no other
-- write changes them meanwhile.
-- Returns the chunks touched with their new versions. Before sql/025 it was
-- LANGUAGE sql (one statement): the rewrite needs a second.
CREATE OR REPLACE FUNCTION world.write_blocks(p_world bigint, p_x integer[], p_y integer[],
                                              p_z integer[], p_w integer[])
RETURNS TABLE (p integer, q integer, version bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    r record;
BEGIN
    RETURN QUERY
    WITH b AS (
        SELECT DISTINCT ON (u.x, u.y, u.z) u.x, u.y, u.z, u.w,
               u.x >> 5 AS p, u.z >> 5 AS q
        FROM unnest(p_x, p_y, p_z, p_w) WITH ORDINALITY AS u(x, y, z, w, n)
        ORDER BY u.x, u.y, u.z, u.n DESC),
    packed AS (
        SELECT b.p, b.q,
               string_agg(int4send(b.x) || int4send(b.y) || int4send(b.z) || int4send(b.w),
                          ''::bytea) AS log
        FROM b GROUP BY b.p, b.q),
    c AS (
        -- In (p, q) order: two batches lock their common chunks in the same
        -- order, and so never deadlock.
        INSERT INTO world.chunks AS c (world_key, p, q, version, log_parts, log_bytes)
            SELECT p_world, k.p, k.q, 1, 1, length(k.log) FROM packed k ORDER BY k.p, k.q
        ON CONFLICT (world_key, p, q) DO UPDATE
            SET version = c.version + 1, log_parts = c.log_parts + 1,
                log_bytes = c.log_bytes + excluded.log_bytes
        RETURNING c.p, c.q, c.version, c.log_parts),
    logged AS (
        INSERT INTO world.chunk_log (world_key, p, q, version, log)
            SELECT p_world, k.p, k.q, c.version, k.log FROM packed k JOIN c USING (p, q)
        RETURNING 1),
    -- A data-modifying WITH runs whether or not it is read.
    written AS (
        INSERT INTO world.blocks AS k (world_key, p, q, x, y, z, w, version)
            SELECT p_world, b.p, b.q, b.x, b.y::smallint, b.z, b.w, c.version
            FROM b JOIN c ON c.p = b.p AND c.q = b.q
        ON CONFLICT (world_key, p, q, x, y, z) DO UPDATE SET w = excluded.w, version = excluded.version
        RETURNING 1)
    SELECT c.p, c.q, c.version FROM c ORDER BY c.p, c.q;

    FOR r IN SELECT k.p, k.q, k.version FROM world.chunks k
                WHERE k.world_key = p_world
                  AND (k.log_parts > 16 OR k.log_bytes > 2 * k.log_base + 65536)
                  AND (k.p, k.q) IN (SELECT DISTINCT u.x >> 5, u.z >> 5
                                     FROM unnest(p_x, p_z) AS u(x, z))
    LOOP
        DELETE FROM world.chunk_log l
            WHERE l.world_key = p_world AND l.p = r.p AND l.q = r.q;
        INSERT INTO world.chunk_log (world_key, p, q, version, log)
            SELECT p_world, r.p, r.q, r.version,
                   coalesce(string_agg(int4send(b.x) || int4send(b.y::integer) || int4send(b.z)
                                       || int4send(b.w), ''::bytea ORDER BY b.x, b.y, b.z), '')
            FROM world.blocks b
            WHERE b.world_key = p_world AND b.p = r.p AND b.q = r.q AND b.w <> 0;
        UPDATE world.chunks k SET log_parts = 1, log_bytes = l.n, log_base = l.n
            FROM (SELECT length(m.log) AS n FROM world.chunk_log m
                  WHERE m.world_key = p_world AND m.p = r.p AND m.q = r.q) l
            WHERE k.world_key = p_world AND k.p = r.p AND k.q = r.q;
    END LOOP;
END;
$$;

-- Every chunk asked, in the order asked: its version, and without p_since
-- its log, its parts in order (sql/025_chunk_log.sql: world-state takes
-- each block's last value and leaves out air), with p_since the blocks changed after it, air
-- included, as JSON text ([[x, y, z, w], ...]: PostgreSQL's array text once
-- its braces are brackets); reset when the chunk was cleared after p_since
-- (its log then, to start over). A chunk never written: version 0, nothing.
CREATE OR REPLACE FUNCTION world.read_chunk_logs(p_world bigint, p_ps integer[], p_qs integer[],
                                                 p_since bigint)
RETURNS TABLE (p integer, q integer, version bigint, reset boolean, blocks text, log bytea)
LANGUAGE sql STABLE AS $$
    SELECT u.p, u.q, coalesce(c.version, 0),
           coalesce(p_since < c.cleared_version, false),
           CASE WHEN p_since >= c.cleared_version THEN
               (SELECT coalesce(translate(array_agg(ARRAY[b.x, b.y, b.z, b.w])::text, '{}', '[]'),
                                '[]')
                FROM world.blocks b
                WHERE b.world_key = p_world AND b.p = u.p AND b.q = u.q AND b.version > p_since)
           END,
           CASE WHEN p_since IS NULL OR p_since < c.cleared_version THEN
               (SELECT coalesce(string_agg(l.log, ''::bytea ORDER BY l.version), '')
                FROM world.chunk_log l
                WHERE l.world_key = p_world AND l.p = u.p AND l.q = u.q)
           END
    FROM unnest(p_ps, p_qs) WITH ORDINALITY AS u(p, q, n)
    LEFT JOIN world.chunks c ON c.world_key = p_world AND c.p = u.p AND c.q = u.q
    ORDER BY u.n;
$$;

-- A chunk emptied: its blocks deleted, its version moved on and
-- remembered as the clearing's, so a reader with an older version starts
-- over. Returns the new version, or NULL when the chunk has no rows.
CREATE OR REPLACE FUNCTION world.clear_chunk(p_world bigint, p_p integer, p_q integer)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v bigint;
BEGIN
    -- The chunk's lock first, as writers take it; then the deletes, each a
    -- statement of its own, see what a writer that held it committed.
    UPDATE world.chunks SET version = version + 1, cleared_version = version + 1, log_parts = 0,
                            log_bytes = 0, log_base = 0
        WHERE world_key = p_world AND p = p_p AND q = p_q
        RETURNING version INTO v;
    IF v IS NOT NULL THEN
        DELETE FROM world.blocks WHERE world_key = p_world AND p = p_p AND q = p_q;
        DELETE FROM world.chunk_log WHERE world_key = p_world AND p = p_p AND q = p_q;
    END IF;
    RETURN v;
END;
$$;

-- ---- saves (sql/021_saves.sql) ------------------------------------------------

-- A new save of the world, UPLOADING: its version.
CREATE OR REPLACE FUNCTION world.begin_save(p_world bigint) RETURNS integer
LANGUAGE sql AS $$
    INSERT INTO world.saves (world_key, version)
        SELECT p_world, coalesce(max(version), 0) + 1 FROM world.saves WHERE world_key = p_world
        RETURNING version;
$$;

-- A part of an UPLOADING save, stored (again: the last one counts).
-- Outcomes: stored, not_found, complete (the save is final).
CREATE OR REPLACE FUNCTION world.put_part(p_world bigint, p_version integer, p_part integer,
                                          p_data bytea) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    st text;
BEGIN
    SELECT status INTO st FROM world.saves WHERE world_key = p_world AND version = p_version
        FOR SHARE;
    IF NOT FOUND THEN
        RETURN 'not_found';
    END IF;
    IF st <> 'UPLOADING' THEN
        RETURN 'complete';
    END IF;
    INSERT INTO world.save_parts (world_key, version, part, data)
        VALUES (p_world, p_version, p_part, p_data)
    ON CONFLICT (world_key, version, part) DO UPDATE SET data = excluded.data;
    RETURN 'stored';
END;
$$;

-- The save made final, once its parts 1..p_parts are all there and their
-- SHA-256 was checked by the caller: COMPLETE, and the world's saves past
-- its retention deleted, oldest first (UPLOADING ones older than a day
-- too: abandoned uploads). Outcomes: complete, not_found, missing_parts
-- (detail: how many of 1..p_parts are there), already (it was final).
CREATE OR REPLACE FUNCTION world.complete_save(p_world bigint, p_version integer, p_parts integer,
                                               p_size bigint, p_sha256 text,
                                               OUT outcome text, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    s world.saves%ROWTYPE;
    have integer;
    keep integer;
BEGIN
    SELECT * INTO s FROM world.saves WHERE world_key = p_world AND version = p_version FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    IF s.status = 'COMPLETE' THEN
        outcome := 'already';
        RETURN;
    END IF;
    SELECT count(*) INTO have FROM world.save_parts
        WHERE world_key = p_world AND version = p_version AND part BETWEEN 1 AND p_parts;
    IF have <> p_parts OR EXISTS (SELECT 1 FROM world.save_parts WHERE world_key = p_world
                                  AND version = p_version AND part > p_parts) THEN
        outcome := 'missing_parts';
        detail := have::text;
        RETURN;
    END IF;
    UPDATE world.saves SET status = 'COMPLETE', parts = p_parts, size = p_size, sha256 = p_sha256,
                           completed_at = now()
        WHERE world_key = p_world AND version = p_version;
    SELECT save_retention INTO keep FROM world.worlds WHERE world_key = p_world;
    DELETE FROM world.saves o
        WHERE o.world_key = p_world
          AND ((o.status = 'COMPLETE' AND o.version NOT IN (
                   SELECT version FROM world.saves WHERE world_key = p_world AND status = 'COMPLETE'
                   ORDER BY version DESC LIMIT keep))
               OR (o.status = 'UPLOADING' AND o.created_at < now() - interval '1 day'));
    outcome := 'complete';
END;
$$;

-- ---- items (sql/022_items.sql) -------------------------------------------------

-- One batch of item writes, all or nothing, in order: p_items is
-- [{"key", "kind" (json|binary), "value" (base64 of the bytes), "ifVersion"?
-- (the version it must have; 0: it must not exist), "delete"?}], or with
-- "upload", "parts", "sha256" in place of kind and value: the parts 1..parts
-- of that upload (sql/026_item_parts.sql) become the key's value. Every
-- condition and upload is checked first, under the keys' locks; if any
-- fails, nothing is written and the conflicts come back: {"conflicts":
-- [{"key", "version" (0: none)}]}, or {"problems": [{"key", "error"
-- (missing_parts, checksum_mismatch), "parts" | "sha256" (what is there)}]}.
-- Otherwise {"items": [{"key", "version"}]} (a deleted key: version 0).
-- Uploads abandoned for a day are deleted.
CREATE OR REPLACE FUNCTION world.put_items(p_world bigint, p_items jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    it jsonb;
    cur bigint;
    got record;
    conflicts jsonb := '[]';
    problems jsonb := '[]';
    written jsonb := '[]';
BEGIN
    -- A lock per key, made or not yet (a row lock cannot hold a key that
    -- does not exist: two create-only writes would both pass), taken in key
    -- order so that two batches naming the same keys never deadlock. Only
    -- this function writes items.
    PERFORM pg_advisory_xact_lock(hashtextextended(p_world::text || '/' || k, 0))
        FROM (SELECT DISTINCT e->>'key' AS k FROM jsonb_array_elements(p_items) e ORDER BY 1) keys;
    DELETE FROM world.item_uploads
        WHERE world_key = p_world AND created_at < now() - interval '1 day';
    -- Every condition and every upload checked before anything is written.
    FOR it IN SELECT * FROM jsonb_array_elements(p_items) LOOP
        IF it ? 'ifVersion' THEN
            SELECT version INTO cur FROM world.items WHERE world_key = p_world AND key = it->>'key';
            IF coalesce(cur, 0) <> (it->>'ifVersion')::bigint THEN
                conflicts := conflicts || jsonb_build_object('key', it->>'key', 'version', coalesce(cur, 0));
            END IF;
        END IF;
        IF it ? 'upload' THEN
            SELECT count(*) AS n, encode(sha256(string_agg(u.data, ''::bytea ORDER BY u.part)), 'hex')
                   AS digest
                INTO got FROM world.item_uploads u
                WHERE u.world_key = p_world AND u.upload = it->>'upload'
                  AND u.part <= (it->>'parts')::integer;
            IF got.n <> (it->>'parts')::integer THEN
                problems := problems || jsonb_build_object('key', it->>'key', 'error', 'missing_parts',
                                                           'parts', got.n);
            ELSIF got.digest <> it->>'sha256' THEN
                problems := problems || jsonb_build_object('key', it->>'key',
                                                           'error', 'checksum_mismatch',
                                                           'sha256', got.digest);
            END IF;
        END IF;
    END LOOP;
    IF jsonb_array_length(conflicts) > 0 THEN
        RETURN jsonb_build_object('conflicts', conflicts);
    ELSIF jsonb_array_length(problems) > 0 THEN
        RETURN jsonb_build_object('problems', problems);
    END IF;
    FOR it IN SELECT * FROM jsonb_array_elements(p_items) LOOP
        DELETE FROM world.item_parts WHERE world_key = p_world AND key = it->>'key';
        IF coalesce((it->>'delete')::boolean, false) THEN
            DELETE FROM world.items WHERE world_key = p_world AND key = it->>'key';
            written := written || jsonb_build_object('key', it->>'key', 'version', 0);
            CONTINUE;
        END IF;
        INSERT INTO world.items AS i (world_key, key, version, kind, value, parts, size, sha256)
            VALUES (p_world, it->>'key', 1, coalesce(it->>'kind', 'binary'),
                    CASE WHEN it ? 'upload' THEN ''::bytea ELSE decode(it->>'value', 'base64') END,
                    coalesce((it->>'parts')::integer, 0), NULL, it->>'sha256')
        ON CONFLICT (world_key, key) DO UPDATE
            SET version = i.version + 1, kind = excluded.kind, value = excluded.value,
                parts = excluded.parts, size = NULL, sha256 = excluded.sha256, updated_at = now()
        RETURNING version INTO cur;
        IF it ? 'upload' THEN
            INSERT INTO world.item_parts (world_key, key, part, data)
                SELECT p_world, it->>'key', u.part, u.data FROM world.item_uploads u
                WHERE u.world_key = p_world AND u.upload = it->>'upload'
                  AND u.part <= (it->>'parts')::integer;
            UPDATE world.items SET size = (SELECT sum(length(m.data)) FROM world.item_parts m
                                           WHERE m.world_key = p_world AND m.key = it->>'key')
                WHERE world_key = p_world AND key = it->>'key';
            DELETE FROM world.item_uploads WHERE world_key = p_world AND upload = it->>'upload';
        END IF;
        written := written || jsonb_build_object('key', it->>'key', 'version', cur);
    END LOOP;
    RETURN jsonb_build_object('items', written);
END;
$$;

-- What world-state answered reads with before sql/025 (the solid blocks as
-- JSON text), kept for a world-state of the release before still running
-- while the migration commits: it answers the same, from the block rows.
-- Dropped and made again on every run so that an earlier shape of it goes.
-- To be dropped with the release after this one.
DROP FUNCTION IF EXISTS world.read_chunks(bigint, integer[], integer[], bigint);
CREATE FUNCTION world.read_chunks(p_world bigint, p_ps integer[], p_qs integer[],
                                  p_since bigint)
RETURNS TABLE (p integer, q integer, version bigint, reset boolean, blocks text)
LANGUAGE sql STABLE AS $$
    SELECT u.p, u.q, coalesce(c.version, 0),
           coalesce(p_since < c.cleared_version, false),
           (SELECT coalesce(translate(array_agg(ARRAY[b.x, b.y, b.z, b.w])::text, '{}', '[]'),
                            '[]')
            FROM world.blocks b
            WHERE b.world_key = p_world AND b.p = u.p AND b.q = u.q
              AND CASE WHEN p_since >= c.cleared_version THEN b.version > p_since
                       ELSE b.w <> 0 END)
    FROM unnest(p_ps, p_qs) WITH ORDINALITY AS u(p, q, n)
    LEFT JOIN world.chunks c ON c.world_key = p_world AND c.p = u.p AND c.q = u.q
    ORDER BY u.n;
$$;

-- ---- lifecycle (sql/024_world_lifecycle.sql, docs/worlds.md "Lifecycle") ----

-- A world's lifecycle settings, from a backend principal: the fleet (and
-- location) its game sessions run on, their maximum players and game
-- properties, and how long it may stay without players before it is ended
-- (NULL: never). The world is made when new. Outcomes: created, updated,
-- unknown_fleet, unknown_location (detail: the fleet's locations).
CREATE OR REPLACE FUNCTION world.configure(p_world text, p_fleet text, p_location text,
                                           p_max integer, p_idle integer, p_properties jsonb,
                                           OUT outcome text, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    f fleet.fleets%ROWTYPE;
BEGIN
    SELECT * INTO f FROM fleet.fleets WHERE fleet_id = p_fleet;
    IF NOT FOUND THEN
        outcome := 'unknown_fleet';
        RETURN;
    END IF;
    IF p_location IS NOT NULL AND NOT p_location = ANY (f.locations) THEN
        outcome := 'unknown_location';
        detail := array_to_string(f.locations, ', ');
        RETURN;
    END IF;
    INSERT INTO world.worlds (world_id, fleet_id, location, max_players, idle_seconds,
                              game_properties)
        VALUES (p_world, p_fleet, p_location, p_max, p_idle, p_properties)
        ON CONFLICT (world_id) DO UPDATE
            SET fleet_id = EXCLUDED.fleet_id, location = EXCLUDED.location,
                max_players = EXCLUDED.max_players, idle_seconds = EXCLUDED.idle_seconds,
                game_properties = EXCLUDED.game_properties
        RETURNING CASE WHEN xmax = 0 THEN 'created' ELSE 'updated' END INTO outcome;
END;
$$;

-- Starts the world's next game session on an idle process of its fleet.
-- Its GameSessionData names the world, the session's number and the save to
-- restore: {"worldId", "session", "saveVersion"} (null: none yet). The
-- world is hosted by it at once, so its server may use the world as soon as
-- it hears of it. The caller holds the world's row. Outcomes: starting
-- (detail: the game session's ARN), and create_game_session's refusals
-- (no_capacity, unknown_fleet, unknown_location).
CREATE OR REPLACE FUNCTION world.start(p_key bigint, p_region text,
                                       OUT outcome text, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    w world.worlds%ROWTYPE;
    c record;
    save integer;
BEGIN
    SELECT * INTO w FROM world.worlds WHERE world_key = p_key;
    SELECT max(version) INTO save FROM world.saves
        WHERE world_key = p_key AND status = 'COMPLETE';
    SELECT * INTO c FROM fleet.create_game_session(
        w.fleet_id, w.location, w.max_players, w.world_id, w.game_properties,
        jsonb_build_object('worldId', w.world_id, 'session', w.sessions + 1,
                           'saveVersion', save)::text,
        NULL, 'world-' || w.world_key || '-' || (w.sessions + 1), p_region);
    IF c.outcome NOT IN ('created', 'existing') THEN
        outcome := c.outcome;
        detail := c.detail;
        RETURN;
    END IF;
    UPDATE world.worlds SET game_session_id = c.game_session_id, hosted_at = now(),
                            sessions = sessions + 1, running = true
        WHERE world_key = p_key;
    outcome := 'starting';
    detail := (SELECT game_session_arn FROM fleet.game_sessions
               WHERE game_session_id = c.game_session_id);
END;
$$;

-- A player joins the world: a seat in its running game session, or, when
-- none runs, its next game session started. Outcomes: joined (answer: the
-- PlayerSession in GameLift's shape), activating / terminating (detail: the
-- game session's ARN: ask again shortly), starting (likewise, a new one),
-- unknown_world, no_fleet (a world for storage only), and the refusals of
-- create_player_sessions (deny_all, full) and world.start (no_capacity ...).
CREATE OR REPLACE FUNCTION world.join(p_world text, p_player text, p_data text, p_region text,
                                      p_account text, OUT outcome text, OUT detail text,
                                      OUT answer jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    w world.worlds%ROWTYPE;
    g fleet.game_sessions%ROWTYPE;
    ps fleet.player_sessions%ROWTYPE;
    made record;
BEGIN
    SELECT * INTO w FROM world.worlds WHERE world_id = p_world FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'unknown_world';
        RETURN;
    ELSIF w.fleet_id IS NULL THEN
        outcome := 'no_fleet';
        RETURN;
    END IF;
    SELECT * INTO g FROM fleet.game_sessions WHERE game_session_id = w.game_session_id;
    IF FOUND AND g.status IN ('ACTIVATING', 'TERMINATING') THEN
        outcome := lower(g.status);
        detail := g.game_session_arn;
        RETURN;
    ELSIF NOT FOUND OR g.status <> 'ACTIVE' THEN
        SELECT * INTO made FROM world.start(w.world_key, p_region);
        outcome := made.outcome;
        detail := made.detail;
        RETURN;
    END IF;
    SELECT * INTO made FROM fleet.create_player_sessions(g.game_session_id, NULL,
                                                         ARRAY[p_player], ARRAY[p_data]);
    IF made.outcome <> 'created' THEN
        outcome := made.outcome;
        detail := made.detail;
        RETURN;
    END IF;
    SELECT * INTO ps FROM fleet.player_sessions
        WHERE player_session_id = made.player_session_ids[1];
    outcome := 'joined';
    answer := fleet.player_session_json(ps, g, 'arn:aws:gamelift:' || p_region || ':' || p_account
                                               || ':');
END;
$$;

-- Ends the world (a backend principal's stop): not started again until a
-- player joins; its game session, if one runs, is asked to end (its server
-- saves and ends). Outcomes: stopping (detail: the game session's ARN),
-- stopped (none ran), unknown_world.
CREATE OR REPLACE FUNCTION world.stop(p_world text, OUT outcome text, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    w world.worlds%ROWTYPE;
    t record;
BEGIN
    UPDATE world.worlds SET running = false WHERE world_id = p_world RETURNING * INTO w;
    IF NOT FOUND THEN
        outcome := 'unknown_world';
        RETURN;
    END IF;
    outcome := 'stopped';
    IF w.game_session_id IS NOT NULL THEN
        SELECT * INTO t FROM fleet.terminate_game_session(w.game_session_id, NULL,
                                                          'TRIGGER_ON_PROCESS_TERMINATE');
        IF t.outcome = 'terminating' OR (t.outcome = 'ended' AND t.detail = 'TERMINATING') THEN
            outcome := 'stopping';
            detail := (SELECT game_session_arn FROM fleet.game_sessions
                       WHERE game_session_id = w.game_session_id);
        END IF;
    END IF;
END;
$$;

-- What the sweeper does for worlds on each pass: a world whose game session
-- has had no player for its idle_seconds is asked to end (its server saves
-- and ends); a world that should run but whose game session ended without
-- being asked to (a crash, a host drained) is started again, backing off
-- (2, 4, ... 300 s) while its sessions keep ending within a minute. Returns
-- what it did (worlds ended and started).
CREATE OR REPLACE FUNCTION world.tend(p_region text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer := 0;
    r record;
    made record;
    quick boolean;
BEGIN
    FOR r IN SELECT w.world_key, g.game_session_id FROM world.worlds w
                JOIN fleet.game_sessions g ON g.game_session_id = w.game_session_id
                WHERE w.fleet_id IS NOT NULL AND w.idle_seconds IS NOT NULL
                  AND g.status = 'ACTIVE' AND g.seats_taken = 0
                  AND greatest(g.activated_at,
                               (SELECT max(ps.ended_at) FROM fleet.player_sessions ps
                                WHERE ps.game_session_id = g.game_session_id))
                      <= now() - w.idle_seconds * interval '1 second'
    LOOP
        -- After the world's row, as world.join takes it: a player seated
        -- meanwhile keeps the world up.
        PERFORM 1 FROM world.worlds WHERE world_key = r.world_key FOR UPDATE;
        CONTINUE WHEN NOT EXISTS (
            SELECT 1 FROM world.worlds w JOIN fleet.game_sessions g
                ON g.game_session_id = w.game_session_id
            WHERE w.world_key = r.world_key AND g.game_session_id = r.game_session_id
              AND g.status = 'ACTIVE' AND fleet.count_seats_now(g.game_session_id) = 0);
        UPDATE world.worlds SET running = false WHERE world_key = r.world_key;
        PERFORM fleet.terminate_game_session(r.game_session_id, NULL,
                                             'TRIGGER_ON_PROCESS_TERMINATE');
        n := n + 1;
    END LOOP;
    FOR r IN SELECT w.world_key, w.crashes, g.ending_asked,
                    g.ended_at - coalesce(g.activated_at, g.created_at) AS lived
                FROM world.worlds w
                JOIN fleet.game_sessions g ON g.game_session_id = w.game_session_id
                WHERE w.fleet_id IS NOT NULL AND w.running AND g.status = 'TERMINATED'
                  AND (w.restart_at IS NULL OR w.restart_at <= now())
                FOR UPDATE OF w SKIP LOCKED
    LOOP
        IF r.ending_asked THEN
            UPDATE world.worlds SET running = false WHERE world_key = r.world_key;
            CONTINUE;
        END IF;
        SELECT * INTO made FROM world.start(r.world_key, p_region);
        IF made.outcome <> 'starting' THEN /* no idle process yet: soon again */
            UPDATE world.worlds SET restart_at = now() + interval '5 seconds'
                WHERE world_key = r.world_key;
            CONTINUE;
        END IF;
        quick := r.lived IS NULL OR r.lived < interval '1 minute';
        UPDATE world.worlds
            SET crashes = CASE WHEN quick THEN r.crashes + 1 ELSE 0 END,
                restart_at = now() + least(300, 2 ^ CASE WHEN quick THEN least(r.crashes + 1, 9)
                                                      ELSE 0 END) * interval '1 second'

            WHERE world_key = r.world_key;
        n := n + 1;
    END LOOP;
    RETURN n;
END;
$$;
