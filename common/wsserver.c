#include "wsserver.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "wshandshake.h"

/* How long a closed connection's late input is read and dropped, and a
 * close of ours waits for its answer. */
#define LINGER_MS 2000.0
/* A peer silent for this many ping intervals (no pong either) is dropped. */
#define SILENT_PINGS 3
/* A message buffer bigger than this is not kept after its message. */
#define MSG_KEEP 65536

struct wss_server {
    struct wss_config cfg;
    int epfd;
    struct wss_conn **slots;
    uint32_t *gens, *free_slots;
    uint32_t nslots, cap, nfree;
    size_t live;
    uint64_t too_big;
    struct wss_conn *dead, *queued;
};

struct wss_server *wss_server_new(const struct wss_config *cfg, int epfd)
{
    struct wss_server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->cfg = *cfg;
    s->epfd = epfd;
    return s;
}

size_t wss_count(const struct wss_server *s)
{
    return s->live;
}

uint64_t wss_refused_too_big(const struct wss_server *s)
{
    return s->too_big;
}

struct wss_conn *wss_get(struct wss_server *s, uint32_t slot, uint32_t gen)
{
    return slot < s->nslots && s->gens[slot] == gen ? s->slots[slot] : NULL;
}

void wss_each(struct wss_server *s, void (*fn)(struct wss_conn *c, void *ctx), void *ctx)
{
    for (uint32_t i = 0; i < s->nslots; i++)
        if (s->slots[i] != NULL && s->slots[i]->state == WSS_OPEN)
            fn(s->slots[i], ctx);
}

static bool take_slot(struct wss_server *s, struct wss_conn *c)
{
    if (s->nfree == 0 && s->nslots == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 1024;
        struct wss_conn **slots = realloc(s->slots, cap * sizeof(struct wss_conn *));
        if (slots != NULL)
            s->slots = slots;
        uint32_t *gens = realloc(s->gens, cap * sizeof(*gens));
        if (gens != NULL)
            s->gens = gens;
        uint32_t *fs = realloc(s->free_slots, cap * sizeof(*fs));
        if (fs != NULL)
            s->free_slots = fs;
        if (slots == NULL || gens == NULL || fs == NULL)
            return false;
        s->cap = cap;
    }
    if (s->nfree > 0) {
        c->slot = s->free_slots[--s->nfree];
    } else {
        c->slot = s->nslots++;
        s->gens[c->slot] = 0;
    }
    c->gen = s->gens[c->slot];
    s->slots[c->slot] = c;
    s->live++;
    return true;
}

static void tell_gone(struct wss_conn *c)
{
    if (c->gone_told)
        return;
    c->gone_told = true;
    if (c->server->cfg.on_gone != NULL)
        c->server->cfg.on_gone(c);
}

void wss_free(struct wss_conn *c)
{
    if (c->dead || c->freeing)
        return;
    if (c->in_recv) { /* wslay is using it: freed when wslay_event_recv returns */
        c->free_after_recv = true;
        return;
    }
    c->freeing = true; /* on_gone may call here again */
    struct wss_server *s = c->server;
    tell_gone(c);
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->tls != NULL)
        SSL_free(c->tls);
    c->tls = NULL;
    close(c->fd);
    if (c->ws != NULL)
        wslay_event_context_free(c->ws);
    c->ws = NULL;
    s->slots[c->slot] = NULL;
    s->gens[c->slot]++;
    s->free_slots[s->nfree++] = c->slot;
    s->live--;
    c->dead = true;
    c->next_dead = s->dead;
    s->dead = c;
}

void wss_reap(struct wss_server *s)
{
    while (s->dead != NULL) {
        struct wss_conn *c = s->dead;
        s->dead = c->next_dead;
        if (s->cfg.on_reap != NULL)
            s->cfg.on_reap(c);
        free(c->hs);
        free(c->msg);
        free(c->out);
        free(c);
    }
}

static void want(struct wss_conn *c, uint32_t events)
{
    if (events == c->events)
        return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(c->server->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->events = events;
}

/* To be sent at the end of this turn. */
static void mark(struct wss_conn *c)
{
    if (!c->queued) {
        c->queued = true;
        c->next_queued = c->server->queued;
        c->server->queued = c;
    }
}

void wss_accept_all(struct wss_server *s, int listen_fd)
{
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        int fd = accept4(listen_fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warn("%s: accept: %s", s->cfg.name, strerror(errno));
            return;
        }
        struct wss_conn *c = calloc(1, s->cfg.conn_size);
        char *hs = malloc(WSH_MAX);
        if (c == NULL || hs == NULL || !take_slot(s, c)) {
            free(c);
            free(hs);
            close(fd);
            continue;
        }
        c->server = s;
        c->fd = fd;
        c->hs = hs;
        c->peer = peer;
        c->opened_ms = util_mono_ms();
        c->events = EPOLLIN;
        c->gone_told = true; /* nothing to tell until it opens */
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            wss_free(c);
            continue;
        }
        if (s->cfg.tls != NULL) { /* wss: the TLS handshake happens in the first reads */
            c->tls = SSL_new(s->cfg.tls);
            if (c->tls == NULL || SSL_set_fd(c->tls, fd) != 1) {
                wss_free(c);
                continue;
            }
            SSL_set_accept_state(c->tls);
        }
    }
}

/* ---- bytes in and out, through TLS when configured ----------------------- */

/* recv()'s and send()'s contract: > 0, 0 at the end (reading), or -1 with
 * errno (EAGAIN: not now). */
static ssize_t tls_result(struct wss_conn *c, int n)
{
    switch (SSL_get_error(c->tls, n)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: errno = EAGAIN; return -1;
    case SSL_ERROR_ZERO_RETURN: return 0;
    default: errno = ECONNRESET; return -1;
    }
}

static ssize_t conn_recv(struct wss_conn *c, void *buf, size_t len)
{
    if (c->tls == NULL)
        return recv(c->fd, buf, len, 0);
    ERR_clear_error();
    int n = SSL_read(c->tls, buf, len > INT_MAX ? INT_MAX : (int)len);
    return n > 0 ? n : tls_result(c, n);
}

static ssize_t conn_send(struct wss_conn *c, const void *buf, size_t len)
{
    if (c->tls == NULL)
        return send(c->fd, buf, len, MSG_NOSIGNAL);
    ERR_clear_error();
    int n = SSL_write(c->tls, buf, len > INT_MAX ? INT_MAX : (int)len);
    return n > 0 ? n : tls_result(c, n);
}

static bool would_block(void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/* An HTTP answer to a refused handshake; the connection then ends. */
static void refuse(struct wss_conn *c, int status, const char *why)
{
    const char *text = status == 400   ? "Bad Request"
                       : status == 401 ? "Unauthorized"
                       : status == 403 ? "Forbidden"
                       : status == 404 ? "Not Found"
                       : status == 405 ? "Method Not Allowed"
                       : status == 426 ? "Upgrade Required"
                       : status == 431 ? "Request Header Fields Too Large"
                       : status == 503 ? "Service Unavailable"
                                       : "Error";
    char body[512], out[1024];
    int bn = snprintf(body, sizeof(body), "{\"message\":\"%s\"}\n", why != NULL ? why : text);
    int n = snprintf(out, sizeof(out),
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %d\r\nConnection: close\r\n%s\r\n%s",
                     status, text, bn, status == 426 ? "Upgrade: websocket\r\n" : "", body);
    /* A few hundred bytes on a fresh socket: one write suffices. */
    if (n > 0 && conn_send(c, out, (size_t)n) < 0) {
    }
    wss_free(c);
}

/* ---- wslay's callbacks --------------------------------------------------- */

static ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    (void)flags;
    struct wss_conn *c = ud;
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
    ssize_t n = conn_recv(c, buf, len);
    if (n > 0) {
        c->last_in_ms = util_mono_ms();
        return n;
    }
    wslay_event_set_error(ctx, n < 0 && would_block() ? WSLAY_ERR_WOULDBLOCK
                                                      : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

/* wslay's output goes into the connection's buffer, never the socket:
 * wss_flush_all sends it once per turn, so that a burst of messages to one
 * peer costs one send(). A reader too slow to keep up fails here, and the
 * connection ends. */
static ssize_t on_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud)
{
    (void)flags;
    struct wss_conn *c = ud;
    if (c->out_len - c->out_off + len > c->server->cfg.max_queued) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    if (c->out_off > 0 && c->out_len + len > c->out_cap) { /* slide what is left to the front */
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + len)
            cap *= 2;
        uint8_t *out = realloc(c->out, cap);
        if (out == NULL) {
            wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
            return -1;
        }
        c->out = out;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return (ssize_t)len;
}

/* Messages are put together here (wslay without buffering), so that one
 * larger than a message may be is refused when its frame starts, before
 * its payload is read, with a reason the peer's log shows. Control frames
 * stay wslay's (pings answered, the closing handshake). */
static void on_frame_start(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_start_arg *arg, void *ud)
{
    (void)ctx;
    struct wss_conn *c = ud;
    c->in_control = (arg->opcode & 0x8) != 0;
    if (c->in_control || c->refusing)
        return;
    if (arg->opcode != WSLAY_CONTINUATION_FRAME) {
        c->msg_text = arg->opcode == WSLAY_TEXT_FRAME;
        c->msg_len = 0;
    }
    c->msg_fin = arg->fin != 0;
    size_t max = c->server->cfg.max_message;
    if (arg->payload_length > max - c->msg_len) {
        char reason[96];
        snprintf(reason, sizeof(reason), "a message of more than %zu bytes: at most %zu",
                 c->msg_len + (size_t)arg->payload_length, max);
        c->server->too_big++;
        wss_close(c, WSLAY_CODE_MESSAGE_TOO_BIG, reason);
    }
}

static void on_frame_chunk(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_chunk_arg *arg, void *ud)
{
    (void)ctx;
    struct wss_conn *c = ud;
    if (c->in_control || c->refusing)
        return;
    if (c->msg_len + arg->data_length > c->msg_cap) { /* within max_message: checked at start */
        size_t cap = c->msg_cap ? c->msg_cap : 512;
        while (cap < c->msg_len + arg->data_length)
            cap *= 2;
        uint8_t *msg = realloc(c->msg, cap);
        if (msg == NULL) {
            wss_close(c, WSLAY_CODE_INTERNAL_SERVER_ERROR, "out of memory");
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
    struct wss_conn *c = ud;
    if (c->in_control || c->refusing || !c->msg_fin)
        return;
    size_t n = c->msg_len;
    c->msg_len = 0;
    c->server->cfg.on_message(c, c->msg != NULL ? c->msg : (const uint8_t *)"", n, c->msg_text);
    if (c->msg_cap > MSG_KEEP && !c->dead) {
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

/* ---- the connection's life ----------------------------------------------- */

/* The closing handshake is done on our side, but the peer may still be
 * sending (a frame we refused): closing now would reset the connection
 * and lose the close frame in flight, so its input is read and dropped
 * until it closes too, or LINGER_MS pass. */
static void linger(struct wss_conn *c)
{
    tell_gone(c);
    c->state = WSS_LINGER;
    c->opened_ms = util_mono_ms();
    if (c->tls != NULL)
        SSL_shutdown(c->tls); /* close_notify, best effort */
    if (shutdown(c->fd, SHUT_WR) < 0)
        wss_free(c);
    else
        want(c, EPOLLIN);
}

/* Hands wslay's queue to the buffer and the buffer to the socket. false:
 * the connection was freed or lingers. */
static bool flush(struct wss_conn *c)
{
    /* wslay sends control frames before queued messages: a close waits
     * until what was queued before it is in the buffer. */
    if (c->close_code != 0 && wslay_event_want_write(c->ws) && wslay_event_send(c->ws) != 0) {
        wss_free(c);
        return false;
    }
    if (c->close_code != 0) {
        wslay_event_queue_close(c->ws, c->close_code, (const uint8_t *)c->close_reason,
                                strlen(c->close_reason));
        c->close_code = 0;
    }
    if (wslay_event_want_write(c->ws) && wslay_event_send(c->ws) != 0) {
        log_info("%s: a reader too slow (over %zu bytes unsent) or gone: disconnected",
                 c->server->cfg.name, c->server->cfg.max_queued);
        wss_free(c);
        return false;
    }
    while (c->out_off < c->out_len) {
        ssize_t n = conn_send(c, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && would_block())
            break;
        wss_free(c);
        return false;
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    bool pending = c->out_len > 0;
    if (!wslay_event_want_read(c->ws) && !wslay_event_want_write(c->ws) && !pending) {
        linger(c);
        return false;
    }
    if (c->tls != NULL && SSL_want_write(c->tls))
        pending = true; /* TLS has to write before it can go on */
    want(c, (wslay_event_want_read(c->ws) ? EPOLLIN : 0) | (pending ? EPOLLOUT : 0));
    return true;
}

void wss_flush_all(struct wss_server *s)
{
    while (s->queued != NULL) {
        struct wss_conn *c = s->queued;
        s->queued = c->next_queued;
        c->queued = false;
        if (!c->dead && c->state == WSS_OPEN)
            flush(c);
    }
}

static void open_ws(struct wss_conn *c, const struct wsh_request *req)
{
    char accept[29], out[256];
    wsh_accept_value(req->key, accept);
    int n = snprintf(out, sizeof(out),
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    if (conn_send(c, out, (size_t)n) != n ||
        wslay_event_context_server_init(&c->ws, &callbacks, c) != 0) {
        wss_free(c);
        return;
    }
    wslay_event_config_set_no_buffering(c->ws, 1);
    /* Checked per message here (on_frame_start); wslay's own check, per
     * frame without buffering, would refuse first and without a reason. */
    wslay_event_config_set_max_recv_msg_length(c->ws, UINT32_MAX);
    size_t used = req->length;
    memmove(c->hs, c->hs + used, c->hs_len - used);
    c->hs_len -= used;
    if (c->hs_len == 0) { /* nothing came along: the buffer is not needed again */
        free(c->hs);
        c->hs = NULL;
    }
    c->state = WSS_OPEN;
    c->gone_told = false;
    c->last_ping_ms = c->last_in_ms = util_mono_ms();
    if (c->server->cfg.on_open != NULL)
        c->server->cfg.on_open(c);
    if (c->dead)
        return;
    if (c->hs_len > 0)
        wss_on_event(c, EPOLLIN);
    else
        mark(c);
}

static void handshake(struct wss_conn *c)
{
    /* Until it would block: TLS may hold decrypted bytes epoll cannot see. */
    ssize_t n = 0;
    size_t got = 0;
    while (c->hs_len < WSH_MAX && (n = conn_recv(c, c->hs + c->hs_len, WSH_MAX - c->hs_len)) > 0) {
        c->hs_len += (size_t)n;
        got += (size_t)n;
    }
    if (c->hs_len < WSH_MAX && (n == 0 || (n < 0 && !would_block()))) {
        wss_free(c);
        return;
    }
    if (got == 0) {
        if (c->tls != NULL) /* a TLS handshake flight may wait for room to write */
            want(c, EPOLLIN | (SSL_want_write(c->tls) ? EPOLLOUT : 0));
        return;
    }
    struct wsh_request req;
    const char *why = NULL;
    int status = wsh_parse(c->hs, c->hs_len, &req, &why);
    if (status == 0)
        status = c->server->cfg.admit(c, c->hs, &req, &why);
    if (status == 0)
        open_ws(c, &req);
    else if (status != 1)
        refuse(c, status, why);
}

void wss_on_event(struct wss_conn *c, uint32_t events)
{
    if (c->dead) /* freed earlier in this round of events */
        return;
    if (c->state == WSS_LINGER) {
        char sink[4096];
        ssize_t n;
        while ((n = conn_recv(c, sink, sizeof(sink))) > 0) {
        }
        if (n == 0 || !would_block())
            wss_free(c);
        return;
    }
    if (c->state == WSS_HANDSHAKE) {
        if (events & (EPOLLERR | EPOLLHUP))
            wss_free(c);
        else
            handshake(c);
        return;
    }
    /* TLS may need the socket writable to go on reading. */
    bool tls_wants = c->tls != NULL && SSL_want_write(c->tls);
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP) || tls_wants) {
        c->in_recv = true;
        int rc = wslay_event_recv(c->ws);
        c->in_recv = false;
        if (rc != 0 || c->free_after_recv) {
            wss_free(c);
            return;
        }
        if (c->dead)
            return;
        if (!wslay_event_want_read(c->ws)) { /* the peer sent its close */
            c->closed_cleanly =
                wslay_event_get_status_code_received(c->ws) == WSLAY_CODE_NORMAL_CLOSURE;
            if (c->close_sent_ms == 0) /* its answer must go out within the grace */
                c->close_sent_ms = util_mono_ms();
        }
    }
    flush(c);
}

bool wss_send(struct wss_conn *c, const void *data, size_t len, bool text)
{
    if (c->dead || c->state != WSS_OPEN || c->refusing)
        return false;
    struct wslay_event_msg m = {
        .opcode = text ? WSLAY_TEXT_FRAME : WSLAY_BINARY_FRAME, .msg = data, .msg_length = len};
    if (wslay_event_queue_msg(c->ws, &m) != 0)
        return false;
    mark(c);
    return true;
}

void wss_close(struct wss_conn *c, uint16_t code, const char *reason)
{
    if (c->dead || c->state != WSS_OPEN || c->refusing)
        return;
    c->close_sent_ms = util_mono_ms();
    c->refusing = true;
    wslay_event_shutdown_read(c->ws);
    c->close_code = code;
    snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
    mark(c);
}

void wss_housekeeping(struct wss_server *s, double now_ms, double handshake_ms)
{
    for (uint32_t i = 0; i < s->nslots; i++) {
        struct wss_conn *c = s->slots[i];
        if (c == NULL)
            continue;
        if (c->state != WSS_OPEN) {
            if (now_ms - c->opened_ms > (c->state == WSS_LINGER ? LINGER_MS : handshake_ms))
                wss_free(c);
            continue;
        }
        if (c->close_sent_ms > 0 && now_ms - c->close_sent_ms > LINGER_MS) {
            wss_free(c); /* the closing handshake did not finish */
            continue;
        }
        if (now_ms - c->last_in_ms > SILENT_PINGS * s->cfg.ping_ms) {
            wss_free(c); /* not even our pings' answers: a peer gone or stuck */
            continue;
        }
        if (now_ms - c->last_ping_ms > s->cfg.ping_ms) {
            struct wslay_event_msg m = {.opcode = WSLAY_PING, .msg = NULL, .msg_length = 0};
            wslay_event_queue_msg(c->ws, &m);
            c->last_ping_ms = now_ms;
            mark(c);
        }
    }
}
