/*
 * Operators' passwords, stored as PBKDF2-HMAC-SHA256 digests:
 * "pbkdf2-sha256$<iterations>$<salt, base64url>$<digest, base64url>".
 * rally-keys admin-password writes them; auth-guest's admin login checks
 * them.
 */
#ifndef RALLY_COMMON_PASSWORD_H
#define RALLY_COMMON_PASSWORD_H

#include <stdbool.h>

struct arena;

/* Iterations of new digests: OWASP's figure for PBKDF2-HMAC-SHA256. */
#define PASSWORD_ITERATIONS 600000

/* The stored form of password, with a fresh random salt (an arena string). */
char *password_hash(struct arena *a, const char *password, int iterations);

/* Whether password matches the stored form (constant time in what it
 * compares). A stored form that does not parse matches nothing, and costs
 * the same as one that does, so a caller may check a dummy when the name
 * is unknown. */
bool password_check(struct arena *a, const char *password, const char *stored);

#endif
