/*
 * What one tick of one configuration knows, and the event helpers shared by
 * the parts of the tick (tick.c): matcher.c (pool, matches, acceptance) and
 * placement.c (WITH_QUEUE placement on a fleet). Both call in here; nothing
 * here calls them.
 *
 * Ownership: everything hangs off the tick's arena, reset after the tick.
 */
#ifndef RALLY_MATCHMAKER_TICK_H
#define RALLY_MATCHMAKER_TICK_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>

#include "arena.h"
#include "config.h"
#include "events.h"
#include "mm_metrics.h"
#include "ruleset.h"

/* The columns tick_row_tickets reads: (ticket_id, players, created ms). */
#define TICKET_ROW "ticket_id, players::text, (extract(epoch FROM created_at) * 1000)::bigint"

struct tick {
    struct arena *a;
    const char *name;
    const char *arn;
    struct fm_config conf;
    struct fm_ruleset *rs;
    int64_t now_ms;        /* the tick's clock for expansions; events carry their own time */
    long wait_estimate_ms; /* for Searching events; -1: not available */
    const char **queued;   /* events (JSON) reported, not yet applied */
    size_t nqueued, queued_cap;
    const char **changed; /* tickets the tick's events changed, for tick_push */
    size_t nchanged, changed_cap;
    struct mm_tally tally; /* recorded once the tick commits */
};

/* Registers the statements of the tick's events and of push
 * (db_register); before db_init. */
void tick_init(void);

/* Reports an event in the tick's transaction: written to the outbox of
 * the configuration's NotificationTarget (none: no notification, as
 * FlexMatch without a target) and applied to the results of its tickets
 * (the client's view) by the SQL function event-ingest applies SNS
 * deliveries with. Events are queued and applied in order, many per
 * statement, by tick_flush: every few hundred, and before any statement of
 * the tick that reads or writes what they change (backend.ticket_players:
 * acceptance answers) and before the commit. 0 or -1. */
int tick_publish(struct tick *t, const struct fm_event *e);

/* Applies the queued events, in the order they were reported; the tickets
 * they changed are remembered for tick_push. 0, or -1 (roll back). */
int tick_flush(struct tick *t);

/* Publishes the committed view of every ticket the tick's events changed
 * to its push channel (common/push.h): called after the tick's commit, so
 * a client never hears of a change that is not there yet (its game server
 * would not find the player session it was told of). */
void tick_push(struct tick *t);

/* An event of this tick's configuration, with a fresh id. */
struct fm_event tick_event(struct tick *t, enum fm_event_type type);

/* The event tickets of rows (ticket_id, players, created ms) of r; with
 * teams and answers ({"<PlayerId>": ...}, may be NULL), each player's team
 * and acceptance. */
struct fm_event_ticket *tick_row_tickets(struct tick *t, PGresult *r, json_t *teams,
                                         json_t *answers);

/* A copy of a ticket as a Searching event shows it: no team, no answer. */
struct fm_event_ticket tick_back_in_pool(struct tick *t, const struct fm_event_ticket *src);

/* One event per ticket row of r, as FlexMatch sends them. */
int tick_publish_each(struct tick *t, PGresult *r, enum fm_event_type type);

#endif
