-- Refresh tokens become self-contained (common/refresh.h, docs/bench.md issue
-- 16): a login stores no session. identity.refresh_families now holds only
-- the families the database has to know of, those with a used token and the
-- revoked ones, each until the last token it may have issued expires
-- (expires_at, for the sweeper); identity.refresh_tokens holds used tokens,
-- for reuse detection, until they would have expired.
--
-- The opaque tokens issued before this migration are no longer accepted
-- (README, Upgrading: their players log in once with their guest secret).
-- Their rows stay until they expire, when the sweeper deletes them.
ALTER TABLE identity.refresh_families ADD COLUMN expires_at timestamptz;
UPDATE identity.refresh_families f
   SET expires_at = coalesce((SELECT max(t.expires_at) FROM identity.refresh_tokens t
                               WHERE t.family_id = f.family_id), f.created_at);
ALTER TABLE identity.refresh_families ALTER COLUMN expires_at SET NOT NULL;
CREATE INDEX refresh_families_expiry ON identity.refresh_families (expires_at);
