/*
 * Game session queues and fleets: the files of config/queues/ (the fields of
 * GameLift's CreateGameSessionQueue) and config/fleets/ (a fleet id, its
 * locations and its timeouts), validated as GameLift validates them, and the
 * queue's choice of a location for a match (reference/flexmatch-rules.md
 * §2.4, aws-flow.md §5.8).
 *
 * Ownership: strings point into the json_t the value was parsed from, which
 * must outlive it.
 */
#ifndef RALLY_MATCHMAKER_QUEUE_H
#define RALLY_MATCHMAKER_QUEUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "match.h"
#include "ruleset.h"

#define FM_MAX_POLICIES 16
#define FM_MAX_DESTINATIONS 32
#define FM_MAX_LOCATIONS 64

/* PlayerLatencyPolicies, in the order they apply: the lowest cap first, the
 * one without a duration (if any) last. */
struct fm_latency_policy {
    int max_ms;
    int duration_s; /* 0: applies until placement ends */
};

struct fm_queue {
    const char *name;
    int timeout_seconds; /* TimeoutInSeconds, 600 by default */
    struct fm_latency_policy policies[FM_MAX_POLICIES];
    size_t npolicies;
    const char *fleets[FM_MAX_DESTINATIONS]; /* fleet ids of Destinations, in order */
    size_t nfleets;
    const char *allowed[FM_MAX_LOCATIONS]; /* FilterConfiguration.AllowedLocations; none: all */
    size_t nallowed;
    const char *order[FM_MAX_LOCATIONS]; /* PriorityConfiguration.LocationOrder: tie-breaks */
    size_t norder;
};

/* A location's capacity in server processes (UpdateFleetCapacity's
 * DesiredInstances, MinSize and MaxSize: rally's unit of capacity is the
 * process, its hosts being fixed). */
struct fm_capacity {
    bool set; /* given: the location sizes itself; else its agents run all */
    int minimum, maximum, desired;
};

/* The most processes a location's capacity may name. */
#define FM_MAX_CAPACITY 100000

struct fm_fleet {
    const char *fleet_id;
    const char *locations[FM_MAX_LOCATIONS];
    struct fm_capacity capacity[FM_MAX_LOCATIONS];
    size_t nlocations;
    /* ScalingPolicy, target-based on PercentAvailableGameSessions: the
     * share of a location's processes kept free of game sessions (0: none). */
    double target_available_percent;
    int activation_timeout_seconds;  /* RuntimeConfiguration.GameSessionActivationTimeoutSeconds */
    int reservation_timeout_seconds; /* rally: PlayerSessionReservationTimeoutSeconds (60) */
    int heartbeat_timeout_seconds;   /* rally: ProcessHeartbeatTimeoutSeconds (60) */
};

/* "arn:aws:gamelift:<region>:<account>:<kind>/<name>" or "<name>": the name,
 * or NULL when s is an ARN of another kind. */
const char *fm_arn_name(const char *s, const char *kind);

/* Validate body; `fallback_name` names it when it has no Name/FleetId (the
 * file name). 0, or -1 with *err naming the field. */
int fm_queue_parse(json_t *body, const char *fallback_name, struct fm_queue *out,
                   struct fm_error *err);
int fm_fleet_parse(json_t *body, const char *fallback_name, struct fm_fleet *out,
                   struct fm_error *err);

/* The cap on each player's latency `elapsed` seconds into a placement, or -1
 * for none (no policies, or all of them spent). */
int fm_queue_latency_cap(const struct fm_queue *q, double elapsed);

/* The queue's choice among `locations` (each with an idle process) for a
 * match of these tickets, `elapsed` seconds into its placement: every player
 * within the latency cap, then the lowest average latency, then
 * LocationOrder, then the order given. Without any latency reported, the
 * first location by LocationOrder. A location some player reported no
 * latency for is taken only when no cap applies, after every location all
 * players reported (one nobody reported, last of all). Returns the index
 * into locations, or -1 (none acceptable now); *avg_ms gets the chosen
 * average (-1 without data). */
int fm_queue_choose(const struct fm_queue *q, const char *const *locations, size_t n,
                    const struct fm_ticket *const *tickets, size_t ntickets, double elapsed,
                    int *avg_ms);

#endif
