-- Identity: guest users and rotating refresh tokens (DESIGN §3, §4).
-- Secrets and refresh tokens are stored only as SHA-256 hex digests: both are
-- 256-bit random values, so a fast digest is enough and a leak of this table
-- yields nothing usable.

CREATE SCHEMA identity;

CREATE TABLE identity.users (
    user_id        uuid PRIMARY KEY,
    secret_sha256  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_login_at  timestamptz NOT NULL DEFAULT now()
);

-- A family is one login session: every refresh token rotated from the same
-- login. Presenting a token twice revokes the family (reuse detection).
CREATE TABLE identity.refresh_families (
    family_id      uuid PRIMARY KEY,
    user_id        text NOT NULL,
    scope          text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    revoked_reason text
);
CREATE INDEX refresh_families_user ON identity.refresh_families (user_id);

CREATE TABLE identity.refresh_tokens (
    token_sha256   text PRIMARY KEY,
    family_id      uuid NOT NULL REFERENCES identity.refresh_families ON DELETE CASCADE,
    issued_at      timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz
);
CREATE INDEX refresh_tokens_family ON identity.refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expiry ON identity.refresh_tokens (expires_at);

-- New guest: the user, its first session family and refresh token, at once.
CREATE FUNCTION identity.create_guest(p_user_id uuid, p_secret_sha256 text, p_family_id uuid,
                                      p_refresh_sha256 text, p_refresh_ttl integer)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO identity.users (user_id, secret_sha256) VALUES (p_user_id, p_secret_sha256);
    INSERT INTO identity.refresh_families (family_id, user_id, scope)
        VALUES (p_family_id, p_user_id::text, 'guest');
    INSERT INTO identity.refresh_tokens (token_sha256, family_id, expires_at)
        VALUES (p_refresh_sha256, p_family_id, now() + make_interval(secs => p_refresh_ttl));
$$;

-- Returning guest (secret already checked by the caller): a new session family.
CREATE FUNCTION identity.start_session(p_user_id uuid, p_family_id uuid, p_refresh_sha256 text,
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
CREATE FUNCTION identity.rotate_refresh(p_old_sha256 text, p_new_sha256 text, p_refresh_ttl integer,
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
