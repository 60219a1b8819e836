/*
 * dead-letters: event deliveries the matchmaker gave up on
 * (events.dead_letters), for an operator (an admin token; the console).
 *
 *   GET  /v1/admin/dead-letters[?limit=N]   the newest N (50, at most 500):
 *        {"DeadLetters": [{"MessageId","SubscriptionId","TopicArn","Endpoint",
 *        "Attempts","LastError","FailedAt","Message"}]} (Message cut at 4 KiB)
 *   POST /v1/admin/dead-letters/retry        {"MessageId","SubscriptionId"}:
 *        the message delivered again to that subscription, from now
 *        (events.retry_dead_letter) -> 200 {"Retried": true}; 404 when there
 *        is no such dead letter, 409 when its subscription is gone.
 */
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "db.h"
#include "serve.h"
#include "util.h"

enum { LIST, RETRY };

static const struct db_stmt stmts[] = {
    [LIST] = {"dead_letters",
              "SELECT coalesce(json_agg(json_build_object('MessageId', message_id, "
              "'SubscriptionId', subscription_id, 'TopicArn', topic_arn, 'Endpoint', endpoint, "
              "'Attempts', attempts, 'LastError', last_error, 'FailedAt', "
              "to_char(failed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
              "'Message', left(message, 4096)) ORDER BY failed_at DESC), '[]')::text "
              "FROM (SELECT * FROM events.dead_letters ORDER BY failed_at DESC LIMIT $1) d",
              1, true},
    [RETRY] = {"retry_dead_letter", "SELECT events.retry_dead_letter($1::uuid, $2::bigint)", 2,
               false},
};

static void handle_list(struct http_req *req, struct http_resp *resp)
{
    const char *limit = http_query(req, "limit");
    char *end = NULL;
    long n = limit != NULL ? strtol(limit, &end, 10) : 50;
    if (limit != NULL && (end == limit || *end != '\0' || n < 1 || n > 500)) {
        http_error(req, resp, 400, "invalid_limit", "limit is 1 to 500");
        return;
    }
    char ns[16];
    snprintf(ns, sizeof(ns), "%ld", n);
    const char *p[] = {ns};
    PGresult *r = serve_exec(req, resp, &stmts[LIST], p);
    if (r == NULL)
        return;
    const char *body = arena_sprintf(req->arena, "{\"DeadLetters\":%s}", db_get(r, 0, 0));
    http_reply_text(req, resp, 200, body, strlen(body));
}

static bool is_uuid(const char *s)
{
    return s != NULL && strlen(s) == 36 && util_is_token(s, 36, "-");
}

static void handle_retry(struct http_req *req, struct http_resp *resp)
{
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return;
    const char *message = NULL;
    json_int_t subscription = 0;
    json_error_t jerr;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s:I}", "MessageId", &message,
                       "SubscriptionId", &subscription) != 0 ||
        !is_uuid(message) || subscription < 1) {
        http_error(req, resp, 400, "invalid_body",
                   "expected {\"MessageId\": a uuid, \"SubscriptionId\": a number}");
        return;
    }
    char sub[24];
    snprintf(sub, sizeof(sub), "%lld", (long long)subscription);
    const char *p[] = {message, sub};
    PGresult *r = serve_exec(req, resp, &stmts[RETRY], p);
    if (r == NULL)
        return;
    const char *outcome = db_get(r, 0, 0);
    if (strcmp(outcome, "retried") == 0)
        http_reply(req, resp, 200, json_pack("{s:b}", "Retried", 1));
    else if (strcmp(outcome, "unsubscribed") == 0)
        http_error(req, resp, 409, "unsubscribed", "the subscription of that dead letter is gone");
    else
        http_error(req, resp, 404, "not_found", "no such dead letter");
}

static const struct http_route routes[] = {
    {.name = "dead_letters",
     .method = "GET",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_ADMIN,
     .handle = handle_list},
    {.name = "retry_dead_letter",
     .method = "POST",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_ADMIN,
     .handle = handle_retry},
};

int main(void)
{
    static const struct service svc = {
        .name = "dead-letters",
        .max_body = 1024,
        .routes = routes,
        .nroutes = sizeof(routes) / sizeof(routes[0]),
        .stmts = stmts,
        .nstmts = sizeof(stmts) / sizeof(stmts[0]),
        .verifies_tokens = true,
    };
    serve_main(&svc);
}
