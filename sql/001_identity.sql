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

-- Functions (applied after the migrations, README "SQL layout"): identity.create_guest,
-- identity.start_session and identity.rotate_refresh: sql/functions/identity.sql.
