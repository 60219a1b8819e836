/*
 * FlexMatch matchmaking events, in FlexMatch's own JSON: the EventBridge
 * envelope ("detail-type": "GameLift Matchmaking Event") around a detail of
 * one of eight types, with fields in the order of AWS's examples
 * (reference/aws-flow.md §3). These are the SNS Message bodies the
 * matchmaker's outbox delivers and event-ingest reads.
 */
#ifndef RALLY_MATCHMAKER_EVENTS_H
#define RALLY_MATCHMAKER_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fm_event_type {
    FM_EV_SEARCHING,
    FM_EV_POTENTIAL_MATCH_CREATED,
    FM_EV_ACCEPT_MATCH,
    FM_EV_ACCEPT_MATCH_COMPLETED,
    FM_EV_SUCCEEDED,
    FM_EV_TIMED_OUT,
    FM_EV_CANCELLED,
    FM_EV_FAILED,
};

struct fm_event_player {
    const char *player_id;
    const char *team;              /* NULL before a match */
    const char *player_session_id; /* MatchmakingSucceeded with placement */
    int accepted;                  /* AcceptMatch: -1 not yet, 0 rejected, 1 accepted */
};

struct fm_event_ticket {
    const char *ticket_id;
    int64_t start_ms;
    const struct fm_event_player *players;
    size_t nplayers;
};

struct fm_event_metric {
    const char *rule_name;
    unsigned long passed, failed;
};

/* Everything an event may say; each type uses what AWS's shape has. */
struct fm_event {
    enum fm_event_type type;
    const char *id; /* envelope id (a UUID) */
    int64_t time_ms;
    const char *account;
    const char *region;
    const char *configuration_arn;
    const struct fm_event_ticket *tickets;
    size_t ntickets;
    const char *match_id;                  /* all but Searching */
    long estimated_wait_ms;                /* Searching; < 0: "NOT_AVAILABLE" */
    bool acceptance_required;              /* PotentialMatchCreated */
    int acceptance_timeout;                /* PotentialMatchCreated, seconds */
    const char *acceptance;                /* AcceptMatchCompleted: Accepted, Rejected, TimedOut */
    const struct fm_event_metric *metrics; /* PotentialMatchCreated, TimedOut, Cancelled */
    size_t nmetrics;
    const char *reason;            /* TimedOut, Cancelled, Failed */
    const char *message;           /* TimedOut, Cancelled, Failed */
    const char *custom_event_data; /* the configuration's CustomEventData, or NULL */
    /* gameSessionInfo beyond its players: MatchmakingSucceeded with a queue */
    const char *game_session_arn;
    const char *ip_address;
    const char *dns_name;
    int port;
};

/* The event as JSON (new reference). */
json_t *fm_event_json(const struct fm_event *e);

/* "Searching", ... : the detail.type of an event type. */
const char *fm_event_type_name(enum fm_event_type type);

/* ISO 8601 UTC with milliseconds ("2017-08-08T21:15:36.421Z") into out. */
void fm_event_time(int64_t ms, char out[32]);

#endif
