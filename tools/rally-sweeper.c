/*
 * rally-sweeper: deletes expired rows (ticket results, processed SNS message
 * ids, refresh tokens) in small batches. Reads never depend on it: every read
 * filters on expires_at, so a late sweep only costs disk, never correctness.
 * Each pass also ends fleet processes that stopped heartbeating and times
 * out player sessions past their reservation (fleet.expire()): placement and
 * AcceptPlayerSession check those clocks themselves, so this only makes the
 * outcome visible and frees what the dead held. And it tends the worlds
 * (world.tend): one idle for its idleSeconds is asked to end, one whose game
 * session ended without being asked to is started again (docs/worlds.md).
 *
 * RALLY_SWEEP_INTERVAL (seconds, default 30) between passes; a pass repeats
 * batches of RALLY_SWEEP_BATCH (default 500) while they come back full.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "metrics_http.h"

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

enum { SWEEP, FLEET, WORLDS };
static const struct db_stmt stmts[] = {
    [SWEEP] = {"sweep", "SELECT backend.sweep_expired($1::integer)", 1, true},
    [FLEET] = {"fleet", "SELECT fleet.expire()", 0, true},
    [WORLDS] = {"worlds", "SELECT world.tend($1)", 1, false},
};

int main(void)
{
    log_init("sweeper");
    cfg_load("sweeper");
    if (metrics_daemon_start("sweeper") < 0)
        return 1;
    long interval = cfg_env_long("RALLY_SWEEP_INTERVAL", 30, 1, 86400);
    long batch = cfg_env_long("RALLY_SWEEP_BATCH", 500, 1, 100000);
    char batch_s[32];
    snprintf(batch_s, sizeof(batch_s), "%ld", batch);

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    db_register(stmts, sizeof(stmts) / sizeof(stmts[0]));
    db_init("sweeper");
    struct arena a = {0};
    log_info("sweeping every %lds in batches of %ld", interval, batch);
    while (!stopping) {
        long total = 0;
        for (;;) {
            const char *p[] = {batch_s};
            PGresult *r;
            if (db_exec(&a, &stmts[SWEEP], p, &r) != DB_OK) {
                log_warn("could not sweep: %s", db_message());
                break;
            }
            long n = strtol(db_get(r, 0, 0), NULL, 10);
            arena_reset(&a);
            total += n;
            if (n < batch || stopping)
                break;
        }
        if (total > 0)
            log_info("swept %ld expired rows", total);
        PGresult *r;
        if (db_exec(&a, &stmts[FLEET], NULL, &r) != DB_OK)
            log_warn("could not expire fleet sessions: %s", db_message());
        else if (strcmp(db_get(r, 0, 0), "0") != 0)
            log_info("fleet: %s process(es) and reservation(s) expired", db_get(r, 0, 0));
        arena_reset(&a);
        const char *region[] = {cfg->region};
        if (db_exec(&a, &stmts[WORLDS], region, &r) != DB_OK)
            log_warn("could not tend the worlds: %s", db_message());
        else if (strcmp(db_get(r, 0, 0), "0") != 0)
            log_info("worlds: %s ended for being idle or started again", db_get(r, 0, 0));
        arena_reset(&a);
        for (long s = 0; s < interval && !stopping; s++)
            sleep(1);
    }
    arena_destroy(&a);
    db_close();
    return 0;
}
