#include "conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "sdk5.h"
#include "util.h"

#define BUCKETS 8192
/* How long a closed connection's late input is waited for (linger). */
#define LINGER_MS 2000.0

static struct {
    int epfd;
    struct conn **slots;
    uint32_t *gens;
    uint32_t nslots, cap;
    uint32_t *free_slots, nfree;
    size_t live;
    struct conn *dead; /* freed, awaiting conn_reap */
    struct conn *buckets[BUCKETS];
} t;

void conn_table_init(int epfd)
{
    t.epfd = epfd;
}

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

struct conn *conn_get(uint32_t slot, uint32_t gen)
{
    if (slot >= t.nslots || t.gens[slot] != gen)
        return NULL;
    return t.slots[slot];
}

void conn_each(void (*fn)(struct conn *c, void *ctx), void *ctx)
{
    for (uint32_t i = 0; i < t.nslots; i++)
        if (t.slots[i] != NULL && t.slots[i]->state == CONN_OPEN)
            fn(t.slots[i], ctx);
}

size_t conn_count(void)
{
    return t.live;
}

static bool take_slot(struct conn *c)
{
    if (t.nfree > 0) {
        c->slot = t.free_slots[--t.nfree];
    } else {
        if (t.nslots == t.cap) {
            uint32_t cap = t.cap ? t.cap * 2 : 256;
            struct conn **slots = realloc(t.slots, cap * sizeof(*slots));
            if (slots == NULL)
                return false;
            t.slots = slots;
            uint32_t *gens = realloc(t.gens, cap * sizeof(*gens));
            if (gens == NULL)
                return false;
            t.gens = gens;
            uint32_t *fs = realloc(t.free_slots, cap * sizeof(*fs));
            if (fs == NULL)
                return false;
            t.free_slots = fs;
            t.cap = cap;
        }
        c->slot = t.nslots++;
        t.gens[c->slot] = 0;
    }
    c->gen = t.gens[c->slot];
    t.slots[c->slot] = c;
    t.live++;
    return true;
}

void conn_free(struct conn *c)
{
    if (c->dead)
        return;
    epoll_ctl(t.epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    unmap(c);
    if (c->ws != NULL)
        wslay_event_context_free(c->ws);
    c->ws = NULL;
    t.slots[c->slot] = NULL;
    t.gens[c->slot]++;
    t.free_slots[t.nfree++] = c->slot;
    t.live--;
    c->dead = true;
    c->next_dead = t.dead;
    t.dead = c;
}

void conn_reap(void)
{
    while (t.dead != NULL) {
        struct conn *c = t.dead;
        t.dead = c->next_dead;
        free(c->token);
        free(c->hs);
        free(c->msg);
        free(c);
    }
}

static void want(struct conn *c, uint32_t events)
{
    if (events == c->events)
        return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(t.epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->events = events;
}

void conn_accept_all(int listen_fd)
{
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warn("gateway: accept: %s", strerror(errno));
            return;
        }
        struct conn *c = calloc(1, sizeof(*c));
        char *hs = malloc(HS_MAX);
        if (c == NULL || hs == NULL || !take_slot(c)) {
            free(c);
            free(hs);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->hs = hs;
        c->opened_ms = util_mono_ms();
        c->events = EPOLLIN;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(t.epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
            conn_free(c);
    }
}

/* An HTTP answer to a refused handshake; the connection then ends. */
static void refuse(struct conn *c, int status, const char *why)
{
    const char *text = status == 400   ? "Bad Request"
                       : status == 401 ? "Unauthorized"
                       : status == 403 ? "Forbidden"
                       : status == 405 ? "Method Not Allowed"
                       : status == 426 ? "Upgrade Required"
                       : status == 431 ? "Request Header Fields Too Large"
                       : status == 503 ? "Service Unavailable"
                                       : "Error";
    char body[512], out[1024];
    int bn = snprintf(body, sizeof(body), "{\"message\":\"%s\"}\n", why);
    int n = snprintf(out, sizeof(out),
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %d\r\nConnection: close\r\n%s\r\n%s",
                     status, text, bn, status == 426 ? "Upgrade: websocket\r\n" : "", body);
    /* A few hundred bytes on a fresh socket: one write suffices. */
    if (send(c->fd, out, (size_t)n, MSG_NOSIGNAL) < 0) {
    }
    conn_free(c);
}

static ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    (void)flags;
    struct conn *c = ud;
    if (c->hs_len > 0) { /* frames that came along with the handshake */
        size_t n = len < c->hs_len ? len : c->hs_len;
        memcpy(buf, c->hs, n);
        memmove(c->hs, c->hs + n, c->hs_len - n);
        c->hs_len -= n;
        if (c->hs_len == 0) { /* not needed again */
            free(c->hs);
            c->hs = NULL;
        }
        return (ssize_t)n;
    }
    ssize_t n = recv(c->fd, buf, len, 0);
    if (n > 0)
        return n;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    else
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static ssize_t on_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud)
{
    struct conn *c = ud;
    ssize_t n =
        send(c->fd, data, len, MSG_NOSIGNAL | ((flags & WSLAY_MSG_MORE) != 0 ? MSG_MORE : 0));
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    else
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

/* Messages are put together here, not by wslay (no buffering), so that a
 * frame that would make one larger than any message may be is refused
 * when it starts, before its payload is read, with a reason the SDK's log
 * shows. Control frames stay wslay's (pings answered, the close
 * handshake). */
static void on_frame_start(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_start_arg *arg, void *ud)
{
    struct conn *c = ud;
    c->in_control = (arg->opcode & 0x8) != 0;
    if (c->in_control || c->refusing)
        return;
    if (arg->opcode != WSLAY_CONTINUATION_FRAME) {
        c->msg_opcode = arg->opcode;
        c->msg_len = 0;
    }
    c->msg_fin = arg->fin != 0;
    if (arg->payload_length > CONN_MAX_MESSAGE - c->msg_len) {
        char reason[96];
        snprintf(reason, sizeof(reason), "a message of more than %zu bytes: at most %d",
                 c->msg_len + (size_t)arg->payload_length, CONN_MAX_MESSAGE);
        c->refusing = true;
        wslay_event_shutdown_read(ctx);
        conn_close(c, WSLAY_CODE_MESSAGE_TOO_BIG, reason);
    }
}

static void on_frame_chunk(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_chunk_arg *arg, void *ud)
{
    (void)ctx;
    struct conn *c = ud;
    if (c->in_control || c->refusing)
        return;
    if (c->msg_len + arg->data_length >
        c->msg_cap) { /* within CONN_MAX_MESSAGE: checked at start */
        size_t cap = c->msg_cap ? c->msg_cap : 1024;
        while (cap < c->msg_len + arg->data_length)
            cap *= 2;
        char *msg = realloc(c->msg, cap);
        if (msg == NULL) {
            c->refusing = true;
            wslay_event_shutdown_read(c->ws);
            conn_close(c, WSLAY_CODE_INTERNAL_SERVER_ERROR, "the gateway is out of memory");
            return;
        }
        c->msg = msg;
        c->msg_cap = cap;
    }
    memcpy(c->msg + c->msg_len, arg->data, arg->data_length);
    c->msg_len += arg->data_length;
}

static void on_frame_end(wslay_event_context_ptr ctx, void *ud)
{
    (void)ctx;
    struct conn *c = ud;
    if (c->in_control || c->refusing || !c->msg_fin)
        return;
    sdk5_on_message(c, c->msg != NULL ? c->msg : "", c->msg_len, c->msg_opcode == WSLAY_TEXT_FRAME);
    c->msg_len = 0;
    if (c->msg_cap > 65536) { /* a big message's buffer is not kept */
        free(c->msg);
        c->msg = NULL;
        c->msg_cap = 0;
    }
}

static const struct wslay_event_callbacks callbacks = {
    .recv_callback = on_recv,
    .send_callback = on_send,
    .on_frame_recv_start_callback = on_frame_start,
    .on_frame_recv_chunk_callback = on_frame_chunk,
    .on_frame_recv_end_callback = on_frame_end,
};

/* The closing handshake is done on our side, but the peer may still be
 * sending (a frame we refused): closing now would reset the connection
 * and lose the close frame in flight, so its input is read and dropped
 * until it closes too, or LINGER_MS pass (conn_housekeeping). */
static void linger(struct conn *c)
{
    unmap(c);
    c->state = CONN_LINGER;
    c->opened_ms = util_mono_ms();
    if (shutdown(c->fd, SHUT_WR) < 0)
        conn_free(c);
    else
        want(c, EPOLLIN);
}

/* Sends what can be sent; frees the connection once both directions are
 * done, or it failed, or its peer stopped reading. false: freed. */
static bool flush(struct conn *c)
{
    if (wslay_event_want_write(c->ws) && wslay_event_send(c->ws) != 0) {
        conn_free(c);
        return false;
    }
    if (wslay_event_get_queued_msg_length(c->ws) > CONN_MAX_QUEUED) {
        log_warn("gateway: process %s reads too slowly: disconnected", c->process);
        conn_free(c);
        return false;
    }
    if (!wslay_event_want_read(c->ws) && !wslay_event_want_write(c->ws)) {
        linger(c);
        return false;
    }
    want(c, (wslay_event_want_read(c->ws) ? EPOLLIN : 0) |
                (wslay_event_want_write(c->ws) ? EPOLLOUT : 0));
    return true;
}

static void open_ws(struct conn *c, const struct hs_request *req, size_t used)
{
    char accept[29], out[256];
    wsh_accept_value(req->key, accept);
    int n = snprintf(out, sizeof(out),
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    if (send(c->fd, out, (size_t)n, MSG_NOSIGNAL) != n ||
        wslay_event_context_server_init(&c->ws, &callbacks, c) != 0) {
        conn_free(c);
        return;
    }
    wslay_event_config_set_no_buffering(c->ws, 1);
    /* Checked per message here (on_frame_start); wslay's own check, per
     * frame without buffering, would refuse first and without a reason. */
    wslay_event_config_set_max_recv_msg_length(c->ws, UINT32_MAX);
    memmove(c->hs, c->hs + used, c->hs_len - used);
    c->hs_len -= used;
    if (c->hs_len == 0) { /* nothing came along: the buffer is not needed again */
        free(c->hs);
        c->hs = NULL;
    }
    c->state = CONN_OPEN;
    c->last_ping_ms = util_mono_ms();
    map(c);
    sdk5_on_open(c);
    if (c->hs_len > 0)
        conn_on_event(c, EPOLLIN);
    else
        flush(c);
}

static void handshake(struct conn *c)
{
    ssize_t n = recv(c->fd, c->hs + c->hs_len, HS_MAX - c->hs_len, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        conn_free(c);
        return;
    }
    if (n < 0)
        return;
    c->hs_len += (size_t)n;
    struct hs_request *req = malloc(sizeof(*req));
    if (req == NULL) {
        conn_free(c);
        return;
    }
    const char *why = NULL;
    int status = hs_parse(c->hs, c->hs_len, req, &why);
    if (status == 0 && !sdk5_admit(c, req, &status, &why))
        status = status != 0 ? status : 403;
    if (status == 0)
        open_ws(c, req, req->length);
    else if (status != 1)
        refuse(c, status, why);
    free(req);
}

void conn_on_event(struct conn *c, uint32_t events)
{
    if (c->dead) /* freed earlier in this round of events */
        return;
    if (c->state == CONN_LINGER) {
        char sink[16384];
        ssize_t n;
        while ((n = recv(c->fd, sink, sizeof(sink), 0)) > 0) {
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            conn_free(c);
        return;
    }
    if (c->state == CONN_HANDSHAKE) {
        if (events & (EPOLLERR | EPOLLHUP))
            conn_free(c);
        else
            handshake(c);
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        c->in_recv = true;
        int rc = wslay_event_recv(c->ws);
        c->in_recv = false;
        if (rc != 0) {
            conn_free(c);
            return;
        }
    }
    flush(c);
}

bool conn_send_text(struct conn *c, const char *text, size_t len)
{
    if (c->dead)
        return false;
    struct wslay_event_msg m = {
        .opcode = WSLAY_TEXT_FRAME, .msg = (const uint8_t *)text, .msg_length = len};
    if (wslay_event_queue_msg(c->ws, &m) != 0)
        return true; /* closing: nothing more goes out */
    return c->in_recv || flush(c);
}

bool conn_close(struct conn *c, uint16_t code, const char *reason)
{
    if (c->dead)
        return false;
    if (c->close_sent_ms == 0)
        c->close_sent_ms = util_mono_ms();
    wslay_event_queue_close(c->ws, code, (const uint8_t *)reason, strlen(reason));
    return c->in_recv || flush(c);
}

void conn_housekeeping(double now_ms, double ping_ms, double handshake_ms)
{
    for (uint32_t i = 0; i < t.nslots; i++) {
        struct conn *c = t.slots[i];
        if (c == NULL)
            continue;
        if (c->state != CONN_OPEN) {
            if (now_ms - c->opened_ms > (c->state == CONN_LINGER ? LINGER_MS : handshake_ms))
                conn_free(c);
            continue;
        }
        if (c->close_sent_ms > 0 && now_ms - c->close_sent_ms > LINGER_MS) {
            conn_free(c); /* the peer never answered our close */
            continue;
        }
        if (now_ms - c->last_ping_ms > ping_ms) {
            struct wslay_event_msg m = {.opcode = WSLAY_PING, .msg = NULL, .msg_length = 0};
            wslay_event_queue_msg(c->ws, &m);
            c->last_ping_ms = now_ms;
            flush(c);
        }
    }
}
