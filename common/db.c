/* One libpq connection per process (per thread in a threaded daemon),
 * statements prepared on every (re)connect. */
#include "db.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cfg.h"
#include "log.h"
#include "metrics.h"

/* The connection and its state belong to the calling thread; the table
 * registry below is shared, and complete before any thread starts. */
static _Thread_local PGconn *conn;
static _Thread_local unsigned long generation; /* connections made so far */

/* Shared by the threads (metrics.h: atomic); NULL until declared. */
static struct metric *m_connects, *m_connect_failures, *m_losses, *m_unavailable, *m_errors;

void db_declare_metrics(void)
{
    struct metric_family *connects = metric_family(
        "rally_db_connects_total", METRIC_COUNTER,
        "Connections to PostgreSQL attempted, by result (a reconnect after a restart is one).");
    m_connects = metric_series(connects, "result", "ok", METRIC_END);
    m_connect_failures = metric_series(connects, "result", "failed", METRIC_END);
    m_losses = metric_counter("rally_db_connection_losses_total",
                              "Connections to PostgreSQL found broken under a statement.");
    struct metric_family *errors =
        metric_family("rally_db_errors_total", METRIC_COUNTER,
                      "Statements that failed, by kind: unavailable (answered 503) or statement "
                      "(an error of the statement itself).");
    m_unavailable = metric_series(errors, "kind", "unavailable", METRIC_END);
    m_errors = metric_series(errors, "kind", "statement", METRIC_END);
}
static _Thread_local bool in_transaction; /* between db_begin and db_commit/db_rollback */
static _Thread_local bool doomed;         /* the server said FATAL between statements */
#define MAX_TABLES 8
static struct table {
    const struct db_stmt *stmts;
    int n;
} tables[MAX_TABLES];
static int ntables;
static const char *app;
static _Thread_local char last_state[6];
static _Thread_local char last_msg[256];

static void set_error(const char *state, const char *msg)
{
    snprintf(last_state, sizeof(last_state), "%s", state != NULL ? state : "");
    snprintf(last_msg, sizeof(last_msg), "%s", msg != NULL ? msg : "");
    size_t n = strlen(last_msg);
    while (n > 0 && (last_msg[n - 1] == '\n' || last_msg[n - 1] == ' '))
        last_msg[--n] = '\0';
}

static int run_simple(const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        log_error("could not run session setup: %s", PQerrorMessage(conn));
    PQclear(r);
    return ok ? 0 : -1;
}

/* Messages the server sends outside any statement arrive here. A FATAL
 * one ("terminating connection due to unexpected postmaster exit", an
 * administrator's pg_terminate_backend) means the session is over before
 * the next statement is sent, so that statement is known not to have run. */
static void on_notice(void *arg, const PGresult *r)
{
    (void)arg;
    const char *severity = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *text = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    bool fatal =
        severity != NULL && (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0);
    doomed |= fatal;
    if (fatal)
        log_warn("database session ended by the server: %s", text != NULL ? text : "");
    else
        log_info("database notice: %s", text != NULL ? text : "");
}

/* Whether the connection can take a statement: it exists, libpq thinks it
 * is up, and the server has not closed or condemned it while it sat idle.
 * An idle connection has nothing to read except notifications, notices and
 * a goodbye: when it is readable, libpq reads it now (notifications stay
 * queued for PQnotifies), so a dead session is found before a statement is
 * sent on it rather than after, when nobody could tell whether it ran. */
static bool usable(void)
{
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK || doomed)
        return false;
    struct pollfd p = {.fd = PQsocket(conn), .events = POLLIN};
    for (int i = 0; i < 2 && poll(&p, 1, 0) > 0; i++) {
        /* Twice: a goodbye is a message, then the end of the stream. */
        if (PQconsumeInput(conn) == 0)
            return false;
        (void)PQisBusy(conn); /* parses what came: notices reach on_notice */
        if (doomed || PQstatus(conn) != CONNECTION_OK)
            return false;
    }
    return true;
}

static void drop_connection(void)
{
    PQfinish(conn);
    conn = NULL;
    doomed = false;
}

static int prepare(const struct table *t)
{
    for (int i = 0; i < t->n; i++) {
        const struct db_stmt *s = &t->stmts[i];
        PGresult *r = PQprepare(conn, s->name, s->sql, s->nparams, NULL);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            log_error("could not prepare statement %s: %s", s->name, PQerrorMessage(conn));
        PQclear(r);
        if (!ok)
            return -1;
    }
    return 0;
}

static int connect_and_prepare(void)
{
    const char *url = cfg_env_str("DATABASE_URL", NULL);
    const char *keys[10];
    const char *vals[10];
    int n = 0;
    /* Over TCP (docker-compose), a server that vanished without closing
     * (a host or network gone) is noticed in seconds, not after the
     * kernel's quarter of an hour of retransmissions. Before dbname, so
     * that DATABASE_URL may set its own. */
    keys[n] = "keepalives_idle";
    vals[n++] = "10";
    keys[n] = "keepalives_interval";
    vals[n++] = "5";
    keys[n] = "keepalives_count";
    vals[n++] = "3";
    keys[n] = "tcp_user_timeout";
    vals[n++] = "20000";
    if (url != NULL && *url != '\0') {
        keys[n] = "dbname";
        vals[n++] = url;
    }
    keys[n] = "connect_timeout";
    vals[n++] = "3";
    keys[n] = "application_name";
    vals[n++] = app;
    /* A bound on every statement: a stuck lock answers 503, never a hang. */
    keys[n] = "options";
    vals[n++] = "-c statement_timeout=5000 -c idle_in_transaction_session_timeout=10000";
    keys[n] = NULL;
    vals[n] = NULL;

    drop_connection();
    conn = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(conn) != CONNECTION_OK) {
        log_warn("could not connect to database: %s", PQerrorMessage(conn));
        metric_inc(m_connect_failures);
        drop_connection();
        return -1;
    }
    PQsetNoticeReceiver(conn, on_notice, NULL);
    /* Every query names its schema; nothing resolves through search_path. */
    if (run_simple("SELECT pg_catalog.set_config('search_path', '', false)") < 0)
        goto fail;
    for (int t = 0; t < ntables; t++)
        if (prepare(&tables[t]) < 0)
            goto fail;
    generation++;
    metric_inc(m_connects);
    return 0;
fail:
    metric_inc(m_connect_failures);
    drop_connection();
    return -1;
}

void db_register(const struct db_stmt *stmts, int n)
{
    if (ntables == MAX_TABLES) {
        log_error("more than %d statement tables", MAX_TABLES);
        abort();
    }
    for (int t = 0; t < ntables; t++)
        for (int i = 0; i < tables[t].n; i++)
            for (int j = 0; j < n; j++)
                if (strcmp(tables[t].stmts[i].name, stmts[j].name) == 0) {
                    log_error("two statements named %s", stmts[j].name);
                    abort();
                }
    tables[ntables] = (struct table){stmts, n};
    if (conn != NULL && prepare(&tables[ntables]) < 0)
        drop_connection(); /* the next statement reconnects and prepares all */
    ntables++;
}

void db_init(const char *app_name)
{
    app = app_name;
    connect_and_prepare();
}

PGconn *db_connection(void)
{
    if (!usable())
        connect_and_prepare();
    return conn;
}

unsigned long db_generation(void)
{
    return generation;
}

bool db_listening(const char *listen, unsigned long *gen)
{
    PGconn *c = db_connection();
    if (c == NULL)
        return false;
    if (*gen == generation)
        return true;
    PGresult *r = PQexec(c, listen);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (ok)
        *gen = generation;
    return ok;
}

void db_close(void)
{
    drop_connection();
}

static void pqclear_hook(void *p)
{
    PQclear(p);
}

enum db_rc db_exec(struct arena *a, const struct db_stmt *stmt, const char *const *params,
                   PGresult **out)
{
    return db_exec_bin(a, stmt, params, NULL, NULL, false, out);
}

enum db_rc db_exec_bin(struct arena *a, const struct db_stmt *stmt, const char *const *params,
                       const int *lengths, const int *formats, bool binary_result, PGresult **out)
{
    *out = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        /* A dead connection is replaced before anything is sent, except
         * inside a transaction, which a new connection would not be in. */
        if (!usable() && (in_transaction || connect_and_prepare() < 0)) {
            if (in_transaction)
                drop_connection();
            set_error("08006", "database unavailable");
            metric_inc(m_unavailable);
            return DB_DOWN;
        }
        PGresult *r = PQexecPrepared(conn, stmt->name, stmt->nparams, params, lengths, formats,
                                     binary_result ? 1 : 0);
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            arena_defer(a, pqclear_hook, r);
            *out = r;
            return DB_OK;
        }
        set_error(PQresultErrorField(r, PG_DIAG_SQLSTATE),
                  PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) != NULL
                      ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
                      : PQerrorMessage(conn));
        PQclear(r);
        if (PQstatus(conn) == CONNECTION_OK) {
            /* A statement error on a live connection: the caller decides. */
            bool transient = strncmp(last_state, "57", 2) == 0 || strcmp(last_state, "25P03") == 0;
            metric_inc(transient ? m_unavailable : m_errors);
            return transient ? DB_DOWN : DB_ERROR; /* canceled by timeout or admin: transient */
        }
        /* The connection broke (server restart): drop it and try once more
         * on a new connection when that cannot run the statement twice: the
         * statement is safe to repeat, or the server had already ended this
         * session before our statement reached it (57P01-57P03, or nothing
         * could be sent at all). */
        bool not_sent = strncmp(last_state, "57P0", 4) == 0 ||
                        strstr(last_msg, "could not send") != NULL ||
                        strstr(last_msg, "no connection to the server") != NULL ||
                        strstr(last_msg, "terminating connection due to") != NULL;
        log_warn("database connection lost: %s", last_msg);
        metric_inc(m_losses);
        drop_connection();
        if (in_transaction || (!stmt->retry_safe && !not_sent)) {
            metric_inc(m_unavailable);
            return DB_DOWN;
        }
    }
    return DB_DOWN;
}

/* BEGIN, COMMIT, ROLLBACK: fixed text, nothing to bind. */
static enum db_rc run_control(const char *sql)
{
    if (conn == NULL)
        return DB_DOWN;
    PGresult *r = PQexec(conn, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        set_error(PQresultErrorField(r, PG_DIAG_SQLSTATE), PQerrorMessage(conn));
    /* COMMIT of a transaction a failed statement aborted succeeds as a
     * ROLLBACK: nothing was committed, and the caller must know. */
    if (ok && strcmp(sql, "COMMIT") == 0 && strcmp(PQcmdStatus(r), "ROLLBACK") == 0) {
        set_error("25P02", "the transaction had failed: COMMIT rolled it back");
        ok = false;
    }
    PQclear(r);
    if (ok)
        return DB_OK;
    return PQstatus(conn) == CONNECTION_OK ? DB_ERROR : DB_DOWN;
}

/* BEGIN changes nothing, so a connection found broken by it is replaced
 * and BEGIN sent once more. */
enum db_rc db_begin(void)
{
    enum db_rc rc = DB_DOWN;
    for (int attempt = 0; attempt < 2 && rc == DB_DOWN; attempt++) {
        if (!usable() && connect_and_prepare() < 0)
            return DB_DOWN;
        rc = run_control("BEGIN");
        if (rc == DB_DOWN)
            drop_connection();
    }
    in_transaction = rc == DB_OK;
    return rc;
}

enum db_rc db_commit(void)
{
    enum db_rc rc = run_control("COMMIT");
    in_transaction = false;
    return rc;
}

void db_rollback(void)
{
    if (conn != NULL && PQstatus(conn) == CONNECTION_OK && run_control("ROLLBACK") == DB_DOWN)
        drop_connection();
    in_transaction = false;
}

const char *db_sqlstate(void)
{
    return last_state;
}

const char *db_message(void)
{
    return last_msg;
}

const char *db_get(const PGresult *r, int row, int col)
{
    if (row >= PQntuples(r) || col >= PQnfields(r) || PQgetisnull(r, row, col))
        return NULL;
    return PQgetvalue(r, row, col);
}

void db_rows_by_request(const PGresult *r, int col, int *rows, int n)
{
    for (int k = 0; k < n; k++)
        rows[k] = -1;
    for (int row = 0; row < PQntuples(r); row++) {
        const char *v = db_get(r, row, col);
        long k = v != NULL ? strtol(v, NULL, 10) - 1 : -1;
        if (k >= 0 && k < n && rows[k] < 0)
            rows[k] = (int)row;
    }
}
