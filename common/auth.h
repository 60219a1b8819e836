/*
 * Access tokens: ES256 or RS256 JWTs signed with the current key of a kid
 * set and verified against current + previous keys (DESIGN §3). A key's
 * type is its algorithm (EC P-256: ES256; RSA >= 2048 bits: RS256), so a
 * rotation may change the algorithm and tokens of both keep verifying.
 *
 * Key directory layout (written by tools/rally-keys):
 *   <dir>/current            the kid that signs new tokens
 *   <dir>/previous           the kid still accepted for verification (optional)
 *   <dir>/keys/<kid>.pub     public key, PEM
 *   <dir>/keys/<kid>.key     private key, PEM, mode 0600 (signers only)
 *
 * Signing and verification go through OpenSSL's EVP API with keys parsed
 * once per worker; libjwt is not on this path (Debian 12's 1.10.2 checks
 * only the signature, skips even that for alg "none", and would verify an
 * HS256 token keyed with the public PEM). auth_verify() checks the header
 * (a known kid, alg exactly that key's, no crit) before the signature, and
 * every claim after it.
 */
#ifndef RALLY_COMMON_AUTH_H
#define RALLY_COMMON_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

enum {
    AUTH_SCOPE_GUEST = 1u << 0,
    AUTH_SCOPE_AUTHENTICATED = 1u << 1,
    AUTH_SCOPE_SERVER = 1u << 2,
    AUTH_SCOPE_ADMIN = 1u << 3,
    AUTH_SCOPE_PLAYER = AUTH_SCOPE_GUEST | AUTH_SCOPE_AUTHENTICATED,
    /* Callers of the GameLift service API, by AWS access key (awsauth.h),
     * not by token: a backend key, a fleet's key. */
    AUTH_SCOPE_AWS_BACKEND = 1u << 4,
    AUTH_SCOPE_AWS_FLEET = 1u << 5,
    /* A URL's token for one game session's log (GetGameSessionLogUrl). */
    AUTH_SCOPE_LOG = 1u << 6,
    AUTH_SCOPES_AWS = AUTH_SCOPE_AWS_BACKEND | AUTH_SCOPE_AWS_FLEET,
};

struct auth_claims {
    const char *sub;   /* user id (PlayerId); fleet id for server tokens and fleet
                        * keys; the principal of a backend key */
    const char *scope; /* scope claim as sent */
    const char *sid;   /* refresh family of the session, or NULL */
    const char *jti;
    const char *kid;
    unsigned scope_bit;
    int64_t exp;
};

enum auth_result {
    AUTH_OK = 0,
    AUTH_MISSING = -1,   /* no token */
    AUTH_INVALID = -2,   /* malformed, bad signature, unknown kid, wrong alg/iss/aud */
    AUTH_EXPIRED = -3,   /* exp passed or nbf in the future */
    AUTH_FORBIDDEN = -4, /* valid token, scope not allowed here */
};

/* Loads the kid set from dir. with_signing_key also loads the current
 * private key. Returns 0, or -1 after logging why. Safe to call again to
 * reload (keys are replaced). */
int auth_keys_load(const char *dir, bool with_signing_key);
void auth_keys_free(void);

/* Length of auth_refresh_secret()'s secrets. */
#define AUTH_SECRET_LEN 32

/* The secrets refresh tokens are MAC'd with (refresh.h): 0, derived from the
 * current private key; 1, from the previous key's where its private half is
 * still in the directory. NULL when there is none (no signing key loaded).
 * Borrowed until the next load. */
const unsigned char *auth_refresh_secret(size_t i);

/* The kid that signs new tokens (borrowed, valid until the next load). */
const char *auth_current_kid(void);

/* Maps a scope name to its AUTH_SCOPE_* bit, 0 if unknown. */
unsigned auth_scope_bit(const char *scope);

/* Declares the token cache's metrics (metrics.h), before a function forks. */
void auth_declare_metrics(void);

/* Verifies `authorization` ("Bearer <jwt>" or the bare jwt) for a route that
 * accepts `scopes`. On AUTH_OK fills *out with arena strings. *why gets a
 * static explanation on failure. */
enum auth_result auth_verify(struct arena *a, const char *authorization, unsigned scopes,
                             int64_t now, struct auth_claims *out, const char **why);

/* Signs an access token for sub with the current key. sid may be NULL.
 * Returns an arena string, or NULL if no signing key is loaded. */
char *auth_sign(struct arena *a, const char *sub, const char *scope, const char *sid, int64_t now,
                int64_t ttl);

#endif
