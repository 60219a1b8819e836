/* FlexMatch event JSON, shaped as AWS's examples. */
#include "events.h"

#include <stdio.h>
#include <time.h>

static const char *const type_names[] = {
    [FM_EV_SEARCHING] = "MatchmakingSearching",
    [FM_EV_POTENTIAL_MATCH_CREATED] = "PotentialMatchCreated",
    [FM_EV_ACCEPT_MATCH] = "AcceptMatch",
    [FM_EV_ACCEPT_MATCH_COMPLETED] = "AcceptMatchCompleted",
    [FM_EV_SUCCEEDED] = "MatchmakingSucceeded",
    [FM_EV_TIMED_OUT] = "MatchmakingTimedOut",
    [FM_EV_CANCELLED] = "MatchmakingCancelled",
    [FM_EV_FAILED] = "MatchmakingFailed",
};

const char *fm_event_type_name(enum fm_event_type type)
{
    return type_names[type];
}

void fm_event_time(int64_t ms, char out[32])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char date[24];
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%03dZ", date, (int)(ms % 1000));
}

/* One player as the event type shows it: the team once matched, the player
 * session once placed, the acceptance while accepting. */
static json_t *player_json(const struct fm_event *e, const struct fm_event_player *p)
{
    json_t *j = json_pack("{s:s}", "playerId", p->player_id);
    if (p->player_session_id != NULL && e->type == FM_EV_SUCCEEDED)
        json_object_set_new(j, "playerSessionId", json_string(p->player_session_id));
    if (p->team != NULL && e->type != FM_EV_SEARCHING)
        json_object_set_new(j, "team", json_string(p->team));
    if (e->type == FM_EV_ACCEPT_MATCH && p->accepted >= 0)
        json_object_set_new(j, "accepted", json_boolean(p->accepted));
    return j;
}

static json_t *tickets_json(const struct fm_event *e)
{
    json_t *list = json_array();
    for (size_t i = 0; i < e->ntickets; i++) {
        const struct fm_event_ticket *t = &e->tickets[i];
        char start[32];
        fm_event_time(t->start_ms, start);
        json_t *players = json_array();
        for (size_t k = 0; k < t->nplayers; k++)
            json_array_append_new(players, player_json(e, &t->players[k]));
        json_array_append_new(list, json_pack("{s:s, s:s, s:o}", "ticketId", t->ticket_id,
                                              "startTime", start, "players", players));
    }
    return list;
}

static json_t *game_session_json(const struct fm_event *e)
{
    json_t *gs = json_object();
    if (e->type == FM_EV_SUCCEEDED && e->game_session_arn != NULL) {
        json_object_set_new(gs, "gameSessionArn", json_string(e->game_session_arn));
        json_object_set_new(gs, "ipAddress", json_string(e->ip_address ? e->ip_address : ""));
        if (e->dns_name != NULL) /* the samples read it; AWS's example omits it */
            json_object_set_new(gs, "dnsName", json_string(e->dns_name));
        json_object_set_new(gs, "port", json_integer(e->port));
    }
    json_t *players = json_array();
    for (size_t i = 0; i < e->ntickets; i++)
        for (size_t k = 0; k < e->tickets[i].nplayers; k++)
            json_array_append_new(players, player_json(e, &e->tickets[i].players[k]));
    json_object_set_new(gs, "players", players);
    return gs;
}

static json_t *metrics_json(const struct fm_event *e)
{
    json_t *list = json_array();
    for (size_t i = 0; i < e->nmetrics; i++)
        json_array_append_new(list,
                              json_pack("{s:s, s:I, s:I}", "ruleName", e->metrics[i].rule_name,
                                        "passedCount", (json_int_t)e->metrics[i].passed,
                                        "failedCount", (json_int_t)e->metrics[i].failed));
    return list;
}

/* The detail, its keys in the order of AWS's example of each type. */
static json_t *detail_json(const struct fm_event *e)
{
    json_t *d = json_object();
    bool timed_out_or_cancelled = e->type == FM_EV_TIMED_OUT || e->type == FM_EV_CANCELLED;
    if (timed_out_or_cancelled)
        json_object_set_new(d, "reason", json_string(e->reason ? e->reason : ""));
    json_object_set_new(d, "tickets", tickets_json(e));
    switch (e->type) {
    case FM_EV_SEARCHING:
        json_object_set_new(d, "estimatedWaitMillis",
                            e->estimated_wait_ms >= 0 ? json_integer(e->estimated_wait_ms)
                                                      : json_string("NOT_AVAILABLE"));
        break;
    case FM_EV_POTENTIAL_MATCH_CREATED:
        if (e->acceptance_required)
            json_object_set_new(d, "acceptanceTimeout", json_integer(e->acceptance_timeout));
        json_object_set_new(d, "ruleEvaluationMetrics", metrics_json(e));
        json_object_set_new(d, "acceptanceRequired", json_boolean(e->acceptance_required));
        break;
    case FM_EV_ACCEPT_MATCH_COMPLETED:
        json_object_set_new(d, "acceptance",
                            json_string(e->acceptance ? e->acceptance : "TimedOut"));
        break;
    case FM_EV_TIMED_OUT:
    case FM_EV_CANCELLED: json_object_set_new(d, "ruleEvaluationMetrics", metrics_json(e)); break;
    default: break;
    }
    if (e->custom_event_data != NULL)
        json_object_set_new(d, "customEventData", json_string(e->custom_event_data));
    json_object_set_new(d, "type", json_string(fm_event_type_name(e->type)));
    if (e->type == FM_EV_FAILED)
        json_object_set_new(d, "reason", json_string(e->reason ? e->reason : "UNEXPECTED_ERROR"));
    if (timed_out_or_cancelled || e->type == FM_EV_FAILED)
        json_object_set_new(d, "message", json_string(e->message ? e->message : ""));
    json_object_set_new(d, "gameSessionInfo", game_session_json(e));
    /* A ticket that timed out or was cancelled outside a match has none. */
    if (e->type != FM_EV_SEARCHING && (e->match_id != NULL || !timed_out_or_cancelled))
        json_object_set_new(d, "matchId", json_string(e->match_id ? e->match_id : ""));
    return d;
}

json_t *fm_event_json(const struct fm_event *e)
{
    char when[32];
    fm_event_time(e->time_ms, when);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:o}", "version", "0", "id", e->id,
                     "detail-type", "GameLift Matchmaking Event", "source", "aws.gamelift",
                     "account", e->account, "time", when, "region", e->region, "resources",
                     e->configuration_arn, "detail", detail_json(e));
}
