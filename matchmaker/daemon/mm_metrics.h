/*
 * The matchmaker's metrics (common/metrics.h): FlexMatch events, matches,
 * waits, rule evaluations, expansions and placements by configuration, and
 * leadership changes and event deliveries.
 *
 * A tick's counts are kept in its tally and recorded when its transaction
 * commits (mm_metrics_commit), so a tick rolled back and run again is
 * counted once: n tickets started move the Searching count by exactly n.
 */
#ifndef RALLY_MATCHMAKER_MM_METRICS_H
#define RALLY_MATCHMAKER_MM_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "events.h"
#include "match.h"
#include "rules.h"

#define MM_EVENT_TYPES (FM_EV_FAILED + 1)

enum mm_placement_result { MM_PLACED, MM_PLACEMENT_TIMED_OUT, MM_PLACEMENT_FAILED };

/* What one tick of one configuration did, not yet committed. Its arrays
 * are in the tick's arena. */
struct mm_tally {
    unsigned long events[MM_EVENT_TYPES];
    unsigned long matches;
    unsigned long expansions; /* expansion steps in force in the matches formed */
    double *to_match;         /* each matched ticket's wait, seconds */
    size_t nto_match, cap_to_match;
    double *to_place; /* each placed match's time from forming to its game session */
    size_t nto_place, cap_to_place;
    unsigned long placements[3];         /* by mm_placement_result */
    const struct fm_rule_metrics *rules; /* the tick's evaluations, nrules entries, or NULL */
};

/* Declares the families; after metrics_daemon_start. */
void mm_metrics_init(void);

/* A match formed at `now` (seconds since the epoch): its tickets' waits
 * and the expansion steps in force. */
void mm_metrics_match(struct arena *a, struct mm_tally *t, const struct fm_match *m, double now);
void mm_metrics_placement(struct arena *a, struct mm_tally *t, enum mm_placement_result r,
                          double seconds);

/* Records a committed tick of `configuration` (rs: its rule set). */
void mm_metrics_commit(const char *configuration, const struct fm_ruleset *rs,
                       const struct mm_tally *t);

/* This process began leading a configuration or a queue. */
void mm_metrics_lead(const char *kind);

/* An event delivery to a subscriber: delivered, retried later, or given up
 * (a dead letter). */
enum mm_delivery { MM_DELIVERED, MM_RETRY, MM_DEAD_LETTER };
void mm_metrics_delivery(enum mm_delivery d);

#endif
