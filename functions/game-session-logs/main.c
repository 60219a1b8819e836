/*
 * game-session-logs: what a game-server process wrote while it hosted a game
 * session, kept RALLY_GAME_SESSION_LOG_DAYS (14) days (docs/observability.md).
 *
 *   PUT /v1/fleet/game-sessions/{id}/log   a fleet's agent (server scope):
 *       {"processId", "log": base64 of the bytes, "truncated"?: the head was
 *       cut} -> 200 {"gameSessionId", "bytes"}; sent again, it replaces the
 *       one before. A game session of another fleet is 404.
 *   GET /v1/game-sessions/{id}/log          the log's bytes (text/plain): for an
 *       operator's admin token, or the URL GetGameSessionLogUrl hands out
 *       (?token=: a token of scope gamesession-log for this game session
 *       alone, valid 15 minutes). 404 when there is no log (yet).
 *
 * The agent keeps the last RALLY_GAME_SESSION_LOG_MAX bytes (1 MiB) of a
 * game session's output; more is refused here (413).
 */
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "auth.h"
#include "cfg.h"
#include "db.h"
#include "serve.h"
#include "util.h"

#define LOG_MAX (1024 * 1024)

enum { PUT_LOG, GET_LOG };

static const struct db_stmt stmts[] = {
    [PUT_LOG] = {"put_log", "SELECT fleet.put_game_session_log($1, $2, $3, $4, $5::boolean, $6)", 6,
                 true},
    [GET_LOG] = {"get_log",
                 "SELECT log, truncated, fleet_id FROM fleet.game_session_logs "
                 "WHERE game_session_id = $1 AND expires_at > now()",
                 1, true},
};

static long log_days;

static bool id_ok(struct http_req *req, struct http_resp *resp)
{
    if (req->path_id != NULL && util_is_token(req->path_id, 128, "-."))
        return true;
    http_error(req, resp, 404, "not_found", "no such game session");
    return false;
}

static void handle_put(struct http_req *req, struct http_resp *resp)
{
    if (!id_ok(req, resp))
        return;
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return;
    const char *process = json_string_value(json_object_get(body, "processId"));
    const char *log = json_string_value(json_object_get(body, "log"));
    json_t *truncated = json_object_get(body, "truncated");
    if (process == NULL || !util_is_token(process, 128, "-._") || log == NULL ||
        (truncated != NULL && !json_is_boolean(truncated))) {
        http_error(req, resp, 400, "invalid_request",
                   "expected {\"processId\", \"log\": base64, \"truncated\"?: boolean}");
        return;
    }
    size_t len = 0;
    unsigned char *bytes = util_b64_decode(req->arena, log, strlen(log), &len);
    if (bytes == NULL) {
        http_error(req, resp, 400, "invalid_request", "log is not base64");
        return;
    }
    if (len > LOG_MAX) {
        http_error(req, resp, 413, "log_too_large", "a game session's log is at most %d bytes",
                   LOG_MAX);
        return;
    }
    char days[16];
    snprintf(days, sizeof(days), "%ld", log_days);
    const char *p[] = {req->path_id,
                       req->claims.sub,
                       process,
                       (const char *)bytes,
                       json_is_true(truncated) ? "true" : "false",
                       days};
    const int lengths[] = {0, 0, 0, (int)len, 0, 0};
    const int formats[] = {0, 0, 0, 1, 0, 0};
    PGresult *r;
    int rc = db_exec_bin(req->arena, &stmts[PUT_LOG], p, lengths, formats, false, &r);
    if (rc != DB_OK) {
        serve_db_error(req, resp, rc);
        return;
    }
    if (strcmp(db_get(r, 0, 0), "stored") != 0) {
        http_error(req, resp, 404, "not_found", "no such game session");
        return;
    }
    http_reply(req, resp, 200,
               json_pack("{s:s, s:I}", "gameSessionId", req->path_id, "bytes", (json_int_t)len));
}

/* Who may read: an admin token, or a log token of this game session (the
 * URL's ?token= or a bearer). 0, or -1 after answering. */
static int reader_ok(struct http_req *req, struct http_resp *resp)
{
    const char *token = http_query(req, "token");
    const char *authorization = token != NULL ? arena_sprintf(req->arena, "Bearer %s", token)
                                              : http_param(req, "HTTP_AUTHORIZATION");
    struct auth_claims claims;
    const char *why = NULL;
    enum auth_result rc = auth_verify(req->arena, authorization, AUTH_SCOPE_ADMIN | AUTH_SCOPE_LOG,
                                      util_now(), &claims, &why);
    if (rc == AUTH_OK && claims.scope_bit == AUTH_SCOPE_LOG &&
        strcmp(claims.sub, req->path_id) != 0) {
        rc = AUTH_FORBIDDEN;
        why = "the token is for another game session's log";
    }
    if (rc == AUTH_OK)
        return 0;
    int status = rc == AUTH_FORBIDDEN ? 403 : 401;
    if (status == 401)
        http_add_header(resp, "WWW-Authenticate", "Bearer");
    http_error(req, resp, status, status == 403 ? "forbidden" : "unauthorized", "%s", why);
    return -1;
}

static void handle_get(struct http_req *req, struct http_resp *resp)
{
    if (!id_ok(req, resp) || reader_ok(req, resp) < 0)
        return;
    const char *p[] = {req->path_id};
    PGresult *r;
    int rc = db_exec_bin(req->arena, &stmts[GET_LOG], p, NULL, NULL, true, &r);
    if (rc != DB_OK) {
        serve_db_error(req, resp, rc);
        return;
    }
    if (PQntuples(r) == 0) {
        http_error(req, resp, 404, "not_found", "no log of game session %s", req->path_id);
        return;
    }
    /* Binary results: bytea as it is, boolean as one byte. */
    if (PQgetvalue(r, 0, 1)[0] != 0)
        http_add_header(resp, "X-Rally-Log-Truncated", "true");
    http_add_header(resp, "Cache-Control", "private, no-store");
    http_add_header(resp, "X-Content-Type-Options", "nosniff");
    http_reply_bytes(req, resp, 200, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0),
                     "text/plain; charset=utf-8");
}

static int worker_init(void)
{
    log_days = cfg_env_long("RALLY_GAME_SESSION_LOG_DAYS", 14, 1, 3650);
    return 0;
}

static const struct http_route routes[] = {
    {.name = "put_log",
     .method = "PUT",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_SERVER,
     .handle = handle_put},
    {.name = "get_log", .method = "GET", .dialect = &dialect_native, .handle = handle_get},
};

int main(void)
{
    static const struct service svc = {
        .name = "game-session-logs",
        /* A log of LOG_MAX bytes, as base64, in its JSON. */
        .max_body = LOG_MAX / 3 * 4 + 8192,
        .routes = routes,
        .nroutes = sizeof(routes) / sizeof(routes[0]),
        .stmts = stmts,
        .nstmts = sizeof(stmts) / sizeof(stmts[0]),
        .verifies_tokens = true,
        .worker_init = worker_init,
    };
    serve_main(&svc);
}
