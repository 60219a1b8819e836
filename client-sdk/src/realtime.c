/*
 * The realtime client (rally/realtime.h): Realtime's packets
 * (sdk-common/rtproto.h) over a WebSocket framed by wslay, and UDP.
 *
 * Everything happens on the caller's thread, inside rally_rt_connect,
 * rally_rt_poll and the send calls: no thread of ours. Packets that arrive
 * while no callback is set (during the login) are held and handed over at
 * the next poll.
 */
#include "rally/realtime.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <wslay/wslay.h>

#include "rtproto.h"
#include "wshandshake.h"

#define TOKEN_MAX 64
#define HANDSHAKE_MAX 4096
#define UDP_MAX 1472
/* UDP's VerifyIdentity: tries, and time between them. */
#define VERIFY_TRIES 10
#define VERIFY_EVERY_MS 250.0
#define RECONNECT_EVERY_MS 500.0
#define RECONNECT_ATTEMPT_MS 1000L
/* Pings unanswered over UDP before it counts as broken. */
#define UDP_SILENT_PINGS 3

/* A packet that came while no callback was set. */
struct held {
    struct held *next;
    bool fast;
    size_t n;
    uint8_t data[];
};

enum rt_state { UP, RECONNECTING, GONE };

struct rally_rt {
    struct sockaddr_storage addr; /* the relay's, resolved once */
    socklen_t addrlen;
    char host[256];
    char psess[129];
    int tcp, udp;
    SSL_CTX *tls_ctx; /* wss: made once, for reconnects too */
    SSL *tls;
    wslay_event_context_ptr ws;
    uint8_t extra[HANDSHAKE_MAX]; /* bytes read past the handshake's answer */
    size_t nextra, extra_off;
    bool eof;
    enum rt_state state;
    int32_t peer_id;
    char reconnect_token[TOKEN_MAX + 1], connect_token[TOKEN_MAX + 1];
    int fast_port;
    bool want_udp, udp_ready;
    int verify_tries;
    double next_verify_ms;
    int32_t seq_out, seq_in;
    double ping_every_ms, next_ping_ms, latency_ms;
    double last_udp_in_ms; /* pings answered over UDP keep it recent */
    long timeout_ms, window_ms;
    double reconnect_until_ms, next_attempt_ms;
    /* The login under way: */
    bool login_done, login_ok;
    int close_code;
    char close_reason[124];
    rally_rt_event_fn fn;
    void *ctx;
    bool delivered; /* an event went out during this poll */
    struct held *held, **held_tail;
    char *err;
    size_t errlen;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void emit(struct rally_rt *rt, const struct rally_rt_event *ev)
{
    rt->delivered = true;
    if (rt->fn != NULL)
        rt->fn(rt->ctx, ev);
}

static void disconnected(struct rally_rt *rt, const char *reason)
{
    if (rt->state == GONE)
        return;
    rt->state = GONE;
    struct rally_rt_event ev = {.kind = RALLY_RT_DISCONNECTED, .reason = reason};
    emit(rt, &ev);
}

/* ---- sending ------------------------------------------------------------ */

static void ws_flush(struct rally_rt *rt)
{
    if (rt->ws != NULL && wslay_event_want_write(rt->ws))
        wslay_event_send(rt->ws);
}

/* Encodes and sends pkt: over UDP when asked and it works, else the
 * WebSocket. */
static rally_status send_packet(struct rally_rt *rt, struct rt_packet *pkt, bool fast)
{
    uint8_t stack[8192];
    size_t need = rt_encoded_size(pkt) + RT_PREFIX_MAX;
    uint8_t *buf = need <= sizeof(stack) ? stack : malloc(need);
    if (buf == NULL)
        return RALLY_E_NOMEM;
    rally_status st = RALLY_OK;
    if (fast && rt->udp_ready) {
        pkt->seq = ++rt->seq_out;
        size_t n = rt_encode(pkt, buf, need);
        if (n > 0 && n <= UDP_MAX) {
            send(rt->udp, buf, n, MSG_DONTWAIT); /* fast: a full buffer loses it */
            goto out;
        }
    }
    pkt->seq = 0;
    size_t n = rt_encode(pkt, buf, need);
    struct wslay_event_msg m = {.opcode = WSLAY_BINARY_FRAME, .msg = buf, .msg_length = n};
    if (n == 0)
        st = RALLY_E_NOMEM;
    else if (rt->ws == NULL || wslay_event_queue_msg(rt->ws, &m) != 0)
        st = RALLY_E_NETWORK; /* no WebSocket, or it is closing */
    else
        ws_flush(rt);
out:
    if (buf != stack)
        free(buf);
    return st;
}

static void send_verify(struct rally_rt *rt)
{
    struct rt_packet p;
    rt_packet_clear(&p);
    p.op_code = RT_OP_VERIFY_IDENTITY;
    p.body = RT_BODY_VERIFY_IDENTITY;
    p.sender = rt->peer_id;
    p.peer_id = rt->peer_id;
    p.connect_token =
        (struct rt_bytes){(const uint8_t *)rt->connect_token, strlen(rt->connect_token)};
    p.seq = ++rt->seq_out;
    uint8_t buf[256];
    size_t n = rt_encode(&p, buf, sizeof(buf));
    if (n > 0)
        send(rt->udp, buf, n, MSG_DONTWAIT);
    rt->verify_tries++;
    rt->next_verify_ms = now_ms() + VERIFY_EVERY_MS;
}

/* ---- what comes in ------------------------------------------------------ */

static void hold(struct rally_rt *rt, const uint8_t *data, size_t n, bool fast)
{
    struct held *h = malloc(sizeof(*h) + n);
    if (h == NULL)
        return;
    h->next = NULL;
    h->fast = fast;
    h->n = n;
    memcpy(h->data, data, n);
    *rt->held_tail = h;
    rt->held_tail = &h->next;
}

static void copy_token(char out[TOKEN_MAX + 1], struct rt_bytes b)
{
    size_t n = b.n < TOKEN_MAX ? b.n : TOKEN_MAX;
    memcpy(out, b.p, n);
    out[n] = '\0';
}

/* The protocol's own packets; true when it was one of them. */
static bool on_protocol(struct rally_rt *rt, const struct rt_packet *p, bool fast)
{
    switch (p->op_code) {
    case RT_OP_LOGIN_RESPONSE:
        rt->login_done = true;
        rt->login_ok = p->success;
        if (p->success) {
            rt->peer_id = p->peer_id;
            rt->fast_port = p->fast_port;
            copy_token(rt->reconnect_token, p->reconnect_token);
            copy_token(rt->connect_token, p->connect_token);
        }
        return true;
    case RT_OP_VERIFY_IDENTITY_RESPONSE:
        if (fast && p->success && !rt->udp_ready) {
            rt->udp_ready = true;
            rt->last_udp_in_ms = now_ms();
            rt->seq_in = p->seq;
            struct rt_packet ack;
            rt_packet_clear(&ack);
            ack.op_code = RT_OP_UDP_CONNECT_CLIENT_ACK;
            ack.body = RT_BODY_UDP_CONNECT;
            ack.sender = rt->peer_id;
            ack.target_player = RT_PLAYER_SERVER;
            send_packet(rt, &ack, true);
        }
        return true;
    case RT_OP_PING_RESULT:
        if (p->payload.n == sizeof(double)) {
            double sent;
            memcpy(&sent, p->payload.p, sizeof(sent));
            rt->latency_ms = now_ms() - sent;
        }
        return true;
    default:
        return p->op_code <= 0 && p->op_code != RT_OP_PLAYER_CONNECT &&
               p->op_code != RT_OP_PLAYER_DISCONNECT &&
               p->op_code != RT_OP_GROUP_MEMBERSHIP_UPDATE && p->op_code != RT_OP_GAME_END;
    }
}

/* A packet from the relay; fresh: not a held one handed over again. */
static void on_packet(struct rally_rt *rt, const uint8_t *data, size_t n, bool fast, bool fresh)
{
    struct rt_packet p;
    const char *why;
    if (rt_decode(data, n, &p, &why) != 0)
        return;
    if (fast && fresh) {
        if (p.seq <= rt->seq_in && p.op_code != RT_OP_VERIFY_IDENTITY_RESPONSE)
            return; /* late or repeated */
        if (p.seq > rt->seq_in)
            rt->seq_in = p.seq;
    }
    if (on_protocol(rt, &p, fast))
        return;
    if (rt->fn == NULL) {
        hold(rt, data, n, fast);
        return;
    }
    struct rally_rt_event ev = {.fast = fast};
    switch (p.op_code) {
    case RT_OP_PLAYER_CONNECT:
        ev.kind = RALLY_RT_PLAYER_JOINED;
        ev.peer_id = p.peer_id;
        break;
    case RT_OP_PLAYER_DISCONNECT:
        ev.kind = RALLY_RT_PLAYER_LEFT;
        ev.peer_id = p.peer_id;
        break;
    case RT_OP_GROUP_MEMBERSHIP_UPDATE:
        ev.kind = RALLY_RT_GROUP_MEMBERS;
        ev.group = p.group;
        ev.members = (const int *)p.players;
        ev.n_members = p.nplayers;
        break;
    case RT_OP_GAME_END: ev.kind = RALLY_RT_GAME_END; break;
    default:
        ev.kind = RALLY_RT_MESSAGE;
        ev.op_code = p.op_code;
        ev.sender = p.sender;
        ev.payload = p.payload.p;
        ev.payload_len = p.payload.n;
        break;
    }
    emit(rt, &ev);
}

/* ---- the WebSocket ------------------------------------------------------ */

/* OpenSSL writes to the socket with write(): a relay gone would raise
 * SIGPIPE and kill the game. SIGPIPE is blocked around TLS calls, and one
 * they raised is taken before it is unblocked. */
struct nopipe {
    sigset_t old;
    bool was_pending;
};

static void nopipe_begin(struct nopipe *g)
{
    sigset_t pipe, pending;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &g->old);
}

static void nopipe_end(struct nopipe *g)
{
    sigset_t pipe, pending;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigpending(&pending);
    if (!g->was_pending && sigismember(&pending, SIGPIPE)) {
        struct timespec now = {0, 0};
        sigtimedwait(&pipe, NULL, &now);
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* recv()'s and send()'s contract, through TLS when asked: > 0, 0 at the
 * end, -1 with errno (EAGAIN: not now). */
static ssize_t tls_result(struct rally_rt *rt, int n)
{
    switch (SSL_get_error(rt->tls, n)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: errno = EAGAIN; return -1;
    case SSL_ERROR_ZERO_RETURN: return 0;
    default: errno = ECONNRESET; return -1;
    }
}

static ssize_t io_recv(struct rally_rt *rt, void *buf, size_t len)
{
    if (rt->tls == NULL)
        return recv(rt->tcp, buf, len, 0);
    ERR_clear_error();
    struct nopipe g;
    nopipe_begin(&g);
    int n = SSL_read(rt->tls, buf, len > 1 << 30 ? 1 << 30 : (int)len);
    ssize_t r = n > 0 ? n : tls_result(rt, n);
    nopipe_end(&g);
    return r;
}

static ssize_t io_send(struct rally_rt *rt, const void *buf, size_t len)
{
    if (rt->tls == NULL)
        return send(rt->tcp, buf, len, MSG_NOSIGNAL);
    ERR_clear_error();
    struct nopipe g;
    nopipe_begin(&g);
    int n = SSL_write(rt->tls, buf, len > 1 << 30 ? 1 << 30 : (int)len);
    ssize_t r = n > 0 ? n : tls_result(rt, n);
    nopipe_end(&g);
    return r;
}

static ssize_t ws_recv(wslay_event_context_ptr ws, uint8_t *buf, size_t len, int flags, void *user)
{
    (void)flags;
    struct rally_rt *rt = user;
    if (rt->extra_off < rt->nextra) { /* what came with the handshake's answer */
        size_t n = rt->nextra - rt->extra_off;
        n = n < len ? n : len;
        memcpy(buf, rt->extra + rt->extra_off, n);
        rt->extra_off += n;
        return (ssize_t)n;
    }
    ssize_t n = io_recv(rt, buf, len);
    if (n > 0)
        return n;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        wslay_event_set_error(ws, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    rt->eof = true;
    wslay_event_set_error(ws, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static ssize_t ws_send(wslay_event_context_ptr ws, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    (void)flags;
    struct rally_rt *rt = user;
    ssize_t n = io_send(rt, data, len);
    if (n >= 0)
        return n;
    wslay_event_set_error(ws, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
                                  ? WSLAY_ERR_WOULDBLOCK
                                  : WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static int ws_genmask(wslay_event_context_ptr ws, uint8_t *buf, size_t len, void *user)
{
    (void)ws;
    (void)user;
    return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

static void ws_on_msg(wslay_event_context_ptr ws, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user)
{
    (void)ws;
    struct rally_rt *rt = user;
    if (arg->opcode == WSLAY_BINARY_FRAME) {
        on_packet(rt, arg->msg, arg->msg_length, false, true);
    } else if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
        rt->close_code = arg->status_code;
        size_t n = arg->msg_length > 2 ? arg->msg_length - 2 : 0;
        n = n < sizeof(rt->close_reason) - 1 ? n : sizeof(rt->close_reason) - 1;
        if (n > 0)
            memcpy(rt->close_reason, arg->msg + 2, n);
        rt->close_reason[n] = '\0';
    }
}

static void close_tcp(struct rally_rt *rt)
{
    if (rt->ws != NULL)
        wslay_event_context_free(rt->ws);
    rt->ws = NULL;
    if (rt->tls != NULL)
        SSL_free(rt->tls);
    rt->tls = NULL;
    if (rt->tcp >= 0)
        close(rt->tcp);
    rt->tcp = -1;
}

/* Why rally_rt_connect failed, into the caller's buffer (only during it). */
__attribute__((format(printf, 2, 3))) static void say(struct rally_rt *rt, const char *fmt, ...)
{
    if (rt->err == NULL || rt->errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rt->err, rt->errlen, fmt, ap);
    va_end(ap);
}

/* Waits for fd to be ready for events, until deadline; false on timeout. */
static bool wait_fd(int fd, short events, double deadline)
{
    for (;;) {
        double left = deadline - now_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)left + 1);
        if (n > 0)
            return true;
        if (n < 0 && errno != EINTR)
            return false;
    }
}

/* TLS over the connected socket, the relay's certificate checked against
 * the host (a name or an address), until deadline. */
static rally_status tls_handshake(struct rally_rt *rt, double deadline)
{
    rt->tls = SSL_new(rt->tls_ctx);
    if (rt->tls == NULL || SSL_set_fd(rt->tls, rt->tcp) != 1)
        return RALLY_E_NOMEM;
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, rt->host, ip) == 1 || inet_pton(AF_INET6, rt->host, ip) == 1;
    if (is_ip)
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(rt->tls), rt->host);
    else if (SSL_set_tlsext_host_name(rt->tls, rt->host) != 1 ||
             SSL_set1_host(rt->tls, rt->host) != 1)
        return RALLY_E_NOMEM;
    SSL_set_verify(rt->tls, SSL_VERIFY_PEER, NULL);
    for (;;) {
        ERR_clear_error();
        struct nopipe g;
        nopipe_begin(&g);
        int n = SSL_connect(rt->tls);
        int e = n == 1 ? SSL_ERROR_NONE : SSL_get_error(rt->tls, n);
        nopipe_end(&g);
        if (n == 1)
            return RALLY_OK;
        if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) ||
            !wait_fd(rt->tcp, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
            long v = SSL_get_verify_result(rt->tls);
            char why[200];
            if (v != X509_V_OK)
                snprintf(why, sizeof(why), "%s", X509_verify_cert_error_string(v));
            else
                ERR_error_string_n(ERR_get_error(), why, sizeof(why));
            say(rt, "TLS with the relay at %s failed: %s", rt->host, why);
            return v != X509_V_OK ? RALLY_E_REFUSED : RALLY_E_NETWORK;
        }
    }
}

/* TCP to the relay and the WebSocket's opening handshake, until deadline. */
static rally_status open_ws(struct rally_rt *rt, double deadline)
{
    rt->tcp = socket(rt->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (rt->tcp < 0)
        return RALLY_E_NETWORK;
    int one = 1;
    setsockopt(rt->tcp, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int err = 0;
    socklen_t elen = sizeof(err);
    if ((connect(rt->tcp, (struct sockaddr *)&rt->addr, rt->addrlen) < 0 && errno != EINPROGRESS) ||
        !wait_fd(rt->tcp, POLLOUT, deadline) ||
        getsockopt(rt->tcp, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err != 0) {
        say(rt, "cannot connect to the relay at %s", rt->host);
        return RALLY_E_NETWORK;
    }
    if (rt->tls_ctx != NULL) {
        rally_status st = tls_handshake(rt, deadline);
        if (st != RALLY_OK)
            return st;
    }
    unsigned char raw[16];
    char key[32];
    RAND_bytes(raw, sizeof(raw));
    EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "GET /websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     rt->host, key);
    if (n <= 0 || (size_t)n >= sizeof(req) || io_send(rt, req, (size_t)n) != n)
        return RALLY_E_NETWORK;
    /* The answer: 101 and the accept value of our key. */
    size_t got = 0;
    char *end = NULL;
    while (end == NULL) {
        bool buffered = rt->tls != NULL && SSL_pending(rt->tls) > 0;
        if (got == sizeof(rt->extra) || (!buffered && !wait_fd(rt->tcp, POLLIN, deadline))) {
            say(rt, "the relay at %s did not answer the WebSocket handshake", rt->host);
            return RALLY_E_NETWORK;
        }
        ssize_t r = io_recv(rt, rt->extra + got, sizeof(rt->extra) - got - 1);
        if (r <= 0 && !(r < 0 && (errno == EAGAIN || errno == EINTR))) {
            say(rt, "the relay at %s closed during the WebSocket handshake", rt->host);
            return RALLY_E_NETWORK;
        }
        got += r > 0 ? (size_t)r : 0;
        rt->extra[got] = '\0';
        end = strstr((char *)rt->extra, "\r\n\r\n");
    }
    char want[29];
    wsh_accept_value(key, want);
    const char *accept = strcasestr((char *)rt->extra, "\r\nSec-WebSocket-Accept:");
    if (strncmp((char *)rt->extra, "HTTP/1.1 101", 12) != 0 || accept == NULL || accept > end) {
        say(rt, "the relay at %s refused the WebSocket", rt->host);
        return RALLY_E_REFUSED;
    }
    accept += strlen("\r\nSec-WebSocket-Accept:");
    accept += strspn(accept, " \t");
    if (strncmp(accept, want, 28) != 0) {
        say(rt, "the relay at %s answered with a wrong Sec-WebSocket-Accept", rt->host);
        return RALLY_E_NETWORK;
    }
    rt->extra_off = (size_t)(end + 4 - (char *)rt->extra);
    rt->nextra = got;
    rt->eof = false;
    rt->close_code = 0;
    rt->close_reason[0] = '\0';
    struct wslay_event_callbacks cb = {.recv_callback = ws_recv,
                                       .send_callback = ws_send,
                                       .genmask_callback = ws_genmask,
                                       .on_msg_recv_callback = ws_on_msg};
    if (wslay_event_context_client_init(&rt->ws, &cb, rt) != 0)
        return RALLY_E_NOMEM;
    return RALLY_OK;
}

/* Reads the WebSocket until it would block; false when it is gone. */
static bool ws_read(struct rally_rt *rt)
{
    if (wslay_event_recv(rt->ws) != 0 || rt->eof)
        return false;
    return !wslay_event_get_close_received(rt->ws);
}

/* Logs in (again, with a reconnect token) and waits for the answer. */
static rally_status login(struct rally_rt *rt, const void *payload, size_t n, bool reconnect,
                          double deadline)
{
    struct rt_packet p;
    rt_packet_clear(&p);
    p.op_code = RT_OP_LOGIN;
    p.body = RT_BODY_LOGIN;
    p.target_player = RT_PLAYER_SERVER;
    p.reliable = true;
    p.player_session_id = (struct rt_bytes){(const uint8_t *)rt->psess, strlen(rt->psess)};
    p.login_version = RT_CLIENT_VERSION;
    p.payload = (struct rt_bytes){payload, n};
    if (reconnect)
        p.reconnect_token =
            (struct rt_bytes){(const uint8_t *)rt->reconnect_token, strlen(rt->reconnect_token)};
    rt->login_done = rt->login_ok = false;
    rally_status st = send_packet(rt, &p, false);
    if (st != RALLY_OK)
        return st;
    bool open = true;
    while (!rt->login_done && open) {
        ws_flush(rt);
        if (!wait_fd(rt->tcp, POLLIN, deadline)) {
            say(rt, "the relay at %s did not answer the login", rt->host);
            return RALLY_E_TIMEOUT;
        }
        open = ws_read(rt);
    }
    if (rt->login_done && rt->login_ok)
        return RALLY_OK;
    /* Refused: the relay says why as it closes. */
    while (open && rt->close_code == 0 && wait_fd(rt->tcp, POLLIN, deadline))
        open = ws_read(rt);
    char why[200];
    snprintf(why, sizeof(why), "%s", rt->close_reason[0] ? rt->close_reason : "no reason given");
    say(rt, "the relay refused the login: %s", why);
    return rt->login_done ? RALLY_E_REFUSED : RALLY_E_NETWORK;
}

static rally_status open_udp(struct rally_rt *rt)
{
    if (rt->udp >= 0)
        close(rt->udp);
    rt->udp_ready = false;
    rt->verify_tries = 0;
    rt->udp = socket(rt->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (rt->udp < 0)
        return RALLY_E_NETWORK;
    struct sockaddr_storage a = rt->addr;
    in_port_t port = htons((uint16_t)rt->fast_port);
    if (a.ss_family == AF_INET)
        ((struct sockaddr_in *)&a)->sin_port = port;
    else
        ((struct sockaddr_in6 *)&a)->sin6_port = port;
    if (connect(rt->udp, (struct sockaddr *)&a, rt->addrlen) < 0)
        return RALLY_E_NETWORK;
    send_verify(rt);
    return RALLY_OK;
}

/* ---- the handle --------------------------------------------------------- */

static void free_rt(struct rally_rt *rt)
{
    close_tcp(rt);
    SSL_CTX_free(rt->tls_ctx);
    if (rt->udp >= 0)
        close(rt->udp);
    while (rt->held != NULL) {
        struct held *h = rt->held;
        rt->held = h->next;
        free(h);
    }
    free(rt);
}

static rally_status resolve(struct rally_rt *rt, const char *host, int port)
{
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, service, &hints, &res) != 0 || res == NULL) {
        say(rt, "cannot resolve %s", host);
        return RALLY_E_NETWORK;
    }
    memcpy(&rt->addr, res->ai_addr, res->ai_addrlen);
    rt->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return RALLY_OK;
}

static void udp_read(struct rally_rt *rt);

static SSL_CTX *tls_client_context(const char *ca_file)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        (ca_file != NULL ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                         : SSL_CTX_set_default_verify_paths(ctx)) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ctx;
}

RALLY_API rally_rt *rally_rt_connect(const struct rally_rt_options *o, rally_status *status,
                                     char *err, size_t errlen)
{
    rally_status st = RALLY_E_ARGUMENT;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    struct rally_rt *rt = calloc(1, sizeof(*rt));
    if (rt == NULL) {
        st = RALLY_E_NOMEM;
        goto fail;
    }
    rt->tcp = rt->udp = -1;
    rt->err = err;
    rt->errlen = errlen;
    rt->held_tail = &rt->held;
    rt->latency_ms = -1;
    if (o == NULL || o->host == NULL || o->player_session_id == NULL || o->port <= 0 ||
        o->port > 65535 || strlen(o->host) >= sizeof(rt->host) ||
        strlen(o->player_session_id) >= sizeof(rt->psess)) {
        say(rt, "%s", "a host, a port and a player session id are needed");
        goto fail;
    }
    snprintf(rt->host, sizeof(rt->host), "%s", o->host);
    snprintf(rt->psess, sizeof(rt->psess), "%s", o->player_session_id);
    rt->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000;
    rt->window_ms = o->reconnect_window_ms == 0 ? 10000 : o->reconnect_window_ms;
    rt->ping_every_ms = o->ping_interval_ms == 0 ? 3000 : (double)o->ping_interval_ms;
    rt->want_udp = !o->no_udp;
    rt->seq_in = -1;
    double deadline = now_ms() + (double)rt->timeout_ms;
    if (o->tls && (rt->tls_ctx = tls_client_context(o->ca_file)) == NULL) {
        say(rt, "cannot use the CA file %s", o->ca_file != NULL ? o->ca_file : "(the system's)");
        goto fail;
    }
    if ((st = resolve(rt, o->host, o->port)) != RALLY_OK ||
        (st = open_ws(rt, deadline)) != RALLY_OK ||
        (st = login(rt, o->connect_payload, o->connect_payload_len, false, deadline)) != RALLY_OK)
        goto fail;
    rt->state = UP;
    rt->next_ping_ms = now_ms();
    if (rt->want_udp && rt->fast_port > 0 && open_udp(rt) == RALLY_OK) {
        /* A short wait for UDP; fast sends use the WebSocket until it works. */
        double until = now_ms() + VERIFY_EVERY_MS * 4;
        while (!rt->udp_ready && wait_fd(rt->udp, POLLIN, until))
            udp_read(rt);
    }
    rt->err = NULL;
    if (status != NULL)
        *status = RALLY_OK;
    return rt;
fail:
    if (status != NULL)
        *status = st;
    if (rt != NULL)
        free_rt(rt);
    return NULL;
}

RALLY_API void rally_rt_close(rally_rt *rt)
{
    if (rt == NULL)
        return;
    if (rt->ws != NULL && rt->state == UP) { /* goodbye: the relay tells the others */
        wslay_event_queue_close(rt->ws, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0);
        double until = now_ms() + 1000;
        while (wslay_event_want_write(rt->ws) && wait_fd(rt->tcp, POLLOUT, until))
            if (wslay_event_send(rt->ws) != 0)
                break;
        /* The relay's answering close, briefly, so it sees a clean end. */
        while (!rt->eof && wait_fd(rt->tcp, POLLIN, until))
            if (wslay_event_recv(rt->ws) != 0 || wslay_event_get_close_received(rt->ws))
                break;
    }
    free_rt(rt);
}

/* What UDP has; an error (the relay's port unreachable) is taken too, or
 * poll would report it forever. */
static void udp_read(struct rally_rt *rt)
{
    uint8_t buf[2048];
    for (;;) {
        ssize_t n = recv(rt->udp, buf, sizeof(buf), 0);
        if (n <= 0)
            return;
        rt->last_udp_in_ms = now_ms();
        on_packet(rt, buf, (size_t)n, true, true);
    }
}

/* The WebSocket is gone: reconnect within the window, or not. */
static void dropped(struct rally_rt *rt)
{
    bool closed = rt->close_code != 0;
    char reason[160];
    if (closed)
        snprintf(reason, sizeof(reason), "closed by the relay: %d %s", rt->close_code,
                 rt->close_reason);
    else
        snprintf(reason, sizeof(reason), "the connection to the relay was lost");
    ws_flush(rt); /* the answer to the relay's close, when it sent one */
    close_tcp(rt);
    rt->udp_ready = false;
    if (closed || rt->window_ms < 0 || rt->reconnect_token[0] == '\0') {
        disconnected(rt, reason);
        return;
    }
    rt->state = RECONNECTING;
    rt->reconnect_until_ms = now_ms() + (double)rt->window_ms;
    rt->next_attempt_ms = now_ms();
    struct rally_rt_event ev = {.kind = RALLY_RT_RECONNECTING, .reason = reason};
    emit(rt, &ev);
}

static void try_reconnect(struct rally_rt *rt)
{
    double now = now_ms();
    if (now >= rt->reconnect_until_ms) {
        disconnected(rt, "could not reconnect within the reconnect window");
        return;
    }
    if (now < rt->next_attempt_ms)
        return;
    rt->next_attempt_ms = now + RECONNECT_EVERY_MS;
    double deadline = now + (double)RECONNECT_ATTEMPT_MS;
    if (deadline > rt->reconnect_until_ms)
        deadline = rt->reconnect_until_ms;
    rally_status st = open_ws(rt, deadline);
    if (st == RALLY_OK)
        st = login(rt, NULL, 0, true, deadline);
    if (st != RALLY_OK) {
        bool refused = rt->login_done && !rt->login_ok;
        close_tcp(rt);
        if (refused)
            disconnected(rt, "the relay refused the reconnect (the player's place is gone)");
        return;
    }
    rt->state = UP;
    if (rt->want_udp && rt->fast_port > 0)
        open_udp(rt);
    struct rally_rt_event ev = {.kind = RALLY_RT_RECONNECTED, .peer_id = rt->peer_id};
    emit(rt, &ev);
}

/* Pings and UDP handshakes that are due; when the next is (ms). */
static double timers(struct rally_rt *rt)
{
    double now = now_ms(), next = now + 1000;
    if (rt->state == RECONNECTING)
        return now + RECONNECT_EVERY_MS / 5;
    /* UDP that stopped getting through (a NAT rebinding, a firewall): fast
     * sends go over the WebSocket again while it is bound anew. */
    if (rt->udp_ready && rt->ping_every_ms > 0 &&
        now - rt->last_udp_in_ms > UDP_SILENT_PINGS * rt->ping_every_ms) {
        rt->udp_ready = false;
        rt->verify_tries = 0;
        rt->next_verify_ms = now;
    }
    if (rt->udp >= 0 && !rt->udp_ready && rt->verify_tries < VERIFY_TRIES) {
        if (now >= rt->next_verify_ms)
            send_verify(rt);
        next = rt->next_verify_ms < next ? rt->next_verify_ms : next;
    }
    if (rt->ping_every_ms > 0) {
        if (now >= rt->next_ping_ms) {
            struct rt_packet p;
            rt_packet_clear(&p);
            p.op_code = RT_OP_PING;
            p.target_player = RT_PLAYER_SERVER;
            p.sender = rt->peer_id;
            p.payload = (struct rt_bytes){(const uint8_t *)&now, sizeof(now)};
            send_packet(rt, &p, true);
            rt->next_ping_ms = now + rt->ping_every_ms;
        }
        next = rt->next_ping_ms < next ? rt->next_ping_ms : next;
    }
    return next;
}

RALLY_API rally_status rally_rt_poll(rally_rt *rt, long timeout_ms, rally_rt_event_fn on_event,
                                     void *ctx)
{
    if (rt == NULL)
        return RALLY_E_ARGUMENT;
    rt->fn = on_event;
    rt->ctx = ctx;
    rt->delivered = false;
    while (rt->held != NULL) { /* what came during the login */
        struct held *h = rt->held;
        rt->held = h->next;
        if (rt->held == NULL)
            rt->held_tail = &rt->held;
        on_packet(rt, h->data, h->n, h->fast, false);
        free(h);
    }
    double deadline = now_ms() + (double)(timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        if (rt->state == RECONNECTING)
            try_reconnect(rt);
        if (rt->state == GONE)
            break;
        double next = timers(rt);
        struct pollfd p[2];
        int n = 0;
        if (rt->state == UP && rt->tcp >= 0)
            p[n++] = (struct pollfd){
                .fd = rt->tcp,
                .events = (short)(POLLIN | (wslay_event_want_write(rt->ws) ? POLLOUT : 0))};
        if (rt->udp >= 0)
            p[n++] = (struct pollfd){.fd = rt->udp, .events = POLLIN};
        double now = now_ms(), until = next < deadline ? next : deadline;
        int wait = rt->delivered || until <= now ? 0 : (int)(until - now) + 1;
        if (poll(p, (nfds_t)n, wait) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++) {
            if (p[i].fd == rt->udp && (p[i].revents & (POLLIN | POLLERR)))
                udp_read(rt);
            else if (p[i].fd == rt->tcp) {
                short ev = p[i].revents;
                bool gone = ((ev & POLLOUT) && wslay_event_send(rt->ws) != 0) ||
                            ((ev & (POLLIN | POLLHUP | POLLERR)) && !ws_read(rt));
                if (gone)
                    dropped(rt);
            }
        }
        if (rt->delivered || now_ms() >= deadline)
            break;
    }
    rt->fn = NULL;
    rt->ctx = NULL;
    return rt->state == GONE ? RALLY_E_NETWORK : RALLY_OK;
}

RALLY_API int rally_rt_fds(const rally_rt *rt, int fds[2])
{
    int n = 0;
    if (rt != NULL && rt->tcp >= 0)
        fds[n++] = rt->tcp;
    if (rt != NULL && rt->udp >= 0)
        fds[n++] = rt->udp;
    return n;
}

RALLY_API rally_status rally_rt_send(rally_rt *rt, int op_code, const void *payload, size_t len,
                                     int target_player, int target_group,
                                     enum rally_rt_delivery delivery)
{
    if (rt == NULL || op_code < 1 || (payload == NULL && len > 0))
        return RALLY_E_ARGUMENT;
    if (rt->state != UP)
        return RALLY_E_NETWORK;
    struct rt_packet p;
    rt_packet_clear(&p);
    p.op_code = op_code;
    p.sender = rt->peer_id;
    p.target_player = target_player;
    p.target_group = target_group;
    p.reliable = delivery != RALLY_RT_FAST;
    p.payload = (struct rt_bytes){payload, len};
    return send_packet(rt, &p, delivery == RALLY_RT_FAST);
}

static rally_status group_op(rally_rt *rt, int32_t op, enum rt_body body, int group)
{
    if (rt == NULL || group == 0 || (group < 0 && op != RT_OP_REQUEST_GROUP_MEMBERSHIP))
        return RALLY_E_ARGUMENT;
    if (rt->state != UP)
        return RALLY_E_NETWORK;
    struct rt_packet p;
    rt_packet_clear(&p);
    p.op_code = op;
    p.body = body;
    p.sender = rt->peer_id;
    p.target_player = RT_PLAYER_SERVER;
    p.reliable = true;
    p.group = group;
    return send_packet(rt, &p, false);
}

RALLY_API rally_status rally_rt_join_group(rally_rt *rt, int group)
{
    return group_op(rt, RT_OP_JOIN_GROUP, RT_BODY_JOIN_GROUP, group);
}

RALLY_API rally_status rally_rt_leave_group(rally_rt *rt, int group)
{
    return group_op(rt, RT_OP_LEAVE_GROUP, RT_BODY_LEAVE_GROUP, group);
}

RALLY_API rally_status rally_rt_request_group(rally_rt *rt, int group)
{
    return group_op(rt, RT_OP_REQUEST_GROUP_MEMBERSHIP, RT_BODY_REQUEST_GROUP_MEMBERSHIP, group);
}

RALLY_API int rally_rt_peer_id(const rally_rt *rt)
{
    return rt != NULL ? rt->peer_id : 0;
}

RALLY_API int rally_rt_fast_ready(const rally_rt *rt)
{
    return rt != NULL && rt->udp_ready;
}

RALLY_API double rally_rt_latency_ms(const rally_rt *rt)
{
    return rt != NULL ? rt->latency_ms : -1;
}
