/*
 * rally-matchmaker: the matchmaking daemon (DESIGN §2, §5).
 *
 * One single-threaded loop, woken by PostgreSQL notifications (LISTEN
 * rally_outbox) and by the time the next piece of work is due. It now
 * delivers the events outbox (matchmaker/outbox.c); forming matches and
 * placing them join this loop as the matchmaker is built (docs/matchmaker.md).
 *
 * Environment: libpq's (PGHOST, ... or DATABASE_URL); RALLY_SNS_SIGNING_KEY
 * (PEM private key, a file) and RALLY_SNS_SIGNING_CERT_URL (the
 * SigningCertURL subscribers check); RALLY_OUTBOX_MAX_ATTEMPTS (20),
 * RALLY_OUTBOX_TIMEOUT_MS (5000).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "db.h"
#include "log.h"
#include "outbox.h"
#include "sns.h"

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

static long env_long(const char *name, long def, long lo, long hi)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return def;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end != '\0' || n < lo || n > hi) {
        fprintf(stderr, "rally: invalid configuration: %s: must be a number from %ld to %ld\n",
                name, lo, hi);
        exit(2);
    }
    return n;
}

/* LISTENs again on every new connection; true if listening. */
static bool listening(unsigned long *gen)
{
    PGconn *c = db_connection();
    if (c == NULL)
        return false;
    if (*gen == db_generation())
        return true;
    PGresult *r = PQexec(c, "LISTEN rally_outbox");
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (ok)
        *gen = db_generation();
    return ok;
}

/* Sleeps up to `seconds`, or until a notification or a signal. */
static void wait_for_work(double seconds)
{
    PGconn *c = db_connection();
    int fd = c != NULL ? PQsocket(c) : -1;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int ms = (int)(seconds * 1000);
    if (fd < 0 || poll(&pfd, 1, ms) < 0) {
        if (fd < 0) /* database down: retry at a calm pace */
            poll(NULL, 0, ms);
        return;
    }
    if (PQconsumeInput(c) == 1) {
        PGnotify *n;
        while ((n = PQnotifies(c)) != NULL)
            PQfreemem(n);
    }
}

int main(void)
{
    log_init("matchmaker");
    cfg_load("matchmaker");
    const char *key_path = getenv("RALLY_SNS_SIGNING_KEY");
    const char *cert_url = getenv("RALLY_SNS_SIGNING_CERT_URL");
    if (key_path == NULL || cert_url == NULL) {
        fprintf(stderr, "rally: invalid configuration: RALLY_SNS_SIGNING_KEY and "
                        "RALLY_SNS_SIGNING_CERT_URL are required\n");
        return 2;
    }
    EVP_PKEY *key = sns_load_private_key(key_path);
    if (key == NULL) {
        fprintf(stderr, "rally: invalid configuration: RALLY_SNS_SIGNING_KEY: cannot read %s\n",
                key_path);
        return 2;
    }
    struct outbox_opts opts = {
        .signing_key = key,
        .cert_url = cert_url,
        .max_attempts = (int)env_long("RALLY_OUTBOX_MAX_ATTEMPTS", 20, 1, 1000),
        .timeout_ms = env_long("RALLY_OUTBOX_TIMEOUT_MS", 5000, 100, 60000),
    };

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    db_init("matchmaker", outbox_stmts, OUTBOX_NSTMTS);
    if (outbox_init(&opts, 0) < 0)
        return 1;
    log_info("delivering events (at most %d attempts each)", opts.max_attempts);
    unsigned long gen = 0;
    while (!stopping) {
        if (!listening(&gen)) {
            wait_for_work(1.0);
            continue;
        }
        int n = outbox_deliver(50);
        if (n > 0)
            continue; /* more may be due */
        wait_for_work(n < 0 ? 1.0 : outbox_next_due(1.0));
    }
    log_info("stopped");
    outbox_close();
    db_close();
    EVP_PKEY_free(key);
    return 0;
}
