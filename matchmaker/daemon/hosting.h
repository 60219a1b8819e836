/*
 * Game sessions opened on a fleet's idle processes for a game session
 * queue: what placement of matches (placement.c) and group placement
 * (group_placement.c) share. The queue chooses a location among those with
 * an idle healthy process of its fleets (latency policies, average
 * latency, LocationOrder: fm_queue_choose), a process there is claimed, and
 * an ACTIVATING game session opened on it; the process learns of it on its
 * next heartbeat and activates it. One that will not start is abandoned.
 *
 * Everything runs in the caller's transaction; what is handed out lives in
 * the caller's arena.
 */
#ifndef RALLY_MATCHMAKER_HOSTING_H
#define RALLY_MATCHMAKER_HOSTING_H

#include <stddef.h>

#include "arena.h"
#include "match.h"
#include "queue.h"

/* Why a game session (g) of process p in fleet f will not start, over a
 * row of those three: 'ACTIVATION_TIMEOUT', 'INTERRUPTED' (its process is
 * gone), or NULL while it may. */
#define HOSTING_WHY_STUCK(g, p, f)                                                                 \
    "CASE WHEN " g ".status <> 'ACTIVATING' THEN NULL WHEN " g ".created_at <= now() - " f         \
    ".activation_timeout_seconds * interval '1 second' THEN 'ACTIVATION_TIMEOUT' WHEN " p          \
    ".status <> 'ACTIVE' OR " p ".last_heartbeat <= now() - " f                                    \
    ".heartbeat_timeout_seconds * interval '1 second' THEN 'INTERRUPTED' END"

/* A process claimed for a new game session. */
struct hosting_process {
    const char *game_session_id; /* gsess-<uuid>, the process's now */
    const char *process_id, *fleet_id, *location, *ip_address, *dns_name, *port;
    int average_latency_ms; /* of the players where it runs; -1 without data */
};

/* What the new game session is. */
struct hosting_game_session {
    int maximum_players;
    const char *match_id;        /* or NULL */
    const char *name;            /* or NULL */
    const char *properties;      /* GameProperties JSON, or NULL */
    const char *data;            /* GameSessionData, or NULL */
    const char *matchmaker_data; /* or NULL */
};

/* Registers the statements (db_register); before db_init. */
void hosting_init(void);

enum hosting_claim {
    HOSTING_ERROR = -1,
    HOSTING_CLAIMED,
    HOSTING_NOT_NOW, /* idle processes, none where the queue would put these players */
    HOSTING_NO_ROOM, /* no idle process with room for the players */
};

/* Claims an idle process of queue q with room for `seats` players, where q
 * would put these players (their latencies; `elapsed` seconds into the
 * placement, for its latency policies). */
enum hosting_claim hosting_claim(struct arena *a, const struct fm_queue *q,
                                 const struct fm_ticket *const *tickets, size_t ntickets, int seats,
                                 double elapsed, struct hosting_process *out);

/* Opens the ACTIVATING game session on the claimed process. 0 or -1. */
int hosting_open(struct arena *a, const struct hosting_process *p,
                 const struct hosting_game_session *gs);

/* Ends a game session that will not start (`why`: HOSTING_WHY_STUCK's, or
 * INTERRUPTED when it ended), taking its process out of placement; the
 * match or placement it was for loses it. 1 abandoned, 0 when it was
 * activated meanwhile (it completes on the next tick), -1 error. */
int hosting_abandon(struct arena *a, const char *game_session_id, const char *why);

#endif
