#include "fleetdb.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "db.h"
#include "log.h"
#include "util.h"

enum { HEARTBEATS, PUSHES };

static const struct db_stmt stmts[] = {
    [HEARTBEATS] = {"sdk_heartbeats", "SELECT fleet.sdk_heartbeats($1::text[], $2::text[])", 2,
                    true},
    /* Not retry-safe: what it returns is recorded as sent. */
    [PUSHES] = {"sdk_pushes",
                "SELECT process_id, action, message::text "
                "FROM fleet.sdk_pushes($1::text[], $2::text[])",
                2, false},
};

static struct {
    struct queue jobs, *done;
    pthread_t thread;
    volatile int stopping;
} fd_;

struct db_job *db_job_new(enum db_job_kind kind, size_t n)
{
    struct db_job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return NULL;
    j->kind = kind;
    j->fleets = calloc(n + 1, sizeof(char *));
    j->ids = calloc(n + 1, sizeof(char *));
    if (j->fleets == NULL || j->ids == NULL) {
        db_job_free(j);
        return NULL;
    }
    j->n = n;
    return j;
}

void db_job_free(struct db_job *j)
{
    if (j == NULL)
        return;
    for (size_t i = 0; i < j->n; i++) {
        free(j->fleets[i]);
        free(j->ids[i]);
    }
    free(j->fleets);
    free(j->ids);
    for (size_t i = 0; i < j->nrows; i++) {
        free(j->rows[i].process_id);
        free(j->rows[i].action);
        free(j->rows[i].message);
    }
    free(j->rows);
    free(j);
}

static void run(struct db_job *j)
{
    struct arena arena = {0}, *a = &arena;
    const char *p[] = {util_pg_text_array(a, (const char *const *)j->fleets, j->n),
                       util_pg_text_array(a, (const char *const *)j->ids, j->n)};
    PGresult *r;
    int stmt = j->kind == DBJ_HEARTBEATS ? HEARTBEATS : PUSHES;
    if (db_exec(a, &stmts[stmt], p, &r) != DB_OK) {
        log_warn("gateway: %s: %s", stmts[stmt].name, db_message());
        arena_reset(a);
        return;
    }
    j->ok = 1;
    int rows = j->kind == DBJ_PUSHES ? PQntuples(r) : 0;
    j->rows = rows > 0 ? calloc((size_t)rows, sizeof(*j->rows)) : NULL;
    for (int i = 0; j->rows != NULL && i < rows; i++) {
        j->rows[i].process_id = strdup(db_get(r, i, 0));
        j->rows[i].action = strdup(db_get(r, i, 1));
        j->rows[i].message = strdup(db_get(r, i, 2));
        j->nrows++;
    }
    arena_reset(a);
}

/* Hands the notifications libpq holds to the loop, NOTIFIED_BATCH ids a
 * job (fleets[] stays NULL: a notification names only the process). */
#define NOTIFIED_BATCH 256
static void take_notifications(PGconn *c)
{
    PGnotify *n;
    struct db_job *j = NULL;
    while ((n = PQnotifies(c)) != NULL) {
        if (j == NULL && (j = db_job_new(DBJ_NOTIFIED, NOTIFIED_BATCH)) != NULL)
            j->n = 0;
        if (j != NULL && (j->ids[j->n] = strdup(n->extra)) != NULL)
            j->n++;
        PQfreemem(n);
        if (j != NULL && j->n == NOTIFIED_BATCH) {
            j->ok = 1;
            queue_push(fd_.done, &j->node);
            j = NULL;
        }
    }
    if (j != NULL) {
        j->ok = 1;
        queue_push(fd_.done, &j->node);
    }
}

static void *thread_main(void *arg)
{
    (void)arg;
    db_init("rally-gateway");
    unsigned long gen = 0;
    while (!fd_.stopping) {
        bool on = db_listening("LISTEN rally_sdk", &gen);
        PGconn *c = on ? db_connection() : NULL;
        struct pollfd pfd[2] = {{.fd = fd_.jobs.efd, .events = POLLIN},
                                {.fd = c != NULL ? PQsocket(c) : -1, .events = POLLIN}};
        if (c != NULL)
            take_notifications(c);
        /* Down: jobs still come (and fail fast); listening is retried
         * each second. */
        poll(pfd, 2, 1000);
        if (c != NULL && (pfd[1].revents & POLLIN) && PQconsumeInput(c) == 1)
            take_notifications(c);
        struct qnode *n = queue_take_all(&fd_.jobs);
        while (n != NULL) {
            struct qnode *next = n->next;
            run((struct db_job *)n);
            queue_push(fd_.done, n);
            n = next;
        }
    }
    db_close();
    return NULL;
}

int fleetdb_start(struct queue *done)
{
    fd_.done = done;
    if (queue_init(&fd_.jobs) < 0)
        return -1;
    db_register(stmts, 2);
    if (pthread_create(&fd_.thread, NULL, thread_main, NULL) != 0) {
        log_error("gateway: cannot start the database thread");
        return -1;
    }
    return 0;
}

void fleetdb_submit(struct db_job *j)
{
    queue_push(&fd_.jobs, &j->node);
}

void fleetdb_stop(void)
{
    fd_.stopping = 1;
    queue_close(&fd_.jobs);
    pthread_join(fd_.thread, NULL);
    queue_destroy(&fd_.jobs);
}
