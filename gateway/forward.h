/*
 * Forwarding: the SDK 5 calls that change or read rally's state go to
 * rally's own fleet routes over HTTP (through nginx, with the process's
 * own token), so that every rule, owner check and refusal lives once, in
 * the functions that rally's HTTP server SDK calls too. A pool of threads
 * does the exchanges, each on its own keep-alive connection, and hands
 * each job back, answered, on the done queue.
 *
 * Ownership: a submitted job belongs to the pool until it comes back on
 * the done queue; then to the taker, who frees it with fwd_job_free().
 */
#ifndef RALLY_GATEWAY_FORWARD_H
#define RALLY_GATEWAY_FORWARD_H

#include <stdint.h>

#include "threadq.h"

struct fwd_job {
    struct qnode node;
    /* Whom the answer is for (the event loop's bookkeeping). */
    uint32_t slot, gen;
    int action;
    char request_id[129];
    /* The request (malloc'd; body may be NULL). */
    const char *method;
    char *path, *body, *token;
    /* The answer: HTTP status (0: rally did not answer) and body
     * (malloc'd, NULL when none). */
    long status;
    char *response;
};

/* Starts nthreads workers sending to base_url ("http://127.0.0.1:8080");
 * answered jobs go to done. 0, or -1 after logging why. */
int forward_start(const char *base_url, int nthreads, struct queue *done);
void forward_submit(struct fwd_job *j);
/* Stops the workers once the jobs already submitted are answered. */
void forward_stop(void);

void fwd_job_free(struct fwd_job *j);

#endif
