#include "conn.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sdk5.h"
#include "util.h"

#define BUCKETS 8192

static struct {
    struct wss_server *server;
    struct conn *buckets[BUCKETS];
} t;

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % BUCKETS;
}

struct conn *conn_by_process(const char *process_id)
{
    for (struct conn *c = t.buckets[hash(process_id)]; c != NULL; c = c->next_mapped)
        if (strcmp(c->process, process_id) == 0)
            return c;
    return NULL;
}

static void unmap(struct conn *c)
{
    if (!c->mapped)
        return;
    for (struct conn **p = &t.buckets[hash(c->process)]; *p != NULL; p = &(*p)->next_mapped)
        if (*p == c) {
            *p = c->next_mapped;
            break;
        }
    c->mapped = false;
}

/* The newest connection of a process gets its pushes: a reconnecting SDK
 * keeps its old connection a few seconds to drain. */
static void map(struct conn *c)
{
    struct conn *old = conn_by_process(c->process);
    if (old != NULL)
        unmap(old);
    uint32_t b = hash(c->process);
    c->next_mapped = t.buckets[b];
    t.buckets[b] = c;
    c->mapped = true;
}

/* ---- what a WebSocket is to the gateway --------------------------------- */

/* The SDK's identity from the connect URL: sdk5_admit decides. */
static int admit(struct wss_conn *wc, const char *buf, const struct wsh_request *w,
                 const char **why)
{
    struct hs_request *req = malloc(sizeof(*req));
    if (req == NULL) {
        *why = "the gateway is out of memory";
        return 503;
    }
    int status = hs_parse(buf, w->length, req, why);
    if (status == 0 && !sdk5_admit((struct conn *)wc, req, &status, why))
        status = status != 0 ? status : 403;
    free(req);
    return status;
}

static void on_open(struct wss_conn *wc)
{
    struct conn *c = (struct conn *)wc;
    map(c);
    sdk5_on_open(c);
}

static void on_message(struct wss_conn *wc, const uint8_t *data, size_t len, bool text)
{
    sdk5_on_message((struct conn *)wc, (const char *)data, len, text);
}

static void on_gone(struct wss_conn *wc)
{
    unmap((struct conn *)wc);
}

static void on_reap(struct wss_conn *wc)
{
    free(((struct conn *)wc)->token);
}

int conn_table_init(int epfd)
{
    struct wss_config cfg = {
        .name = "gateway",
        .conn_size = sizeof(struct conn),
        .max_message = CONN_MAX_MESSAGE,
        .max_queued = CONN_MAX_QUEUED,
        .ping_ms = CONN_PING_MS,
        .admit = admit,
        .on_open = on_open,
        .on_message = on_message,
        .on_gone = on_gone,
        .on_reap = on_reap,
    };
    t.server = wss_server_new(&cfg, epfd);
    return t.server != NULL ? 0 : -1;
}

/* ---- the table ---------------------------------------------------------- */

void conn_accept_all(int listen_fd)
{
    wss_accept_all(t.server, listen_fd);
}

void conn_on_event(void *c, uint32_t events)
{
    wss_on_event(c, events);
}

struct conn *conn_get(uint32_t slot, uint32_t gen)
{
    return (struct conn *)wss_get(t.server, slot, gen);
}

struct each {
    void (*fn)(struct conn *c, void *ctx);
    void *ctx;
};

static void each_one(struct wss_conn *c, void *ctx)
{
    const struct each *e = ctx;
    e->fn((struct conn *)c, e->ctx);
}

void conn_each(void (*fn)(struct conn *c, void *ctx), void *ctx)
{
    struct each e = {fn, ctx};
    wss_each(t.server, each_one, &e);
}

size_t conn_count(void)
{
    return wss_count(t.server);
}

bool conn_send_text(struct conn *c, const char *text, size_t len)
{
    return wss_send(&c->base, text, len, true);
}

void conn_close(struct conn *c, uint16_t code, const char *reason)
{
    wss_close(&c->base, code, reason);
}

void conn_flush_all(void)
{
    wss_flush_all(t.server);
}

void conn_housekeeping(double now_ms, double handshake_ms)
{
    wss_housekeeping(t.server, now_ms, handshake_ms);
}

void conn_free(struct conn *c)
{
    wss_free(&c->base);
}

void conn_reap(void)
{
    wss_reap(t.server);
}
