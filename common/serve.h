/*
 * The FastCGI process model shared by every function binary.
 *
 * serve_main() opens the listening socket, forks cfg->workers worker
 * processes (fewer for a service with a batch: serve.c) that each run the
 * reentrant libfcgi accept loop, and supervises
 * them: a worker that dies is restarted (with a pause if it keeps dying);
 * SIGTERM/SIGINT stop accepting, let every in-flight request finish, and
 * exit; SIGHUP replaces the workers one by one (they reload keys).
 */
#ifndef RALLY_COMMON_SERVE_H
#define RALLY_COMMON_SERVE_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

struct db_stmt;

/* Requests answered many at a time (serve.c, "Batches"): a route's handler
 * that can wait calls serve_defer() instead of answering; once a worker has
 * run every request waiting on its socket, it calls run() once with the
 * deferred ones, in arrival order, and run() answers each (http_reply, or
 * an error), or defers it again (serve_defer) to be run again with the
 * others it deferred, after the answered ones are sent: one that must wait
 * for something need not hold the others' answers. A request still
 * deferred after SERVE_BATCH_RUNS runs is answered 500. Every request's
 * arena lives until run() returns; an answered one's is released after its
 * answer is sent, so what an answer holds must be its own (http_reply's
 * JSON). */
#define SERVE_BATCH_MAX 64
#define SERVE_BATCH_RUNS 2
struct serve_batch {
    int max; /* requests a worker takes at once, 1..SERVE_BATCH_MAX */
    void (*run)(struct http_req *const *reqs, struct http_resp *const *resps, int n);
};

struct service {
    const char *name;
    size_t max_body; /* larger bodies get 413 */
    const struct http_route *routes;
    size_t nroutes;
    const struct db_stmt *stmts; /* NULL for functions without a database */
    int nstmts;
    bool signs_tokens;    /* load the private key of the current kid */
    bool verifies_tokens; /* load the public kid set */
    /* Per-worker start-up after the database and keys; 0 or -1 (exit). */
    int (*worker_init)(void);
    /* The function's own metrics (metrics.h), declared by the master before
     * it forks, when metrics are on; NULL: none. */
    void (*declare_metrics)(void);
    /* NULL: one request at a time. Else this batch answers what handlers
     * defer, with one worker a core. */
    const struct serve_batch *batch;
};

/* Leaves the request to the service's batch (struct serve_batch), with
 * arg for it (req->deferred_arg; it must live as long as the request); a
 * handler returns right after. Only for a service that has one: elsewhere
 * the request is answered 500. */
void serve_defer(struct http_req *req, const void *arg);

/* Never returns: exits 0 after a clean shutdown, 1 on a start-up failure. */
__attribute__((noreturn)) void serve_main(const struct service *svc);

/* Maps a db_exec failure onto the response: 503 for DB_DOWN, else 500. */
void serve_db_error(struct http_req *req, struct http_resp *resp, int rc);

/* db_exec of one statement for a handler: its result (the request's
 * arena owns it), or NULL after answering the failure (serve_db_error). */
struct pg_result *serve_exec(struct http_req *req, struct http_resp *resp,
                             const struct db_stmt *stmt, const char *const *params);

#endif
