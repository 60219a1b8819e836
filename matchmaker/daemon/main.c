/*
 * rally-matchmaker: the matchmaking daemon (DESIGN §2, §5).
 *
 * The matching loop runs on the main thread, woken by PostgreSQL
 * notifications (LISTEN rally_tickets, rally_config, rally_acceptance,
 * rally_placement) and by a tick: each tick runs matchmaking and placement
 * for the configurations this process leads (matcher.c, placement.c), and
 * applies its events in place (tick.c), then the group placements
 * (StartGameSessionPlacement) of the queues it leads (group_placement.c).
 * The events outbox is delivered by threads of its own (outbox.c), so
 * signing and HTTP never hold a tick.
 *
 * Environment: libpq's (PGHOST, ... or DATABASE_URL); RALLY_SNS_SIGNING_KEY
 * (PEM private key, a file) and RALLY_SNS_SIGNING_CERT_URL (the
 * SigningCertURL subscribers check); RALLY_OUTBOX_MAX_ATTEMPTS (20),
 * RALLY_OUTBOX_TIMEOUT_MS (5000, at most 25000), RALLY_OUTBOX_PARALLEL (16
 * per thread), RALLY_OUTBOX_THREADS (2), RALLY_MATCHMAKER_TICK_MS (1000);
 * RALLY_PUSH_SOCKET and RALLY_TICKET_TTL_SECONDS as the functions have them.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "db.h"
#include "group_placement.h"
#include "hosting.h"
#include "lead.h"
#include "log.h"
#include "matcher.h"
#include "metrics_http.h"
#include "mm_metrics.h"
#include "outbox.h"
#include "placement.h"
#include "sns.h"
#include "tick.h"
#include "util.h"

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

/* Takes the notifications libpq already holds; true if there were any:
 * tickets or configuration changed, so matchmaking should run now. */
static bool take_notifications(PGconn *c)
{
    bool any = false;
    PGnotify *n;
    while ((n = PQnotifies(c)) != NULL) {
        any = true;
        PQfreemem(n);
    }
    return any;
}

/* Sleeps up to `seconds`, or until a notification or a signal. True if
 * matchmaking should run now (take_notifications). Notifications that
 * arrived during a statement are already read off the socket, so they
 * are taken before sleeping. */
static bool wait_for_work(double seconds)
{
    PGconn *c = db_connection();
    int fd = c != NULL ? PQsocket(c) : -1;
    if (fd >= 0 && take_notifications(c))
        return true;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int ms = (int)(seconds * 1000);
    if (fd < 0 || poll(&pfd, 1, ms) < 0) {
        if (fd < 0) /* database down: retry at a calm pace */
            poll(NULL, 0, ms);
        return false;
    }
    return PQconsumeInput(c) == 1 && take_notifications(c);
}

int main(void)
{
    log_init("matchmaker");
    cfg_load("matchmaker");
    if (metrics_daemon_start("matchmaker") < 0)
        return 1;
    const char *key_path = cfg_env_str("RALLY_SNS_SIGNING_KEY", NULL);
    const char *cert_url = cfg_env_str("RALLY_SNS_SIGNING_CERT_URL", NULL);
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
        .max_attempts = (int)cfg_env_long("RALLY_OUTBOX_MAX_ATTEMPTS", 20, 1, 1000),
        .timeout_ms = cfg_env_long("RALLY_OUTBOX_TIMEOUT_MS", 5000, 100, 25000),
        .parallel = (int)cfg_env_long("RALLY_OUTBOX_PARALLEL", 16, 1, 64),
        .threads = (int)cfg_env_long("RALLY_OUTBOX_THREADS", 2, 1, OUTBOX_MAX_THREADS),
    };

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    double tick = (double)cfg_env_long("RALLY_MATCHMAKER_TICK_MS", 1000, 50, 60000) / 1000.0;
    /* Each module registers its own statements, then one connection
     * prepares them all. */
    if (outbox_init(&opts) < 0)
        return 1;
    mm_metrics_init();
    lead_init();
    hosting_init();
    tick_init();
    matcher_init();
    placement_init();
    group_placement_init();
    db_init("matchmaker");
    if (outbox_start() < 0)
        return 1;
    log_info(
        "matchmaking every %.2fs; delivering events on %d thread(s) (at most %d attempts each)",
        tick, opts.threads, opts.max_attempts);
    unsigned long gen = 0;
    double next_tick = 0;
    while (!stopping) {
        if (!db_listening("LISTEN rally_tickets; LISTEN rally_config; LISTEN rally_acceptance; "
                          "LISTEN rally_placement",
                          &gen)) {
            (void)wait_for_work(1.0);
            continue;
        }
        double now = util_mono_ms() / 1000.0;
        if (now >= next_tick) {
            matcher_tick();
            group_placement_tick();
            next_tick = util_mono_ms() / 1000.0 + tick;
        }
        double until_tick = next_tick - util_mono_ms() / 1000.0;
        if (wait_for_work(until_tick > 0 ? until_tick : 0))
            next_tick = 0;
    }
    log_info("stopping");
    outbox_stop();
    lead_close();
    db_close();
    EVP_PKEY_free(key);
    log_info("stopped");
    return 0;
}
