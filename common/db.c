/* One libpq connection per process, statements prepared on every (re)connect. */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "log.h"

static PGconn *conn;
static unsigned long generation; /* connections made so far */
static bool in_transaction;      /* between db_begin and db_commit/db_rollback */
static const struct db_stmt *stmts;
static int nstmts;
static const char *app;
static char last_state[6];
static char last_msg[256];

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

static int connect_and_prepare(void)
{
    const char *url = getenv("DATABASE_URL");
    const char *keys[5];
    const char *vals[5];
    int n = 0;
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

    conn = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(conn) != CONNECTION_OK) {
        log_warn("could not connect to database: %s", PQerrorMessage(conn));
        PQfinish(conn);
        conn = NULL;
        return -1;
    }
    /* Every query names its schema; nothing resolves through search_path. */
    if (run_simple("SELECT pg_catalog.set_config('search_path', '', false)") < 0)
        goto fail;
    for (int i = 0; i < nstmts; i++) {
        PGresult *r = PQprepare(conn, stmts[i].name, stmts[i].sql, stmts[i].nparams, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            log_error("could not prepare statement %s: %s", stmts[i].name, PQerrorMessage(conn));
            PQclear(r);
            goto fail;
        }
        PQclear(r);
    }
    generation++;
    return 0;
fail:
    PQfinish(conn);
    conn = NULL;
    return -1;
}

void db_init(const char *app_name, const struct db_stmt *table, int n)
{
    app = app_name;
    stmts = table;
    nstmts = n;
    connect_and_prepare();
}

PGconn *db_connection(void)
{
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
        PQfinish(conn);
        conn = NULL;
        connect_and_prepare();
    }
    return conn;
}

unsigned long db_generation(void)
{
    return generation;
}

void db_close(void)
{
    PQfinish(conn);
    conn = NULL;
}

static void pqclear_hook(void *p)
{
    PQclear(p);
}

enum db_rc db_exec(struct arena *a, int idx, const char *const *params, PGresult **out)
{
    *out = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (conn == NULL && (in_transaction || connect_and_prepare() < 0)) {
            set_error("08006", "database unavailable");
            return DB_DOWN;
        }
        PGresult *r =
            PQexecPrepared(conn, stmts[idx].name, stmts[idx].nparams, params, NULL, NULL, 0);
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
            if (strncmp(last_state, "57", 2) == 0 || strcmp(last_state, "25P03") == 0)
                return DB_DOWN; /* canceled by timeout or admin: transient */
            return DB_ERROR;
        }
        /* The connection broke (server restart): drop it and try once more
         * on a new connection when that cannot run the statement twice: the
         * statement is safe to repeat, or the server had already ended this
         * session before our statement reached it (57P01-57P03, or nothing
         * could be sent at all). */
        bool not_sent = strncmp(last_state, "57P0", 4) == 0 ||
                        strstr(last_msg, "could not send") != NULL ||
                        strstr(last_msg, "no connection to the server") != NULL ||
                        strstr(last_msg, "terminating connection due to administrator") != NULL;
        log_warn("database connection lost: %s", last_msg);
        PQfinish(conn);
        conn = NULL;
        if (in_transaction || (!stmts[idx].retry_safe && !not_sent))
            return DB_DOWN;
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
    PQclear(r);
    if (ok)
        return DB_OK;
    return PQstatus(conn) == CONNECTION_OK ? DB_ERROR : DB_DOWN;
}

enum db_rc db_begin(void)
{
    if (conn == NULL && connect_and_prepare() < 0)
        return DB_DOWN;
    enum db_rc rc = run_control("BEGIN");
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
    if (conn != NULL && PQstatus(conn) == CONNECTION_OK)
        run_control("ROLLBACK");
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
