/*
 * lanes: the sidecar's write buffer (docs/sidecar.md), the seed's "lazy
 * writes". Blocks and chunk clears are appended to one of a few lanes,
 * chosen by their chunk, so that a chunk's writes always share a lane and
 * reach rally in the order they came. Each lane has one flusher thread with
 * one write to rally in flight, so lanes write in parallel.
 *
 * A lane flushes when it holds flush_blocks entries, when its oldest waited
 * flush_ms, and at once while anyone waits on it (a durable write, a clear,
 * a barrier): what comes while a flush is in flight goes in the next one, so
 * durable writers share commits.
 *
 * Memory is fixed at start: each lane is a ring of `capacity` entries (20
 * bytes each) plus one flush's worth. A writer that finds no room waits up
 * to wait_ms for it, then is refused with 429: the sidecar pushes back.
 *
 * Failures: when rally cannot be reached or answers 5xx, 408 or 429, the
 * flush is tried again, backing off to 2 s, for as long as the sidecar runs:
 * nothing is dropped for an outage. Any other 4xx (the world no longer
 * hosted by this process, 404) drops the entries of that call, tells each
 * waiter whose entries were among them and logs it.
 *
 * Worlds: entries name their world by one of LANES_MAX_WORLDS slots; a
 * slot is free again once no entry of its world is held or in flight.
 *
 * Threads: every function may be called from any thread; one mutex guards
 * the lanes, held only to append or take entries, never across a call to
 * rally.
 */
#ifndef RALLY_SIDECAR_LANES_H
#define RALLY_SIDECAR_LANES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "upstream.h"

/* The flushers' metrics (common/metrics.h): flushes, entries flushed, and
 * how long a flush's oldest entry had waited. Before lanes_start. */
void lanes_declare_metrics(void);

#define LANES_MAX 16
/* The worlds one sidecar writes to (a process hosts one at a time). */
#define LANES_MAX_WORLDS 64

struct lanes_config {
    int nlanes;       /* 1..LANES_MAX */
    size_t capacity;  /* entries a lane holds, at least one flush (10,000) */
    int flush_ms;     /* the longest a buffered entry waits for its flush */
    int flush_blocks; /* a lane holding this many flushes at once */
    int wait_ms;      /* how long a writer waits for room before a 429 */
};

/* What became of a call: status is the HTTP status to answer (200 written,
 * 202 buffered, 429 no room, 503 stopping, 504 not written in time, or
 * rally's refusal), message says why when it is not 2xx, body is rally's
 * answer to a clear. */
struct lanes_result {
    int status;
    char message[240];
    char body[256];
    size_t dropped; /* a barrier's: entries rally refused among those it waited for */
};

struct lanes;

/* Starts the flushers, calling rally through u (borrowed; it must outlive
 * the lanes). NULL when memory or threads ran out. */
struct lanes *lanes_start(const struct lanes_config *cfg, struct upstream *u);

/* Stops taking writes (503), writes out what is buffered, trying for up to
 * deadline_ms, then ends the flushers; waiters get their answers, and every
 * later call 503 at once. Returns the entries that were not written. */
size_t lanes_drain(struct lanes *l, int deadline_ms);

/* Drains (at once) and frees; no call may be in progress or come after. */
void lanes_free(struct lanes *l);

/* Buffers n checked blocks ([x, y, z, w]) of world; with durable, returns
 * only once they are committed (or timeout_ms passed: 504, and they stay
 * buffered). All or nothing: when there is no room for every block, none
 * is buffered. */
void lanes_write(struct lanes *l, const char *world, const long (*blocks)[4], size_t n,
                 bool durable, int timeout_ms, struct lanes_result *out);

/* Clears chunk (p, q) of world after the writes buffered before it, and
 * before those after it; returns once rally answered. */
void lanes_clear(struct lanes *l, const char *world, long p, long q, int timeout_ms,
                 struct lanes_result *out);

/* Returns once everything buffered before the call is written or refused
 * (200, with out->dropped the refused), or after timeout_ms (504). */
void lanes_barrier(struct lanes *l, int timeout_ms, struct lanes_result *out);

/* Counters and what each lane holds, as JSON (a new reference). */
json_t *lanes_status(struct lanes *l);

#endif
