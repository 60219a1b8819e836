/*
 * Leadership of the daemon's work, one named thing at a time (a matchmaking
 * configuration, a game session queue): a session-level PostgreSQL
 * advisory lock per name. A standby asks on every tick, so when a leader
 * dies (its session ends, and its locks with it) another daemon leads
 * within a tick.
 *
 * Ownership: the names led are copied; the list is forgotten when the
 * connection is replaced (a new session holds no lock).
 */
#ifndef RALLY_MATCHMAKER_LEAD_H
#define RALLY_MATCHMAKER_LEAD_H

#include <stdbool.h>

#include "arena.h"

/* Registers the statement of leadership (db_register); before db_init. */
void lead_init(void);
void lead_close(void);

/* What is led; each kind has its own locks. */
enum lead_kind {
    LEAD_CONFIGURATION, /* its matchmaking and match placement */
    LEAD_QUEUE,         /* its group placements */
};

/* True if this process leads the configuration or queue `name`, taking
 * the lead if it is free. */
bool lead_holds(struct arena *a, enum lead_kind kind, const char *name);

/* False when the connection was replaced since the leads were taken: a
 * transaction begun now must not act on them (lead_holds asks again). */
bool lead_current(void);

#endif
