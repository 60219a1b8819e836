/*
 * The gateway's own database work, on one thread with one connection
 * (common/db.h): LISTEN rally_sdk for the processes rally has something to
 * tell (sql/018_sdk5.sql), the heartbeats of the processes held, in one
 * statement, and the pushes they are due (fleet.sdk_pushes, which records
 * each as sent).
 *
 * Ownership: a submitted job belongs to the thread until it comes back on
 * the done queue, answered; notifications come as DBJ_NOTIFIED jobs. The
 * taker frees each with db_job_free().
 */
#ifndef RALLY_GATEWAY_FLEETDB_H
#define RALLY_GATEWAY_FLEETDB_H

#include <stddef.h>

#include "threadq.h"

enum db_job_kind {
    DBJ_HEARTBEATS, /* in: pairs; out: ok */
    DBJ_PUSHES,     /* in: pairs; out: rows */
    DBJ_NOTIFIED,   /* from the thread: ids (in fleets[] unused) */
};

struct db_push {
    char *process_id, *action, *message; /* message: a JSON object's text */
};

struct db_job {
    struct qnode node;
    enum db_job_kind kind;
    /* (fleets[i], ids[i]): the processes, malloc'd with their strings. */
    size_t n;
    char **fleets, **ids;
    /* The answer. */
    int ok; /* 1: done; 0: the database did not answer */
    size_t nrows;
    struct db_push *rows;
};

/* Starts the thread; answered jobs and notifications go to done. */
int fleetdb_start(struct queue *done);
void fleetdb_submit(struct db_job *j);
void fleetdb_stop(void);

/* A job with room for n pairs (strings still NULL); NULL without memory. */
struct db_job *db_job_new(enum db_job_kind kind, size_t n);
void db_job_free(struct db_job *j);

#endif
