/*
 * GameLift's server SDK 5 protocol (reference/gamelift-server-sdk5.md) on
 * the gateway's connections: who may connect, what each action does,
 * which answers go back, and what rally pushes.
 *
 *   - Connect: the query's FleetId, ComputeId and pID, and Authorization, a
 *     server-scope token of that fleet (the agent hands it over as
 *     GAMELIFT_SDK_AUTH_TOKEN). Refused with 400/401/403 before the
 *     upgrade; the SDK retries with its backoff.
 *   - HeartbeatServerProcess is answered here: the health is noted, and the
 *     healthy processes held are told to rally in one statement a second
 *     (fleetdb.h). Every other action that touches rally's state is
 *     forwarded to the fleet routes that rally's HTTP server SDK calls
 *     (forward.h), so both SDKs share one state machine; the answer is
 *     translated to the SDK's shape (StatusCode, ErrorMessage, times in
 *     epoch milliseconds).
 *   - Pushes: CreateGameSession, UpdateGameSession and TerminateProcess as
 *     fleet.sdk_pushes hands them out (woken by NOTIFY rally_sdk, and every
 *     5 s regardless), RefreshConnection with a new token before the
 *     connection's expires.
 *   - Bad messages (not JSON, binary, no Action or RequestId, an unknown
 *     Action, bad fields) get an error answer with StatusCode 400 and the
 *     connection stays; a frame larger than CONN_MAX_MESSAGE closes it
 *     (1009), as nothing of it can be answered.
 */
#ifndef RALLY_GATEWAY_SDK5_H
#define RALLY_GATEWAY_SDK5_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "fleetdb.h"
#include "forward.h"

struct sdk5_opts {
    int64_t token_ttl;          /* seconds: RefreshConnection's new tokens */
    bool can_sign;              /* a signing key is loaded: RefreshConnection works */
    double heartbeat_window_ms; /* a process silent longer is not kept alive */
};

void sdk5_init(const struct sdk5_opts *o);

/* Whether the handshake's identity may connect; fills c's identity. On
 * refusal, *status and *why say why. */
bool sdk5_admit(struct conn *c, const struct hs_request *req, int *status, const char **why);
/* The connection is open: what rally has for its process is looked up. */
void sdk5_on_open(struct conn *c);
/* One message from the SDK (text or binary). Never frees c. */
void sdk5_on_message(struct conn *c, const char *msg, size_t len, bool text);

/* Answers coming back; each job is freed here. */
void sdk5_forward_done(struct fwd_job *j);
void sdk5_db_done(struct db_job *j);

/* Timers: heartbeats to rally each second, pushes due, refreshes. */
void sdk5_tick(double now_ms);

#endif
