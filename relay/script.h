/*
 * A game session's server script: Lua 5.4 with Realtime's callbacks
 * (docs/relay.md "Scripts"). Each game session loads its own copy when it
 * starts, so a changed file reaches new sessions while running ones keep
 * the script they started with.
 *
 * A script is bounded: its memory by its allocator (relay_cfg.script_memory),
 * each callback's time by an instruction hook (relay_cfg.script_ms), and
 * the sandbox leaves out what would escape either (files, loading code,
 * Lua patterns, whose matcher runs where no hook reaches). A script that
 * breaks a bound is "broken": its callbacks stop running and its session
 * ends at the next housekeeping. A plain error in a callback is logged and
 * the callback counts as having refused (gates) or done nothing (events).
 *
 * Callbacks never change the session's players or groups themselves: what
 * they ask (messages, the end) goes through script_ops, and the end is
 * deferred to housekeeping, so a callback is safe to run in the middle of
 * routing.
 *
 * Ownership: the session owns its script (script_free). Strings passed in
 * are borrowed for the call; a message's payload changed by a callback stays
 * valid until the next call into the same script.
 */
#ifndef RALLY_RELAY_SCRIPT_H
#define RALLY_RELAY_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtproto.h"

struct script;
struct session_info;

/* A game message as scripts see it. */
struct script_msg {
    int32_t op_code, sender;
    int32_t target_player, target_group; /* RT_NO_TARGET when unset */
    bool reliable;
    struct rt_bytes payload;
};

/* What a script may ask of its session (session.c provides them). */
struct script_ops {
    /* Delivers m to a player (target_player) or a group (target_group).
     * NULL, or why it was refused (an unknown sender, an oversized
     * payload). */
    const char *(*send)(void *session, const struct script_msg *m);
    /* The session's peer ids, up to max; how many there are. */
    size_t (*players)(void *session, int32_t *out, size_t max);
    /* Sends a group's membership to its members. */
    void (*membership)(void *session, int32_t group);
    /* processEnding(): the session ends at the next housekeeping. */
    void (*end)(void *session);
};

/* Loads path for one game session and runs init, onProcessStarted and
 * onStartGameSession. NULL with why in err when the script cannot load or
 * one of those fails. */
struct script *script_load(const char *path, const struct script_ops *ops, void *session,
                           const struct session_info *info, char *err, size_t errlen);
/* Calls onProcessTerminate (unless broken) and frees the state. NULL ok. */
void script_free(struct script *sc);

/* Why the script broke a bound, or NULL while it is fine. */
const char *script_broken(const struct script *sc);

/* Gates: false refuses. */
bool script_on_player_connect(struct script *sc, int32_t peer, const char *psess,
                              const char *player_id, const uint8_t *payload, size_t n);
/* A player's message to another player or a group; the callback may change
 * m's op_code and payload. */
bool script_on_send(struct script *sc, struct script_msg *m);
bool script_on_join_group(struct script *sc, int32_t group, int32_t peer);
bool script_on_leave_group(struct script *sc, int32_t group, int32_t peer);
/* onHealthCheck: false when the script says it is unhealthy. */
bool script_health_check(struct script *sc);

/* Events. */
void script_on_player_accepted(struct script *sc, int32_t peer, const char *psess,
                               const char *player_id);
void script_on_player_disconnect(struct script *sc, int32_t peer);
/* A player's message to the server. */
void script_on_message(struct script *sc, const struct script_msg *m);

/* Timers (setTimeout / setInterval): when the next is due (ms on the
 * loop's clock, or a negative number for none), and running those due. */
double script_next_timer(const struct script *sc);
void script_run_timers(struct script *sc, double now_ms);

#endif
