/*
 * rally's realtime client: a player's connection to a relay server
 * (rally-relay, or any server speaking GameLift Realtime's protocol; see
 * docs/relay.md). The connection info comes from matchmaking: the ticket's
 * ip_address, port and player_session_id (rally.h).
 *
 *   struct rally_rt_options o = {.host = t.ip_address, .port = t.port,
 *                                .player_session_id = t.player_session_id};
 *   rally_rt *rt = rally_rt_connect(&o, &status, err, sizeof(err));
 *   rally_rt_send(rt, 1, "hello", 5, 0, RALLY_RT_ALL_PLAYERS, RALLY_RT_FAST);
 *   while (playing)
 *       rally_rt_poll(rt, 16, on_event, game);    each frame, or on its fds
 *   rally_rt_close(rt);
 *
 * Channels: a WebSocket (reliable, ordered) and UDP (fast: unordered, may
 * be lost, late ones dropped). Fast sends go over UDP once the relay has
 * confirmed it both ways, and over the WebSocket until then or when UDP
 * does not get through.
 *
 * Reconnects: when the WebSocket drops without a goodbye, rally_rt_poll
 * reconnects with the relay's reconnect token for reconnect_window_ms,
 * keeping the player's peer id and groups (events RALLY_RT_RECONNECTING,
 * then RALLY_RT_RECONNECTED or RALLY_RT_DISCONNECTED). Sends fail with
 * RALLY_E_NETWORK meanwhile, and an attempt may hold rally_rt_poll up to a
 * second.
 *
 * Threads: a handle is used by one thread at a time; the event callback may
 * send, but not close the handle (close after rally_rt_poll returns).
 * Signals: SIGPIPE is held back around TLS calls, so a relay gone never
 * kills the game. Ownership: strings and
 * payloads passed in are copied or sent before the call returns; an event's
 * pointers are valid only during the callback, which never outlives the
 * rally_rt_poll that calls it.
 */
#ifndef RALLY_REALTIME_H
#define RALLY_REALTIME_H

#include <stddef.h>

#include "rally.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RALLY_RT_SERVER (-1)      /* target_player: the relay's script */
#define RALLY_RT_ALL_PLAYERS (-1) /* target_group: everyone in the session */

enum rally_rt_delivery {
    RALLY_RT_RELIABLE = 0, /* the WebSocket */
    RALLY_RT_FAST = 1,     /* UDP when it works, else the WebSocket */
};

struct rally_rt_options {
    const char *host; /* the game session's IP address or DNS name */
    int port;
    const char *player_session_id;
    /* Handed to the relay's script with the login (onPlayerConnect). */
    const void *connect_payload;
    size_t connect_payload_len;
    int no_udp;               /* 1: the WebSocket only */
    long timeout_ms;          /* to connect and log in; 0: 5000 */
    long reconnect_window_ms; /* 0: 10000; -1: never reconnect */
    long ping_interval_ms;    /* for rally_rt_latency_ms; 0: 3000; -1: never */
    /* 1: the WebSocket over TLS (wss), the relay's certificate checked
     * against host and ca_file (NULL: the system's CAs). */
    int tls;
    const char *ca_file;
};

enum rally_rt_event_kind {
    RALLY_RT_MESSAGE,       /* op_code, sender, payload; fast: came over UDP */
    RALLY_RT_PLAYER_JOINED, /* peer_id */
    RALLY_RT_PLAYER_LEFT,   /* peer_id */
    RALLY_RT_GROUP_MEMBERS, /* group, members (this player's group requests) */
    RALLY_RT_GAME_END,      /* the game session ended; the connection closes */
    RALLY_RT_RECONNECTING,  /* the WebSocket dropped: trying to reconnect */
    RALLY_RT_RECONNECTED,   /* back, with the same peer id */
    RALLY_RT_DISCONNECTED,  /* for good: closed by the relay, or no reconnect */
};

struct rally_rt_event {
    enum rally_rt_event_kind kind;
    int op_code;
    int sender;
    int peer_id;
    int group;
    int fast;
    const unsigned char *payload;
    size_t payload_len;
    const int *members;
    size_t n_members;
    const char *reason; /* RALLY_RT_DISCONNECTED: why, in words */
};

typedef void (*rally_rt_event_fn)(void *ctx, const struct rally_rt_event *event);

typedef struct rally_rt rally_rt;

/* Connects, logs in with the player session, and binds UDP. NULL when it
 * could not, with *status and err (errlen bytes) saying why:
 * RALLY_E_REFUSED when the relay refused the login. */
RALLY_API rally_rt *rally_rt_connect(const struct rally_rt_options *options, rally_status *status,
                                     char *err, size_t errlen);
/* Says goodbye (the relay tells the others this player left) and frees. */
RALLY_API void rally_rt_close(rally_rt *rt);

/* Waits up to timeout_ms (0: not at all) for input, and calls on_event for
 * each event. RALLY_E_NETWORK once the connection is gone for good. */
RALLY_API rally_status rally_rt_poll(rally_rt *rt, long timeout_ms, rally_rt_event_fn on_event,
                                     void *ctx);
/* The descriptors to wait on (readable) before rally_rt_poll, for a game's
 * own loop: how many were written to fds (at most 2). Wait at most 100 ms
 * on them: pings, UDP's handshake, queued output and reconnects move on
 * only inside rally_rt_poll. */
RALLY_API int rally_rt_fds(const rally_rt *rt, int fds[2]);

/* A message of op_code (1 or more) to a player (target_player > 0), a
 * group (target_group, RALLY_RT_ALL_PLAYERS for everyone), or the relay's
 * script (target_player RALLY_RT_SERVER, target_group 0). */
RALLY_API rally_status rally_rt_send(rally_rt *rt, int op_code, const void *payload, size_t len,
                                     int target_player, int target_group,
                                     enum rally_rt_delivery delivery);
/* Groups: join, leave, and ask who is in one (answered by a
 * RALLY_RT_GROUP_MEMBERS event). */
RALLY_API rally_status rally_rt_join_group(rally_rt *rt, int group);
RALLY_API rally_status rally_rt_leave_group(rally_rt *rt, int group);
RALLY_API rally_status rally_rt_request_group(rally_rt *rt, int group);

/* This player's peer id in the game session. */
RALLY_API int rally_rt_peer_id(const rally_rt *rt);
/* 1 when fast sends go over UDP. */
RALLY_API int rally_rt_fast_ready(const rally_rt *rt);
/* The last round trip to the relay measured by ping, or -1 before one. */
RALLY_API double rally_rt_latency_ms(const rally_rt *rt);

#ifdef __cplusplus
}
#endif
#endif
