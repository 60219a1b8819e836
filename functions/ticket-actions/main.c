/*
 * ticket-actions: StopMatchmaking and AcceptMatch for a player of the ticket.
 *
 *   DELETE /v1/matchmaking/{ticketId}           -> 200 {} (CANCELLED); 409 while
 *                                                  PLACING or once ended
 *   POST   /v1/matchmaking/{ticketId}/accept    {"acceptanceType":"ACCEPT"|"REJECT"}
 *                                               -> 200 {}; 409 unless REQUIRES_ACCEPTANCE
 *
 * And for trusted backends (server scope), GameLift's request shapes:
 *   POST   /v1/fleet/matchmaking/stop    {"TicketId"}                      -> 200 {}
 *   POST   /v1/fleet/matchmaking/accept  {"TicketId", "PlayerIds": [...],
 *                                         "AcceptanceType": "ACCEPT"|"REJECT"} -> 200 {}
 */
#include <string.h>

#include "arena.h"
#include "db.h"
#include "push.h"
#include "serve.h"
#include "ticket.h"
#include "util.h"

enum { STOP, ACCEPT, ACCEPT_PLAYERS };

static const struct db_stmt stmts[] = {
    [STOP] = {"stop", "SELECT outcome, detail FROM matchmaking.stop_matchmaking($1, $2)", 2, false},
    [ACCEPT] = {"accept",
                "SELECT outcome, detail FROM matchmaking.accept_match($1, $2, $3::boolean)", 3,
                true},
    [ACCEPT_PLAYERS] = {"accept_players",
                        "SELECT outcome, detail FROM matchmaking.accept_match_players($1, "
                        "$2::text[], $3::boolean)",
                        3, true},
};

/* StopMatchmaking; with push on, the CANCELLED ticket is published once
 * committed (common/push.h). */
static int stop(struct http_req *req, const char *const *params, PGresult **out)
{
    int rc = db_exec(req->arena, &stmts[STOP], params, out);
    if (rc == DB_OK && strcmp(db_get(*out, 0, 0), "cancelled") == 0)
        push_tickets(req->arena, params, 1);
    return rc;
}

/* Maps an entry point's outcome onto the response. */
static void answer(struct http_req *req, struct http_resp *resp, PGresult *r, const char *ok)
{
    const char *outcome = db_get(r, 0, 0);
    const char *detail = db_get(r, 0, 1);
    if (strcmp(outcome, ok) == 0)
        http_reply(req, resp, 200, json_object());
    else if (strcmp(outcome, "not_found") == 0)
        http_error(req, resp, 404, "not_found", "no such ticket");
    else if (strcmp(outcome, "conflict") == 0 && strcmp(ok, "cancelled") == 0)
        http_error(req, resp, 409, "invalid_status",
                   "Matchmaking ticket is in %s status and cannot be canceled.", detail);
    else if (strcmp(outcome, "conflict") == 0)
        http_error(req, resp, 409, "invalid_status",
                   "ticket is in %s status; only REQUIRES_ACCEPTANCE can be accepted", detail);
    else if (strcmp(outcome, "not_a_player") == 0)
        http_error(req, resp, 400, "invalid_body", "player %s is not on this ticket", detail);
    else if (strcmp(outcome, "backfill") == 0)
        http_error(req, resp, 400, "invalid_body",
                   "ticket %s is a backfill request: its players are in the game session "
                   "already, and only the new players accept",
                   detail);
    else
        http_error(req, resp, 500, "internal", "unexpected outcome %s", outcome);
}

static void handle_cancel(struct http_req *req, struct http_resp *resp)
{
    PGresult *r;
    if (!ticket_id_is_valid(req->path_id)) {
        http_error(req, resp, 404, "not_found", "no such ticket");
        return;
    }
    const char *p[] = {req->path_id, req->claims.sub};
    int rc = stop(req, p, &r);
    if (rc != DB_OK) {
        serve_db_error(req, resp, rc);
        return;
    }
    answer(req, resp, r, "cancelled");
}

static void handle_accept(struct http_req *req, struct http_resp *resp)
{
    const char *type = NULL;
    json_error_t jerr;
    PGresult *r;
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s}", "acceptanceType", &type) != 0) {
        http_error(req, resp, 400, "invalid_body", "%s", jerr.text);
        return;
    }
    if (strcmp(type, "ACCEPT") != 0 && strcmp(type, "REJECT") != 0) {
        http_error(req, resp, 400, "invalid_body", "acceptanceType must be ACCEPT or REJECT");
        return;
    }
    if (!ticket_id_is_valid(req->path_id)) {
        http_error(req, resp, 404, "not_found", "no such ticket");
        return;
    }
    const char *p[] = {req->path_id, req->claims.sub,
                       strcmp(type, "ACCEPT") == 0 ? "true" : "false"};
    int rc = db_exec(req->arena, &stmts[ACCEPT], p, &r);
    if (rc != DB_OK) {
        serve_db_error(req, resp, rc);
        return;
    }
    answer(req, resp, r, "recorded");
}

/* StopMatchmaking for a trusted backend: any ticket. */
static void handle_stop_server(struct http_req *req, struct http_resp *resp)
{
    const char *ticket = NULL;
    json_error_t jerr;
    PGresult *r;
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s}", "TicketId", &ticket) != 0) {
        http_error(req, resp, 400, "invalid_body", "%s", jerr.text);
        return;
    }
    if (!ticket_id_is_valid(ticket)) {
        http_error(req, resp, 404, "not_found", "no such ticket");
        return;
    }
    const char *p[] = {ticket, NULL};
    int rc = stop(req, p, &r);
    if (rc != DB_OK) {
        serve_db_error(req, resp, rc);
        return;
    }
    answer(req, resp, r, "cancelled");
}

/* AcceptMatch for a trusted backend: several players of one ticket. */
static void handle_accept_server(struct http_req *req, struct http_resp *resp)
{
    const char *ticket = NULL, *type = NULL;
    json_t *ids = NULL;
    json_error_t jerr;
    PGresult *r;
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s:o, s:s}", "TicketId", &ticket,
                       "PlayerIds", &ids, "AcceptanceType", &type) != 0) {
        http_error(req, resp, 400, "invalid_body", "%s", jerr.text);
        return;
    }
    if (strcmp(type, "ACCEPT") != 0 && strcmp(type, "REJECT") != 0) {
        http_error(req, resp, 400, "invalid_body", "AcceptanceType must be ACCEPT or REJECT");
        return;
    }
    if (!json_is_array(ids) || json_array_size(ids) < 1 ||
        json_array_size(ids) > TICKET_MAX_PARTY) {
        http_error(req, resp, 400, "invalid_body", "PlayerIds must be an array of 1 to %d ids",
                   TICKET_MAX_PARTY);
        return;
    }
    const char **list = arena_alloc(req->arena, json_array_size(ids) * sizeof(*list));
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        list[i] = json_string_value(v);
        if (list[i] == NULL || *list[i] == '\0' || strlen(list[i]) > 1024) {
            http_error(req, resp, 400, "invalid_body", "PlayerIds[%zu] is not a player id", i);
            return;
        }
    }
    if (!ticket_id_is_valid(ticket)) {
        http_error(req, resp, 404, "not_found", "no such ticket");
        return;
    }
    const char *p[] = {ticket, util_pg_text_array(req->arena, list, json_array_size(ids)),
                       strcmp(type, "ACCEPT") == 0 ? "true" : "false"};
    int rc = db_exec(req->arena, &stmts[ACCEPT_PLAYERS], p, &r);
    if (rc != DB_OK) {
        serve_db_error(req, resp, rc);
        return;
    }
    answer(req, resp, r, "recorded");
}

static const struct http_route routes[] = {
    /* The GameLift API's StopMatchmaking and AcceptMatch: the same, signed
     * with a key. */
    {.name = "StopMatchmaking",
     .method = "POST",
     .dialect = &dialect_gamelift,
     .scopes = AUTH_SCOPE_AWS_BACKEND,
     .handle = handle_stop_server},
    {.name = "AcceptMatch",
     .method = "POST",
     .dialect = &dialect_gamelift,
     .scopes = AUTH_SCOPE_AWS_BACKEND,
     .handle = handle_accept_server},
    {.name = "stop_server",
     .method = "POST",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_SERVER,
     .handle = handle_stop_server},
    {.name = "accept_server",
     .method = "POST",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_SERVER,
     .handle = handle_accept_server},
    {.name = "cancel",
     .method = "DELETE",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_PLAYER,
     .handle = handle_cancel},
    {.name = "accept",
     .method = "POST",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_PLAYER,
     .handle = handle_accept},
};

int main(void)
{
    static const struct service svc = {
        .name = "ticket-actions",
        .max_body = 16384,
        .routes = routes,
        .nroutes = sizeof(routes) / sizeof(routes[0]),
        .stmts = stmts,
        .nstmts = sizeof(stmts) / sizeof(stmts[0]),
        .verifies_tokens = true,
    };
    push_init();
    serve_main(&svc);
}
