/*
 * upstream: the sidecar's calls to rally's world-state, made with its game
 * server process's credentials: a server token of the fleet, fetched with
 * the fleet secret (POST /v1/identity/server), shared by every thread, and
 * fetched again a minute before it expires or when rally refuses it (401).
 *
 * Threads: a struct upstream is shared (its token under its own mutex); each
 * thread makes its own struct upstream_conn, whose libcurl handle keeps its
 * connection to rally between calls.
 *
 * Ownership: upstream_new copies its strings and wipes its copy of the
 * secret when freed. A call's answer lives in the conn until its next call.
 */
#ifndef RALLY_SIDECAR_UPSTREAM_H
#define RALLY_SIDECAR_UPSTREAM_H

#include <stddef.h>

#include "rally_http.h"

struct upstream;

struct upstream_conn {
    struct upstream *u;
    /* The last answer: its body (http.buf, http.len) and Content-Type. */
    struct rally_http http;
    /* Why the last call failed, when it did. */
    char error[160];
    /* The longest the next call may take (0: a minute). */
    long timeout_ms;
    /* Non-NULL: calls end once it is true (the sidecar giving up). */
    const _Atomic bool *cancel;
};

/* NULL when memory ran out. With a process_id (the agent's: the game
 * server's GAMELIFT_SDK_PROCESS_ID), every call says it is that process's
 * (X-Rally-Process-Id), and rally lets it use only the world a game session
 * of that process hosts: once its process is gone and the world runs
 * elsewhere, what a sidecar still holds is refused, never written over the
 * new server's writes. NULL: any world of the fleet's. */
struct upstream *upstream_new(const char *url, const char *fleet_id, const char *fleet_secret,
                              const char *process_id);
void upstream_free(struct upstream *u);

/* 0, or -1 when libcurl could not make a handle. */
int upstream_conn_init(struct upstream_conn *c, struct upstream *u);
void upstream_conn_cleanup(struct upstream_conn *c);

/* One call: path with its query ("/v1/worlds/w1/items?key=k"), body the
 * len bytes sent as content_type (NULL body: none). Returns the HTTP status,
 * or 0 when rally could not be reached or refused the fleet's credentials
 * (c->error says which). */
long upstream_call(struct upstream_conn *c, const char *method, const char *path,
                   const char *content_type, const void *body, size_t len);

#endif
