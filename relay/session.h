/*
 * Game sessions on the relay: their players and groups, the login and UDP
 * handshakes, and the routing of messages (docs/relay.md "Protocol").
 *
 * Peer ids are unique in the whole process, not only in a session: a UDP
 * handshake names only its peer id, and every session shares the port.
 *
 * Ownership: sessions are a fixed array, one per fleet member (fleet.h);
 * the session owns its players and groups. A player's tcp is borrowed
 * (tcp.h owns connections); each side clears the other's pointer when it
 * goes.
 */
#ifndef RALLY_RELAY_SESSION_H
#define RALLY_RELAY_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "udp.h"

struct tconn;

/* What rally handed over with a game session (fleet.c fills it). */
struct session_info {
    char id[160];  /* gsess-... */
    char arn[512]; /* GameLift's GameSessionId */
    int max_players;
    char *game_session_data; /* malloc'd or NULL; the session takes them */
    char *matchmaker_data;
    char *game_properties; /* JSON array of {"Key","Value"} */
};

/* Sets the sessions up (relay_cfg.sessions of them); 0 or -1. */
int session_init(void);

/* From tcp.c: */
void session_on_tcp_message(struct tconn *c, const uint8_t *data, size_t len);
/* The connection goes (closed, failed, or freed): its player is kept for
 * the reconnect window, or leaves at once when it closed cleanly. */
void session_on_tcp_closed(struct tconn *c);

/* From udp.c: */
void session_on_udp_datagram(const struct udp_addr *from, const uint8_t *data, size_t len);

/* From fleet.c, on the loop's thread: */
void session_on_accepted(uint32_t slot, uint32_t gen, const char *psess, const char *game_session,
                         const char *player_id);
void session_on_refused(uint32_t slot, uint32_t gen, const char *why);
/* Member `member` was handed a game session: set it up (the script's
 * onStartGameSession), then fleet_session_ready(). Takes info's strings. */
void session_start(int member, struct session_info *info);
/* Rally ended the game session (TerminateGameSession, or the process). */
void session_terminate(int member);

/* Timers: reconnect windows, idle sessions, what scripts asked. */
void session_housekeeping(double now_ms);
/* Scripts' timers: the next due (or negative for none), and running them. */
double session_next_timer(void);
void session_run_timers(double now_ms);
/* Ends every session (SIGTERM). */
void session_end_all(const char *why);

/* How many players are connected, and sessions running (the log). */
size_t session_player_count(void);
size_t session_running_count(void);

#endif
