#include "tcp.h"

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
#include "relay.h"
#include "session.h"
#include "wshandshake.h"

/* How long a closed connection's late input is read and dropped. */
#define LINGER_MS 2000.0
/* Idle connections are pinged this often (a dead peer shows up as a
 * failed send, or a close unanswered). */
#define PING_MS 15000.0
/* The largest message a client may send: a packet with the largest
 * payload, and room for its other fields. */
#define MAX_MESSAGE(cfg) ((cfg).max_payload + 1024)

static struct {
    int epfd;
    struct tconn **slots;
    uint32_t *gens, *free_slots;
    uint32_t nslots, cap, nfree;
    size_t live;
    struct tconn *dead, *queued;
} t;

void tcp_init(int epfd)
{
    t.epfd = epfd;
}

size_t tcp_count(void)
{
    return t.live;
}

struct tconn *tcp_get(uint32_t slot, uint32_t gen)
{
    return slot < t.nslots && t.gens[slot] == gen ? t.slots[slot] : NULL;
}

static bool take_slot(struct tconn *c)
{
    if (t.nfree == 0 && t.nslots == t.cap) {
        uint32_t cap = t.cap ? t.cap * 2 : 1024;
        struct tconn **slots = realloc(t.slots, cap * sizeof(*slots));
        if (slots != NULL)
            t.slots = slots;
        uint32_t *gens = realloc(t.gens, cap * sizeof(*gens));
        if (gens != NULL)
            t.gens = gens;
        uint32_t *fs = realloc(t.free_slots, cap * sizeof(*fs));
        if (fs != NULL)
            t.free_slots = fs;
        if (slots == NULL || gens == NULL || fs == NULL)
            return false;
        t.cap = cap;
    }
    if (t.nfree > 0) {
        c->slot = t.free_slots[--t.nfree];
    } else {
        c->slot = t.nslots++;
        t.gens[c->slot] = 0;
    }
    c->gen = t.gens[c->slot];
    t.slots[c->slot] = c;
    t.live++;
    return true;
}

void tcp_free(struct tconn *c)
{
    if (c->dead)
        return;
    if (c->player != NULL || c->login_pending)
        session_on_tcp_closed(c);
    epoll_ctl(t.epfd, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->tls != NULL)
        SSL_free(c->tls);
    c->tls = NULL;
    close(c->fd);
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

void tcp_reap(void)
{
    while (t.dead != NULL) {
        struct tconn *c = t.dead;
        t.dead = c->next_dead;
        free(c->hs);
        free(c->msg);
        free(c->out);
        free(c->login_payload);
        free(c);
    }
}

static void want(struct tconn *c, uint32_t events)
{
    if (events == c->events)
        return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(t.epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->events = events;
}

/* To be sent at the end of this turn. */
static void mark(struct tconn *c)
{
    if (!c->queued) {
        c->queued = true;
        c->next_queued = t.queued;
        t.queued = c;
    }
}

void tcp_accept_all(int listen_fd)
{
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        int fd = accept4(listen_fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warn("relay: accept: %s", strerror(errno));
            return;
        }
        struct tconn *c = calloc(1, sizeof(*c));
        char *hs = malloc(WSH_MAX);
        if (c == NULL || hs == NULL || !take_slot(c)) {
            free(c);
            free(hs);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->hs = hs;
        if (relay_cfg.tls != NULL) { /* wss: the TLS handshake happens in the first reads */
            c->tls = SSL_new(relay_cfg.tls);
            if (c->tls == NULL || SSL_set_fd(c->tls, fd) != 1) {
                tcp_free(c);
                continue;
            }
            SSL_set_accept_state(c->tls);
        }
        c->peer = peer;
        c->opened_ms = relay_now_ms;
        c->events = EPOLLIN;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(t.epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
            tcp_free(c);
    }
}

/* ---- bytes in and out, through TLS when the relay has it ---------------- */

/* recv()'s and send()'s contract: > 0, 0 at the end (reading), or -1 with
 * errno (EAGAIN: not now). */
static ssize_t tls_result(struct tconn *c, int n)
{
    switch (SSL_get_error(c->tls, n)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: errno = EAGAIN; return -1;
    case SSL_ERROR_ZERO_RETURN: return 0;
    default: errno = ECONNRESET; return -1;
    }
}

static ssize_t conn_recv(struct tconn *c, void *buf, size_t len)
{
    if (c->tls == NULL)
        return recv(c->fd, buf, len, 0);
    ERR_clear_error();
    int n = SSL_read(c->tls, buf, len > INT_MAX ? INT_MAX : (int)len);
    return n > 0 ? n : tls_result(c, n);
}

static ssize_t conn_send(struct tconn *c, const void *buf, size_t len)
{
    if (c->tls == NULL)
        return send(c->fd, buf, len, MSG_NOSIGNAL);
    ERR_clear_error();
    int n = SSL_write(c->tls, buf, len > INT_MAX ? INT_MAX : (int)len);
    return n > 0 ? n : tls_result(c, n);
}

/* An HTTP answer to a refused handshake; the connection then ends. */
static void refuse(struct tconn *c, int status, const char *why)
{
    const char *text = status == 400   ? "Bad Request"
                       : status == 404 ? "Not Found"
                       : status == 405 ? "Method Not Allowed"
                       : status == 426 ? "Upgrade Required"
                       : status == 431 ? "Request Header Fields Too Large"
                                       : "Error";
    char body[256], out[640];
    int bn = snprintf(body, sizeof(body), "{\"message\":\"%s\"}\n", why);
    int n = snprintf(out, sizeof(out),
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %d\r\nConnection: close\r\n%s\r\n%s",
                     status, text, bn, status == 426 ? "Upgrade: websocket\r\n" : "", body);
    /* A few hundred bytes on a fresh socket: one write suffices. */
    if (conn_send(c, out, (size_t)n) < 0) {
    }
    tcp_free(c);
}

static ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    (void)flags;
    struct tconn *c = ud;
    if (c->hs_len > 0) { /* frames that came along with the handshake */
        size_t n = len < c->hs_len ? len : c->hs_len;
        memcpy(buf, c->hs, n);
        memmove(c->hs, c->hs + n, c->hs_len - n);
        c->hs_len -= n;
        return (ssize_t)n;
    }
    ssize_t n = conn_recv(c, buf, len);
    if (n > 0)
        return n;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    else
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

/* wslay's output goes into the connection's buffer, never the socket:
 * tcp_flush_all sends it once per turn. A reader too slow to keep up
 * fails here, and the connection ends. */
static ssize_t on_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud)
{
    (void)flags;
    struct tconn *c = ud;
    if (c->out_len - c->out_off + len > TCP_MAX_QUEUED) {
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
 * larger than a packet may be is refused when its frame starts, with a
 * reason. Control frames stay wslay's. */
static void on_frame_start(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_start_arg *arg, void *ud)
{
    (void)ctx;
    struct tconn *c = ud;
    c->in_control = (arg->opcode & 0x8) != 0;
    if (c->in_control || c->refusing)
        return;
    if (arg->opcode != WSLAY_CONTINUATION_FRAME) {
        c->msg_binary = arg->opcode == WSLAY_BINARY_FRAME;
        c->msg_len = 0;
    }
    c->msg_fin = arg->fin != 0;
    if (arg->payload_length > MAX_MESSAGE(relay_cfg) - c->msg_len) {
        char reason[96];
        snprintf(reason, sizeof(reason), "a message over %zu bytes (payloads: at most %zu)",
                 MAX_MESSAGE(relay_cfg), relay_cfg.max_payload);
        relay_stats.dropped_oversize++;
        tcp_close(c, WSLAY_CODE_MESSAGE_TOO_BIG, reason);
    }
}

static void on_frame_chunk(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_chunk_arg *arg, void *ud)
{
    (void)ctx;
    struct tconn *c = ud;
    if (c->in_control || c->refusing)
        return;
    if (c->msg_len + arg->data_length > c->msg_cap) { /* within MAX_MESSAGE: checked at start */
        size_t cap = c->msg_cap ? c->msg_cap : 512;
        while (cap < c->msg_len + arg->data_length)
            cap *= 2;
        uint8_t *msg = realloc(c->msg, cap);
        if (msg == NULL) {
            tcp_close(c, WSLAY_CODE_INTERNAL_SERVER_ERROR, "the relay is out of memory");
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
    struct tconn *c = ud;
    if (c->in_control || c->refusing || !c->msg_fin)
        return;
    if (!c->msg_binary) {
        tcp_close(c, WSLAY_CODE_UNSUPPORTED_DATA, "binary messages only (a delimited Packet)");
        return;
    }
    relay_stats.tcp_in++;
    session_on_tcp_message(c, c->msg, c->msg_len);
    c->msg_len = 0;
}

static const struct wslay_event_callbacks callbacks = {
    .recv_callback = on_recv,
    .send_callback = on_send,
    .on_frame_recv_start_callback = on_frame_start,
    .on_frame_recv_chunk_callback = on_frame_chunk,
    .on_frame_recv_end_callback = on_frame_end,
};

/* Our side of the closing handshake is done, but the peer may still be
 * sending: closing now would reset the connection and lose the close frame
 * in flight, so its input is read and dropped until it closes too, or
 * LINGER_MS pass. */
static void linger(struct tconn *c)
{
    if (c->player != NULL || c->login_pending)
        session_on_tcp_closed(c);
    c->state = TC_LINGER;
    c->opened_ms = relay_now_ms;
    if (shutdown(c->fd, SHUT_WR) < 0)
        tcp_free(c);
    else
        want(c, EPOLLIN);
}

/* Hands wslay's queue to the buffer and the buffer to the socket. false:
 * the connection was freed or lingers. */
static bool flush(struct tconn *c)
{
    /* wslay sends control frames before queued messages: a close waits
     * until what was queued before it is in the buffer. */
    if (c->close_code != 0 && wslay_event_want_write(c->ws) && wslay_event_send(c->ws) != 0) {
        tcp_free(c);
        return false;
    }
    if (c->close_code != 0) {
        wslay_event_queue_close(c->ws, c->close_code, (const uint8_t *)c->close_reason,
                                strlen(c->close_reason));
        c->close_code = 0;
    }
    if (wslay_event_want_write(c->ws) && wslay_event_send(c->ws) != 0) {
        log_info("relay: a reader too slow (over %d bytes unsent) or gone: disconnected",
                 TCP_MAX_QUEUED);
        tcp_free(c);
        return false;
    }
    while (c->out_off < c->out_len) {
        ssize_t n = conn_send(c, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            break;
        tcp_free(c);
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

void tcp_flush_all(void)
{
    while (t.queued != NULL) {
        struct tconn *c = t.queued;
        t.queued = c->next_queued;
        c->queued = false;
        if (!c->dead && c->state == TC_OPEN)
            flush(c);
    }
}

static void open_ws(struct tconn *c, const struct wsh_request *req)
{
    char accept[29], out[256];
    wsh_accept_value(req->key, accept);
    int n = snprintf(out, sizeof(out),
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    if (conn_send(c, out, (size_t)n) != n ||
        wslay_event_context_server_init(&c->ws, &callbacks, c) != 0) {
        tcp_free(c);
        return;
    }
    wslay_event_config_set_no_buffering(c->ws, 1);
    wslay_event_config_set_max_recv_msg_length(c->ws, UINT32_MAX); /* checked per message */
    size_t used = req->length;
    memmove(c->hs, c->hs + used, c->hs_len - used);
    c->hs_len -= used;
    c->state = TC_OPEN;
    c->last_ping_ms = relay_now_ms;
    if (c->hs_len > 0)
        tcp_on_event(c, EPOLLIN);
}

static void handshake(struct tconn *c)
{
    /* Until it would block: TLS may hold decrypted bytes epoll cannot see. */
    ssize_t n = 0;
    size_t got = 0;
    while (c->hs_len < WSH_MAX && (n = conn_recv(c, c->hs + c->hs_len, WSH_MAX - c->hs_len)) > 0) {
        c->hs_len += (size_t)n;
        got += (size_t)n;
    }
    if (c->hs_len < WSH_MAX &&
        (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))) {
        tcp_free(c);
        return;
    }
    if (got == 0)
        return;
    struct wsh_request req;
    const char *why = NULL;
    int status = wsh_parse(c->hs, c->hs_len, &req, &why);
    if (status == 0 && strcmp(req.path, "/websocket") != 0) {
        status = 404;
        why = "the relay's WebSocket is /websocket";
    }
    if (status == 0)
        open_ws(c, &req);
    else if (status != 1)
        refuse(c, status, why);
}

void tcp_on_event(struct tconn *c, uint32_t events)
{
    if (c->dead)
        return;
    if (c->state == TC_LINGER) {
        char sink[4096];
        ssize_t n;
        while ((n = conn_recv(c, sink, sizeof(sink))) > 0) {
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            tcp_free(c);
        return;
    }
    if (c->state == TC_HANDSHAKE) {
        if (events & (EPOLLERR | EPOLLHUP))
            tcp_free(c);
        else
            handshake(c);
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        if (wslay_event_recv(c->ws) != 0) {
            tcp_free(c);
            return;
        }
        if (c->dead)
            return;
        if (!wslay_event_want_read(c->ws)) { /* the client sent its close */
            const uint16_t code = wslay_event_get_status_code_received(c->ws);
            c->closed_cleanly = code == WSLAY_CODE_NORMAL_CLOSURE;
        }
    }
    flush(c);
}

bool tcp_send(struct tconn *c, const uint8_t *data, size_t len)
{
    if (c->dead || c->state != TC_OPEN)
        return false;
    struct wslay_event_msg m = {.opcode = WSLAY_BINARY_FRAME, .msg = data, .msg_length = len};
    if (wslay_event_queue_msg(c->ws, &m) != 0)
        return false;
    mark(c);
    return true;
}

void tcp_close(struct tconn *c, uint16_t code, const char *reason)
{
    if (c->dead || c->state != TC_OPEN)
        return;
    if (c->close_sent_ms == 0)
        c->close_sent_ms = relay_now_ms;
    c->refusing = true;
    wslay_event_shutdown_read(c->ws);
    c->close_code = code;
    snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
    mark(c);
}

void tcp_housekeeping(double now_ms, double handshake_ms)
{
    for (uint32_t i = 0; i < t.nslots; i++) {
        struct tconn *c = t.slots[i];
        if (c == NULL)
            continue;
        if (c->state == TC_HANDSHAKE || c->state == TC_LINGER) {
            if (now_ms - c->opened_ms > (c->state == TC_LINGER ? LINGER_MS : handshake_ms))
                tcp_free(c);
            continue;
        }
        if (c->close_sent_ms > 0 && now_ms - c->close_sent_ms > LINGER_MS) {
            tcp_free(c); /* the peer never answered our close */
            continue;
        }
        if (c->player == NULL && !c->login_pending && now_ms - c->opened_ms > handshake_ms) {
            tcp_close(c, WSLAY_CODE_POLICY_VIOLATION, "no login within the handshake time");
            continue;
        }
        if (now_ms - c->last_ping_ms > PING_MS) {
            struct wslay_event_msg m = {.opcode = WSLAY_PING, .msg = NULL, .msg_length = 0};
            wslay_event_queue_msg(c->ws, &m);
            c->last_ping_ms = now_ms;
            mark(c);
        }
    }
}
