-- Functions of the identity schema: guest users and rotating refresh tokens.
--
-- This is the current text of each function, view and trigger of the
-- schema, and the only one (README, "SQL layout"). scripts/migrate.sh
-- applies it after the numbered migrations on every run, in the same
-- transaction, so every statement here must be re-runnable: CREATE OR
-- REPLACE, and a changed signature or result type dropped first under a
-- guard. Table changes go in a new numbered migration, never here.

-- New guest: the user, its first session family and refresh token, at once.
CREATE OR REPLACE FUNCTION identity.create_guest(p_user_id uuid, p_secret_sha256 text, p_family_id uuid,
                                      p_refresh_sha256 text, p_refresh_ttl integer)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO identity.users (user_id, secret_sha256) VALUES (p_user_id, p_secret_sha256);
    INSERT INTO identity.refresh_families (family_id, user_id, scope)
        VALUES (p_family_id, p_user_id::text, 'guest');
    INSERT INTO identity.refresh_tokens (token_sha256, family_id, expires_at)
        VALUES (p_refresh_sha256, p_family_id, now() + make_interval(secs => p_refresh_ttl));
$$;

-- Durability (docs/failures.md, "What a crash may lose"): an account and a
-- revocation (reuse, logout) commit synchronously, as every statement does
-- by default. A new session and a refresh rotation commit asynchronously
-- (set_config(..., true) lasts until this statement's own commit): a crash
-- may lose the last few hundred milliseconds of them, which costs their
-- players one login with their guest secret and nothing else. Each function
-- below is a statement of its own (auth-guest, auth-refresh), never part of
-- a caller's larger transaction, whose commit it would make asynchronous too.

-- The old two-step login (the caller read the secret's digest, then called
-- this): replaced by identity.login_guest.
DROP FUNCTION IF EXISTS identity.start_session(uuid, uuid, text, integer);

-- Returning guest, in one statement: checks the secret and, if it is right,
-- starts a new session family; false for an unknown user or a wrong secret.
-- The digests are compared blinded, each hashed again with the request's own
-- random p_blind, so the comparison's timing can only tell about values no
-- one can choose or reuse, never about the stored digest (a constant-time
-- comparison, without one in SQL). last_login_at is kept to the hour: a
-- player who starts the game ten times an hour costs one write to users.
CREATE OR REPLACE FUNCTION identity.login_guest(p_user_id uuid, p_secret_sha256 text, p_blind bytea,
                                                p_family_id uuid, p_refresh_sha256 text,
                                                p_refresh_ttl integer)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    seen timestamptz;
BEGIN
    SELECT u.last_login_at INTO seen FROM identity.users u
     WHERE u.user_id = p_user_id
       AND sha256(convert_to(u.secret_sha256, 'UTF8') || p_blind)
           = sha256(convert_to(p_secret_sha256, 'UTF8') || p_blind);
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM set_config('synchronous_commit', 'off', true);
    IF seen < now() - interval '1 hour' THEN
        UPDATE identity.users SET last_login_at = now() WHERE user_id = p_user_id;
    END IF;
    INSERT INTO identity.refresh_families (family_id, user_id, scope)
        VALUES (p_family_id, p_user_id::text, 'guest');
    INSERT INTO identity.refresh_tokens (token_sha256, family_id, expires_at)
        VALUES (p_refresh_sha256, p_family_id, now() + make_interval(secs => p_refresh_ttl));
    RETURN true;
END;
$$;

-- Rotation. Outcomes: ok | unknown | expired | revoked | reused. A reused
-- token revokes its whole family, and that revocation commits (synchronously,
-- which also makes every earlier asynchronous commit durable) even though
-- the caller answers 401. Only an ok rotation commits asynchronously: lost in
-- a crash, its new token is unknown and the old one unused again.
CREATE OR REPLACE FUNCTION identity.rotate_refresh(p_old_sha256 text, p_new_sha256 text, p_refresh_ttl integer,
                                        OUT outcome text, OUT user_id text, OUT family_id uuid,
                                        OUT scope text)
LANGUAGE plpgsql AS $$
DECLARE
    t identity.refresh_tokens%ROWTYPE;
    f identity.refresh_families%ROWTYPE;
BEGIN
    SELECT * INTO t FROM identity.refresh_tokens WHERE token_sha256 = p_old_sha256 FOR UPDATE;
    IF NOT FOUND THEN
        outcome := 'unknown';
        RETURN;
    END IF;
    SELECT * INTO f FROM identity.refresh_families rf WHERE rf.family_id = t.family_id FOR UPDATE;
    user_id := f.user_id;
    family_id := f.family_id;
    scope := f.scope;
    IF f.revoked_at IS NOT NULL THEN
        outcome := 'revoked';
    ELSIF t.used_at IS NOT NULL THEN
        UPDATE identity.refresh_families rf SET revoked_at = now(), revoked_reason = 'reuse'
            WHERE rf.family_id = f.family_id;
        outcome := 'reused';
    ELSIF t.expires_at <= now() THEN
        outcome := 'expired';
    ELSE
        PERFORM set_config('synchronous_commit', 'off', true);
        UPDATE identity.refresh_tokens SET used_at = now() WHERE token_sha256 = p_old_sha256;
        INSERT INTO identity.refresh_tokens (token_sha256, family_id, expires_at)
            VALUES (p_new_sha256, f.family_id, now() + make_interval(secs => p_refresh_ttl));
        outcome := 'ok';
    END IF;
END;
$$;
