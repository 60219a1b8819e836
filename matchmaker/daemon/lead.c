/* Leadership by session advisory locks (lead.h). */
#include "lead.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "mm_metrics.h"

enum { LEAD };

static const struct db_stmt stmts[] = {
    /* Held for the life of the session. */
    [LEAD] = {"mm_lead", "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", 1, true},
};

/* The locks this process holds, on connection `led_generation`. */
#define MAX_LED 256
static char *led[MAX_LED];
static size_t nled;
static unsigned long led_generation;

void lead_init(void)
{
    db_register(stmts, sizeof(stmts) / sizeof(stmts[0]));
}

void lead_close(void)
{
    for (size_t i = 0; i < nled; i++)
        free(led[i]);
    nled = 0;
}

/* The advisory lock's key and the log's word for each kind. The key of a
 * configuration is what daemons before lead.c took: a daemon of either
 * version waits for the other. */
static const char *const lock_prefix[] = {
    [LEAD_CONFIGURATION] = "rally-matchmaker:", [LEAD_QUEUE] = "rally-queue:"};
static const char *const kind_name[] = {
    [LEAD_CONFIGURATION] = "configuration", [LEAD_QUEUE] = "queue"};

bool lead_holds(struct arena *a, enum lead_kind kind, const char *name)
{
    const char *lock = arena_sprintf(a, "%s%s", lock_prefix[kind], name);
    if (led_generation != db_generation()) {
        lead_close();
        led_generation = db_generation();
    }
    for (size_t i = 0; i < nled; i++)
        if (strcmp(led[i], lock) == 0)
            return true;
    /* pg_try_advisory_lock stacks: asked once per connection. */
    const char *p[] = {lock};
    PGresult *r;
    if (nled == MAX_LED || db_exec(a, &stmts[LEAD], p, &r) != DB_OK ||
        strcmp(db_get(r, 0, 0), "t") != 0)
        return false;
    if (led_generation != db_generation()) /* reconnected while asking */
        return false;
    led[nled] = strdup(lock);
    if (led[nled] == NULL)
        abort();
    log_info("leading %s %s", kind_name[kind], name);
    mm_metrics_lead(kind_name[kind]);
    nled++;
    return true;
}

bool lead_current(void)
{
    return led_generation == db_generation();
}
