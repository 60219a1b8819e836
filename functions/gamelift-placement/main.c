/*
 * gamelift-placement: group placement without matchmaking, through the
 * GameLift service API. POST / with X-Amz-Target: GameLift.<op>.
 *
 *   StartGameSessionPlacement     a new game session from a queue, with seats
 *                                 for DesiredPlayerSessions, placed by the
 *                                 queue's rules (PlayerLatencies, or a
 *                                 PriorityConfigurationOverride)
 *   DescribeGameSessionPlacement  its status; where to connect once FULFILLED
 *   StopGameSessionPlacement      cancels a PENDING one
 *
 * This function records and answers; rally-matchmaker places
 * (matchmaker/daemon/group_placement.c): it opens the game session on an
 * idle process, and once that is ACTIVE reserves the seats and marks the
 * placement FULFILLED, or ends it TIMED_OUT after the queue's timeout. Each
 * end is a queue placement event to the queue's NotificationTarget. The
 * rules are the SQL functions of sql/functions/fleet.sql (group placement).
 *
 * Callers: backend keys only (a placement is the queue's, not a fleet's).
 */
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cfg.h"
#include "db.h"
#include "gamelift.h"
#include "serve.h"
#include "util.h"

enum {
    START,
    STOP,
    PLACEMENT,
};

static const struct db_stmt stmts[] = {
    [START] = {"gp_start",
               "SELECT fleet.start_placement($1, $2, $3::integer, $4, $5::jsonb, $6, $7::jsonb, "
               "$8::jsonb, $9::jsonb)",
               9, false},
    [STOP] = {"gp_stop", "SELECT outcome, detail FROM fleet.stop_placement($1, $2, $3)", 3, false},
    [PLACEMENT] = {"gp_placement",
                   "SELECT fleet.placement_json(pl)::text FROM fleet.placements pl "
                   "WHERE pl.placement_id = $1",
                   1, true},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* GameLift's ceiling on players per game session (as CreateGameSession). */
#define MAX_PLAYERS 200
/* Latency reports a placement may carry: every seat in every location a
 * fleet may have. */
#define MAX_LATENCIES 2000

static bool is_fallback_strategy(const char *s)
{
    return strcmp(s, "DEFAULT_AFTER_SINGLE_PASS") == 0 || strcmp(s, "NONE") == 0;
}

static const struct gl_member latency_fields[] = {
    {"PlayerId", GL_STRING, true, 1, 1024, 0, NULL, NULL, 0},
    {"RegionIdentifier", GL_STRING, true, 1, 1024, 0, NULL, NULL, 0},
    {"LatencyInMilliseconds", GL_NUMBER, true, 0, 3600000, 0, NULL, NULL, 0},
};

static const struct gl_member desired_fields[] = {
    {"PlayerId", GL_STRING, true, 1, 1024, 0, NULL, NULL, 0},
    {"PlayerData", GL_STRING, false, 1, 2048, 0, NULL, NULL, 0},
};

static const struct gl_member override_fields[] = {
    {"PlacementFallbackStrategy", GL_STRING, false, 1, 32, 0, is_fallback_strategy, NULL, 0},
    {"LocationOrder", GL_STRING_LIST, true, 1, 10, 64, gl_is_location, NULL, 0},
};

static const struct gl_member start_input[] = {
    {"PlacementId", GL_STRING, true, 1, 48, 0, gl_is_id_string, NULL, 0},
    {"GameSessionQueueName", GL_STRING, true, 1, 256, 0, gl_is_queue_name, NULL, 0},
    {"GameProperties", GL_PROPERTIES, false, 0, 16, 0, NULL, NULL, 0},
    {"MaximumPlayerSessionCount", GL_INTEGER, true, 0, MAX_PLAYERS, 0, NULL, NULL, 0},
    {"GameSessionName", GL_STRING, false, 1, 1024, 0, NULL, NULL, 0},
    {"PlayerLatencies", GL_STRUCT_LIST, false, 0, MAX_LATENCIES, 0, NULL, latency_fields,
     N(latency_fields)},
    {"DesiredPlayerSessions", GL_STRUCT_LIST, false, 0, MAX_PLAYERS, 0, NULL, desired_fields,
     N(desired_fields)},
    {"GameSessionData", GL_STRING, false, 1, 262144, 0, NULL, NULL, 0},
    {"PriorityConfigurationOverride", GL_STRUCT, false, 0, 0, 0, NULL, override_fields,
     N(override_fields)},
};

static const struct gl_member id_input[] = {
    {"PlacementId", GL_STRING, true, 1, 48, 0, gl_is_id_string, NULL, 0},
};

static const char *str(json_t *in, const char *key)
{
    return json_string_value(json_object_get(in, key));
}

/* The JSON text of a member, in the arena; NULL when absent. */
static const char *json_text(struct arena *a, json_t *in, const char *key)
{
    json_t *v = json_object_get(in, key);
    if (v == NULL)
        return NULL;
    char *text = json_dumps(v, JSON_COMPACT);
    const char *copy = text != NULL ? arena_strdup(a, text) : NULL;
    free(text);
    return copy;
}

/* Replies {"GameSessionPlacement": ...} for one placement. */
static void reply_placement(struct http_req *req, struct http_resp *resp, const char *id)
{
    const char *p[] = {id};
    PGresult *r = serve_exec(req, resp, &stmts[PLACEMENT], p);
    if (r == NULL)
        return;
    if (PQntuples(r) == 0) {
        http_error(req, resp, 400, "NotFoundException", "Game session placement %s not found", id);
        return;
    }
    json_t *v = json_loads(db_get(r, 0, 0), 0, NULL);
    http_reply(req, resp, 200,
               json_pack("{s:o}", "GameSessionPlacement", v != NULL ? v : json_object()));
}

/* What the service model cannot say of a start: a player once, seats for
 * everyone, latencies or an override and not both, each override location
 * once. NULL when the input holds together, else why not. */
static const char *inconsistency(struct arena *a, json_t *in)
{
    json_t *desired = json_object_get(in, "DesiredPlayerSessions");
    json_t *order =
        json_object_get(json_object_get(in, "PriorityConfigurationOverride"), "LocationOrder");
    size_t nd = json_array_size(desired), no = json_array_size(order);
    if ((json_int_t)nd > json_integer_value(json_object_get(in, "MaximumPlayerSessionCount")))
        return arena_sprintf(a,
                             "DesiredPlayerSessions has %zu players, more than "
                             "MaximumPlayerSessionCount",
                             nd);
    for (size_t i = 0; i < nd; i++)
        for (size_t k = 0; k < i; k++)
            if (strcmp(str(json_array_get(desired, i), "PlayerId"),
                       str(json_array_get(desired, k), "PlayerId")) == 0)
                return arena_sprintf(a, "DesiredPlayerSessions names player %s twice",
                                     str(json_array_get(desired, i), "PlayerId"));
    if (no > 0 && json_array_size(json_object_get(in, "PlayerLatencies")) > 0)
        return "PlayerLatencies and PriorityConfigurationOverride cannot be used together";
    for (size_t i = 0; i < no; i++)
        for (size_t k = 0; k < i; k++)
            if (strcmp(json_string_value(json_array_get(order, i)),
                       json_string_value(json_array_get(order, k))) == 0)
                return arena_sprintf(a, "LocationOrder lists %s twice",
                                     json_string_value(json_array_get(order, i)));
    return NULL;
}

static void handle_start(struct http_req *req, struct http_resp *resp)
{
    json_t *in = gl_input(req, resp, start_input, N(start_input));
    if (in == NULL)
        return;
    const char *why = inconsistency(req->arena, in);
    if (why != NULL) {
        http_error(req, resp, 400, "InvalidRequestException", "%s", why);
        return;
    }
    const char *id = str(in, "PlacementId");
    const char *queue = gl_name_of(str(in, "GameSessionQueueName"), "gamesessionqueue");
    const char *p[] = {
        id,
        queue,
        arena_sprintf(
            req->arena, "%lld",
            (long long)json_integer_value(json_object_get(in, "MaximumPlayerSessionCount"))),
        str(in, "GameSessionName"),
        json_text(req->arena, in, "GameProperties"),
        str(in, "GameSessionData"),
        json_text(req->arena, in, "PlayerLatencies"),
        json_text(req->arena, in, "DesiredPlayerSessions"),
        json_text(req->arena, in, "PriorityConfigurationOverride"),
    };
    PGresult *r = serve_exec(req, resp, &stmts[START], p);
    if (r == NULL)
        return;
    const char *outcome = db_get(r, 0, 0);
    if (strcmp(outcome, "started") == 0)
        reply_placement(req, resp, id);
    else if (strcmp(outcome, "exists") == 0)
        http_error(req, resp, 400, "InvalidRequestException",
                   "Placement id %s is already in use: a placement id is never reused", id);
    else
        http_error(req, resp, 400, "NotFoundException", "Game session queue %s not found", queue);
}

static void handle_describe(struct http_req *req, struct http_resp *resp)
{
    json_t *in = gl_input(req, resp, id_input, N(id_input));
    if (in != NULL)
        reply_placement(req, resp, str(in, "PlacementId"));
}

static void handle_stop(struct http_req *req, struct http_resp *resp)
{
    json_t *in = gl_input(req, resp, id_input, N(id_input));
    if (in == NULL)
        return;
    const char *id = str(in, "PlacementId");
    const char *p[] = {id, cfg->region, cfg->account_id};
    PGresult *r = serve_exec(req, resp, &stmts[STOP], p);
    if (r == NULL)
        return;
    const char *outcome = db_get(r, 0, 0), *detail = db_get(r, 0, 1);
    if (strcmp(outcome, "cancelled") == 0)
        reply_placement(req, resp, id);
    else if (strcmp(outcome, "ended") == 0)
        http_error(req, resp, 400, "InvalidRequestException",
                   "Game session placement %s is %s, not PENDING", id, detail);
    else if (strcmp(outcome, "has_game_session") == 0)
        http_error(req, resp, 400, "InvalidRequestException",
                   "Game session placement %s has a game session already (%s): end it with "
                   "TerminateGameSession",
                   id, detail != NULL ? detail : "?");
    else
        http_error(req, resp, 400, "NotFoundException", "Game session placement %s not found", id);
}

/* An operator's admin token may do what a backend's key does (the console). */
#define BACKEND (AUTH_SCOPE_AWS_BACKEND | AUTH_SCOPE_ADMIN)

static const struct http_route routes[] = {
    {"StartGameSessionPlacement", "POST", &dialect_gamelift, BACKEND, handle_start},
    {"DescribeGameSessionPlacement", "POST", &dialect_gamelift, BACKEND, handle_describe},
    {"StopGameSessionPlacement", "POST", &dialect_gamelift, BACKEND, handle_stop},
};

int main(void)
{
    static const struct service svc = {
        .name = "gamelift-placement",
        .max_body = 512 * 1024, /* GameSessionData may be 256 KiB, and 2,000 latencies */
        .routes = routes,
        .nroutes = N(routes),
        .stmts = stmts,
        .nstmts = N(stmts),
        .verifies_tokens = true, /* operators' admin tokens */
    };
    serve_main(&svc);
}
