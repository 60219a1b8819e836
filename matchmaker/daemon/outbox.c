/* Outbox delivery over HTTP, SNS-signed (SignatureVersion 2), on threads of
 * its own (outbox.h). */
#include "outbox.h"

#include <curl/curl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "db.h"
#include "log.h"
#include "mm_metrics.h"
#include "sns.h"
#include "util.h"

enum { CLAIM, FINISH, FINISH_MANY, RETRY, NEXT_DUE };

/* A claim leases due deliveries for 30 s: if the process dies mid-POST, the
 * delivery is simply due again then. The due rows are picked in a
 * MATERIALIZED CTE: as a subquery in UPDATE ... FROM, PostgreSQL may run
 * the LIMIT ... SKIP LOCKED scan more than once (once per outer row in a
 * nested loop), and each run skips what the previous one locked, so the
 * claim returned many times the limit. The due rows are taken in the order
 * of the deliveries_due index (a sort of every due row, joined to its
 * message, cost each claim of a 10,000-event backlog 11 ms); RETURNING has
 * no order of its own: the claimed rows come back in publication order,
 * the order they are sent in. */
static const struct db_stmt stmts[] = {
    [CLAIM] = {"outbox_claim",
               "WITH due AS MATERIALIZED ("
               "  SELECT d2.message_id, d2.subscription_id FROM events.deliveries d2 "
               "  WHERE d2.next_attempt_at <= now() "
               "  ORDER BY d2.next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) "
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
    /* Given up ($3 true, $4 the last error). */
    [FINISH] = {"outbox_finish",
                "SELECT events.finish_delivery($1::uuid, $2::bigint, $3::boolean, $4)", 4, false},
    /* The deliveries of a batch that arrived, in one transaction. */
    [FINISH_MANY] = {"outbox_finish_many",
                     "SELECT events.finish_deliveries($1::uuid[], $2::bigint[])", 2, false},
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
static int batch_limit; /* the most deliveries one claim takes */
static atomic_bool stopping;

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

/* One deliverer thread and all it touches besides its db connection. */
struct deliverer {
    pthread_t thread;
    bool started;
    CURLM *multi;
    struct flight flights[OUTBOX_MAX_BATCH];
};

static struct deliverer deliverers[OUTBOX_MAX_THREADS];

int outbox_init(const struct outbox_opts *opts)
{
    options = *opts;
    options.threads = options.threads < 1                    ? 1
                      : options.threads > OUTBOX_MAX_THREADS ? OUTBOX_MAX_THREADS
                                                             : options.threads;
    /* A claim leases its deliveries for 30 s: claim no more than can end
     * within 25 s if every one of them times out. */
    long rounds = 25000 / options.timeout_ms > 0 ? 25000 / options.timeout_ms : 1;
    long limit = options.parallel * rounds;
    batch_limit = (int)(limit < OUTBOX_MAX_BATCH ? limit : OUTBOX_MAX_BATCH);
    db_register(stmts, sizeof(stmts) / sizeof(stmts[0]));
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        log_error("could not start libcurl");
        return -1;
    }
    for (int t = 0; t < options.threads; t++) {
        struct deliverer *d = &deliverers[t];
        if ((d->multi = curl_multi_init()) == NULL) {
            log_error("could not start libcurl");
            return -1;
        }
        /* Deliveries run side by side, as SNS's do: event-ingest orders
         * them by their content, never by arrival. */
        curl_multi_setopt(d->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)options.parallel);
        curl_multi_setopt(d->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)options.parallel);
        for (int i = 0; i < OUTBOX_MAX_BATCH; i++)
            if ((d->flights[i].easy = curl_easy_init()) == NULL) {
                log_error("could not start libcurl");
                return -1;
            }
    }
    return 0;
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
static bool launch(struct deliverer *d, int count, int *next)
{
    while (*next < count) {
        struct flight *f = &d->flights[(*next)++];
        if (f->body != NULL) {
            f->added = curl_multi_add_handle(d->multi, f->easy) == CURLM_OK;
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
static void fly(struct deliverer *d, struct arena *a, int count)
{
    int next = 0, running = 0;
    for (int i = 0; i < options.parallel; i++)
        running += launch(d, count, &next);
    while (running > 0) {
        if (curl_multi_perform(d->multi, &running) != CURLM_OK)
            break;
        if (running > 0)
            curl_multi_poll(d->multi, NULL, 0, 100, NULL);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(d->multi, &left)) != NULL) {
            if (m->msg != CURLMSG_DONE)
                continue;
            char *priv = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
            judge(a, (struct flight *)(void *)priv, m->data.result);
            curl_multi_remove_handle(d->multi, m->easy_handle);
            ((struct flight *)(void *)priv)->added = false;
            running += launch(d, count, &next);
        }
    }
    for (int i = 0; i < count; i++)
        if (d->flights[i].added) {
            curl_multi_remove_handle(d->multi, d->flights[i].easy);
            d->flights[i].added = false;
        }
}

/* Records the outcomes of a batch: the deliveries that arrived in one
 * statement; each failure as a retry later or a dead letter. */
static void record(struct deliverer *d, struct arena *a, int count)
{
    const char **ids = arena_alloc(a, (size_t)(count + 1) * sizeof(*ids));
    const char **subs = arena_alloc(a, (size_t)(count + 1) * sizeof(*subs));
    size_t done = 0;
    PGresult *r;
    for (int i = 0; i < count; i++) {
        const struct flight *f = &d->flights[i];
        if (f->error == NULL) {
            mm_metrics_delivery(MM_DELIVERED);
            ids[done] = f->id;
            subs[done++] = f->sub;
            continue;
        }
        bool dead = f->permanent || f->attempts >= options.max_attempts;
        mm_metrics_delivery(dead ? MM_DEAD_LETTER : MM_RETRY);
        log_warn("delivery of %s to %s failed (attempt %d): %s%s", f->id, f->endpoint, f->attempts,
                 f->error, dead ? "; moved to events.dead_letters" : "");
        const char *fp[] = {f->id, f->sub, "true", f->error};
        const char *rp[] = {f->id, f->sub, f->error};
        if (db_exec(a, &stmts[dead ? FINISH : RETRY], dead ? fp : rp, &r) != DB_OK)
            log_warn("could not record the delivery of %s: %s", f->id, db_message());
    }
    if (done == 0)
        return;
    /* Not recorded: the deliveries are due again when their lease ends, and
     * subscribers see them twice (SNS delivers at least once too). */
    const char *p[] = {util_pg_text_array(a, ids, done), util_pg_text_array(a, subs, done)};
    if (db_exec(a, &stmts[FINISH_MANY], p, &r) != DB_OK)
        log_warn("could not record %zu deliveries: %s", done, db_message());
}

/* Delivers one claimed batch. Returns how many were attempted (0: nothing
 * due), or -1 when the database is unavailable. */
static int deliver(struct deliverer *d)
{
    struct arena a = {0};
    char n[16];
    snprintf(n, sizeof(n), "%d", batch_limit);
    const char *p[] = {n};
    PGresult *r;
    if (db_exec(&a, &stmts[CLAIM], p, &r) != DB_OK) {
        arena_destroy(&a);
        return -1;
    }
    /* Never more than the flights we have: rows past them (which the claim
     * should not return) keep their lease and are simply due again. */
    int rows = PQntuples(r);
    if (rows > batch_limit) {
        log_error("the outbox claim returned %d deliveries for a limit of %d; %d wait for their "
                  "lease to end",
                  rows, batch_limit, rows - batch_limit);
        rows = batch_limit;
    }
    for (int i = 0; i < rows; i++) {
        struct flight *f = &d->flights[i];
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
    fly(d, &a, rows);
    record(d, &a, rows);
    for (int i = 0; i < rows; i++) {
        curl_slist_free_all(d->flights[i].headers);
        free(d->flights[i].body);
    }
    arena_destroy(&a);
    return rows;
}

/* Seconds until the next delivery is due, at most `cap`. */
static double next_due(double cap)
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

/* LISTENs on every new connection of this thread; the connection, or NULL
 * while the database is down. */
static PGconn *listening(unsigned long *gen)
{
    PGconn *c = db_connection();
    if (c == NULL || *gen == db_generation())
        return c;
    PGresult *r = PQexec(c, "LISTEN rally_outbox");
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok)
        return NULL;
    *gen = db_generation();
    return c;
}

/* Sleeps up to `seconds` (at most 1, so a stop is noticed), or until a
 * notification says something was published. */
static void wait_for_events(PGconn *c, double seconds)
{
    if (seconds > 1.0)
        seconds = 1.0;
    PGnotify *n;
    bool any = false;
    if (c != NULL) {
        while ((n = PQnotifies(c)) != NULL) {
            any = true;
            PQfreemem(n);
        }
    }
    if (any)
        return;
    struct pollfd pfd = {.fd = c != NULL ? PQsocket(c) : -1, .events = POLLIN};
    if (poll(&pfd, pfd.fd >= 0 ? 1 : 0, (int)(seconds * 1000)) > 0 && PQconsumeInput(c) == 1)
        while ((n = PQnotifies(c)) != NULL)
            PQfreemem(n);
}

static void *deliverer_main(void *arg)
{
    struct deliverer *d = arg;
    unsigned long gen = 0;
    while (!atomic_load(&stopping)) {
        PGconn *c = listening(&gen);
        int n = c != NULL ? deliver(d) : -1;
        if (n > 0)
            continue; /* more may be due */
        double wait = n < 0 ? 1.0 : next_due(1.0);
        /* A statement that failed may have replaced or closed c. */
        wait_for_events(listening(&gen), wait);
    }
    db_close();
    return NULL;
}

int outbox_start(void)
{
    /* Signals are the main thread's: the threads start with all blocked. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int started = 0;
    for (int t = 0; t < options.threads; t++) {
        int rc = pthread_create(&deliverers[t].thread, NULL, deliverer_main, &deliverers[t]);
        deliverers[t].started = rc == 0;
        started += rc == 0;
        if (rc != 0)
            log_error("could not start outbox thread %d: %s", t, strerror(rc));
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return started > 0 ? 0 : -1;
}

void outbox_stop(void)
{
    atomic_store(&stopping, true);
    for (int t = 0; t < options.threads; t++) {
        struct deliverer *d = &deliverers[t];
        if (d->started)
            pthread_join(d->thread, NULL);
        d->started = false;
        for (int i = 0; i < OUTBOX_MAX_BATCH; i++) {
            curl_easy_cleanup(d->flights[i].easy);
            d->flights[i].easy = NULL;
        }
        curl_multi_cleanup(d->multi);
        d->multi = NULL;
    }
    curl_global_cleanup();
}
