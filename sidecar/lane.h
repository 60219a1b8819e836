/*
 * The insides of the sidecar's write buffer (lanes.h), shared by lanes.c
 * (appending, waiting, the public calls) and flusher.c (each lane's thread,
 * writing to rally). Nothing else includes this.
 *
 * Sequence numbers: each lane numbers its entries from 1 as they are
 * appended (seq_in: the last appended), taken by a flush (seq_taken) and
 * written or refused (seq_done). A ticket waits on each lane for a range of
 * them; since a call appends all its entries under one lock, its entries in
 * a lane are consecutive.
 *
 * Locking: lanes.mu guards every field but those marked "flusher's", which
 * only the lane's flusher touches, outside the lock, while it flushes; it
 * reads them back under the lock (release) before taking the next batch.
 */
#ifndef RALLY_SIDECAR_LANE_H
#define RALLY_SIDECAR_LANE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lanes.h"
#include "worldblock.h"

/* The most entries one flush takes: one write of world-state's at most. */
#define FLUSH_MAX WORLD_MAX_BLOCKS
/* The most clears one flush takes (each is a call of its own). */
#define FLUSH_MAX_CLEARS 32
/* A block's JSON at most: "[-33554432,255,-33554432,-2147483648],". */
#define BLOCK_TEXT 40

enum entry_kind { BLOCK, CLEAR };

/* A block (x, y, z, w), or a clear of chunk (x, z) = (p, q). */
struct entry {
    int32_t x, y, z, w;
    uint16_t world;
    uint8_t kind;
};

enum ticket_kind { WRITE, CLEAR_WAIT, BARRIER };

struct ticket;

/* A ticket's wait on one lane: for entries first..last (inclusive). */
struct wait_node {
    struct ticket *t;
    uint64_t first, last;
    bool linked;
    struct wait_node *next;
};

/* Someone waiting for entries to be written; lives on the waiter's stack. */
struct ticket {
    enum ticket_kind kind;
    int outstanding; /* lanes still to write what it waits for */
    struct lanes_result *out;
    size_t dropped; /* a barrier's: entries of its ranges rally refused */
    struct wait_node nodes[LANES_MAX];
};

/* What became of a world's entries in one flush: the first refusal. */
struct outcome {
    int status; /* 0: nothing refused */
    char message[200];
};

/* A clear's answer in one flush, by its entry's sequence number. */
struct clear_answer {
    uint64_t seq;
    int status;
    char body[256];
};

struct lane {
    struct lanes *l;
    int index;
    pthread_t thread;
    bool started;
    pthread_cond_t work;
    /* The ring: count entries from head. */
    struct entry *ring;
    size_t head, count;
    uint64_t seq_in, seq_taken, seq_done;
    double oldest_ms; /* when the ring's oldest entry came, about */
    struct wait_node *waiters;
    /* The flusher's: the batch taken (batch[i] is entry batch_first + i),
     * which of its entries rally refused, what it answered each world and
     * each clear, the JSON text of a write, the connection to rally. */
    struct entry *batch;
    uint64_t batch_first;
    bool *refused;
    struct outcome outcome[LANES_MAX_WORLDS];
    struct clear_answer clears[FLUSH_MAX_CLEARS];
    size_t nclears;
    char *text;
    struct upstream_conn conn;
};

struct lanes {
    struct lanes_config cfg;
    pthread_mutex_t mu;
    pthread_cond_t done, room;
    bool stopping, give_up;
    _Atomic bool cancel; /* give_up, for the calls in flight (upstream_conn.cancel) */
    double stop_by;      /* monotonic ms: drain's deadline */
    int inside;          /* calls of lanes_* in progress */
    /* Worlds by index; a slot whose refs (entries held or in flight) fell
     * to 0 may be taken by another world. */
    char worlds[LANES_MAX_WORLDS][129];
    size_t refs[LANES_MAX_WORLDS];
    /* Counters, in entries. */
    uint64_t received, written, dropped, refused, flushes, retries, abandoned;
    size_t held_max; /* the most the lanes held at once */
    struct lane lanes[LANES_MAX];
};

/* Monotonic milliseconds. */
double lanes_now_ms(void);

/* Waits on cond until at (monotonic ms); false once it passed. */
bool lanes_wait_until(pthread_cond_t *cond, pthread_mutex_t *mu, double at);

/* The lane's thread (flusher.c). */
void *lanes_flusher(void *lane);

/* After a flush through `through`: tells the waiters what became of their
 * entries in it, and lets go of those it finished (lanes.c). Under mu. */
void lanes_release(struct lane *ln, uint64_t through);

#endif
