/*
 * The relay's reliable channel: one WebSocket per player at ws://HOST:PORT/websocket,
 * each binary message one delimited Packet. wslay parses frames and keeps
 * the protocol (pings, the closing handshake); what it writes goes into
 * the connection's output buffer, sent once per loop turn (tcp_flush_all),
 * so that a burst of deliveries to one player costs one send().
 *
 * A connection is referred to across threads and turns by (slot, gen): a
 * slot is reused with gen bumped, so a late answer finds nothing rather
 * than a stranger.
 *
 * Ownership: the table owns every struct tconn. tcp_free() takes one out of
 * use; its memory lasts until tcp_reap(), which the loop calls after a turn,
 * so pointers held during the turn stay safe (check c->dead).
 */
#ifndef RALLY_RELAY_TCP_H
#define RALLY_RELAY_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <wslay/wslay.h>

/* What a connection may have unsent before it counts as a reader too slow
 * to keep (it is closed). */
#define TCP_MAX_QUEUED (1024 * 1024)

struct player;

enum tconn_state { TC_HANDSHAKE, TC_OPEN, TC_LINGER };

struct tconn {
    int fd;
    struct ssl_st *tls; /* with --tls-cert: the connection's TLS (OpenSSL) */
    uint32_t slot, gen;
    enum tconn_state state;
    uint32_t events; /* epoll mask as registered */
    struct sockaddr_storage peer;
    char *hs; /* the handshake's bytes so far, until open */
    size_t hs_len;
    wslay_event_context_ptr ws;
    /* The message being received (frames put together here): */
    uint8_t *msg;
    size_t msg_len, msg_cap;
    bool msg_fin, msg_binary, in_control, refusing;
    /* Output waiting for send(): */
    uint8_t *out;
    size_t out_len, out_off, out_cap;
    bool queued; /* in the list tcp_flush_all walks */
    struct tconn *next_queued;
    double opened_ms, last_ping_ms, close_sent_ms;
    uint16_t close_code; /* a close to queue once what came before it is out */
    char close_reason[124];
    /* The player on this connection once logged in; login_pending while
     * rally is asked about its PlayerSessionId. */
    struct player *player;
    bool login_pending;
    char login_psess[129];  /* the PlayerSessionId being validated */
    uint8_t *login_payload; /* its connection payload (malloc'd), for the script */
    size_t login_payload_len;
    bool closed_cleanly; /* the client closed with 1000: it left */
    bool dead;
    struct tconn *next_dead;
};

void tcp_init(int epfd);
void tcp_accept_all(int listen_fd);
void tcp_on_event(struct tconn *c, uint32_t events);
struct tconn *tcp_get(uint32_t slot, uint32_t gen);

/* Queues one binary message (copied). false when the connection is closing
 * or gone. */
bool tcp_send(struct tconn *c, const uint8_t *data, size_t len);
/* Starts the closing handshake; the connection is freed once done. */
void tcp_close(struct tconn *c, uint16_t code, const char *reason);
/* Sends what every connection has queued this turn. */
void tcp_flush_all(void);
/* Pings idle connections; frees handshakes older than handshake_ms and
 * connections whose close went unanswered. */
void tcp_housekeeping(double now_ms, double handshake_ms);
void tcp_free(struct tconn *c);
void tcp_reap(void);
size_t tcp_count(void);

#endif
