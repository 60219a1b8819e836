/*
 * rally-relay: GameLift Realtime's relay server (docs/relay.md). One
 * process hosts many game sessions; clients speak Realtime's protocol
 * (sdk-common/rtproto.h) over a WebSocket (reliable) and UDP (fast), both on
 * the process's port.
 *
 * Modules, all on the event loop's thread unless said otherwise:
 *   main.c     options, the loop (epoll), signals, housekeeping
 *   tcp.c      WebSocket connections (wslay), output batched per loop turn
 *   udp.c      the UDP socket: recvmmsg in, sendmmsg out
 *   session.c  game sessions, players, groups, routing, the handshakes
 *   fleet.c    rally: the processes this one registers (a thread) and
 *              player validation (worker threads), over queues
 */
#ifndef RALLY_RELAY_H
#define RALLY_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct relay_cfg {
    int port;               /* TCP (WebSocket) and UDP, the same number */
    int sessions;           /* game sessions hosted at once (processes registered) */
    int max_players;        /* per game session, as registered */
    size_t max_payload;     /* bytes of a message's payload */
    double player_rate;     /* messages a player may send per second, sustained */
    double reconnect_s;     /* a dropped player's place is kept this long */
    double idle_s;          /* a game session without players ends after this */
    double handshake_s;     /* to upgrade and log in after connecting */
    double ping_s;          /* idle WebSockets pinged; silent for three: dropped */
    const char *script;     /* Lua script loaded by each new game session, or NULL */
    size_t script_memory;   /* bytes a session's script may hold */
    double script_ms;       /* milliseconds a script callback may run */
    double health_s;        /* seconds between a script's onHealthCheck calls */
    struct ssl_ctx_st *tls; /* --tls-cert and --tls-key: the WebSocket is wss */
    int argc;               /* the command line, for onProcessStarted */
    char **argv;
};

extern struct relay_cfg relay_cfg;

/* Counters, for the log and the tests (GET /stats is not served: these go
 * to the log at exit and on SIGUSR1). */
struct relay_stats {
    uint64_t tcp_in, udp_in, delivered_tcp, delivered_udp;
    uint64_t dropped_malformed, dropped_spoofed, dropped_rate, dropped_oversize;
    uint64_t logins, logins_refused, reconnects, disconnects_flood;
};

extern struct relay_stats relay_stats;

/* The loop's clock: milliseconds, monotonic, read once per turn. */
extern double relay_now_ms;

#endif
