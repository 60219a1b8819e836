/*
 * The gateway's connections: what a WebSocket (common/wsserver.h: the
 * handshake, frames, pings, output once per loop turn) is to the gateway,
 * one connected SDK 5 process, and the table that finds the newest
 * connection of a process. Everything here runs on the event loop's thread.
 *
 * A connection is referred to from other threads' jobs by (base.slot,
 * base.gen): a slot is reused, with gen bumped, once its connection is
 * gone, so a late answer finds nothing rather than a stranger.
 *
 * Ownership: the WebSocket server owns every struct conn; conn_free() (or
 * an error) takes it out of use, and conn_reap() releases it: in between,
 * the pointer is still safe to hold, and everything here ignores it
 * (base.dead).
 */
#ifndef RALLY_GATEWAY_CONN_H
#define RALLY_GATEWAY_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handshake.h"
#include "wsserver.h"

/* The largest message the SDK may send (a StartMatchBackfill of 199
 * players with their attributes fits), and what a connection may have
 * queued unsent before it counts as a dead peer. */
#define CONN_MAX_MESSAGE (256 * 1024)
#define CONN_MAX_QUEUED (4 * 1024 * 1024)

/* Idle connections are pinged this often. */
#define CONN_PING_MS 30000.0

struct conn {
    struct wss_conn base;
    /* The process, from the connect URL (checked by sdk5_admit). */
    char fleet[257], compute[257], process[257], sdk[72];
    char endpoint[576]; /* ws(s)://host/path it connected to */
    char *token;        /* its auth token (malloc'd), for forwarded calls */
    int64_t token_exp;
    bool refresh_sent;
    double last_heartbeat_ms; /* 0 before the first */
    bool unhealthy;           /* its last HeartbeatServerProcess said false */
    bool push_due;            /* rally may have something to push to it */
    /* Pushes wait while the SDK may not take them: from ActivateServerProcess
     * until its answer is relayed and the SDK's first heartbeat says it took
     * it (the SDK drops a CreateGameSession that comes before). */
    enum { HOLD_NONE, HOLD_UNTIL_ANSWERED, HOLD_UNTIL_HEARTBEAT } push_hold;
    unsigned inflight; /* forwarded calls not answered yet */

    bool mapped; /* in the process table (the newest for its process) */
    struct conn *next_mapped;
};

/* Initializes the table; epfd is the loop's epoll. 0 or -1. */
int conn_table_init(int epfd);
/* Accepts what the listening socket has. */
void conn_accept_all(int listen_fd);
/* Reads, writes, and advances the handshake or the frames (an epoll
 * event's data.ptr). */
void conn_on_event(void *c, uint32_t events);

/* The live connection in slot with gen, or NULL. */
struct conn *conn_get(uint32_t slot, uint32_t gen);
/* The newest open connection of a process, or NULL. */
struct conn *conn_by_process(const char *process_id);
/* Calls fn for each open connection. */
void conn_each(void (*fn)(struct conn *c, void *ctx), void *ctx);
size_t conn_count(void);

/* Queues a text message (copied), sent at the end of the loop's turn.
 * false: the connection is closing or gone. */
bool conn_send_text(struct conn *c, const char *text, size_t len);
/* Starts the closing handshake with code and reason; the connection is
 * freed once it is done. */
void conn_close(struct conn *c, uint16_t code, const char *reason);
/* Sends what every connection queued this turn (the loop, each turn). */
void conn_flush_all(void);
/* Pings idle connections; frees handshakes older than handshake_ms. */
void conn_housekeeping(double now_ms, double handshake_ms);
/* Drops a connection now (no closing handshake). Its memory lasts until
 * conn_reap(), which the loop calls once the events it fetched are done. */
void conn_free(struct conn *c);
void conn_reap(void);

#endif
