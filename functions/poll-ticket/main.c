/*
 * poll-ticket: reads a ticket for one of its players. Anything that is not
 * the caller's (unknown, expired, someone else's) is the same 404: the answer
 * never reveals that a ticket exists.
 *
 *   GET  /v1/matchmaking/{ticketId}          MatchmakingTicket
 *   GET  /get-match-status?ticketId=         GUIDANCE sample: MatchmakingStatus, Port as a string
 *   GET  /requestmatchstatus?ticketId=       LEGACY sample: connection info or "NotPlacedYet"
 *   POST /v1/fleet/matchmaking/describe      server scope: DescribeMatchmaking {"TicketIds"}
 */
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "db.h"
#include "push.h"
#include "serve.h"
#include "ticket.h"
#include "util.h"

enum { VIEW, VIEW_ANY, VIEW_MANY };

/* The most polls one read answers (struct serve_batch). */
#define POLL_BATCH_MAX 32

static const struct db_stmt stmts[] = {
    [VIEW] = {"view", TICKET_VIEW_SQL, 2, true},
    [VIEW_MANY] = {"view_many", TICKET_VIEW_MANY_SQL, 2, true},
    /* Tickets by id for a trusted backend. $1 is a text[] literal; ids are
     * [a-zA-Z0-9-.] only, so they need no quoting inside it. */
    [VIEW_ANY] = {"view_any", TICKET_VIEW_ANY_SQL, 1, true},
};

/*
 * The polls: a client waiting for its match repeats one of these until the
 * ticket ends. Each handler checks what it can alone, then defers the read
 * (serve_defer, with the ticket id): poll_batch reads every deferred poll's
 * ticket at once and calls the route's answer with its row, or -1 when the
 * ticket is not the caller's, as one read alone would give.
 */
typedef void answer_fn(struct http_req *req, struct http_resp *resp, const PGresult *r, int row);

/* Native: the MatchmakingTicket, or 404 (someone else's ticket and an
 * unknown one alike). */
static void answer_ticket(struct http_req *req, struct http_resp *resp, const PGresult *r, int row)
{
    if (row < 0)
        http_error(req, resp, 404, "not_found", "no such ticket");
    else
        http_reply(req, resp, 200, ticket_render(req->arena, r, row, &dialect_native));
}

/* GUIDANCE: {"MatchmakingStatus", then on success "Port" (a string), "IpAddress",
 * "DnsName", "PlayerSessionId"}; 400 until the first event. */
static void answer_status_v2(struct http_req *req, struct http_resp *resp, const PGresult *r,
                             int row)
{
    const char *event = row >= 0 ? db_get(r, row, TICKET_COL_LAST_EVENT) : NULL;
    if (event == NULL) {
        http_error(req, resp, 400, "not_found", "TicketId not found in DynamoDB table");
        return;
    }
    json_t *body = json_pack("{s:s}", "MatchmakingStatus", event);
    if (strcmp(event, "MatchmakingSucceeded") == 0) {
        const char *port = db_get(r, row, TICKET_COL_PORT);
        const char *ip = db_get(r, row, TICKET_COL_IP);
        const char *dns = db_get(r, row, TICKET_COL_DNS);
        const char *psess = db_get(r, row, TICKET_COL_MY_PLAYER_SESSION);
        if (port != NULL)
            json_object_set_new(body, "Port", json_string(port));
        if (ip != NULL)
            json_object_set_new(body, "IpAddress", json_string(ip));
        if (dns != NULL)
            json_object_set_new(body, "DnsName", json_string(dns));
        if (psess != NULL)
            json_object_set_new(body, "PlayerSessionId", json_string(psess));
    }
    http_reply(req, resp, 200, body);
}

/* LEGACY: {"IpAddress","Port" (number),"PlayerSessionId","DnsName"} once placed,
 * else the sentinel {"IpAddress":"","Port":0,"PlayerSessionId":"NotPlacedYet"}. */
static void answer_status_v1(struct http_req *req, struct http_resp *resp, const PGresult *r,
                             int row)
{
    const char *psess = row >= 0 ? db_get(r, row, TICKET_COL_MY_PLAYER_SESSION) : NULL;
    const char *status = psess != NULL ? db_get(r, row, TICKET_COL_STATUS) : NULL;
    if (status == NULL || strcmp(status, "COMPLETED") != 0) {
        http_reply(req, resp, 200,
                   json_pack("{s:s, s:i, s:s}", "IpAddress", "", "Port", 0, "PlayerSessionId",
                             "NotPlacedYet"));
        return;
    }
    const char *ip = db_get(r, row, TICKET_COL_IP);
    const char *port = db_get(r, row, TICKET_COL_PORT);
    const char *dns = db_get(r, row, TICKET_COL_DNS);
    json_t *body = json_pack("{s:s, s:I, s:s}", "IpAddress", ip != NULL ? ip : "", "Port",
                             (json_int_t)(port != NULL ? strtoll(port, NULL, 10) : 0),
                             "PlayerSessionId", psess);
    if (dns != NULL)
        json_object_set_new(body, "DnsName", json_string(dns));
    http_reply(req, resp, 200, body);
}

/* The answer of a deferred poll's route. */
static answer_fn *answer_of(const struct http_req *req)
{
    const char *name = req->route->name;
    return strcmp(name, "status_v2") == 0   ? answer_status_v2
           : strcmp(name, "status_v1") == 0 ? answer_status_v1
                                            : answer_ticket;
}

/* Defers the read of ticket `id` for the caller, or answers at once when no
 * ticket could have that id. */
static void read_later(struct http_req *req, struct http_resp *resp, const char *id)
{
    if (ticket_id_is_valid(id))
        serve_defer(req, id);
    else
        answer_of(req)(req, resp, NULL, -1);
}

/* GET /v1/matchmaking/{id} */
static void handle_ticket(struct http_req *req, struct http_resp *resp)
{
    read_later(req, resp, req->path_id);
}

/* The samples' polls name the ticket in ?ticketId=; without one, 400 with
 * the sample's own message. */
static void read_later_by_query(struct http_req *req, struct http_resp *resp, const char *missing)
{
    const char *id = http_query(req, "ticketId");
    if (id == NULL || *id == '\0')
        http_error(req, resp, 400, "invalid_query", "%s", missing);
    else
        read_later(req, resp, id);
}

/* GET /get-match-status?ticketId= (GUIDANCE) */
static void handle_status_v2(struct http_req *req, struct http_resp *resp)
{
    read_later_by_query(req, resp, "ticketId not available in querystrings");
}

/* GET /requestmatchstatus?ticketId= (LEGACY) */
static void handle_status_v1(struct http_req *req, struct http_resp *resp)
{
    read_later_by_query(req, resp, "ticketId query parameter is required");
}

/* Answers deferred polls with one read (struct serve_batch). The result
 * lives in the first request's arena until run() returns; each answer
 * copies what it needs. */
static void poll_batch(struct http_req *const *reqs, struct http_resp *const *resps, int n)
{
    struct arena *a = reqs[0]->arena;
    const char *ids[POLL_BATCH_MAX] = {NULL}, *players[POLL_BATCH_MAX] = {NULL};
    int rows[POLL_BATCH_MAX];
    n = n < POLL_BATCH_MAX ? n : POLL_BATCH_MAX; /* serve.c gives at most .max */
    for (int i = 0; i < n; i++) {
        ids[i] = reqs[i]->deferred_arg;
        players[i] = reqs[i]->claims.sub;
    }
    const char *p[] = {util_pg_text_array(a, ids, (size_t)n),
                       util_pg_text_array(a, players, (size_t)n)};
    PGresult *r;
    int rc = db_exec(a, &stmts[VIEW_MANY], p, &r);
    for (int i = 0; i < n && rc != DB_OK; i++)
        serve_db_error(reqs[i], resps[i], rc);
    if (rc != DB_OK)
        return;
    db_rows_by_request(r, TICKET_COL_MY_PLAYER_SESSION + 1, rows, n);
    for (int i = 0; i < n; i++)
        answer_of(reqs[i])(reqs[i], resps[i], r, rows[i]);
}

/* The subscription check of GET /v1/matchmaking/{id}/events, run by nginx
 * (auth_request) once per subscriber before nchan holds the connection:
 * 204 when the token's player is on the ticket, else 403 (also when push
 * is off on this stack, so clients fall back to polling at once; nginx answers
 * auth_request's 401 and 403 itself; any other code would be a 500). */
static void handle_events_auth(struct http_req *req, struct http_resp *resp)
{
    PGresult *r = NULL;
    if (!push_enabled()) { /* nothing would ever be published: say so now */
        /* nginx answers the subscriber itself, from this header. */
        http_add_header(resp, "X-Rally-Error", "push_off");
        http_error(req, resp, 403, "push_off", "push is off here: poll the ticket");
        return;
    }
    const char *p[] = {req->path_id, req->claims.sub};
    int rc = ticket_id_is_valid(req->path_id) ? db_exec(req->arena, &stmts[VIEW], p, &r) : DB_OK;
    if (rc != DB_OK)
        serve_db_error(req, resp, rc);
    else if (r == NULL || PQntuples(r) == 0)
        http_error(req, resp, 403, "forbidden", "no such ticket of yours");
    else
        http_reply(req, resp, 204, NULL);
}

/* DescribeMatchmaking for trusted backends: up to 10 ids; unknown ones are
 * simply left out, as GameLift does. */
static void handle_describe(struct http_req *req, struct http_resp *resp)
{
    json_t *ids = NULL;
    json_error_t jerr;
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:o}", "TicketIds", &ids) != 0) {
        http_error(req, resp, 400, "invalid_body", "%s", jerr.text);
        return;
    }
    if (!json_is_array(ids) || json_array_size(ids) < 1 || json_array_size(ids) > 10) {
        http_error(req, resp, 400, "invalid_body", "TicketIds must be an array of 1 to 10 ids");
        return;
    }
    const char *list[10];
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        list[i] = json_string_value(v);
        if (!ticket_id_is_valid(list[i])) {
            http_error(req, resp, 400, "invalid_body", "TicketIds[%zu] is not a ticket id", i);
            return;
        }
    }
    PGresult *r;
    const char *p[] = {util_pg_text_array(req->arena, list, json_array_size(ids))};
    int rc = db_exec(req->arena, &stmts[VIEW_ANY], p, &r);
    if (rc != DB_OK) {
        serve_db_error(req, resp, rc);
        return;
    }
    json_t *out = json_array();
    for (int row = 0; row < PQntuples(r); row++)
        json_array_append_new(out, ticket_render(req->arena, r, row, http_dialect(req)));
    http_reply(req, resp, 200, json_pack("{s:o}", "TicketList", out));
}

static const struct http_route routes[] = {
    /* The GameLift API's DescribeMatchmaking: the same, signed with a key. */
    {.name = "DescribeMatchmaking",
     .method = "POST",
     .dialect = &dialect_gamelift,
     .scopes = AUTH_SCOPE_AWS_BACKEND,
     .handle = handle_describe},
    {.name = "ticket",
     .method = "GET",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_PLAYER,
     .handle = handle_ticket},
    {.name = "status_v2",
     .method = "GET",
     .dialect = &dialect_guidance,
     .scopes = AUTH_SCOPE_PLAYER,
     .handle = handle_status_v2},
    {.name = "status_v1",
     .method = "GET",
     .dialect = &dialect_legacy,
     .scopes = AUTH_SCOPE_PLAYER,
     .handle = handle_status_v1},
    {.name = "events_auth",
     .method = "GET",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_PLAYER,
     .handle = handle_events_auth},
    {.name = "describe",
     .method = "POST",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_SERVER,
     .handle = handle_describe},
};

int main(void)
{
    static const struct serve_batch batch = {.max = POLL_BATCH_MAX, .run = poll_batch};
    static const struct service svc = {
        .name = "poll-ticket",
        .max_body = 4096,
        .routes = routes,
        .nroutes = sizeof(routes) / sizeof(routes[0]),
        .stmts = stmts,
        .nstmts = sizeof(stmts) / sizeof(stmts[0]),
        .verifies_tokens = true,
        .batch = &batch,
    };
    serve_main(&svc);
}
