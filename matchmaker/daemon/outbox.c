/* Outbox delivery over HTTP, SNS-signed (SignatureVersion 2). */
#include "outbox.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "log.h"
#include "sns.h"

enum { CLAIM, FINISH, RETRY, NEXT_DUE };

/* A claim leases due deliveries for 30 s: if the process dies mid-POST, the
 * delivery is simply due again then. The due rows are picked in a
 * MATERIALIZED CTE: as a subquery in UPDATE ... FROM, PostgreSQL may run
 * the LIMIT ... SKIP LOCKED scan more than once (once per outer row in a
 * nested loop), and each run skips what the previous one locked, so the
 * claim returned many times the limit. RETURNING has no order of its own:
 * the claimed rows come back in publication order, the order they are
 * sent in. */
static const struct db_stmt stmts[] = {
    [CLAIM] = {"outbox_claim",
               "WITH due AS MATERIALIZED ("
               "  SELECT d2.message_id, d2.subscription_id FROM events.deliveries d2 "
               "  JOIN events.outbox o2 USING (message_id) WHERE d2.next_attempt_at <= now() "
               "  ORDER BY d2.next_attempt_at, o2.seq LIMIT $1 FOR UPDATE OF d2 SKIP LOCKED) "
               ", claimed AS ("
               "  UPDATE events.deliveries d SET attempts = d.attempts + 1, "
               "  next_attempt_at = now() + interval '30 seconds' "
               "  FROM due, events.outbox o, events.subscriptions s "
               "  WHERE d.message_id = due.message_id AND d.subscription_id = due.subscription_id "
               "  AND o.message_id = d.message_id AND s.subscription_id = d.subscription_id "
               "  RETURNING d.message_id, d.subscription_id, d.attempts, o.topic_arn, o.message, "
               "  s.endpoint, s.subscription_arn, o.seq, "
               "  to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
               "  AS stamp) "
               "SELECT message_id, subscription_id, attempts, topic_arn, message, endpoint, "
               "subscription_arn, stamp FROM claimed ORDER BY seq",
               1, false},
    /* Delivered ($3 false), or given up ($3 true, $4 the last error). */
    [FINISH] = {"outbox_finish",
                "SELECT events.finish_delivery($1::uuid, $2::bigint, $3::boolean, $4)", 4, false},
    /* Retried after 2^(attempts-1) seconds, at most 5 minutes. */
    [RETRY] = {"outbox_retry",
               "UPDATE events.deliveries SET last_error = $3, next_attempt_at = now() + "
               "least(300, power(2, attempts - 1)) * interval '1 second' "
               "WHERE message_id = $1::uuid AND subscription_id = $2::bigint",
               3, false},
    [NEXT_DUE] = {"outbox_next_due",
                  "SELECT extract(epoch FROM min(next_attempt_at) - now()) FROM events.deliveries",
                  0, true},
};

static struct outbox_opts options;

/* One delivery in flight: its easy handle (reused, keeping its connection),
 * headers and body, and what the claim said about it. */
struct flight {
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    const char *id, *sub, *endpoint;
    const char *error; /* NULL: delivered */
    int attempts;
    bool permanent; /* refused as such: no retry can change it */
    bool added;     /* attached to the multi handle */
};

static CURLM *multi;
static struct flight flights[OUTBOX_MAX_BATCH];

int outbox_init(const struct outbox_opts *opts)
{
    options = *opts;
    db_register(stmts, sizeof(stmts) / sizeof(stmts[0]));
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || (multi = curl_multi_init()) == NULL) {
        log_error("could not start libcurl");
        return -1;
    }
    /* Deliveries run side by side, as SNS's do: event-ingest orders them by
     * their content, never by arrival. */
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)options.parallel);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)options.parallel);
    for (int i = 0; i < OUTBOX_MAX_BATCH; i++)
        if ((flights[i].easy = curl_easy_init()) == NULL) {
            log_error("could not start libcurl");
            return -1;
        }
    return 0;
}

void outbox_close(void)
{
    for (int i = 0; i < OUTBOX_MAX_BATCH; i++) {
        curl_easy_cleanup(flights[i].easy);
        flights[i].easy = NULL;
    }
    curl_multi_cleanup(multi);
    multi = NULL;
    curl_global_cleanup();
}

static size_t discard(char *data, size_t size, size_t n, void *ctx)
{
    (void)data;
    (void)ctx;
    return size * n;
}

/* Sets up f's POST of its body with SNS's headers. */
static void prepare(struct arena *a, struct flight *f, const char *topic,
                    const char *subscription_arn)
{
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: text/plain; charset=UTF-8");
    h = curl_slist_append(h, "x-amz-sns-message-type: Notification");
    h = curl_slist_append(h, arena_sprintf(a, "x-amz-sns-message-id: %s", f->id));
    h = curl_slist_append(h, arena_sprintf(a, "x-amz-sns-topic-arn: %s", topic));
    h = curl_slist_append(
        h, arena_sprintf(a, "x-amz-sns-subscription-arn: %s:%s", topic, subscription_arn));
    h = curl_slist_append(h, "User-Agent: Amazon Simple Notification Service Agent");
    f->headers = h;
    CURL *c = f->easy;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, f->endpoint);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, f->body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, options.timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, options.timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_PRIVATE, f);
}

/* f's outcome: NULL on a 2xx, else why; permanent when the endpoint refused
 * the message itself (a 4xx other than 408 and 429). */
static void judge(struct arena *a, struct flight *f, CURLcode rc)
{
    long status = 0;
    curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
    f->permanent = false;
    if (rc != CURLE_OK) {
        f->error = arena_sprintf(a, "%s", curl_easy_strerror(rc));
    } else if (status < 200 || status > 299) {
        f->permanent = status >= 400 && status < 500 && status != 408 && status != 429;
        f->error = arena_sprintf(a, "HTTP %ld", status);
    } else {
        f->error = NULL;
    }
}

/* Attaches the next prepared flight after `*next`, if any; true if one was. */
static bool launch(int count, int *next)
{
    while (*next < count) {
        struct flight *f = &flights[(*next)++];
        if (f->body != NULL) {
            f->added = curl_multi_add_handle(multi, f->easy) == CURLM_OK;
            if (f->added)
                return true;
        }
    }
    return false;
}

/* Runs the prepared flights, `parallel` at a time (a transfer's timeout
 * runs from when it is attached, so none waits attached for a connection),
 * then detaches them all: those a multi error left unfinished keep their
 * "not sent". */
static void fly(struct arena *a, int count)
{
    int next = 0, running = 0;
    for (int i = 0; i < options.parallel; i++)
        running += launch(count, &next);
    while (running > 0) {
        if (curl_multi_perform(multi, &running) != CURLM_OK)
            break;
        if (running > 0)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left)) != NULL) {
            if (m->msg != CURLMSG_DONE)
                continue;
            char *priv = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
            judge(a, (struct flight *)(void *)priv, m->data.result);
            curl_multi_remove_handle(multi, m->easy_handle);
            ((struct flight *)(void *)priv)->added = false;
            running += launch(count, &next);
        }
    }
    for (int i = 0; i < count; i++)
        if (flights[i].added) {
            curl_multi_remove_handle(multi, flights[i].easy);
            flights[i].added = false;
        }
}

/* Records f's outcome: done, dead letter, or retry later. */
static void record(struct arena *a, const struct flight *f)
{
    bool dead = f->error != NULL && (f->permanent || f->attempts >= options.max_attempts);
    if (f->error != NULL)
        log_warn("delivery of %s to %s failed (attempt %d): %s%s", f->id, f->endpoint, f->attempts,
                 f->error, dead ? "; moved to events.dead_letters" : "");
    const char *fp[] = {f->id, f->sub, dead ? "true" : "false", f->error};
    const char *rp[] = {f->id, f->sub, f->error};
    bool retry = f->error != NULL && !dead;
    PGresult *r;
    if (db_exec(a, &stmts[retry ? RETRY : FINISH], retry ? rp : fp, &r) != DB_OK)
        log_warn("could not record the delivery of %s: %s", f->id, db_message());
}

int outbox_deliver(int batch)
{
    struct arena a = {0};
    int limit = batch < 1 ? 1 : batch < OUTBOX_MAX_BATCH ? batch : OUTBOX_MAX_BATCH;
    char n[16];
    snprintf(n, sizeof(n), "%d", limit);
    const char *p[] = {n};
    PGresult *r;
    if (db_exec(&a, &stmts[CLAIM], p, &r) != DB_OK) {
        arena_destroy(&a);
        return -1;
    }
    /* Never more than the flights we have: rows past them (which the claim
     * should not return) keep their lease and are simply due again. */
    int rows = PQntuples(r);
    if (rows > limit) {
        log_error("the outbox claim returned %d deliveries for a limit of %d; %d wait for their "
                  "lease to end",
                  rows, limit, rows - limit);
        rows = limit;
    }
    for (int i = 0; i < rows; i++) {
        struct flight *f = &flights[i];
        f->id = db_get(r, i, 0);
        f->sub = db_get(r, i, 1);
        f->attempts = (int)strtol(db_get(r, i, 2), NULL, 10);
        f->endpoint = db_get(r, i, 5);
        const char *topic = db_get(r, i, 3), *message = db_get(r, i, 4);
        const char *sub_arn = db_get(r, i, 6), *stamp = db_get(r, i, 7);
        const char *unsubscribe = arena_sprintf(&a, "%s?Action=Unsubscribe&SubscriptionArn=%s:%s",
                                                options.cert_url, topic, sub_arn);
        json_t *note = sns_notification(&a, topic, f->id, message, stamp, "2", options.cert_url,
                                        unsubscribe, options.signing_key);
        f->body = note != NULL ? json_dumps(note, JSON_COMPACT) : NULL;
        json_decref(note);
        f->headers = NULL;
        f->error = f->body != NULL ? "not sent" : "could not sign";
        f->permanent = false;
        f->added = false;
        if (f->body != NULL)
            prepare(&a, f, topic, sub_arn);
    }
    fly(&a, rows);
    for (int i = 0; i < rows; i++) {
        record(&a, &flights[i]);
        curl_slist_free_all(flights[i].headers);
        free(flights[i].body);
    }
    arena_destroy(&a);
    return rows;
}

double outbox_next_due(double cap)
{
    struct arena a = {0};
    PGresult *r;
    double wait = cap;
    if (db_exec(&a, &stmts[NEXT_DUE], NULL, &r) == DB_OK && db_get(r, 0, 0) != NULL) {
        wait = strtod(db_get(r, 0, 0), NULL);
        wait = wait < 0 ? 0 : wait > cap ? cap : wait;
    }
    arena_destroy(&a);
    return wait;
}
