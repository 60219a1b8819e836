/* The matchmaker's metrics (mm_metrics.h). */
#include "mm_metrics.h"

#include <string.h>

#include "metrics.h"

/* Waits in matchmaking and placement: seconds to minutes. */
static const double wait_bounds[] = {1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600};
#define NWAIT ((int)(sizeof(wait_bounds) / sizeof(wait_bounds[0])))

static struct metric_family *events, *matches, *expansions, *to_match, *to_place, *placements,
    *rules;
static struct metric_family *leads;
static struct metric *deliveries[3];

void mm_metrics_init(void)
{
    events = metric_family("rally_matchmaking_events_total", METRIC_COUNTER,
                           "FlexMatch events of tickets, by configuration and type.");
    matches = metric_family("rally_matchmaking_matches_total", METRIC_COUNTER,
                            "Matches formed, by configuration.");
    expansions =
        metric_family("rally_matchmaking_expansions_applied_total", METRIC_COUNTER,
                      "Expansions with a step in force in the matches formed, by configuration.");
    to_match = metric_histogram("rally_matchmaking_time_to_match_seconds",
                                "A matched ticket's time from its start to its match, by "
                                "configuration.",
                                wait_bounds, NWAIT);
    to_place = metric_histogram("rally_matchmaking_time_to_place_seconds",
                                "A placed match's time from forming to its game session, by "
                                "configuration.",
                                wait_bounds, NWAIT);
    placements = metric_family("rally_matchmaking_placements_total", METRIC_COUNTER,
                               "Matches of WITH_QUEUE configurations that ended placement, by "
                               "configuration and result.");
    rules = metric_family("rally_matchmaking_rule_evaluations_total", METRIC_COUNTER,
                          "Rule evaluations of potential matches, by configuration, rule and "
                          "result (FlexMatch's ruleEvaluationMetrics).");
    leads = metric_family("rally_matchmaker_leadership_changes_total", METRIC_COUNTER,
                          "Configurations and queues this process began leading, by kind.");
    struct metric_family *d =
        metric_family("rally_events_deliveries_total", METRIC_COUNTER,
                      "Event delivery attempts to subscribers, by result: delivered, retry (to "
                      "be attempted again) or dead_letter (given up).");
    deliveries[MM_DELIVERED] = metric_series(d, "result", "delivered", METRIC_END);
    deliveries[MM_RETRY] = metric_series(d, "result", "retry", METRIC_END);
    deliveries[MM_DEAD_LETTER] = metric_series(d, "result", "dead_letter", METRIC_END);
}

static void push(struct arena *a, double **list, size_t *n, size_t *cap, double v)
{
    if (*n == *cap) {
        size_t grown_cap = *cap * 2 + 64;
        double *grown = arena_alloc(a, grown_cap * sizeof(*grown));
        if (*n > 0)
            memcpy(grown, *list, *n * sizeof(*grown));
        *list = grown;
        *cap = grown_cap;
    }
    (*list)[(*n)++] = v;
}

void mm_metrics_match(struct arena *a, struct mm_tally *t, const struct fm_match *m, double now)
{
    if (!metrics_enabled())
        return;
    t->matches++;
    t->expansions += (unsigned long)fm_match_expansions_in_force(m, now);
    for (int i = 0; i < m->n; i++)
        if (!m->tickets[i]->backfill)
            push(a, &t->to_match, &t->nto_match, &t->cap_to_match, now - m->tickets[i]->created);
}

void mm_metrics_placement(struct arena *a, struct mm_tally *t, enum mm_placement_result r,
                          double seconds)
{
    t->placements[r]++;
    if (r == MM_PLACED && metrics_enabled())
        push(a, &t->to_place, &t->nto_place, &t->cap_to_place, seconds);
}

void mm_metrics_commit(const char *configuration, const struct fm_ruleset *rs,
                       const struct mm_tally *t)
{
    if (!metrics_enabled())
        return;
    const char *c = configuration;
    /* Every series of the configuration from its first tick, at 0 until
     * counted: a counter's first sample is where rate() starts, so one
     * born at 3 would hide its first 3. */
    for (int e = 0; e < MM_EVENT_TYPES; e++)
        metric_add(metric_series(events, "configuration", c, "type",
                                 fm_event_type_name((enum fm_event_type)e), METRIC_END),
                   t->events[e]);
    metric_add(metric_series(matches, "configuration", c, METRIC_END), t->matches);
    metric_add(metric_series(expansions, "configuration", c, METRIC_END), t->expansions);
    struct metric *h = metric_series(to_match, "configuration", c, METRIC_END);
    for (size_t i = 0; i < t->nto_match; i++)
        metric_observe(h, t->to_match[i]);
    h = metric_series(to_place, "configuration", c, METRIC_END);
    for (size_t i = 0; i < t->nto_place; i++)
        metric_observe(h, t->to_place[i]);
    static const char *const results[] = {"placed", "timed_out", "failed"};
    for (int r = 0; r < 3; r++)
        metric_add(metric_series(placements, "configuration", c, "result", results[r], METRIC_END),
                   t->placements[r]);
    for (size_t i = 0; t->rules != NULL && rs != NULL && i < rs->nrules; i++) {
        metric_add(metric_series(rules, "configuration", c, "rule", rs->rules[i].name, "result",
                                 "pass", METRIC_END),
                   t->rules[i].passed);
        metric_add(metric_series(rules, "configuration", c, "rule", rs->rules[i].name, "result",
                                 "fail", METRIC_END),
                   t->rules[i].failed);
    }
}

void mm_metrics_lead(const char *kind)
{
    metric_inc(metric_series(leads, "kind", kind, METRIC_END));
}

void mm_metrics_delivery(enum mm_delivery d)
{
    metric_inc(deliveries[d]);
}
