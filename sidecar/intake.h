/*
 * intake: the sidecar's HTTP server on 127.0.0.1 (libmicrohttpd, a thread
 * per connection, so that a durable write simply waits), the routes of
 * world-state without credentials (docs/sidecar.md):
 *
 *   POST /v1/worlds/{id}/blocks[?durable=true|false]  buffered in the lanes:
 *        202 {"buffered": n} at once, or 200 {"written": n} once committed
 *   POST /v1/worlds/{id}/chunks/clear   in order with the buffered writes
 *   POST /v1/worlds/{id}/chunks         after the buffered writes are written
 *   any other /v1/worlds/... route      passed to rally as it came
 *   POST /v1/sidecar/flush              200 once everything buffered is written
 *   GET  /v1/sidecar/status             counters, lanes, memory
 *
 * Every request carries "Authorization: Bearer <key>", the key the agent
 * gave the sidecar and its game server, compared in constant time: other
 * local users reach the port but cannot use the fleet's credentials.
 */
#ifndef RALLY_SIDECAR_INTAKE_H
#define RALLY_SIDECAR_INTAKE_H

#include <stdbool.h>

#include "lanes.h"
#include "upstream.h"

struct intake_config {
    int port;      /* on 127.0.0.1; 0: any free port */
    int listen_fd; /* a socket already listening (from the agent); -1: none */
    const char *key;
    bool durable;   /* a write without ?durable= waits for its commit */
    int timeout_ms; /* the longest a request waits for the lanes */
};

struct intake;

/* Starts serving (borrowing lanes, u and cfg's strings); NULL after logging
 * why it could not. */
struct intake *intake_start(const struct intake_config *cfg, struct lanes *lanes,
                            struct upstream *u);

/* The port it listens on. */
int intake_port(const struct intake *in);

/* Takes no more connections (those open may finish their requests). */
void intake_quiesce(struct intake *in);

/* Closes every connection, waits for their threads, frees. */
void intake_stop(struct intake *in);

#endif
