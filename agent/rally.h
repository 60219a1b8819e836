/*
 * What the agent asks of rally, with the fleet's credentials (the server
 * SDK's handle, gameserver/rally_server.h): the fleet's RuntimeConfiguration,
 * and which of its processes are ready, hosting, or ended.
 */
#ifndef RALLY_AGENT_RALLY_H
#define RALLY_AGENT_RALLY_H

#include <jansson.h>

#include "rally_server.h"
#include "runtime.h"
#include "slots.h"

/* RegisterCompute: this host, where its processes are reached; said again
 * every few seconds, it keeps the compute live. *processes is how many of
 * the fleet's processes this host runs now (its share of its location's
 * capacity), -1 for all of the RuntimeConfiguration. 0, or -1 after
 * logging why (then again later). */
int agent_register_compute(rally_server *s, const char *compute, const char *location,
                           const char *ip, int *processes);

/* DeregisterCompute: the agent stops; its location's processes are split
 * among the other computes at once rather than 30 s later. */
void agent_deregister_compute(rally_server *s, const char *compute);

/* A token for GameLift's server SDK 5 (GAMELIFT_SDK_AUTH_TOKEN of the
 * processes): malloc'd, with the seconds it lasts in *ttl; NULL after
 * logging why. */
char *agent_sdk_token(rally_server *s, const char *fleet, const char *secret, long *ttl);

/* The fleet's RuntimeConfiguration, validated: the JSON (a new reference,
 * which the parsed *rt borrows from), or NULL after logging why. */
json_t *agent_fetch_runtime(rally_server *s, struct fm_runtime *rt);

/* Tells the table what rally says of its running processes. -1 when rally
 * did not answer (the table keeps what it knew). */
int agent_observe(rally_server *s, struct slots *t, double now);

/* ProcessEnding for each process that exited while rally had it ready
 * (t->gone), which is then emptied; what rally did not take stays for
 * the next call. */
void agent_report_gone(rally_server *s, struct slots *t);

#endif
