/*
 * The outbox deliverer: due rows of events.deliveries become signed SNS
 * Notifications POSTed to their subscriber (sql/005_events.sql).
 *
 * Runs inside rally-matchmaker's loop. Uses the process's db connection
 * (common/db.h) with the statements it registers, and a libcurl multi
 * handle: the deliveries of a batch run side by side, up to `parallel`
 * connections, each easy handle keeping its connection for the next batch.
 */
#ifndef RALLY_MATCHMAKER_OUTBOX_H
#define RALLY_MATCHMAKER_OUTBOX_H

#include <openssl/evp.h>

#include "db.h"

struct outbox_opts {
    EVP_PKEY *signing_key; /* borrowed */
    const char *cert_url;  /* SigningCertURL of every message */
    int max_attempts;      /* then the delivery is a dead letter */
    long timeout_ms;       /* per HTTP request */
    int parallel;          /* deliveries in flight at once */
};

/* The most deliveries claimed at once. */
#define OUTBOX_MAX_BATCH 64

/* Prepares the deliverer and registers its statements (db_register);
 * before db_init. 0, or -1 if libcurl cannot start. */
int outbox_init(const struct outbox_opts *opts);
void outbox_close(void);

/* Delivers up to `batch` due deliveries (at most OUTBOX_MAX_BATCH),
 * `parallel` at a time. Returns how many were attempted (0: nothing due),
 * or -1 when the database is unavailable. */
int outbox_deliver(int batch);

/* Seconds until the next delivery is due (capped at `cap`), for sleeping. */
double outbox_next_due(double cap);

#endif
