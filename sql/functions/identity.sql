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

-- Returning guest (secret already checked by the caller): a new session family.
CREATE OR REPLACE FUNCTION identity.start_session(p_user_id uuid, p_family_id uuid, p_refresh_sha256 text,
                                       p_refresh_ttl integer)
RETURNS void LANGUAGE sql AS $$
    UPDATE identity.users SET last_login_at = now() WHERE user_id = p_user_id;
    INSERT INTO identity.refresh_families (family_id, user_id, scope)
        VALUES (p_family_id, p_user_id::text, 'guest');
    INSERT INTO identity.refresh_tokens (token_sha256, family_id, expires_at)
        VALUES (p_refresh_sha256, p_family_id, now() + make_interval(secs => p_refresh_ttl));
$$;

-- Rotation. Outcomes: ok | unknown | expired | revoked | reused. A reused
-- token revokes its whole family, and that revocation commits even though the
-- caller answers 401.
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
        UPDATE identity.refresh_tokens SET used_at = now() WHERE token_sha256 = p_old_sha256;
        INSERT INTO identity.refresh_tokens (token_sha256, family_id, expires_at)
            VALUES (p_new_sha256, f.family_id, now() + make_interval(secs => p_refresh_ttl));
        outcome := 'ok';
    END IF;
END;
$$;
