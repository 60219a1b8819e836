/* Each lane's flusher: takes a batch and writes it to rally (lane.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lane.h"
#include "log.h"
#include "metrics.h"

#define BACKOFF_FIRST_MS 50
#define BACKOFF_MAX_MS 2000
/* A write of 10,000 blocks takes well under a second; a minute is an outage. */
#define CALL_TIMEOUT_MS 60000L

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Whether to stop trying; else the time the next call may take. Takes mu. */
static bool given_up(struct lane *ln, long *timeout_ms)
{
    struct lanes *l = ln->l;
    pthread_mutex_lock(&l->mu);
    bool stop = l->give_up;
    double left = l->stopping ? l->stop_by - lanes_now_ms() : (double)CALL_TIMEOUT_MS;
    pthread_mutex_unlock(&l->mu);
    *timeout_ms = left < (double)CALL_TIMEOUT_MS ? (long)left : CALL_TIMEOUT_MS;
    return stop || *timeout_ms <= 0;
}

/* One call to rally, tried again while the failure is rally's or the
 * network's (the outage case), until it answers or the sidecar gives up on
 * stopping. Returns the status, 0 for given up. */
static long call_until_answered(struct lane *ln, const char *path, const char *body, size_t len)
{
    struct lanes *l = ln->l;
    int backoff = BACKOFF_FIRST_MS;
    long timeout_ms = 0;
    for (int attempt = 0; !given_up(ln, &timeout_ms); attempt++) {
        ln->conn.timeout_ms = timeout_ms;
        long status = upstream_call(&ln->conn, "POST", path, NULL, body, len);
        bool transient = status == 0 || status >= 500 || status == 408 || status == 429;
        if (!transient)
            return status;
        if (attempt == 0 || attempt % 20 == 0)
            log_warn("lane %d: %s: %s; trying again", ln->index, path,
                     status == 0 ? ln->conn.error : "rally answered 5xx");
        pthread_mutex_lock(&l->mu);
        l->retries++;
        pthread_mutex_unlock(&l->mu);
        sleep_ms(backoff);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    return 0;
}

/* Records the answer to a call carrying batch entries [from, to) of world
 * (those of its kind); refused ones are marked, and counted. */
static void settle(struct lane *ln, int world, enum entry_kind kind, size_t from, size_t to,
                   long status)
{
    struct lanes *l = ln->l;
    struct outcome *o = &ln->outcome[world];
    bool ok = status >= 200 && status < 300;
    size_t n = 0;
    for (size_t i = from; i < to; i++)
        if (ln->batch[i].world == world && ln->batch[i].kind == kind) {
            ln->refused[i] = !ok;
            n++;
        }
    if (!ok && o->status == 0) {
        o->status = status == 0 ? 503 : (int)status;
        if (status == 0) /* only when stopping: otherwise it is tried again */
            snprintf(o->message, sizeof(o->message),
                     "not written before the sidecar stopped: %.100s", ln->conn.error);
        else
            snprintf(o->message, sizeof(o->message),
                     "rally refused a write of world %s: HTTP %ld %.120s", l->worlds[world], status,
                     ln->conn.http.buf != NULL ? ln->conn.http.buf : "");
        log_error("lane %d: %s; %zu entries dropped", ln->index, o->message, n);
    }
    pthread_mutex_lock(&l->mu);
    if (ok)
        l->written += n;
    else if (status == 0)
        l->abandoned += n;
    else
        l->dropped += n;
    pthread_mutex_unlock(&l->mu);
}

/* Sends the blocks of world gathered in ln->text (batch entries [from,
 * to)); *len and *n start over. */
static void send_blocks(struct lane *ln, int world, size_t from, size_t to, size_t *len, size_t *n)
{
    if (*n == 0)
        return;
    char path[200];
    snprintf(path, sizeof(path), "/v1/worlds/%s/blocks", ln->l->worlds[world]);
    ln->text[(*len)++] = ']';
    ln->text[(*len)++] = '}';
    settle(ln, world, BLOCK, from, to, call_until_answered(ln, path, ln->text, *len));
    *len = 0;
    *n = 0;
}

/* Sends the clear at batch entry i; its answer is kept for its waiter. */
static void send_clear(struct lane *ln, int world, size_t i)
{
    char path[200], body[64];
    const struct entry *e = &ln->batch[i];
    snprintf(path, sizeof(path), "/v1/worlds/%s/chunks/clear", ln->l->worlds[world]);
    int len = snprintf(body, sizeof(body), "{\"p\":%d,\"q\":%d}", (int)e->x, (int)e->z);
    long status = call_until_answered(ln, path, body, (size_t)len);
    settle(ln, world, CLEAR, i, i + 1, status);
    struct clear_answer *a = &ln->clears[ln->nclears++];
    *a = (struct clear_answer){.seq = ln->batch_first + i,
                               .status = status == 0 ? 503 : (int)status};
    snprintf(a->body, sizeof(a->body), "%s",
             status != 0 && ln->conn.http.buf != NULL ? ln->conn.http.buf : "");
}

static struct metric *m_flushes, *m_entries, *m_wait;

void lanes_declare_metrics(void)
{
    m_flushes = metric_counter("rally_sidecar_flushes_total", "Flushes of a lane to rally.");
    m_entries = metric_counter("rally_sidecar_entries_flushed_total",
                               "Blocks and clears taken into flushes.");
    m_wait = metric_series(metric_histogram("rally_sidecar_flush_wait_seconds",
                                            "How long a flush's oldest entry had waited in the "
                                            "buffer: the write-behind's lag.",
                                            metrics_latency_bounds, metrics_latency_nbounds),
                           METRIC_END);
}

/* Writes n taken entries, world by world in the order each came, a clear
 * splitting its world's blocks into those before and those after it. */
static void flush(struct lane *ln, size_t n)
{
    bool seen[LANES_MAX_WORLDS] = {false};
    ln->nclears = 0;
    memset(ln->refused, 0, n * sizeof(*ln->refused));
    for (size_t first = 0; first < n; first++) {
        int world = ln->batch[first].world;
        if (seen[world])
            continue;
        seen[world] = true;
        ln->outcome[world] = (struct outcome){0};
        size_t len = 0, blocks = 0, from = first;
        for (size_t i = first; i < n; i++) {
            const struct entry *e = &ln->batch[i];
            if (e->world != world)
                continue;
            if (e->kind == CLEAR) {
                send_blocks(ln, world, from, i, &len, &blocks);
                send_clear(ln, world, i);
                from = i + 1;
                continue;
            }
            if (blocks == 0)
                len = (size_t)snprintf(ln->text, 16, "{\"blocks\":[");
            len +=
                (size_t)snprintf(ln->text + len, BLOCK_TEXT + 1, "%s[%d,%d,%d,%d]",
                                 blocks > 0 ? "," : "", (int)e->x, (int)e->y, (int)e->z, (int)e->w);
            blocks++;
        }
        send_blocks(ln, world, from, n, &len, &blocks);
    }
}

/* Waits until the lane should flush; false when it is empty and the lanes
 * stop. Under mu. */
static bool should_flush(struct lane *ln)
{
    struct lanes *l = ln->l;
    for (;;) {
        if (ln->count == 0) {
            if (l->stopping)
                return false;
            pthread_cond_wait(&ln->work, &l->mu);
            continue;
        }
        double due = ln->oldest_ms + l->cfg.flush_ms;
        if (ln->waiters != NULL || l->stopping || ln->count >= (size_t)l->cfg.flush_blocks ||
            lanes_now_ms() >= due)
            return true;
        lanes_wait_until(&ln->work, &l->mu, due);
    }
}

/* Takes up to a flush of entries off the ring (fewer when clears come:
 * FLUSH_MAX_CLEARS at most). Under mu. */
static size_t take(struct lane *ln)
{
    struct lanes *l = ln->l;
    size_t n = 0, clears = 0;
    while (n < ln->count && n < FLUSH_MAX) {
        const struct entry *e = &ln->ring[(ln->head + n) % l->cfg.capacity];
        if (e->kind == CLEAR && clears++ == FLUSH_MAX_CLEARS)
            break;
        ln->batch[n++] = *e;
    }
    ln->head = (ln->head + n) % l->cfg.capacity;
    ln->count -= n;
    ln->batch_first = ln->seq_taken + 1;
    ln->seq_taken += n;
    double now = lanes_now_ms();
    metric_inc(m_flushes);
    metric_add(m_entries, n);
    metric_observe(m_wait, (now - ln->oldest_ms) / 1000.0);
    ln->oldest_ms = now;
    return n;
}

void *lanes_flusher(void *arg)
{
    struct lane *ln = arg;
    struct lanes *l = ln->l;
    pthread_mutex_lock(&l->mu);
    while (should_flush(ln)) {
        size_t n = take(ln);
        l->flushes++;
        pthread_cond_broadcast(&l->room);
        pthread_mutex_unlock(&l->mu);

        flush(ln, n);

        pthread_mutex_lock(&l->mu);
        ln->seq_done = ln->seq_taken;
        lanes_release(ln, ln->seq_done);
        for (size_t i = 0; i < n; i++)
            l->refs[ln->batch[i].world]--;
        pthread_cond_broadcast(&l->done);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}
