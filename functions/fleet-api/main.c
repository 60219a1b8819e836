/*
 * fleet-api: what a game server process says to rally (GameLift's server
 * SDK calls, reference/aws-flow.md §6), with a server-scope token whose
 * subject is the fleet id.
 *
 *   POST   /v1/fleet/processes                     ProcessReady
 *          {"location","ipAddress","dnsName"?,"port","maxPlayers",
 *           "processId"?,"computeName"?,"sdk"?,"hostProcessId"?} -> 201 {"processId"}
 *          (processId and computeName: what an agent launched the process as,
 *          GAMELIFT_SDK_PROCESS_ID and GAMELIFT_SDK_HOST_ID; an id ready
 *          before is 409. Without location and ipAddress, the registered
 *          compute's: how an SDK 5 process, through the gateway, is ready.
 *          sdk: GameLift's server SDK it speaks, "Go 5.6.0". hostProcessId:
 *          the process the agent launched, of which this one is a part (a
 *          rally-relay hosting many game sessions registers "P.1", "P.2",
 *          ... with host P), docs/relay.md)
 *   POST   /v1/fleet/computes                      RegisterCompute
 *          {"computeName","location","ipAddress","dnsName"?} -> 200
 *          {"computeName","location","processes"?}: a host of the fleet
 *          (its agent, every few seconds: it is live), and how many of the
 *          fleet's processes it runs now when its location is sized
 *          (fleet.compute_share; absent: all of the RuntimeConfiguration)
 *   DELETE /v1/fleet/computes/{name}               DeregisterCompute -> 200 {}: its agent
 *          stopped; the location's processes are split among the others
 *   GET    /v1/fleet/runtime-configuration        -> 200 {"RuntimeConfiguration"}:
 *                                                    what the fleet's agents run
 *   POST   /v1/fleet/processes/describe            {"processIds"} -> 200
 *                                                    {"processes": [{"processId","status",
 *                                                    "statusReason"?,"gameSessionId"?}]}:
 *                                                    those of them that called ProcessReady
 *   POST   /v1/fleet/processes/{id}/heartbeat      -> 200 {"processId","status",
 *                                                    "gameSession": {...} | null}
 *                                                    410 once the process was ended
 *   DELETE /v1/fleet/processes/{id}                ProcessEnding -> 200 {}
 *   POST   /v1/fleet/game-sessions/{id}/activate   ActivateGameSession -> 200 {}
 *   POST   /v1/fleet/player-sessions/{id}/accept   AcceptPlayerSession
 *          {"gameSessionId"? | "hostProcessId"?: one of its processes' game sessions}
 *                                                    -> 200 {"playerSessionId","playerId",
 *                                                    "gameSessionId"}
 *   POST   /v1/fleet/player-sessions/{id}/remove   RemovePlayerSession -> 200 {}
 *   POST   /v1/fleet/matchmaking/explain           {"TicketId"} -> why a searching ticket
 *                                                    has not matched (matchmaker/explain.h)
 *
 * A process, game session or player session of another fleet is 404, as if
 * it did not exist. Every state rule lives in the SQL entry points of
 * sql/009_fleet.sql, each one transaction.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "cfg.h"
#include "db.h"
#include "explain_db.h"
#include "serve.h"
#include "util.h"

enum {
    READY,
    HEARTBEAT,
    ENDING,
    ACTIVATE,
    ACCEPT,
    REMOVE,
    EXPLAIN_TICKET,
    EXPLAIN_RULESET,
    EXPLAIN_POOL,
    RUNTIME,
    DESCRIBE,
    REGISTER_COMPUTE,
    DEREGISTER_COMPUTE,
};

static const struct db_stmt stmts[] = {
    [READY] = {"ready",
               "SELECT outcome, detail FROM fleet.process_ready($1, $2, $3, $4, $5, "
               "$6::integer, $7::integer, $8, $9, $10)",
               10, false},
    [HEARTBEAT] = {"heartbeat", "SELECT outcome, game_session::text FROM fleet.heartbeat($1, $2)",
                   2, true},
    [ENDING] = {"ending", "SELECT fleet.process_ending($1, $2, 'PROCESS_ENDING')", 2, true},
    [ACTIVATE] = {"activate", "SELECT outcome, detail FROM fleet.activate_game_session($1, $2)", 2,
                  true},
    [ACCEPT] = {"accept",
                "SELECT outcome, detail, player, game_session "
                "FROM fleet.accept_player_session($1, $2, $3, $4)",
                4, false},
    /* A player left: with BackfillMode AUTOMATIC, the game session gets a
     * backfill ticket for the seat, in the same transaction. */
    [REMOVE] = {"remove",
                "SELECT r.outcome, r.detail, CASE WHEN r.outcome = 'removed' THEN "
                "matchmaking.auto_backfill((SELECT game_session_id FROM fleet.player_sessions "
                "WHERE player_session_id = $1), $3::integer) END "
                "FROM fleet.remove_player_session($1, $2) r",
                3, false},
    [EXPLAIN_TICKET] = {"explain_ticket", EXPLAIN_TICKET_SQL, 1, true},
    [EXPLAIN_RULESET] = {"explain_ruleset", EXPLAIN_RULESET_SQL, 1, true},
    [EXPLAIN_POOL] = {"explain_pool", EXPLAIN_POOL_SQL, 1, true},
    [RUNTIME] = {"runtime",
                 "SELECT coalesce(body->'RuntimeConfiguration', '{}')::text FROM fleet.fleets "
                 "WHERE fleet_id = $1",
                 1, true},
    [DESCRIBE] = {"describe", "SELECT fleet.describe_processes($1, $2::text[])::text", 2, true},
    /* Registered: how many of the fleet's processes it runs now (NULL: all). */
    [REGISTER_COMPUTE] = {"register_compute",
                          "SELECT r.outcome, r.detail, CASE WHEN r.outcome = 'registered' THEN "
                          "fleet.compute_share($1, $2) END "
                          "FROM fleet.register_compute($1, $2, $3, $4, $5) r",
                          5, true},
    [DEREGISTER_COMPUTE] = {"deregister_compute",
                            "DELETE FROM fleet.computes WHERE fleet_id = $1 AND compute_name = $2 "
                            "RETURNING compute_name",
                            2, true},
};

/* The most process ids one describe takes: an agent's processes, and more. */
#define DESCRIBE_MAX 1000

/* Runs one entry point; NULL after answering the failure. */
static PGresult *call(struct http_req *req, struct http_resp *resp, int stmt,
                      const char *const *params)
{
    return serve_exec(req, resp, &stmts[stmt], params);
}

/* Ids in paths: "<kind>-<uuid>" as rally makes them. */
static bool id_ok(struct http_req *req, struct http_resp *resp, const char *what)
{
    if (req->path_id != NULL && util_is_token(req->path_id, 128, "-."))
        return true;
    http_error(req, resp, 404, "not_found", "no such %s", what);
    return false;
}

static bool ip_address(const char *s)
{
    unsigned char buf[16];
    return s != NULL && (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1);
}

/* What is wrong with where a process or compute is, or NULL. */
static const char *where_bad(const char *location, const char *ip, const char *dns)
{
    return location == NULL || ip == NULL
               ? "location and ipAddress are required (a process of a registered compute may name "
                 "only its computeName)"
           : !util_is_token(location, 64, "-_")            ? "location: 1-64 of [A-Za-z0-9-_]"
           : !ip_address(ip)                               ? "ipAddress: an IPv4 or IPv6 address"
           : dns != NULL && !util_is_token(dns, 253, "-.") ? "dnsName: a host name"
                                                           : NULL;
}

static void refused_where(struct http_req *req, struct http_resp *resp, const char *outcome,
                          const char *detail);

/* Whether process id is one of host's: "<host>.<more>", host an id too. */
static bool part_of(const char *id, const char *host)
{
    size_t n = strlen(host);
    return id != NULL && util_is_token(host, 100, "-.") && strncmp(id, host, n) == 0 &&
           id[n] == '.' && id[n + 1] != '\0';
}

static void handle_ready(struct http_req *req, struct http_resp *resp)
{
    const char *location = NULL, *ip = NULL, *dns = NULL, *id = NULL, *compute = NULL;
    const char *sdk = NULL, *host = NULL;
    json_int_t port = 0, max_players = 0;
    json_error_t jerr;
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s?s, s?s, s?s, s:I, s:I, s?s, s?s, s?s, s?s}",
                       "location", &location, "ipAddress", &ip, "dnsName", &dns, "port", &port,
                       "maxPlayers", &max_players, "processId", &id, "computeName", &compute, "sdk",
                       &sdk, "hostProcessId", &host) != 0) {
        http_error(req, resp, 400, "invalid_body", "%s", jerr.text);
        return;
    }
    /* Where the process is: said here, or its registered compute's. */
    bool by_compute = location == NULL && ip == NULL && dns == NULL && compute != NULL;
    const char *bad = by_compute ? NULL : where_bad(location, ip, dns);
    bad = bad != NULL                                      ? bad
          : sdk != NULL && !util_is_token(sdk, 64, " .-_") ? "sdk: 1-64 of [A-Za-z0-9 .-_]"
          : port < 1 || port > 60000                       ? "port: 1 to 60000"
          : max_players < 1 || max_players > 200           ? "maxPlayers: 1 to 200"
          : id != NULL && !util_is_token(id, 128, "-.")    ? "processId: 1-128 of [A-Za-z0-9-.]"
          : compute != NULL && !util_is_token(compute, 128, "-_.")
              ? "computeName: 1-128 of [A-Za-z0-9-_.]"
          : host != NULL && !part_of(id, host) ? "processId: hostProcessId, a dot, and more"
                                               : NULL;
    if (bad != NULL) {
        http_error(req, resp, 400, "invalid_body", "%s", bad);
        return;
    }
    if (id == NULL) {
        char uuid[37];
        util_uuid(uuid);
        id = arena_sprintf(req->arena, "process-%s", uuid);
    }
    char *port_s = arena_sprintf(req->arena, "%lld", (long long)port);
    char *max_s = arena_sprintf(req->arena, "%lld", (long long)max_players);
    const char *p[] = {id, req->claims.sub, location, ip, dns, port_s, max_s, compute, sdk, host};
    PGresult *r = call(req, resp, READY, p);
    if (r == NULL)
        return;
    const char *outcome = db_get(r, 0, 0), *detail = db_get(r, 0, 1);
    if (strcmp(outcome, "ready") == 0)
        http_reply(req, resp, 201, json_pack("{s:s}", "processId", id));
    else if (strcmp(outcome, "exists") == 0)
        http_error(req, resp, 409, "process_exists",
                   "process %s was ready before: a process is ready once", detail);
    else if (strcmp(outcome, "unknown_compute") == 0)
        http_error(req, resp, 404, "unknown_compute",
                   "compute %s is not registered with the fleet (RegisterCompute)", detail);
    else
        refused_where(req, resp, outcome, detail);
}

/* A refusal of where a process or compute is (process_ready and
 * register_compute's unknown_fleet and unknown_location). */
static void refused_where(struct http_req *req, struct http_resp *resp, const char *outcome,
                          const char *detail)
{
    if (strcmp(outcome, "unknown_fleet") == 0)
        http_error(req, resp, 403, "unknown_fleet", "fleet %s is not configured (config/fleets/)",
                   detail);
    else
        http_error(req, resp, 400, "unknown_location", "location must be one of the fleet's: %s",
                   detail);
}

static void handle_register_compute(struct http_req *req, struct http_resp *resp)
{
    const char *name = NULL, *location = NULL, *ip = NULL, *dns = NULL;
    json_error_t jerr;
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s:s, s:s, s?s}", "computeName", &name,
                       "location", &location, "ipAddress", &ip, "dnsName", &dns) != 0) {
        http_error(req, resp, 400, "invalid_body", "%s", jerr.text);
        return;
    }
    const char *bad = !util_is_token(name, 128, "-_.") ? "computeName: 1-128 of [A-Za-z0-9-_.]"
                                                       : where_bad(location, ip, dns);
    if (bad != NULL) {
        http_error(req, resp, 400, "invalid_body", "%s", bad);
        return;
    }
    const char *p[] = {req->claims.sub, name, location, ip, dns};
    PGresult *r = call(req, resp, REGISTER_COMPUTE, p);
    if (r == NULL)
        return;
    const char *outcome = db_get(r, 0, 0), *detail = db_get(r, 0, 1);
    if (strcmp(outcome, "registered") != 0) {
        refused_where(req, resp, outcome, detail);
        return;
    }
    json_t *out = json_pack("{s:s, s:s}", "computeName", name, "location", location);
    const char *share = db_get(r, 0, 2);
    if (share != NULL)
        json_object_set_new(out, "processes", json_integer(strtoll(share, NULL, 10)));
    http_reply(req, resp, 200, out);
}

static void handle_deregister_compute(struct http_req *req, struct http_resp *resp)
{
    if (req->path_id == NULL || !util_is_token(req->path_id, 128, "-_.")) {
        http_error(req, resp, 404, "not_found", "no such compute");
        return;
    }
    const char *p[] = {req->claims.sub, req->path_id};
    PGresult *r = call(req, resp, DEREGISTER_COMPUTE, p);
    if (r == NULL)
        return;
    if (PQntuples(r) == 0)
        http_error(req, resp, 404, "not_found", "no such compute");
    else
        http_reply(req, resp, 200, json_object());
}

static void handle_heartbeat(struct http_req *req, struct http_resp *resp)
{
    if (!id_ok(req, resp, "process"))
        return;
    const char *p[] = {req->path_id, req->claims.sub};
    PGresult *r = call(req, resp, HEARTBEAT, p);
    if (r == NULL)
        return;
    const char *outcome = db_get(r, 0, 0), *session = db_get(r, 0, 1);
    if (strcmp(outcome, "terminated") == 0) {
        http_error(req, resp, 410, "process_terminated",
                   "process %s was ended; call ProcessReady again", req->path_id);
        return;
    }
    if (strcmp(outcome, "alive") != 0) {
        http_error(req, resp, 404, "not_found", "no such process");
        return;
    }
    json_t *gs = session != NULL ? json_loads(session, 0, NULL) : json_null();
    http_reply(req, resp, 200,
               json_pack("{s:s, s:s, s:o}", "processId", req->path_id, "status", "ACTIVE",
                         "gameSession", gs != NULL ? gs : json_null()));
}

static void handle_ending(struct http_req *req, struct http_resp *resp)
{
    if (!id_ok(req, resp, "process"))
        return;
    const char *p[] = {req->path_id, req->claims.sub};
    PGresult *r = call(req, resp, ENDING, p);
    if (r == NULL)
        return;
    if (strcmp(db_get(r, 0, 0), "ended") == 0)
        http_reply(req, resp, 200, json_object());
    else
        http_error(req, resp, 404, "not_found", "no such process");
}

static void handle_activate(struct http_req *req, struct http_resp *resp)
{
    if (!id_ok(req, resp, "game session"))
        return;
    const char *p[] = {req->path_id, req->claims.sub};
    PGresult *r = call(req, resp, ACTIVATE, p);
    if (r == NULL)
        return;
    const char *outcome = db_get(r, 0, 0);
    if (strcmp(outcome, "activated") == 0)
        http_reply(req, resp, 200, json_object());
    else if (strcmp(outcome, "conflict") == 0)
        http_error(req, resp, 409, "invalid_status",
                   "game session is %s; only an ACTIVATING one can be activated", db_get(r, 0, 1));
    else
        http_error(req, resp, 404, "not_found", "no such game session");
}

static void handle_accept(struct http_req *req, struct http_resp *resp)
{
    const char *game_session = NULL, *host = NULL;
    if (req->body_len > 0) {
        json_error_t jerr;
        json_t *body = http_json_body(req, resp);
        if (body == NULL)
            return;
        if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s?s, s?s}", "gameSessionId", &game_session,
                           "hostProcessId", &host) != 0) {
            http_error(req, resp, 400, "invalid_body", "%s", jerr.text);
            return;
        }
    }
    if (!id_ok(req, resp, "player session"))
        return;
    const char *p[] = {req->path_id, req->claims.sub, game_session, host};
    PGresult *r = call(req, resp, ACCEPT, p);
    if (r == NULL)
        return;
    const char *outcome = db_get(r, 0, 0), *detail = db_get(r, 0, 1);
    if (strcmp(outcome, "accepted") == 0)
        http_reply(req, resp, 200,
                   json_pack("{s:s, s:s, s:s}", "playerSessionId", req->path_id, "playerId",
                             db_get(r, 0, 2), "gameSessionId", db_get(r, 0, 3)));
    else if (strcmp(outcome, "not_reserved") == 0)
        http_error(req, resp, 409, "not_reserved",
                   "player session is %s; only a RESERVED one can be accepted", detail);
    else if (strcmp(outcome, "expired") == 0)
        http_error(req, resp, 409, "reservation_expired",
                   "the player did not connect within the reservation timeout (now TIMEDOUT)");
    else if (strcmp(outcome, "game_session_not_active") == 0)
        http_error(req, resp, 409, "game_session_not_active", "game session is %s", detail);
    else
        http_error(req, resp, 404, "not_found", "no such player session");
}

static void handle_remove(struct http_req *req, struct http_resp *resp)
{
    if (!id_ok(req, resp, "player session"))
        return;
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%ld", cfg->ticket_ttl);
    const char *p[] = {req->path_id, req->claims.sub, ttl};
    PGresult *r = call(req, resp, REMOVE, p);
    if (r == NULL)
        return;
    const char *outcome = db_get(r, 0, 0);
    if (strcmp(outcome, "removed") == 0)
        http_reply(req, resp, 200, json_object());
    else if (strcmp(outcome, "conflict") == 0)
        http_error(req, resp, 409, "invalid_status", "player session is already %s",
                   db_get(r, 0, 1));
    else
        http_error(req, resp, 404, "not_found", "no such player session");
}

static void handle_explain(struct http_req *req, struct http_resp *resp)
{
    const char *ticket_id = NULL, *why = NULL;
    json_error_t jerr;
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s}", "TicketId", &ticket_id) != 0) {
        http_error(req, resp, 400, "invalid_body", "%s", jerr.text);
        return;
    }
    if (!util_is_token(ticket_id, 128, "-.")) {
        http_error(req, resp, 404, "not_found", "no such ticket");
        return;
    }
    const char *pt[] = {ticket_id};
    PGresult *ticket = call(req, resp, EXPLAIN_TICKET, pt);
    if (ticket == NULL)
        return;
    if (PQntuples(ticket) != 1) {
        http_error(req, resp, 404, "not_found", "no such ticket in the pool");
        return;
    }
    const char *pc[] = {db_get(ticket, 0, 0)};
    PGresult *ruleset = call(req, resp, EXPLAIN_RULESET, pc);
    PGresult *pool = ruleset != NULL ? call(req, resp, EXPLAIN_POOL, pc) : NULL;
    if (pool == NULL)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    json_t *report = fm_explain_ticket(ticket_id, ticket, ruleset, pool,
                                       (double)ts.tv_sec + (double)ts.tv_nsec / 1e9, &why);
    if (report == NULL)
        http_error(req, resp, 409, "cannot_explain", "%s", why);
    else
        http_reply(req, resp, 200, report);
}

/* The fleet's RuntimeConfiguration, for its agents. */
static void handle_runtime(struct http_req *req, struct http_resp *resp)
{
    const char *p[] = {req->claims.sub};
    PGresult *r = call(req, resp, RUNTIME, p);
    if (r == NULL)
        return;
    json_t *rc = PQntuples(r) == 1 ? json_loads(db_get(r, 0, 0), 0, NULL) : NULL;
    if (rc == NULL)
        http_error(req, resp, 403, "unknown_fleet", "fleet %s is not configured (config/fleets/)",
                   req->claims.sub);
    else
        http_reply(req, resp, 200, json_pack("{s:o}", "RuntimeConfiguration", rc));
}

/* Which of an agent's processes called ProcessReady, and how they are. */
static void handle_describe(struct http_req *req, struct http_resp *resp)
{
    json_t *ids = NULL;
    json_error_t jerr;
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:o}", "processIds", &ids) != 0) {
        http_error(req, resp, 400, "invalid_body", "%s", jerr.text);
        return;
    }
    size_t n = json_is_array(ids) ? json_array_size(ids) : 0;
    if (n < 1 || n > DESCRIBE_MAX) {
        http_error(req, resp, 400, "invalid_body", "processIds: an array of 1 to %d ids",
                   DESCRIBE_MAX);
        return;
    }
    const char **list = arena_alloc(req->arena, n * sizeof(*list));
    for (size_t i = 0; i < n; i++) {
        list[i] = json_string_value(json_array_get(ids, i));
        if (list[i] == NULL || !util_is_token(list[i], 128, "-.")) {
            http_error(req, resp, 400, "invalid_body", "processIds[%zu]: a process id", i);
            return;
        }
    }
    const char *p[] = {req->claims.sub, util_pg_text_array(req->arena, list, n)};
    PGresult *r = call(req, resp, DESCRIBE, p);
    if (r == NULL)
        return;
    json_t *found = json_loads(db_get(r, 0, 0), 0, NULL);
    http_reply(req, resp, 200,
               json_pack("{s:o}", "processes", found != NULL ? found : json_array()));
}

/* Every route is server scope: the token's subject is the fleet. */
static const struct http_route routes[] = {
    {.name = "process_ready",
     .method = "POST",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_SERVER,
     .handle = handle_ready},
    {.name = "register_compute",
     .method = "POST",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_SERVER,
     .handle = handle_register_compute},
    {.name = "deregister_compute",
     .method = "DELETE",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_SERVER,
     .handle = handle_deregister_compute},
    {.name = "runtime_configuration",
     .method = "GET",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_SERVER,
     .handle = handle_runtime},
    {.name = "describe_processes",
     .method = "POST",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_SERVER,
     .handle = handle_describe},
    {.name = "heartbeat",
     .method = "POST",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_SERVER,
     .handle = handle_heartbeat},
    {.name = "process_ending",
     .method = "DELETE",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_SERVER,
     .handle = handle_ending},
    {.name = "activate",
     .method = "POST",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_SERVER,
     .handle = handle_activate},
    {.name = "accept_player",
     .method = "POST",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_SERVER,
     .handle = handle_accept},
    {.name = "explain",
     .method = "POST",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_SERVER | AUTH_SCOPE_ADMIN, /* an operator's too (the console) */
     .handle = handle_explain},
    {.name = "remove_player",
     .method = "POST",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_SERVER,
     .handle = handle_remove},
};

int main(void)
{
    static const struct service svc = {
        .name = "fleet-api",
        .max_body = 4096,
        .routes = routes,
        .nroutes = sizeof(routes) / sizeof(routes[0]),
        .stmts = stmts,
        .nstmts = sizeof(stmts) / sizeof(stmts[0]),
        .verifies_tokens = true,
    };
    serve_main(&svc);
}
