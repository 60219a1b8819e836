/*
 * request-matchmaking: StartMatchmaking for the calling player.
 *
 *   POST /v1/matchmaking   {"configuration"?, "latencyInMs", "attributes"?, "ticketId"?}
 *   POST /request-matchmaking          {"latencyInMs"}        (GUIDANCE sample)
 *   GET  /requestmatchmaking?latencies=us-east-1_23_us-west-2_81   (LEGACY sample)
 *   POST /v1/fleet/matchmaking/start   server scope: GameLift's StartMatchmaking
 *        {"ConfigurationName", "Players": [{"PlayerId", "PlayerAttributes"?,
 *        "LatencyInMs"?}], "TicketId"?} -> {"MatchmakingTicket"}
 *
 * Server-side attributes (skill...) come from the players row, created with
 * the rule set defaults on first use; a client may only set the attributes
 * its configuration lists in ClientSettableAttributes. One active ticket per
 * player: the same ticketId again returns that ticket (200); another while it
 * is active is 409 with the active TicketId. The compatibility routes return
 * the active ticket instead, since those clients restart matchmaking blindly.
 *
 * The server route is for trusted backends (a hub world submitting a
 * party): 1-10 players on one ticket, any attribute the rule set declares,
 * and FlexMatch's duplicate-player rule (sql/010_server_matchmaking.sql).
 *
 * On every route, a player without a value for an attribute the rule set
 * declares without a default is refused (400 attribute_missing, as GameLift
 * refuses it): no ticket is written that could never match
 * (sql/012_required_attributes.sql).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "serve.h"
#include "ticket.h"
#include "util.h"

enum { START, VIEW, START_PARTY, VIEW_ANY };

static const struct db_stmt stmts[] = {
    [START] = {"start",
               "SELECT outcome, ticket_id, detail FROM matchmaking.start_matchmaking("
               "$1, $2, $3, $4::jsonb, $5::jsonb, $6::integer, $7::boolean)",
               7, false},
    [VIEW] = {"view", TICKET_VIEW_SQL, 2, true},
    [START_PARTY] = {"start_party",
                     "SELECT outcome, ticket_id, detail FROM matchmaking.start_party($1, $2, "
                     "$3::jsonb, $4::integer)",
                     4, false},
    [VIEW_ANY] = {"view_any", TICKET_VIEW_ANY_SQL, 1, true},
};

static void json_decref_hook(void *p)
{
    json_decref(p);
}

/* A player lacks a value for an attribute its rule set declares without a
 * default: FlexMatch could never match the ticket, and GameLift refuses the
 * request (InvalidRequestException), so rally does too. */
static void attribute_missing(struct http_req *req, struct http_resp *resp, const char *name)
{
    http_error(req, resp, 400, "attribute_missing",
               "attribute %s is required: the rule set declares it without a default", name);
}

/* Runs StartMatchmaking and answers with the ticket. Takes no ownership. */
static void start(struct http_req *req, struct http_resp *resp, const char *configuration,
                  json_t *latency, json_t *attributes, const char *ticket_id)
{
    char *lat = json_dumps(latency, JSON_COMPACT);
    char *attrs = json_dumps(attributes, JSON_COMPACT);
    arena_defer(req->arena, free, lat);
    arena_defer(req->arena, free, attrs);
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%ld", cfg->ticket_ttl);
    const char *reuse = http_dialect(req)->reuse_active_ticket ? "true" : "false";

    PGresult *r;
    const char *p[] = {ticket_id, configuration, req->claims.sub, lat, attrs, ttl, reuse};
    int rc = db_exec(req->arena, &stmts[START], p, &r);
    if (rc != DB_OK) {
        serve_db_error(req, resp, rc);
        return;
    }
    const char *outcome = db_get(r, 0, 0);
    const char *id = db_get(r, 0, 1);
    const char *detail = db_get(r, 0, 2);
    int status = http_dialect(req)->created_status;
    if (strcmp(outcome, "existing") == 0) {
        status = 200;
    } else if (strcmp(outcome, "active") == 0) {
        http_reply(req, resp, 409,
                   json_pack("{s:s, s:s, s:s}", "error", "active_ticket", "message",
                             "the player already has an active ticket", "TicketId", detail));
        return;
    } else if (strcmp(outcome, "ticket_id_taken") == 0) {
        http_error(req, resp, 409, "ticket_id_taken", "ticketId %s is already in use", id);
        return;
    } else if (strcmp(outcome, "unknown_configuration") == 0) {
        http_error(req, resp, 400, "unknown_configuration", "no matchmaking configuration %s",
                   detail);
        return;
    } else if (strcmp(outcome, "attribute_not_settable") == 0) {
        http_error(req, resp, 400, "attribute_not_settable",
                   "attribute %s is not client-settable in this configuration", detail);
        return;
    } else if (strcmp(outcome, "attribute_type") == 0) {
        http_error(req, resp, 400, "attribute_type",
                   "attribute %s does not have the type its rule set declares", detail);
        return;
    } else if (strcmp(outcome, "attribute_missing") == 0) {
        attribute_missing(req, resp, detail);
        return;
    } else if (strcmp(outcome, "created") != 0) {
        http_error(req, resp, 500, "internal", "unexpected outcome %s", outcome);
        return;
    }

    const char *pv[] = {id, req->claims.sub};
    rc = db_exec(req->arena, &stmts[VIEW], pv, &r);
    if (rc != DB_OK) {
        serve_db_error(req, resp, rc);
        return;
    }
    if (PQntuples(r) != 1) {
        http_error(req, resp, 500, "internal", "ticket vanished");
        return;
    }
    http_reply(req, resp, status, ticket_render(req->arena, r, 0, http_dialect(req)));
}

static void handle_start(struct http_req *req, struct http_resp *resp)
{
    const char *configuration = NULL, *ticket_id = NULL;
    json_t *latency_in = NULL, *attributes = NULL;
    json_error_t jerr;
    const char *why;
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s?:s, s:o, s?:o, s?:s}", "configuration",
                       &configuration, "latencyInMs", &latency_in, "attributes", &attributes,
                       "ticketId", &ticket_id) != 0) {
        http_error(req, resp, 400, "invalid_body", "%s", jerr.text);
        return;
    }
    if (configuration != NULL && !util_is_token(configuration, 256, "-_.")) {
        http_error(req, resp, 400, "invalid_body", "configuration must be a configuration name");
        return;
    }
    if (ticket_id != NULL && !ticket_id_is_valid(ticket_id)) {
        http_error(req, resp, 400, "invalid_body", "ticketId must be 1-128 of [a-zA-Z0-9-.]");
        return;
    }
    json_t *latency =
        ticket_latency_from_json(latency_in, http_dialect(req)->clamp_zero_latency, &why);
    if (latency == NULL) {
        http_error(req, resp, 400, "invalid_latency", "%s", why);
        return;
    }
    arena_defer(req->arena, json_decref_hook, latency);
    if (attributes != NULL && ticket_check_attributes(attributes, &why) < 0) {
        http_error(req, resp, 400, "invalid_attributes", "%s", why);
        return;
    }
    json_t *none = json_object();
    arena_defer(req->arena, json_decref_hook, none);
    start(req, resp, configuration != NULL ? configuration : cfg->default_configuration, latency,
          attributes != NULL ? attributes : none, ticket_id);
}

static void handle_start_v2(struct http_req *req, struct http_resp *resp)
{
    const char *why;
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return;
    json_t *latency_in = json_object_get(body, "latencyInMs");
    if (latency_in == NULL) {
        http_error(req, resp, 400, "invalid_latency", "No latency data provided");
        return;
    }
    json_t *latency =
        ticket_latency_from_json(latency_in, http_dialect(req)->clamp_zero_latency, &why);
    if (latency == NULL) {
        http_error(req, resp, 400, "invalid_latency", "%s", why);
        return;
    }
    arena_defer(req->arena, json_decref_hook, latency);
    json_t *none = json_object();
    arena_defer(req->arena, json_decref_hook, none);
    start(req, resp, cfg->default_configuration, latency, none, NULL);
}

static void handle_start_v1(struct http_req *req, struct http_resp *resp)
{
    const char *why;
    const char *latencies = http_query(req, "latencies");
    if (latencies == NULL || *latencies == '\0') {
        http_error(req, resp, 400, "invalid_latency", "latencies query parameter is required");
        return;
    }
    json_t *latency = ticket_latency_from_v1(req->arena, latencies, &why);
    if (latency == NULL) {
        http_error(req, resp, 400, "invalid_latency", "%s", why);
        return;
    }
    arena_defer(req->arena, json_decref_hook, latency);
    json_t *none = json_object();
    arena_defer(req->arena, json_decref_hook, none);
    start(req, resp, cfg->default_configuration, latency, none, NULL);
}

/* One entry of Players, checked and normalised into out (new keys only). */
static const char *party_player(json_t *p, json_t *seen, json_t *out)
{
    const char *id = NULL, *why = NULL;
    json_t *attributes = NULL, *latency_in = NULL;
    json_error_t jerr;
    if (json_unpack_ex(p, &jerr, JSON_STRICT, "{s:s, s?:o, s?:o}", "PlayerId", &id,
                       "PlayerAttributes", &attributes, "LatencyInMs", &latency_in) != 0)
        return json_object_get(p, "Team") != NULL
                   ? "Team is for backfill, which rally does not do"
                   : "each player is {\"PlayerId\", \"PlayerAttributes\"?, \"LatencyInMs\"?}";
    if (strlen(id) < 1 || strlen(id) > 1024)
        return "PlayerId must be 1 to 1024 characters";
    if (json_object_get(seen, id) != NULL)
        return "a PlayerId appears twice";
    json_object_set_new(seen, id, json_true());
    if (attributes != NULL && ticket_check_attributes(attributes, &why) < 0)
        return why;
    json_object_set_new(out, "PlayerId", json_string(id));
    if (attributes != NULL)
        json_object_set(out, "PlayerAttributes", attributes);
    if (latency_in != NULL) {
        json_t *latency = ticket_latency_from_json(latency_in, false, &why);
        if (latency == NULL)
            return why;
        json_object_set_new(out, "LatencyInMs", latency);
    }
    return NULL;
}

static void handle_start_server(struct http_req *req, struct http_resp *resp)
{
    const char *configuration = NULL, *ticket_id = NULL, *why = NULL;
    json_t *party = NULL;
    json_error_t jerr;
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s:o, s?:s}", "ConfigurationName",
                       &configuration, "Players", &party, "TicketId", &ticket_id) != 0) {
        http_error(req, resp, 400, "invalid_body", "%s", jerr.text);
        return;
    }
    const char *name = strrchr(configuration, '/'); /* an ARN names it after the slash */
    name = name != NULL ? name + 1 : configuration;
    if (!util_is_token(name, 256, "-_.")) {
        http_error(req, resp, 400, "invalid_body", "ConfigurationName must name a configuration");
        return;
    }
    if (ticket_id != NULL && !ticket_id_is_valid(ticket_id)) {
        http_error(req, resp, 400, "invalid_body", "TicketId must be 1-128 of [a-zA-Z0-9-.]");
        return;
    }
    if (!json_is_array(party) || json_array_size(party) < 1 ||
        json_array_size(party) > TICKET_MAX_PARTY) {
        http_error(req, resp, 400, "invalid_body", "Players must be an array of 1 to %d players",
                   TICKET_MAX_PARTY);
        return;
    }
    json_t *players = json_array(), *seen = json_object();
    arena_defer(req->arena, json_decref_hook, players);
    arena_defer(req->arena, json_decref_hook, seen);
    size_t i;
    json_t *p;
    json_array_foreach(party, i, p)
    {
        json_t *one = json_object();
        json_array_append_new(players, one);
        if ((why = party_player(p, seen, one)) != NULL) {
            http_error(req, resp, 400, "invalid_body", "Players[%zu]: %s", i, why);
            return;
        }
    }
    char *players_text = json_dumps(players, JSON_COMPACT);
    arena_defer(req->arena, free, players_text);
    char ttl[16];
    snprintf(ttl, sizeof(ttl), "%ld", cfg->ticket_ttl);
    const char *ps[] = {ticket_id, name, players_text, ttl};
    PGresult *r;
    int rc = db_exec(req->arena, &stmts[START_PARTY], ps, &r);
    if (rc != DB_OK) {
        serve_db_error(req, resp, rc);
        return;
    }
    const char *outcome = db_get(r, 0, 0), *id = db_get(r, 0, 1), *detail = db_get(r, 0, 2);
    if (strcmp(outcome, "unknown_configuration") == 0) {
        http_error(req, resp, 400, "unknown_configuration", "no matchmaking configuration %s",
                   detail);
        return;
    }
    if (strcmp(outcome, "attribute_type") == 0) {
        http_error(req, resp, 400, "attribute_type",
                   "attribute %s does not have the type its rule set declares", detail);
        return;
    }
    if (strcmp(outcome, "attribute_missing") == 0) {
        attribute_missing(req, resp, detail);
        return;
    }
    if (strcmp(outcome, "ticket_id_taken") == 0) {
        http_error(req, resp, 409, "ticket_id_taken", "TicketId %s is already in use", id);
        return;
    }
    if (strcmp(outcome, "player_busy") == 0) {
        http_error(req, resp, 409, "player_busy",
                   "player %s is in a proposed match or one being placed", detail);
        return;
    }
    const char *one[] = {id};
    const char *pv[] = {util_pg_text_array(req->arena, one, 1)};
    rc = db_exec(req->arena, &stmts[VIEW_ANY], pv, &r);
    if (rc != DB_OK || PQntuples(r) != 1) {
        if (rc != DB_OK)
            serve_db_error(req, resp, rc);
        else
            http_error(req, resp, 500, "internal", "ticket vanished");
        return;
    }
    http_reply(req, resp, 200,
               json_pack("{s:o}", "MatchmakingTicket",
                         ticket_render(req->arena, r, 0, http_dialect(req))));
}

static const struct http_route routes[] = {
    /* The GameLift API's StartMatchmaking: the same, signed with a key. */
    {.name = "StartMatchmaking",
     .method = "POST",
     .dialect = &dialect_gamelift,
     .scopes = AUTH_SCOPE_AWS_BACKEND,
     .handle = handle_start_server},
    {.name = "start_server",
     .method = "POST",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_SERVER,
     .handle = handle_start_server},
    {.name = "start",
     .method = "POST",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_PLAYER,
     .handle = handle_start},
    {.name = "start_v2",
     .method = "POST",
     .dialect = &dialect_guidance,
     .scopes = AUTH_SCOPE_PLAYER,
     .handle = handle_start_v2},
    {.name = "start_v1",
     .method = "GET",
     .dialect = &dialect_legacy,
     .scopes = AUTH_SCOPE_PLAYER,
     .handle = handle_start_v1},
};

int main(void)
{
    static const struct service svc = {
        .name = "request-matchmaking",
        .max_body = 8192,
        .routes = routes,
        .nroutes = sizeof(routes) / sizeof(routes[0]),
        .stmts = stmts,
        .nstmts = sizeof(stmts) / sizeof(stmts[0]),
        .verifies_tokens = true,
    };
    serve_main(&svc);
}
