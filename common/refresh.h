/*
 * Refresh tokens: self-contained, MAC'd, stored nowhere until they are used.
 *
 * A returning login writes nothing (docs/bench.md, issue 16): its refresh
 * token carries its session family, its player and its expiry, under an
 * HMAC-SHA256 with a secret derived from the signing key
 * (auth_refresh_secret). The database learns of a family only when one of
 * its tokens is used (a row per used token, for reuse detection) or when it
 * is revoked (logout, reuse): sql/functions/identity.sql.
 *
 * Wire form: base64url of version 2 (1 byte) | family uuid (16) | player
 * uuid (16) | expiry, Unix seconds (8, big-endian) | nonce (16) | HMAC (32).
 * Tokens of the previous signing key keep working while its private half is
 * in the key directory (one rotation); older ones are refused, and their
 * players log in again with their guest secret.
 */
#ifndef RALLY_COMMON_REFRESH_H
#define RALLY_COMMON_REFRESH_H

#include <stdint.h>

struct arena;

struct refresh_token {
    char family[37]; /* uuid, lower-case */
    char user[37];
    int64_t exp;
};

/* A new token for family and user (uuids), expiring at exp; an arena
 * string, or NULL without a signing key (or for ids that are not uuids). */
char *refresh_issue(struct arena *a, const char *family, const char *user, int64_t exp);

/* Reads token: 0 and *out when it is ours (its MAC checks out under the
 * current or previous secret, in constant time), in its one canonical
 * encoding (so its digest names it), and not expired at now; -1 for
 * anything else, which callers answer alike. */
int refresh_read(struct arena *a, const char *token, int64_t now, struct refresh_token *out);

#endif
