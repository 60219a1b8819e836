/*
 * The relay and rally (docs/relay.md "On the fleet"). The relay registers
 * relay_cfg.sessions processes, "<P>.1", "<P>.2", ..., each with host P (the
 * id its agent launched it as, GAMELIFT_SDK_PROCESS_ID), so each can be
 * handed a game session. One thread registers them and heartbeats them; when
 * one's game session ends, it says ProcessEnding and registers a fresh one
 * in its place. Worker threads validate players (AcceptPlayerSession,
 * scoped to this host's game sessions) and report them gone
 * (RemovePlayerSession). Answers come back to the loop over a queue whose
 * eventfd the loop polls.
 *
 * Every function here is called on the loop's thread.
 */
#ifndef RALLY_RELAY_FLEET_H
#define RALLY_RELAY_FLEET_H

#include <stdint.h>

struct fleet_params {
    const char *url, *fleet_id, *fleet_secret, *location, *ip_address;
    const char *host_process_id; /* P */
    const char *compute_name;    /* NULL: not launched by an agent */
    int port, max_players, members, workers;
};

/* Starts the threads; the eventfd the loop polls, or -1. */
int fleet_start(const struct fleet_params *p);
/* Hands the loop what the threads answered (session_on_*, session_start,
 * session_terminate). */
void fleet_take_answers(void);

/* Asks rally whether the PlayerSessionId may play here; the answer comes as
 * session_on_accepted or session_on_refused for (slot, gen). */
void fleet_accept(uint32_t slot, uint32_t gen, const char *psess);
/* The player left (RemovePlayerSession); nothing is answered. */
void fleet_remove(const char *psess);
/* The member's game session is set up: ActivateGameSession. */
void fleet_session_ready(int member);
/* The member's game session ended: ProcessEnding, and a new member in its
 * place. */
void fleet_session_ended(int member);
/* Ends every member (ProcessEnding) and stops the threads, within about
 * deadline_s seconds. */
void fleet_stop(double deadline_s);

#endif
