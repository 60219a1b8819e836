/*
 * The relay's reliable channel: one WebSocket per player at
 * ws(s)://HOST:PORT/websocket, each binary message one delimited Packet.
 * The connections are common/wsserver.h's (handshake, TLS, frames, output
 * sent once per loop turn, so that a burst of deliveries to one player
 * costs one send()); this is what a connection is to the relay: its player,
 * or the login being validated.
 *
 * A connection is referred to across threads and turns by (base.slot,
 * base.gen); tcp_get finds it, or nothing once it is gone.
 *
 * Ownership: the server owns every struct tconn (wsserver.h). A player's
 * pointer to its connection is cleared when the connection goes
 * (session_on_tcp_closed), and the connection's to its player when the
 * player goes.
 */
#ifndef RALLY_RELAY_TCP_H
#define RALLY_RELAY_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wsserver.h"

/* What a connection may have unsent before it counts as a reader too slow
 * to keep (it is closed). */
#define TCP_MAX_QUEUED (1024 * 1024)

struct player;

struct tconn {
    struct wss_conn base;
    /* The player on this connection once logged in; login_pending while
     * rally is asked about its PlayerSessionId. */
    struct player *player;
    bool login_pending;
    char login_psess[129];  /* the PlayerSessionId being validated */
    uint8_t *login_payload; /* its connection payload (malloc'd), for the script */
    size_t login_payload_len;
};

/* The server on the loop's epoll; 0 or -1. */
int tcp_init(int epfd);
void tcp_accept_all(int listen_fd);
/* An epoll event of a connection (its data.ptr). */
void tcp_on_event(void *conn, uint32_t events);
struct tconn *tcp_get(uint32_t slot, uint32_t gen);

/* Queues one binary message (copied). false when the connection is closing
 * or gone. */
bool tcp_send(struct tconn *c, const uint8_t *data, size_t len);
/* Starts the closing handshake; the connection is freed once done. */
void tcp_close(struct tconn *c, uint16_t code, const char *reason);
/* Sends what every connection has queued this turn. */
void tcp_flush_all(void);
/* Pings idle connections; frees handshakes older than handshake_ms and
 * closes connections that did not log in within it. */
void tcp_housekeeping(double now_ms, double handshake_ms);
void tcp_reap(void);
size_t tcp_count(void);
/* WebSocket messages refused for their size. */
uint64_t tcp_refused_too_big(void);

#endif
