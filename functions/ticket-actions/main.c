/*
 * ticket-actions: StopMatchmaking and AcceptMatch for a player of the ticket.
 *
 *   DELETE /v1/matchmaking/{ticketId}           -> 200 {} (CANCELLED); 409 while
 *                                                  PLACING or once ended
 *   POST   /v1/matchmaking/{ticketId}/accept    {"acceptanceType":"ACCEPT"|"REJECT"}
 *                                               -> 200 {}; 409 unless REQUIRES_ACCEPTANCE
 */
#include <string.h>

#include "db.h"
#include "serve.h"
#include "ticket.h"

enum { STOP, ACCEPT };

static const struct db_stmt stmts[] = {
    [STOP] = {"stop", "SELECT outcome, detail FROM matchmaking.stop_matchmaking($1, $2)", 2, false},
    [ACCEPT] = {"accept",
                "SELECT outcome, detail FROM matchmaking.accept_match($1, $2, $3::boolean)", 3,
                true},
};

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
    int rc = db_exec(req->arena, STOP, p, &r);
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
    int rc = db_exec(req->arena, ACCEPT, p, &r);
    if (rc != DB_OK) {
        serve_db_error(req, resp, rc);
        return;
    }
    answer(req, resp, r, "recorded");
}

static const struct http_route routes[] = {
    {.name = "cancel",
     .method = "DELETE",
     .dialect = DIALECT_NATIVE,
     .scopes = AUTH_SCOPE_PLAYER,
     .handle = handle_cancel},
    {.name = "accept",
     .method = "POST",
     .dialect = DIALECT_NATIVE,
     .scopes = AUTH_SCOPE_PLAYER,
     .handle = handle_accept},
};

int main(void)
{
    static const struct service svc = {
        .name = "ticket-actions",
        .max_body = 1024,
        .routes = routes,
        .nroutes = sizeof(routes) / sizeof(routes[0]),
        .stmts = stmts,
        .nstmts = sizeof(stmts) / sizeof(stmts[0]),
        .verifies_tokens = true,
    };
    serve_main(&svc);
}
