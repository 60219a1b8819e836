/* The sidecar's write buffer: appending, waiting, the public calls
 * (lanes.h); each lane's flusher is flusher.c. */
#include "lanes.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lane.h"

double lanes_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

bool lanes_wait_until(pthread_cond_t *cond, pthread_mutex_t *mu, double at)
{
    struct timespec ts = {.tv_sec = (time_t)(at / 1e3),
                          .tv_nsec = (long)((at - (double)(time_t)(at / 1e3) * 1e3) * 1e6)};
    return pthread_cond_timedwait(cond, mu, &ts) != ETIMEDOUT;
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

/* The world's slot, taking a free one (no entries held) when it has none;
 * -1 when every slot is in use. Under mu. */
static int world_index(struct lanes *l, const char *world)
{
    int free_slot = -1;
    for (int i = 0; i < LANES_MAX_WORLDS; i++) {
        if (strcmp(l->worlds[i], world) == 0)
            return i;
        if (free_slot < 0 && l->refs[i] == 0)
            free_slot = i;
    }
    if (free_slot >= 0)
        snprintf(l->worlds[free_slot], sizeof(l->worlds[0]), "%s", world);
    return free_slot;
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
    struct lanes *l = ln->l;
    if (ln->count == 0)
        ln->oldest_ms = lanes_now_ms();
    ln->ring[(ln->head + ln->count) % l->cfg.capacity] = e;
    ln->count++;
    ln->seq_in++;
    l->refs[e.world]++;
}

/* ---- waiting ---------------------------------------------------------- */

/* Makes t wait on lane ln for entries first..(everything appended so far).
 * Under mu. */
static void wait_on(struct ticket *t, struct lane *ln, uint64_t first)
{
    struct wait_node *w = &t->nodes[ln->index];
    if (w->linked || ln->seq_done >= ln->seq_in)
        return;
    *w = (struct wait_node){
        .t = t, .first = first, .last = ln->seq_in, .linked = true, .next = ln->waiters};
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

/* Waits until t's lanes wrote what it waits for; 504 after timeout_ms, 503
 * once the lanes gave up, its waits withdrawn either way. Under mu. */
static void await(struct lanes *l, struct ticket *t, int timeout_ms)
{
    double at = lanes_now_ms() + timeout_ms;
    while (t->outstanding > 0) {
        bool woken = !l->give_up && lanes_wait_until(&l->done, &l->mu, at);
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

/* The clear answer of entry seq in the lane's last flush, or NULL. */
static const struct clear_answer *clear_of(const struct lane *ln, uint64_t seq)
{
    for (size_t i = 0; i < ln->nclears; i++)
        if (ln->clears[i].seq == seq)
            return &ln->clears[i];
    return NULL;
}

/* What the last flush did to w's entries within it. */
static void tell(struct lane *ln, struct wait_node *w, uint64_t through)
{
    uint64_t from = w->first > ln->batch_first ? w->first : ln->batch_first;
    uint64_t to = w->last < through ? w->last : through;
    struct lanes_result *out = w->t->out;
    for (uint64_t seq = from; seq <= to; seq++) {
        const struct entry *e = &ln->batch[seq - ln->batch_first];
        if (w->t->kind == BARRIER) {
            w->t->dropped += ln->refused[seq - ln->batch_first];
        } else if (w->t->kind == CLEAR_WAIT) {
            const struct clear_answer *a = clear_of(ln, seq);
            if (a != NULL && a->status >= 300)
                result(out, a->status, "rally refused the clear: HTTP %d %.150s", a->status,
                       a->body);
            else if (a != NULL)
                snprintf(out->body, sizeof(out->body), "%s", a->body);
        } else if (ln->refused[seq - ln->batch_first] && out->status < 300) {
            result(out, ln->outcome[e->world].status, "%s", ln->outcome[e->world].message);
        }
    }
}

void lanes_release(struct lane *ln, uint64_t through)
{
    struct wait_node **p = &ln->waiters;
    while (*p != NULL) {
        struct wait_node *w = *p;
        if (w->first <= through && w->last >= ln->batch_first)
            tell(ln, w, through);
        if (w->last > through) {
            p = &w->next;
            continue;
        }
        *p = w->next;
        w->linked = false;
        w->t->outstanding--;
    }
}

/* ---- start and stop --------------------------------------------------- */

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
        ln->refused = malloc(FLUSH_MAX * sizeof(bool));
        ln->text = malloc(FLUSH_MAX * BLOCK_TEXT + 64);
        ok = ok && ln->ring != NULL && ln->batch != NULL && ln->refused != NULL &&
             ln->text != NULL && upstream_conn_init(&ln->conn, u) == 0 &&
             (ln->conn.cancel = &l->cancel) != NULL &&
             (ln->started = pthread_create(&ln->thread, NULL, lanes_flusher, ln) == 0);
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
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    l->stop_by = lanes_now_ms() + deadline_ms;
    for (int i = 0; i < l->cfg.nlanes; i++)
        pthread_cond_signal(&l->lanes[i].work);
    pthread_cond_broadcast(&l->room);
    while (unwritten(l) > 0 && lanes_wait_until(&l->done, &l->mu, l->stop_by))
        ;
    l->give_up = true;
    atomic_store(&l->cancel, true);
    size_t left = held(l);
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
    /* The flushers are gone: what they gave up on is counted. */
    return left + (size_t)l->abandoned;
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
        free(ln->refused);
        free(ln->text);
    }
    pthread_cond_destroy(&l->done);
    pthread_cond_destroy(&l->room);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

/* ---- the calls -------------------------------------------------------- */

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
    double at = lanes_now_ms() + l->cfg.wait_ms;
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
        if (!lanes_wait_until(&l->room, &l->mu, at)) {
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

/* The world's slot for a call; -1 after answering 503 (every slot holds
 * entries of other worlds). Under mu. */
static int slot_for(struct lanes *l, const char *world, struct lanes_result *out)
{
    int wi = world_index(l, world);
    if (wi < 0)
        result(out, 503, "the sidecar holds writes of %d other worlds; try again shortly",
               LANES_MAX_WORLDS);
    return wi;
}

void lanes_write(struct lanes *l, const char *world, const long (*blocks)[4], size_t n,
                 bool durable, int timeout_ms, struct lanes_result *out)
{
    size_t need[LANES_MAX] = {0};
    uint64_t first[LANES_MAX];
    struct ticket t = {.kind = WRITE, .out = out};
    *out = (struct lanes_result){.status = durable ? 200 : 202};
    for (size_t i = 0; i < n; i++)
        need[lane_of(l, world_chunk_of(blocks[i][0]), world_chunk_of(blocks[i][2]))->index]++;
    enter(l);
    int wi = slot_for(l, world, out);
    if (wi >= 0 && room_for(l, need, out)) {
        for (int i = 0; i < l->cfg.nlanes; i++)
            first[i] = l->lanes[i].seq_in + 1;
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
                wait_on(&t, &l->lanes[i], first[i]);
        await(l, &t, timeout_ms);
    }
    leave(l);
}

void lanes_clear(struct lanes *l, const char *world, long p, long q, int timeout_ms,
                 struct lanes_result *out)
{
    size_t need[LANES_MAX] = {0};
    struct ticket t = {.kind = CLEAR_WAIT, .out = out};
    struct lane *ln = lane_of(l, p, q);
    *out = (struct lanes_result){.status = 200};
    need[ln->index] = 1;
    enter(l);
    int wi = slot_for(l, world, out);
    if (wi >= 0 && room_for(l, need, out)) {
        append(ln, (struct entry){
                       .x = (int32_t)p, .z = (int32_t)q, .world = (uint16_t)wi, .kind = CLEAR});
        wait_on(&t, ln, ln->seq_in);
        await(l, &t, timeout_ms);
    }
    leave(l);
}

void lanes_barrier(struct lanes *l, int timeout_ms, struct lanes_result *out)
{
    struct ticket t = {.kind = BARRIER, .out = out};
    *out = (struct lanes_result){.status = 200};
    enter(l);
    for (int i = 0; i < l->cfg.nlanes; i++)
        wait_on(&t, &l->lanes[i], l->lanes[i].seq_done + 1);
    await(l, &t, timeout_ms);
    out->dropped = t.dropped;
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
        "{s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "lanes", lanes, "held",
        (json_int_t)held(l), "heldMax", (json_int_t)l->held_max, "capacity",
        (json_int_t)(l->cfg.capacity * (size_t)l->cfg.nlanes), "bufferBytes",
        (json_int_t)((size_t)l->cfg.nlanes * ((l->cfg.capacity + FLUSH_MAX) * sizeof(struct entry) +
                                              FLUSH_MAX * (BLOCK_TEXT + sizeof(bool)) + 64)),
        "received", (json_int_t)l->received, "written", (json_int_t)l->written, "dropped",
        (json_int_t)l->dropped, "refused", (json_int_t)l->refused, "flushes",
        (json_int_t)l->flushes, "retries", (json_int_t)l->retries, "flushMs",
        (json_int_t)l->cfg.flush_ms, "flushBlocks", (json_int_t)l->cfg.flush_blocks);
    pthread_mutex_unlock(&l->mu);
    return s;
}
