-- Functions of the world schema (sql/020_worlds.sql, docs/worlds.md). The
-- current text of each, re-applied after the migrations (README, "SQL
-- layout"): every statement re-runnable.

-- Whether p_fleet's game servers (NULL: a backend principal) may use the
-- world: its key, or NULL when the world does not exist or is not hosted by
-- a game session of that fleet that has not ended (as if it did not exist).
CREATE OR REPLACE FUNCTION world.key_for(p_world text, p_fleet text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT w.world_key FROM world.worlds w
        WHERE w.world_id = p_world
          AND (p_fleet IS NULL OR EXISTS (
                  SELECT 1 FROM fleet.game_sessions g
                  WHERE g.game_session_id = w.game_session_id AND g.fleet_id = p_fleet
                    AND g.status <> 'TERMINATED'));
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

-- One batch of block writes, (p_x[i], p_y[i], p_z[i]) -> p_w[i], in one
-- statement: a block written twice in the batch keeps its last value; each
-- chunk the batch touches gets one new version, which its written blocks
-- carry. Returns the chunks touched with their new versions.
CREATE OR REPLACE FUNCTION world.write_blocks(p_world bigint, p_x integer[], p_y integer[],
                                              p_z integer[], p_w integer[])
RETURNS TABLE (p integer, q integer, version bigint)
LANGUAGE sql AS $$
    WITH b AS (
        SELECT DISTINCT ON (x, y, z) x, y, z, w,
               x >> 5 AS p, z >> 5 AS q
        FROM unnest(p_x, p_y, p_z, p_w) WITH ORDINALITY AS u(x, y, z, w, n)
        ORDER BY x, y, z, n DESC),
    c AS (
        INSERT INTO world.chunks AS c (world_key, p, q, version)
            SELECT p_world, b.p, b.q, 1 FROM b GROUP BY b.p, b.q
        ON CONFLICT (world_key, p, q) DO UPDATE SET version = c.version + 1
        RETURNING c.p, c.q, c.version),
    -- A data-modifying WITH runs whether or not it is read.
    written AS (
        INSERT INTO world.blocks AS k (world_key, p, q, x, y, z, w, version)
            SELECT p_world, b.p, b.q, b.x, b.y::smallint, b.z, b.w, c.version
            FROM b JOIN c ON c.p = b.p AND c.q = b.q
        ON CONFLICT (world_key, p, q, x, y, z) DO UPDATE SET w = excluded.w, version = excluded.version
        RETURNING 1)
    SELECT c.p, c.q, c.version FROM c ORDER BY c.p, c.q;
$$;

-- A chunk emptied: its blocks deleted, its version moved on and
-- remembered as the clearing's, so a reader with an older version starts
-- over. Returns the new version, or NULL when the chunk has no rows.
CREATE OR REPLACE FUNCTION world.clear_chunk(p_world bigint, p_p integer, p_q integer)
RETURNS bigint
LANGUAGE sql AS $$
    WITH gone AS (DELETE FROM world.blocks WHERE world_key = p_world AND p = p_p AND q = p_q
                  RETURNING 1)
    UPDATE world.chunks SET version = version + 1, cleared_version = version + 1
        WHERE world_key = p_world AND p = p_p AND q = p_q
        RETURNING version;
$$;
