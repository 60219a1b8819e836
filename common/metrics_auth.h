/*
 * Who may scrape metrics (metrics.h), and whether they are on.
 *
 * Every scrape carries the scrape token as a bearer token: the file
 * RALLY_METRICS_TOKEN_FILE holds it (16 to 256 printable bytes; a trailing
 * newline is ignored), read once by metrics_setup. Without that file no
 * scrape is answered: metrics may say more about a deployment than its
 * public API does. Comparisons take constant time.
 */
#ifndef RALLY_COMMON_METRICS_AUTH_H
#define RALLY_COMMON_METRICS_AUTH_H

#include <stdbool.h>

/* Reads RALLY_METRICS (on, the default, or off) and the token file, and
 * turns metrics on with `slices` slices (metrics_init) unless they are
 * off. 0, or -1 when a setting is unusable (logged). */
int metrics_setup(int slices);

/* Whether an Authorization header's value is "Bearer <the scrape token>". */
bool metrics_authorized(const char *authorization);

/* The scrape token itself, for a process that scrapes others (an agent its
 * relays'); NULL without one. */
const char *metrics_token(void);

#endif
