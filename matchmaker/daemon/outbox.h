/*
 * The outbox deliverers: due rows of events.deliveries become signed SNS
 * Notifications POSTed to their subscriber (sql/005_events.sql).
 *
 * They run beside the matching loop, never in it: `threads` deliverer
 * threads, each with its own database connection (common/db.h connections
 * are per thread), its own LISTEN rally_outbox, and a libcurl multi handle
 * whose easy handles keep their connections from batch to batch. A thread
 * claims a batch (SKIP LOCKED: threads and other matchmakers never claim
 * the same delivery), signs it, sends it `parallel` at a time, and records
 * the outcomes in one statement, so signing (RSA, ~0.4 ms a message) runs
 * on as many cores as there are threads while the matcher keeps its own.
 */
#ifndef RALLY_MATCHMAKER_OUTBOX_H
#define RALLY_MATCHMAKER_OUTBOX_H

#include <openssl/evp.h>

struct outbox_opts {
    EVP_PKEY *signing_key; /* borrowed, shared by the threads (read-only) */
    const char *cert_url;  /* SigningCertURL of every message */
    int max_attempts;      /* then the delivery is a dead letter */
    long timeout_ms;       /* per HTTP request */
    int parallel;          /* deliveries in flight at once, per thread */
    int threads;           /* deliverer threads, at most OUTBOX_MAX_THREADS */
};

/* The most deliveries one thread claims at once, and the most threads. */
#define OUTBOX_MAX_BATCH 128
#define OUTBOX_MAX_THREADS 8

/* Registers the deliverers' statements (db_register) and starts libcurl;
 * before db_init and before any thread. 0, or -1 if libcurl cannot start. */
int outbox_init(const struct outbox_opts *opts);

/* Starts the deliverer threads. 0, or -1 (logged) if none could start. */
int outbox_start(void);

/* Asks the threads to stop, waits for them, and frees what outbox_init
 * took. An idle thread notices within a second; one with a batch in flight
 * finishes it first (its claim is sized to end within 25 s). */
void outbox_stop(void);

#endif
