/* The sidecar's write buffer: lanes of entries and their flushers (lanes.h). */
#include "lanes.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "worldblock.h"

/* The most entries one flush takes: one write of world-state's at most. */
#define FLUSH_MAX WORLD_MAX_BLOCKS
/* A block's JSON at most: "[-33554432,255,-33554432,-2147483648],". */
#define BLOCK_TEXT 40
#define BACKOFF_FIRST_MS 50
#define BACKOFF_MAX_MS 2000
/* A waiter on every world: a barrier's. */
#define ANY_WORLD UINT16_MAX

enum kind { BLOCK, CLEAR };

/* A block (x, y, z, w), or a clear of chunk (x, z) = (p, q). */
struct entry {
    int32_t x, y, z, w;
    uint16_t world;
    uint8_t kind;
};

struct ticket;

/* A ticket's wait on one lane: done once the lane has written through seq. */
struct wait_node {
    struct ticket *t;
    uint64_t seq;
    uint16_t world;
    bool linked;
    struct wait_node *next;
};

/* Someone waiting for entries to be written; lives on the waiter's stack. */
struct ticket {
    int outstanding; /* lanes still to write what it waits for */
    struct lanes_result *out;
    struct wait_node nodes[LANES_MAX];
};

/* What one flush did for a world. */
struct outcome {
    int status; /* 0: nothing failed */
    char message[200];
    char clear_answer[256];
};

struct lane {
    struct lanes *l;
    int index;
    pthread_t thread;
    bool started;
    pthread_cond_t work;
    /* The ring: count entries from head; seq_in numbers the last appended,
     * seq_taken the last a flush took, seq_done the last written. */
    struct entry *ring;
    size_t head, count;
    uint64_t seq_in, seq_taken, seq_done;
    double oldest_ms; /* when the ring's oldest entry came, about */
    struct wait_node *waiters;
    /* The flusher's own (outside the lock): what it took, its text. */
    struct entry *batch;
    char *text;
    struct upstream_conn conn;
    struct outcome outcome[LANES_MAX_WORLDS];
};

struct lanes {
    struct lanes_config cfg;
    pthread_mutex_t mu;
    pthread_cond_t done, room;
    bool stopping, give_up;
    int inside; /* calls of lanes_* in progress */
    char worlds[LANES_MAX_WORLDS][129];
    int nworlds;
    /* Counters, in entries. */
    uint64_t received, written, dropped, refused, flushes, retries;
    size_t held_max; /* the most the lanes held at once */
    struct lane lanes[LANES_MAX];
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static struct timespec deadline_at(double ms)
{
    return (struct timespec){.tv_sec = (time_t)(ms / 1e3),
                             .tv_nsec = (long)((ms - (double)(time_t)(ms / 1e3) * 1e3) * 1e6)};
}

/* Waits on cond until at (monotonic ms); false once it passed. */
static bool wait_until(pthread_cond_t *cond, pthread_mutex_t *mu, double at)
{
    struct timespec ts = deadline_at(at);
    return pthread_cond_timedwait(cond, mu, &ts) != ETIMEDOUT;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void result(struct lanes_result *out, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void result(struct lanes_result *out, int status, const char *fmt, ...)
{
    va_list ap;
    out->status = status;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof(out->message), fmt, ap);
    va_end(ap);
}

/* The lane of chunk (p, q): a chunk's entries always share one. */
static struct lane *lane_of(struct lanes *l, long p, long q)
{
    uint64_t h = (uint64_t)p * 0x9E3779B97F4A7C15ULL ^ (uint64_t)q * 0xC2B2AE3D27D4EB4FULL;
    return &l->lanes[(h >> 32) % (uint64_t)l->cfg.nlanes];
}

/* The world's index, added when new; -1 when the table is full. Under mu. */
static int world_index(struct lanes *l, const char *world)
{
    for (int i = 0; i < l->nworlds; i++)
        if (strcmp(l->worlds[i], world) == 0)
            return i;
    if (l->nworlds == LANES_MAX_WORLDS)
        return -1;
    snprintf(l->worlds[l->nworlds], sizeof(l->worlds[0]), "%s", world);
    return l->nworlds++;
}

static size_t held(const struct lanes *l)
{
    size_t n = 0;
    for (int i = 0; i < l->cfg.nlanes; i++)
        n += l->lanes[i].count;
    return n;
}

/* What is not written yet: held, or taken by a flush still in flight. */
static size_t unwritten(const struct lanes *l)
{
    size_t n = held(l);
    for (int i = 0; i < l->cfg.nlanes; i++)
        n += (size_t)(l->lanes[i].seq_taken - l->lanes[i].seq_done);
    return n;
}

static void append(struct lane *ln, struct entry e)
{
    if (ln->count == 0)
        ln->oldest_ms = now_ms();
    ln->ring[(ln->head + ln->count) % ln->l->cfg.capacity] = e;
    ln->count++;
    ln->seq_in++;
}

/* ---- waiting ---------------------------------------------------------- */

/* Makes t wait on lane ln for everything appended to it so far. Under mu. */
static void wait_on(struct ticket *t, struct lane *ln, uint16_t world)
{
    struct wait_node *w = &t->nodes[ln->index];
    if (w->linked || ln->seq_done >= ln->seq_in)
        return;
    *w = (struct wait_node){
        .t = t, .seq = ln->seq_in, .world = world, .linked = true, .next = ln->waiters};
    ln->waiters = w;
    t->outstanding++;
    pthread_cond_signal(&ln->work); /* a waiter: flush now */
}

static void unlink_node(struct lane *ln, struct wait_node *w)
{
    for (struct wait_node **p = &ln->waiters; *p != NULL; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    w->linked = false;
}

/* Waits until t's lanes wrote what it waits for; 504 after timeout_ms, its
 * waits withdrawn. Under mu. */
static void await(struct lanes *l, struct ticket *t, int timeout_ms)
{
    double at = now_ms() + timeout_ms;
    while (t->outstanding > 0) {
        bool woken = !l->give_up && wait_until(&l->done, &l->mu, at);
        if (woken || t->outstanding == 0)
            continue;
        for (int i = 0; i < l->cfg.nlanes; i++)
            if (t->nodes[i].linked)
                unlink_node(&l->lanes[i], &t->nodes[i]);
        t->outstanding = 0;
        if (l->give_up)
            result(t->out, 503, "the sidecar stopped before it was written");
        else
            result(t->out, 504, "not written within %d ms; it stays buffered and will be",
                   timeout_ms);
    }
}

/* After a flush through seq: the waiters it satisfied, with what became
 * of their world. Under mu. */
static void release(struct lane *ln, uint64_t seq)
{
    struct wait_node **p = &ln->waiters;
    while (*p != NULL) {
        struct wait_node *w = *p;
        if (w->seq > seq) {
            p = &w->next;
            continue;
        }
        *p = w->next;
        w->linked = false;
        const struct outcome *o = w->world != ANY_WORLD ? &ln->outcome[w->world] : NULL;
        if (o != NULL && o->status != 0 && w->t->out->status < 300) {
            w->t->out->status = o->status;
            snprintf(w->t->out->message, sizeof(w->t->out->message), "%s", o->message);
        } else if (o != NULL && o->clear_answer[0] != '\0')
            snprintf(w->t->out->body, sizeof(w->t->out->body), "%s", o->clear_answer);
        w->t->outstanding--;
    }
}

/* ---- flushing --------------------------------------------------------- */

/* One call to rally, tried again while the failure is rally's or the
 * network's (the outage case), until it answers or the sidecar gives up on
 * stopping. Returns the status, 0 for given up. */
static long call_until_answered(struct lane *ln, const char *path, const char *body, size_t len)
{
    struct lanes *l = ln->l;
    int backoff = BACKOFF_FIRST_MS;
    for (int attempt = 0;; attempt++) {
        long status = upstream_call(&ln->conn, "POST", path, NULL, body, len);
        bool transient = status == 0 || status >= 500 || status == 408 || status == 429;
        if (!transient)
            return status;
        if (attempt == 0 || attempt % 20 == 0)
            log_warn("lane %d: %s: %s; trying again", ln->index, path,
                     status == 0 ? ln->conn.error : "rally answered 5xx");
        pthread_mutex_lock(&l->mu);
        l->retries++;
        bool give_up = l->give_up;
        pthread_mutex_unlock(&l->mu);
        if (give_up)
            return 0;
        sleep_ms(backoff);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
}

/* Records the answer to a world's call in its outcome; the entries it
 * carried count as written or dropped. */
static void settle(struct lane *ln, int world, long status, const char *what, size_t n)
{
    struct outcome *o = &ln->outcome[world];
    struct lanes *l = ln->l;
    bool ok = status >= 200 && status < 300;
    if (!ok && o->status == 0) {
        o->status = status == 0 ? 503 : (int)status;
        if (status == 0) /* only when stopping: otherwise it is tried again */
            snprintf(o->message, sizeof(o->message),
                     "%s of world %s was not written before the sidecar stopped: %.100s", what,
                     l->worlds[world], ln->conn.error);
        else
            snprintf(o->message, sizeof(o->message),
                     "rally refused %s of world %s: HTTP %ld %.120s", what, l->worlds[world],
                     status, ln->conn.http.buf != NULL ? ln->conn.http.buf : "");
        log_error("lane %d: %s; %zu entries dropped", ln->index, o->message, n);
    }
    pthread_mutex_lock(&l->mu);
    if (ok)
        l->written += n;
    else
        l->dropped += n;
    pthread_mutex_unlock(&l->mu);
}

/* Sends the blocks gathered in ln->text for world; *n is reset. */
static void send_blocks(struct lane *ln, int world, size_t *len, size_t *n)
{
    if (*n == 0)
        return;
    char path[200];
    snprintf(path, sizeof(path), "/v1/worlds/%s/blocks", ln->l->worlds[world]);
    ln->text[(*len)++] = ']';
    ln->text[(*len)++] = '}';
    settle(ln, world, call_until_answered(ln, path, ln->text, *len), "a write", *n);
    *len = 0;
    *n = 0;
}

static void send_clear(struct lane *ln, int world, const struct entry *e)
{
    char path[200], body[64];
    snprintf(path, sizeof(path), "/v1/worlds/%s/chunks/clear", ln->l->worlds[world]);
    int len = snprintf(body, sizeof(body), "{\"p\":%d,\"q\":%d}", (int)e->x, (int)e->z);
    long status = call_until_answered(ln, path, body, (size_t)len);
    settle(ln, world, status, "a clear", 1);
    if (status == 200 && ln->conn.http.buf != NULL)
        snprintf(ln->outcome[world].clear_answer, sizeof(ln->outcome[0].clear_answer), "%s",
                 ln->conn.http.buf);
}

/* Writes n taken entries, world by world in the order each came, a clear
 * splitting its world's blocks into those before and those after it. */
static void flush(struct lane *ln, size_t n)
{
    bool seen[LANES_MAX_WORLDS] = {false};
    for (size_t first = 0; first < n; first++) {
        int world = ln->batch[first].world;
        if (seen[world])
            continue;
        seen[world] = true;
        ln->outcome[world] = (struct outcome){0};
        size_t len = 0, blocks = 0;
        for (size_t i = first; i < n; i++) {
            const struct entry *e = &ln->batch[i];
            if (e->world != world)
                continue;
            if (e->kind == CLEAR) {
                send_blocks(ln, world, &len, &blocks);
                send_clear(ln, world, e);
                continue;
            }
            if (blocks == 0)
                len = (size_t)snprintf(ln->text, 16, "{\"blocks\":[");
            len +=
                (size_t)snprintf(ln->text + len, BLOCK_TEXT + 1, "%s[%d,%d,%d,%d]",
                                 blocks > 0 ? "," : "", (int)e->x, (int)e->y, (int)e->z, (int)e->w);
            blocks++;
        }
        send_blocks(ln, world, &len, &blocks);
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
            now_ms() >= due)
            return true;
        wait_until(&ln->work, &l->mu, due);
    }
}

static void *flusher(void *arg)
{
    struct lane *ln = arg;
    struct lanes *l = ln->l;
    pthread_mutex_lock(&l->mu);
    while (should_flush(ln)) {
        size_t n = ln->count < FLUSH_MAX ? ln->count : FLUSH_MAX;
        for (size_t i = 0; i < n; i++)
            ln->batch[i] = ln->ring[(ln->head + i) % l->cfg.capacity];
        ln->head = (ln->head + n) % l->cfg.capacity;
        ln->count -= n;
        ln->seq_taken += n;
        ln->oldest_ms = now_ms();
        uint64_t through = ln->seq_taken;
        l->flushes++;
        pthread_cond_broadcast(&l->room);
        pthread_mutex_unlock(&l->mu);

        flush(ln, n);

        pthread_mutex_lock(&l->mu);
        ln->seq_done = through;
        release(ln, through);
        pthread_cond_broadcast(&l->done);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* ---- the calls -------------------------------------------------------- */

struct lanes *lanes_start(const struct lanes_config *cfg, struct upstream *u)
{
    if (cfg->nlanes < 1 || cfg->nlanes > LANES_MAX || cfg->capacity < FLUSH_MAX)
        return NULL;
    struct lanes *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->cfg = *cfg;
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->done, &monotonic);
    pthread_cond_init(&l->room, &monotonic);
    bool ok = true;
    for (int i = 0; i < cfg->nlanes; i++) {
        struct lane *ln = &l->lanes[i];
        ln->l = l;
        ln->index = i;
        pthread_cond_init(&ln->work, &monotonic);
        ln->ring = malloc(cfg->capacity * sizeof(struct entry));
        ln->batch = malloc(FLUSH_MAX * sizeof(struct entry));
        ln->text = malloc(FLUSH_MAX * BLOCK_TEXT + 64);
        ok = ok && ln->ring != NULL && ln->batch != NULL && ln->text != NULL &&
             upstream_conn_init(&ln->conn, u) == 0 &&
             (ln->started = pthread_create(&ln->thread, NULL, flusher, ln) == 0);
    }
    pthread_condattr_destroy(&monotonic);
    if (!ok) {
        lanes_free(l);
        return NULL;
    }
    return l;
}

size_t lanes_drain(struct lanes *l, int deadline_ms)
{
    double give_up_at = now_ms() + deadline_ms;
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    for (int i = 0; i < l->cfg.nlanes; i++)
        pthread_cond_signal(&l->lanes[i].work);
    pthread_cond_broadcast(&l->room);
    while (unwritten(l) > 0 && wait_until(&l->done, &l->mu, give_up_at))
        ;
    l->give_up = true;
    size_t left = unwritten(l);
    for (int i = 0; i < l->cfg.nlanes; i++) {
        l->lanes[i].count = 0; /* given up: the flushers end after their flush */
        pthread_cond_signal(&l->lanes[i].work);
    }
    pthread_cond_broadcast(&l->done);
    while (l->inside > 0)
        pthread_cond_wait(&l->done, &l->mu);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->cfg.nlanes; i++)
        if (l->lanes[i].started) {
            pthread_join(l->lanes[i].thread, NULL);
            l->lanes[i].started = false;
        }
    return left;
}

void lanes_free(struct lanes *l)
{
    if (l == NULL)
        return;
    lanes_drain(l, 0);
    for (int i = 0; i < l->cfg.nlanes; i++) {
        struct lane *ln = &l->lanes[i];
        upstream_conn_cleanup(&ln->conn);
        pthread_cond_destroy(&ln->work);
        free(ln->ring);
        free(ln->batch);
        free(ln->text);
    }
    pthread_cond_destroy(&l->done);
    pthread_cond_destroy(&l->room);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

/* Every call holds mu from enter to leave, but for its waits; lanes_drain
 * waits until none is inside before the lanes may be freed. */
static void enter(struct lanes *l)
{
    pthread_mutex_lock(&l->mu);
    l->inside++;
}

static void leave(struct lanes *l)
{
    if (--l->inside == 0 && l->give_up)
        pthread_cond_broadcast(&l->done);
    pthread_mutex_unlock(&l->mu);
}

/* Waits until each lane has room for need[lane] more; false (429 or 503
 * answered) when it did not come in time. Under mu. */
static bool room_for(struct lanes *l, const size_t need[LANES_MAX], struct lanes_result *out)
{
    double at = now_ms() + l->cfg.wait_ms;
    for (;;) {
        if (l->stopping) {
            result(out, 503, "the sidecar is stopping");
            return false;
        }
        bool fits = true;
        for (int i = 0; i < l->cfg.nlanes && fits; i++)
            fits = l->lanes[i].count + need[i] <= l->cfg.capacity;
        if (fits)
            return true;
        if (!wait_until(&l->room, &l->mu, at)) {
            for (int i = 0; i < l->cfg.nlanes; i++)
                l->refused += need[i];
            result(out, 429,
                   "backpressure: the sidecar holds %zu entries not yet written (at most %zu a "
                   "lane), rally takes them slower than they come; try again shortly",
                   held(l), l->cfg.capacity);
            return false;
        }
    }
}

void lanes_write(struct lanes *l, const char *world, const long (*blocks)[4], size_t n,
                 bool durable, int timeout_ms, struct lanes_result *out)
{
    size_t need[LANES_MAX] = {0};
    struct ticket t = {.out = out};
    *out = (struct lanes_result){.status = durable ? 200 : 202};
    for (size_t i = 0; i < n; i++)
        need[lane_of(l, world_chunk_of(blocks[i][0]), world_chunk_of(blocks[i][2]))->index]++;
    enter(l);
    int wi = world_index(l, world);
    if (wi < 0)
        result(out, 400, "a sidecar writes to at most %d worlds", LANES_MAX_WORLDS);
    else if (room_for(l, need, out)) {
        for (size_t i = 0; i < n; i++) {
            struct lane *ln =
                lane_of(l, world_chunk_of(blocks[i][0]), world_chunk_of(blocks[i][2]));
            append(ln, (struct entry){(int32_t)blocks[i][0], (int32_t)blocks[i][1],
                                      (int32_t)blocks[i][2], (int32_t)blocks[i][3], (uint16_t)wi,
                                      BLOCK});
            if (ln->count == 1 || ln->count == (size_t)l->cfg.flush_blocks)
                pthread_cond_signal(&ln->work);
        }
        l->received += n;
        size_t now_held = held(l);
        l->held_max = now_held > l->held_max ? now_held : l->held_max;
        for (int i = 0; durable && i < l->cfg.nlanes; i++)
            if (need[i] > 0)
                wait_on(&t, &l->lanes[i], (uint16_t)wi);
        await(l, &t, timeout_ms);
    }
    leave(l);
}

void lanes_clear(struct lanes *l, const char *world, long p, long q, int timeout_ms,
                 struct lanes_result *out)
{
    size_t need[LANES_MAX] = {0};
    struct ticket t = {.out = out};
    struct lane *ln = lane_of(l, p, q);
    *out = (struct lanes_result){.status = 200};
    need[ln->index] = 1;
    enter(l);
    int wi = world_index(l, world);
    if (wi < 0)
        result(out, 400, "a sidecar writes to at most %d worlds", LANES_MAX_WORLDS);
    else if (room_for(l, need, out)) {
        append(ln, (struct entry){
                       .x = (int32_t)p, .z = (int32_t)q, .world = (uint16_t)wi, .kind = CLEAR});
        wait_on(&t, ln, (uint16_t)wi);
        await(l, &t, timeout_ms);
    }
    leave(l);
}

void lanes_barrier(struct lanes *l, int timeout_ms, struct lanes_result *out)
{
    struct ticket t = {.out = out};
    *out = (struct lanes_result){.status = 200};
    enter(l);
    for (int i = 0; i < l->cfg.nlanes; i++)
        wait_on(&t, &l->lanes[i], ANY_WORLD);
    await(l, &t, timeout_ms);
    leave(l);
}

json_t *lanes_status(struct lanes *l)
{
    json_t *lanes = json_array();
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < l->cfg.nlanes; i++) {
        const struct lane *ln = &l->lanes[i];
        json_array_append_new(lanes,
                              json_pack("{s:I, s:I}", "held", (json_int_t)ln->count, "inFlight",
                                        (json_int_t)(ln->seq_taken - ln->seq_done)));
    }
    json_t *s = json_pack(
        "{s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "lanes", lanes, "held",
        (json_int_t)held(l), "heldMax", (json_int_t)l->held_max, "capacity",
        (json_int_t)(l->cfg.capacity * (size_t)l->cfg.nlanes), "bufferBytes",
        (json_int_t)((size_t)l->cfg.nlanes * ((l->cfg.capacity + FLUSH_MAX) * sizeof(struct entry) +
                                              FLUSH_MAX * BLOCK_TEXT + 64)),
        "received", (json_int_t)l->received, "written", (json_int_t)l->written, "dropped",
        (json_int_t)l->dropped, "refused", (json_int_t)l->refused, "flushes",
        (json_int_t)l->flushes, "retries", (json_int_t)l->retries, "flushMs",
        (json_int_t)l->cfg.flush_ms, "flushBlocks", (json_int_t)l->cfg.flush_blocks);
    pthread_mutex_unlock(&l->mu);
    return s;
}
