/* Outbox delivery over HTTP, SNS-signed (SignatureVersion 2). */
#include "outbox.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "log.h"
#include "sns.h"

enum { CLAIM, FINISH, RETRY, NEXT_DUE };

/* A claim leases due deliveries for 30 s: if the process dies mid-POST, the
 * delivery is simply due again then. */
const struct db_stmt outbox_stmts[OUTBOX_NSTMTS] = {
    [CLAIM] =
        {"outbox_claim",
         "UPDATE events.deliveries d SET attempts = d.attempts + 1, "
         "next_attempt_at = now() + interval '30 seconds' "
         "FROM (SELECT d2.message_id, d2.subscription_id FROM events.deliveries d2 "
         "      JOIN events.outbox o2 USING (message_id) WHERE d2.next_attempt_at <= now() "
         "      ORDER BY d2.next_attempt_at, o2.seq LIMIT $1 FOR UPDATE OF d2 SKIP LOCKED) due, "
         "events.outbox o, events.subscriptions s "
         "WHERE d.message_id = due.message_id AND d.subscription_id = due.subscription_id "
         "AND o.message_id = d.message_id AND s.subscription_id = d.subscription_id "
         "RETURNING d.message_id, d.subscription_id, d.attempts, o.topic_arn, o.message, "
         "s.endpoint, s.subscription_arn, "
         "to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
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
static int base;
static CURL *curl;

int outbox_init(const struct outbox_opts *opts, int first)
{
    options = *opts;
    base = first;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || (curl = curl_easy_init()) == NULL) {
        log_error("could not start libcurl");
        return -1;
    }
    return 0;
}

void outbox_close(void)
{
    curl_easy_cleanup(curl);
    curl = NULL;
    curl_global_cleanup();
}

static size_t discard(char *data, size_t size, size_t n, void *ctx)
{
    (void)data;
    (void)ctx;
    return size * n;
}

/* POSTs body to endpoint with SNS's headers. NULL on a 2xx, else why
 * (arena text); *permanent when the endpoint refused the message itself (a
 * 4xx other than 408 and 429), which no retry can change. */
static const char *post(struct arena *a, const char *endpoint, const char *body, const char *id,
                        const char *topic, const char *subscription_arn, bool *permanent)
{
    *permanent = false;
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: text/plain; charset=UTF-8");
    h = curl_slist_append(h, "x-amz-sns-message-type: Notification");
    h = curl_slist_append(h, arena_sprintf(a, "x-amz-sns-message-id: %s", id));
    h = curl_slist_append(h, arena_sprintf(a, "x-amz-sns-topic-arn: %s", topic));
    h = curl_slist_append(
        h, arena_sprintf(a, "x-amz-sns-subscription-arn: %s:%s", topic, subscription_arn));
    h = curl_slist_append(h, "User-Agent: Amazon Simple Notification Service Agent");
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, endpoint);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, options.timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, options.timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    if (rc != CURLE_OK)
        return arena_sprintf(a, "%s", curl_easy_strerror(rc));
    if (status < 200 || status > 299) {
        *permanent = status >= 400 && status < 500 && status != 408 && status != 429;
        return arena_sprintf(a, "HTTP %ld", status);
    }
    return NULL;
}

int outbox_deliver(int batch)
{
    struct arena a = {0};
    char n[16];
    snprintf(n, sizeof(n), "%d", batch);
    const char *p[] = {n};
    PGresult *r;
    if (db_exec(&a, base + CLAIM, p, &r) != DB_OK) {
        arena_destroy(&a);
        return -1;
    }
    int rows = PQntuples(r);
    for (int i = 0; i < rows; i++) {
        const char *id = db_get(r, i, 0), *sub = db_get(r, i, 1);
        int attempts = (int)strtol(db_get(r, i, 2), NULL, 10);
        const char *topic = db_get(r, i, 3), *message = db_get(r, i, 4);
        const char *endpoint = db_get(r, i, 5), *sub_arn = db_get(r, i, 6),
                   *stamp = db_get(r, i, 7);
        const char *unsubscribe = arena_sprintf(&a, "%s?Action=Unsubscribe&SubscriptionArn=%s:%s",
                                                options.cert_url, topic, sub_arn);
        json_t *note = sns_notification(&a, topic, id, message, stamp, "2", options.cert_url,
                                        unsubscribe, options.signing_key);
        char *body = note != NULL ? json_dumps(note, JSON_COMPACT) : NULL;
        json_decref(note);
        bool permanent = true;
        const char *error = body != NULL ? post(&a, endpoint, body, id, topic, sub_arn, &permanent)
                                         : "could not sign";
        free(body);
        bool dead = error != NULL && (permanent || attempts >= options.max_attempts);
        if (error != NULL)
            log_warn("delivery of %s to %s failed (attempt %d): %s%s", id, endpoint, attempts,
                     error, dead ? "; moved to events.dead_letters" : "");
        const char *fp[] = {id, sub, dead ? "true" : "false", error};
        const char *rp[] = {id, sub, error};
        bool retry = error != NULL && !dead;
        PGresult *fr;
        if (db_exec(&a, base + (retry ? RETRY : FINISH), retry ? rp : fp, &fr) != DB_OK)
            log_warn("could not record the delivery of %s: %s", id, db_message());
    }
    arena_destroy(&a);
    return rows;
}

double outbox_next_due(double cap)
{
    struct arena a = {0};
    PGresult *r;
    double wait = cap;
    if (db_exec(&a, base + NEXT_DUE, NULL, &r) == DB_OK && db_get(r, 0, 0) != NULL) {
        wait = strtod(db_get(r, 0, 0), NULL);
        wait = wait < 0 ? 0 : wait > cap ? cap : wait;
    }
    arena_destroy(&a);
    return wait;
}
