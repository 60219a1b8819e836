#include "tcp.h"

#include <stdlib.h>
#include <string.h>

#include "relay.h"
#include "session.h"
#include "wshandshake.h"

static struct wss_server *server;

static int admit(struct wss_conn *c, const char *buf, const struct wsh_request *req,
                 const char **why)
{
    (void)c;
    (void)buf;
    if (strcmp(req->path, "/websocket") != 0) {
        *why = "the relay's WebSocket is /websocket";
        return 404;
    }
    return 0;
}

static void on_message(struct wss_conn *c, const uint8_t *data, size_t len, bool text)
{
    if (text) {
        wss_close(c, WSLAY_CODE_UNSUPPORTED_DATA, "binary messages only (a delimited Packet)");
        return;
    }
    relay_stats.tcp_in++;
    session_on_tcp_message((struct tconn *)c, data, len);
}

static void on_gone(struct wss_conn *c)
{
    struct tconn *t = (struct tconn *)c;
    if (t->player != NULL || t->login_pending)
        session_on_tcp_closed(t);
}

static void on_reap(struct wss_conn *c)
{
    free(((struct tconn *)c)->login_payload);
}

int tcp_init(int epfd)
{
    struct wss_config cfg = {
        .name = "relay",
        .conn_size = sizeof(struct tconn),
        /* A packet with the largest payload, and room for its other fields. */
        .max_message = relay_cfg.max_payload + 1024,
        .max_queued = TCP_MAX_QUEUED,
        .ping_ms = relay_cfg.ping_s * 1000, /* a dead peer: no pong, a failed send */
        .tls = relay_cfg.tls,
        .admit = admit,
        .on_message = on_message,
        .on_gone = on_gone,
        .on_reap = on_reap,
    };
    server = wss_server_new(&cfg, epfd);
    return server != NULL ? 0 : -1;
}

void tcp_accept_all(int listen_fd)
{
    wss_accept_all(server, listen_fd);
}

void tcp_on_event(void *conn, uint32_t events)
{
    wss_on_event(conn, events);
}

struct tconn *tcp_get(uint32_t slot, uint32_t gen)
{
    return (struct tconn *)wss_get(server, slot, gen);
}

bool tcp_send(struct tconn *c, const uint8_t *data, size_t len)
{
    return wss_send(&c->base, data, len, false);
}

void tcp_close(struct tconn *c, uint16_t code, const char *reason)
{
    wss_close(&c->base, code, reason);
}

void tcp_flush_all(void)
{
    wss_flush_all(server);
}

static void login_due(struct wss_conn *c, void *ctx)
{
    const double *limit = ctx;
    struct tconn *t = (struct tconn *)c;
    if (t->player == NULL && !t->login_pending && c->opened_ms < *limit)
        wss_close(c, WSLAY_CODE_POLICY_VIOLATION, "no login within the handshake time");
}

void tcp_housekeeping(double now_ms, double handshake_ms)
{
    wss_housekeeping(server, now_ms, handshake_ms);
    double limit = now_ms - handshake_ms;
    wss_each(server, login_due, &limit);
}

void tcp_reap(void)
{
    wss_reap(server);
}

size_t tcp_count(void)
{
    return wss_count(server);
}

uint64_t tcp_refused_too_big(void)
{
    return wss_refused_too_big(server);
}
