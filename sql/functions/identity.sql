-- Functions of the identity schema: guest users and rotating refresh tokens.
--
-- This is the current text of each function, view and trigger of the
-- schema, and the only one (README, "SQL layout"). scripts/migrate.sh
-- applies it after the numbered migrations on every run, in the same
-- transaction, so every statement here must be re-runnable: CREATE OR
-- REPLACE, and a changed signature or result type dropped first under a
-- guard. Table changes go in a new numbered migration, never here.

-- Sessions (common/refresh.h): a refresh token carries its family, its
-- player and its expiry under a MAC, so logging in stores nothing. A family
-- gets a row when one of its tokens is used (rotate_refresh) or when it is
-- revoked (logout, reuse), and keeps it until the last token it may have
-- issued expires (expires_at); a used token gets a row until it would have
-- expired, so that presenting it again is seen as reuse.
--
-- Durability (docs/failures.md, "What a crash may lose"): an account, a
-- reuse revocation and a logout commit synchronously, as every statement
-- does by default. A rotation commits asynchronously (set_config(..., true)
-- lasts until this statement's own commit): a crash may lose the last few
-- hundred milliseconds of them, which only forgets that those tokens were
-- used. Each function below is a statement of its own (auth-guest,
-- auth-refresh), never part of a caller's larger transaction, whose commit
-- it would make asynchronous too.

-- The stored sessions of before migration 030.
DROP FUNCTION IF EXISTS identity.start_session(uuid, uuid, text, integer);
DROP FUNCTION IF EXISTS identity.login_guest(uuid, text, bytea, uuid, text, integer);
DROP FUNCTION IF EXISTS identity.create_guest(uuid, text, uuid, text, integer);
DROP FUNCTION IF EXISTS identity.rotate_refresh(text, text, integer);

-- New guests: the users alone, element k of each array one guest's.
-- auth-guest makes the new guests waiting on its socket together (one
-- synchronous commit for all of them, each answered after it); one alone
-- is an array of one.
DROP FUNCTION IF EXISTS identity.create_guest(uuid, text);
CREATE OR REPLACE FUNCTION identity.create_guests(p_user_ids uuid[], p_secret_sha256s text[])
RETURNS void LANGUAGE sql AS $$
    INSERT INTO identity.users (user_id, secret_sha256)
        SELECT * FROM unnest(p_user_ids, p_secret_sha256s);
$$;

-- Returning guest: auth-guest's check_guests statement reads the users'
-- rows (the secrets compared blinded there), and calls this only when the
-- row's last_login_at is an hour old: a player who starts the game ten times
-- an hour costs one write, committed asynchronously.
DROP FUNCTION IF EXISTS identity.check_guest(uuid, text, bytea);
CREATE OR REPLACE FUNCTION identity.touch_guest(p_user_id uuid)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    UPDATE identity.users SET last_login_at = now() WHERE user_id = p_user_id;
END;
$$;

-- Rotation of a token whose MAC and expiry the caller checked: its digest,
-- what it carries, and the expiry of the token that replaces it. Outcomes:
-- ok | revoked | reused | unknown (no such player). A reused token revokes its whole family, and that
-- revocation commits (synchronously, which also makes every earlier
-- asynchronous commit durable) even though the caller answers 401. Only an
-- ok rotation commits asynchronously.
CREATE OR REPLACE FUNCTION identity.rotate_refresh(p_token_sha256 text, p_family_id uuid, p_user_id text,
                                                   p_expires_at timestamptz, p_new_expires_at timestamptz,
                                                   OUT outcome text)
LANGUAGE plpgsql AS $$
DECLARE
    revoked timestamptz;
BEGIN
    -- A player no longer there (a database restored from before the
    -- account) has no session to go on with.
    PERFORM 1 FROM identity.users u WHERE u.user_id = p_user_id::uuid;
    IF NOT FOUND THEN
        outcome := 'unknown';
        RETURN;
    END IF;
    -- The family's row, locked: rotations of one family, and its logout,
    -- take turns. It lasts as long as the token used and the new one.
    INSERT INTO identity.refresh_families AS f (family_id, user_id, scope, expires_at)
        VALUES (p_family_id, p_user_id, 'guest', greatest(p_expires_at, p_new_expires_at))
        ON CONFLICT (family_id) DO UPDATE SET expires_at = greatest(f.expires_at, EXCLUDED.expires_at)
        RETURNING f.revoked_at INTO revoked;
    IF revoked IS NOT NULL THEN
        outcome := 'revoked';
        RETURN;
    END IF;
    INSERT INTO identity.refresh_tokens (token_sha256, family_id, expires_at, used_at)
        VALUES (p_token_sha256, p_family_id, p_expires_at, now())
        ON CONFLICT (token_sha256) DO NOTHING;
    IF NOT FOUND THEN
        UPDATE identity.refresh_families SET revoked_at = now(), revoked_reason = 'reuse'
         WHERE family_id = p_family_id;
        outcome := 'reused';
        RETURN;
    END IF;
    PERFORM set_config('synchronous_commit', 'off', true);
    outcome := 'ok';
END;
$$;

-- Logout: the caller's family revoked until every token it may have issued
-- has expired: p_ttl is the longest a token can live (CFG_MAX_REFRESH_TTL). Only the
-- family's own player can: a family of someone else's is left alone.
CREATE OR REPLACE FUNCTION identity.logout(p_family_id uuid, p_user_id text, p_ttl integer)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO identity.refresh_families AS f (family_id, user_id, scope, expires_at, revoked_at,
                                                revoked_reason)
        VALUES (p_family_id, p_user_id, 'guest', now() + make_interval(secs => p_ttl), now(), 'logout')
        ON CONFLICT (family_id) DO UPDATE
            SET revoked_at = coalesce(f.revoked_at, now()),
                revoked_reason = coalesce(f.revoked_reason, 'logout'),
                expires_at = greatest(f.expires_at, EXCLUDED.expires_at)
            WHERE f.user_id = EXCLUDED.user_id;
$$;
