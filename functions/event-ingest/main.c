/*
 * event-ingest: the SNS HTTP(S) subscription endpoint that learns
 * matchmaking outcomes (the "process matchmaking events" Lambda).
 *
 *   POST /v1/events/sns   x-amz-sns-message-type: Notification |
 *                         SubscriptionConfirmation | UnsubscribeConfirmation
 *
 * Nothing is written unless the message passes every check, in this order:
 * the TopicArn is in RALLY_SNS_TOPICS; the SigningCertURL starts with one of
 * RALLY_SNS_CERT_URL_PREFIXES and its basename names a PEM certificate in
 * RALLY_SNS_CERT_DIR (certificates are never fetched); the signature
 * (SignatureVersion 1 or 2) verifies; the Message is a FlexMatch event.
 * Duplicate MessageIds are acknowledged and ignored; see
 * backend.apply_event in sql/functions/backend.sql for how events move
 * tickets.
 *
 * With push on (RALLY_PUSH_SOCKET), each ticket an applied event names is
 * published to its channel as poll-ticket would return it, once the event
 * is committed (common/push.h explains the order).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "push.h"
#include "serve.h"
#include "sns.h"
#include "ticket.h"
#include "util.h"

enum { APPLY, RECORD_SUBSCRIPTION };

static const struct db_stmt stmts[] = {
    [APPLY] = {"apply", "SELECT backend.apply_matchmaking_event($1, $2, $3::jsonb, $4::integer)", 4,
               true /* deduplicated by MessageId: safe to send twice */},
    [RECORD_SUBSCRIPTION] = {"record_subscription",
                             "INSERT INTO backend.sns_subscriptions (message_id, message_type, "
                             "topic_arn, subscribe_url, token) VALUES ($1, $2, $3, $4, $5) "
                             "ON CONFLICT (message_id) DO NOTHING",
                             5, true},
};

static const char *const event_types[] = {
    "MatchmakingSearching", "PotentialMatchCreated", "AcceptMatch",
    "AcceptMatchCompleted", "MatchmakingSucceeded",  "MatchmakingTimedOut",
    "MatchmakingCancelled", "MatchmakingFailed",     NULL,
};

/* Messages older than the dedupe window (7 days) could be replayed once
 * their MessageId is forgotten: refuse them. */
#define MAX_MESSAGE_AGE (6 * 86400)
#define MAX_CLOCK_SKEW 900

/* A small per-worker cache of certificate keys by basename. */
#define CERT_CACHE 8
static struct {
    char name[128];
    EVP_PKEY *key;
} certs[CERT_CACHE];

static EVP_PKEY *cert_key(const char *basename)
{
    for (int i = 0; i < CERT_CACHE; i++)
        if (certs[i].key != NULL && strcmp(certs[i].name, basename) == 0)
            return certs[i].key;
    /* The first directory of RALLY_SNS_CERT_DIR that holds the file. */
    EVP_PKEY *k = NULL;
    for (size_t d = 0; k == NULL && d < cfg->sns_cert_dirs.n; d++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", cfg->sns_cert_dirs.items[d], basename);
        if (access(path, R_OK) == 0)
            k = sns_load_cert_key(path);
    }
    if (k == NULL)
        return NULL;
    int slot = 0;
    while (slot < CERT_CACHE && certs[slot].key != NULL)
        slot++;
    if (slot == CERT_CACHE) {
        slot = 0; /* full: replace the oldest */
        EVP_PKEY_free(certs[0].key);
    }
    snprintf(certs[slot].name, sizeof(certs[slot].name), "%s", basename);
    certs[slot].key = k;
    return k;
}

static bool in_list(const struct cfg_list *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i], s) == 0)
            return true;
    return false;
}

static bool has_prefix_in(const struct cfg_list *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strncmp(s, l->items[i], strlen(l->items[i])) == 0)
            return true;
    return false;
}

/* Parses "2017-08-08T21:15:36.421Z"; -1 on a malformed stamp. */
static int64_t parse_timestamp(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL)
        return -1;
    if (*end == '.')
        for (end++; *end >= '0' && *end <= '9'; end++)
            ;
    if (strcmp(end, "Z") != 0 && strcmp(end, "+00:00") != 0)
        return -1;
    return (int64_t)timegm(&tm);
}

/* Checks topic, certificate and signature; 0, or -1 after answering 403. */
static int authenticate(struct http_req *req, struct http_resp *resp, json_t *msg)
{
    const char *topic = json_string_value(json_object_get(msg, "TopicArn"));
    const char *url = json_string_value(json_object_get(msg, "SigningCertURL"));
    const char *why = NULL;
    if (topic == NULL || !in_list(&cfg->sns_topics, topic)) {
        http_error(req, resp, 403, "topic_not_allowed", "TopicArn is not an allowed topic");
        return -1;
    }
    if (url == NULL || !has_prefix_in(&cfg->sns_cert_url_prefixes, url)) {
        http_error(req, resp, 403, "certificate_not_allowed",
                   "SigningCertURL is not under an allowed prefix");
        return -1;
    }
    const char *base = strrchr(url, '/');
    base = base != NULL ? base + 1 : url;
    size_t bl = strlen(base);
    EVP_PKEY *key = NULL;
    if (bl > 4 && strcmp(base + bl - 4, ".pem") == 0 && util_is_token(base, 127, "-_.") &&
        base[0] != '.')
        key = cert_key(base);
    if (key == NULL) {
        http_error(req, resp, 403, "certificate_unknown",
                   "SigningCertURL names no certificate this endpoint trusts");
        return -1;
    }
    if (sns_verify(req->arena, msg, key, &why) < 0) {
        http_error(req, resp, 403, "bad_signature", "%s", why);
        return -1;
    }
    return 0;
}

/* Validates the FlexMatch event inside a Notification; NULL after a 400. */
static json_t *parse_event(struct http_req *req, struct http_resp *resp, const char *text)
{
    json_error_t jerr;
    json_t *ev = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    const char *why = NULL;
    json_t *detail = json_object_get(ev, "detail");
    const char *type = json_string_value(json_object_get(detail, "type"));
    const char *dt = json_string_value(json_object_get(ev, "detail-type"));
    const char *time_s = json_string_value(json_object_get(ev, "time"));
    json_t *tickets = json_object_get(detail, "tickets");

    if (!json_is_object(ev))
        why = "Message is not a JSON object";
    else if (dt == NULL || strcmp(dt, "GameLift Matchmaking Event") != 0)
        why = "Message detail-type must be \"GameLift Matchmaking Event\"";
    else if (time_s == NULL || parse_timestamp(time_s) < 0)
        why = "Message time must be an ISO 8601 UTC timestamp";
    else if (type == NULL)
        why = "Message detail.type is missing";
    else if (!json_is_array(tickets) || json_array_size(tickets) == 0 ||
             json_array_size(tickets) > 200)
        why = "Message detail.tickets must be an array of 1 to 200 tickets";
    if (why == NULL) {
        bool known = false;
        for (const char *const *t = event_types; *t != NULL; t++)
            known |= strcmp(*t, type) == 0;
        if (!known)
            why = "Message detail.type is not a FlexMatch matchmaking event";
    }
    size_t i;
    json_t *t;
    json_array_foreach(why == NULL ? tickets : NULL, i, t)
    {
        size_t j;
        json_t *p;
        if (!ticket_id_is_valid(json_string_value(json_object_get(t, "ticketId")))) {
            why = "every ticket needs a valid ticketId";
            break;
        }
        json_array_foreach(json_object_get(t, "players"), j, p)
        {
            const char *pid = json_string_value(json_object_get(p, "playerId"));
            if (pid == NULL || *pid == '\0' || strlen(pid) > 1024)
                why = "every player needs a playerId";
        }
    }
    if (why != NULL) {
        json_decref(ev);
        http_error(req, resp, 400, "invalid_event", "%s", why);
        return NULL;
    }
    return ev;
}

/* The ticket ids an event names (*n of them). */
static const char **event_ticket_ids(struct arena *a, json_t *ev, size_t *n_ids)
{
    json_t *tickets = json_object_get(json_object_get(ev, "detail"), "tickets");
    size_t n = json_array_size(tickets), k = 0, i;
    json_t *t;
    const char **ids = arena_alloc(a, (n + 1) * sizeof(*ids));
    json_array_foreach(tickets, i, t)
    {
        const char *id = json_string_value(json_object_get(t, "ticketId"));
        if (ticket_id_is_valid(id))
            ids[k++] = arena_strdup(a, id);
    }
    *n_ids = k;
    return ids;
}

static void notification(struct http_req *req, struct http_resp *resp, json_t *msg)
{
    const char *id = json_string_value(json_object_get(msg, "MessageId"));
    const char *topic = json_string_value(json_object_get(msg, "TopicArn"));
    const char *stamp = json_string_value(json_object_get(msg, "Timestamp"));
    const char *text = json_string_value(json_object_get(msg, "Message"));
    int64_t ts = stamp != NULL ? parse_timestamp(stamp) : -1;
    int64_t now = util_now();
    if (ts < 0 || ts < now - MAX_MESSAGE_AGE || ts > now + MAX_CLOCK_SKEW) {
        http_error(req, resp, 400, "stale_message",
                   "Timestamp is missing, too old or in the future");
        return;
    }
    json_t *ev = parse_event(req, resp, text);
    if (ev == NULL)
        return;
    char *ev_text = json_dumps(ev, JSON_COMPACT);
    const char *type = json_string_value(json_object_get(json_object_get(ev, "detail"), "type"));
    char *type_copy = arena_strdup(req->arena, type);
    size_t nids;
    const char **ids = event_ticket_ids(req->arena, ev, &nids);
    json_decref(ev);
    arena_defer(req->arena, free, ev_text);

    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%ld", cfg->ticket_ttl);
    PGresult *r;
    const char *p[] = {id, topic, ev_text, ttl};
    int rc = db_exec(req->arena, &stmts[APPLY], p, &r);
    if (rc == DB_ERROR && strncmp(db_sqlstate(), "22", 2) == 0) {
        /* Data exceptions: a value of the event did not parse (a time, a port). */
        http_error(req, resp, 400, "invalid_event", "Message has an invalid value: %s",
                   db_message());
        return;
    }
    if (rc != DB_OK) {
        serve_db_error(req, resp, rc);
        return;
    }
    const char *result = db_get(r, 0, 0);
    if (strcmp(result, "duplicate") == 0) {
        http_reply(req, resp, 200, json_pack("{s:s}", "status", "duplicate"));
        return;
    }
    log_info("applied %s message %s to %s ticket(s)", type_copy, id, result);
    if (strcmp(result, "0") != 0) /* a failed publish is not a failed delivery (push.h) */
        push_tickets(req->arena, ids, nids);
    http_reply(req, resp, 200,
               json_pack("{s:s, s:s, s:I}", "status", "applied", "type", type_copy, "tickets",
                         (json_int_t)strtoll(result, NULL, 10)));
}

static void subscription(struct http_req *req, struct http_resp *resp, json_t *msg,
                         const char *type)
{
    const char *id = json_string_value(json_object_get(msg, "MessageId"));
    const char *topic = json_string_value(json_object_get(msg, "TopicArn"));
    const char *url = json_string_value(json_object_get(msg, "SubscribeURL"));
    const char *token = json_string_value(json_object_get(msg, "Token"));
    PGresult *r;
    const char *p[] = {id, type, topic, url, token};
    int rc = db_exec(req->arena, &stmts[RECORD_SUBSCRIPTION], p, &r);
    if (rc != DB_OK) {
        serve_db_error(req, resp, rc);
        return;
    }
    /* rally makes no outbound calls from the request path: the operator
     * confirms a real AWS subscription by visiting SubscribeURL. */
    log_info("%s for topic %s recorded; to confirm, GET %s", type, topic, url);
    http_reply(req, resp, 200, json_pack("{s:s}", "status", "recorded"));
}

static void handle_sns(struct http_req *req, struct http_resp *resp)
{
    const char *type = http_param(req, "HTTP_X_AMZ_SNS_MESSAGE_TYPE");
    if (type == NULL) {
        http_error(req, resp, 400, "missing_message_type",
                   "x-amz-sns-message-type header is required");
        return;
    }
    json_t *msg = http_json_body(req, resp);
    if (msg == NULL)
        return;
    const char *body_type = json_string_value(json_object_get(msg, "Type"));
    const char *id = json_string_value(json_object_get(msg, "MessageId"));
    const char *header_id = http_param(req, "HTTP_X_AMZ_SNS_MESSAGE_ID");
    if (body_type == NULL || strcmp(body_type, type) != 0) {
        http_error(req, resp, 400, "type_mismatch",
                   "Type does not match the x-amz-sns-message-type header");
        return;
    }
    if (id == NULL || *id == '\0' || strlen(id) > 128 ||
        (header_id != NULL && strcmp(header_id, id) != 0)) {
        http_error(req, resp, 400, "invalid_message_id",
                   "MessageId is missing or differs from x-amz-sns-message-id");
        return;
    }
    if (strcmp(type, "Notification") != 0 && strcmp(type, "SubscriptionConfirmation") != 0 &&
        strcmp(type, "UnsubscribeConfirmation") != 0) {
        http_error(req, resp, 400, "unknown_message_type", "unknown SNS message type");
        return;
    }
    if (authenticate(req, resp, msg) < 0)
        return;
    if (strcmp(type, "Notification") == 0)
        notification(req, resp, msg);
    else
        subscription(req, resp, msg, type);
}

static const struct http_route routes[] = {
    {.name = "sns", .method = "POST", .dialect = &dialect_native, .handle = handle_sns},
};

int main(void)
{
    static const struct service svc = {
        .name = "event-ingest",
        .max_body = 256 * 1024,
        .routes = routes,
        .nroutes = sizeof(routes) / sizeof(routes[0]),
        .stmts = stmts,
        .nstmts = sizeof(stmts) / sizeof(stmts[0]),
    };
    push_init();
    serve_main(&svc);
}
