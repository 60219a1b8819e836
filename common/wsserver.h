/*
 * WebSocket server connections on one epoll loop, shared by rally's
 * WebSocket daemons (rally-gateway, rally-relay): accept, the opening
 * handshake (sdk-common/wshandshake.h), TLS when configured, frames by
 * wslay (pings answered, the closing handshake), messages put together and
 * bounded, output buffered and sent once per loop turn, slow readers and
 * silent peers dropped. What a connection means is the daemon's, through
 * the callbacks of its wss_config.
 *
 * A daemon's connection type embeds struct wss_conn as its first member:
 * the server allocates config.conn_size bytes for each, zeroed, so
 *   struct conn { struct wss_conn base; ...its own fields... };
 * and the callbacks cast. A connection is referred to across threads and
 * turns by (slot, gen): a slot is reused with gen bumped, so a late answer
 * finds nothing rather than a stranger. A peer that sends nothing, not even
 * the answers to three of our pings, is dropped.
 *
 * Everything runs on the loop's thread. The loop calls, each turn:
 * wss_on_event for the connections' epoll events (data.ptr is the
 * connection), wss_flush_all once the events are handled, then wss_reap.
 *
 * Ownership: the server owns every connection. wss_free() takes one out of
 * use (on_gone has been called by then); its memory lasts until wss_reap(),
 * so pointers held during a turn stay safe (check c->dead).
 */
#ifndef RALLY_WSSERVER_H
#define RALLY_WSSERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <wslay/wslay.h>

struct wsh_request;
struct wss_server;
struct ssl_ctx_st;
struct ssl_st;

enum wss_state { WSS_HANDSHAKE, WSS_OPEN, WSS_LINGER };

struct wss_conn {
    struct wss_server *server;
    int fd;
    struct ssl_st *tls; /* with a TLS context: the connection's TLS */
    uint32_t slot, gen;
    enum wss_state state;
    uint32_t events; /* epoll mask as registered */
    struct sockaddr_storage peer;
    char *hs; /* the handshake's bytes so far, until open (then NULL) */
    size_t hs_len;
    wslay_event_context_ptr ws;
    /* The message being received (frames put together here): */
    uint8_t *msg;
    size_t msg_len, msg_cap;
    bool msg_fin, msg_text, in_control, refusing;
    /* Output waiting for the socket: */
    uint8_t *out;
    size_t out_len, out_off, out_cap;
    bool queued; /* in the list wss_flush_all walks */
    struct wss_conn *next_queued;
    double opened_ms, last_ping_ms, close_sent_ms; /* opened: of its state */
    double last_in_ms;                             /* bytes from the peer (pongs count) */
    uint16_t close_code; /* a close to queue once what came before it is out */
    char close_reason[124];
    bool closed_cleanly; /* the peer closed with 1000 */
    bool gone_told;      /* on_gone was called */
    bool in_recv, free_after_recv, freeing;
    bool dead;
    struct wss_conn *next_dead;
};

struct wss_config {
    const char *name;       /* for the log: "gateway", "relay" */
    size_t conn_size;       /* of the daemon's connection type (>= sizeof(struct wss_conn)) */
    size_t max_message;     /* larger messages are refused with 1009 */
    size_t max_queued;      /* output held for a slow reader before it is dropped */
    double ping_ms;         /* idle open connections are pinged this often */
    struct ssl_ctx_st *tls; /* wss, or NULL */
    /* The upgrade request, whole and parsed (buf: its bytes): 0 opens the
     * WebSocket; otherwise the HTTP status to refuse with, and *why. */
    int (*admit)(struct wss_conn *c, const char *buf, const struct wsh_request *req,
                 const char **why);
    /* Open: the 101 went out. May send. */
    void (*on_open)(struct wss_conn *c);
    /* A whole message (text or binary), valid during the call. */
    void (*on_message)(struct wss_conn *c, const uint8_t *data, size_t len, bool text);
    /* The connection carries no more messages (closed, failed, dropped,
     * or lingering after its close); called once, before it is freed. */
    void (*on_gone)(struct wss_conn *c);
    /* Its memory is released (wss_reap): the daemon's own allocations. */
    void (*on_reap)(struct wss_conn *c);
};

/* A server on epfd with cfg (copied); NULL when out of memory. */
struct wss_server *wss_server_new(const struct wss_config *cfg, int epfd);

/* Accepts what the listening socket has. */
void wss_accept_all(struct wss_server *s, int listen_fd);
/* Reads, writes, and advances the handshake or the frames. */
void wss_on_event(struct wss_conn *c, uint32_t events);

/* The live connection in slot with gen, or NULL. */
struct wss_conn *wss_get(struct wss_server *s, uint32_t slot, uint32_t gen);
/* Calls fn for each open connection. */
void wss_each(struct wss_server *s, void (*fn)(struct wss_conn *c, void *ctx), void *ctx);
/* Connections held, in any state. */
size_t wss_count(const struct wss_server *s);
/* Messages refused for their size, so far. */
uint64_t wss_refused_too_big(const struct wss_server *s);

/* Queues one message (copied), sent at the turn's flush. false when the
 * connection is closing or gone. */
bool wss_send(struct wss_conn *c, const void *data, size_t len, bool text);
/* Starts the closing handshake once what was queued before is out; the
 * connection is freed when it is done (or after a grace period). */
void wss_close(struct wss_conn *c, uint16_t code, const char *reason);
/* Sends what every connection has queued this turn. */
void wss_flush_all(struct wss_server *s);
/* Pings idle connections; frees handshakes older than handshake_ms,
 * lingering connections, and those whose close went unanswered. */
void wss_housekeeping(struct wss_server *s, double now_ms, double handshake_ms);
/* Drops a connection now (no closing handshake). */
void wss_free(struct wss_conn *c);
/* Releases the memory of connections freed this turn. */
void wss_reap(struct wss_server *s);

#endif
