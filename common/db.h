/*
 * PostgreSQL access: one connection per worker process (per thread, in a
 * daemon that runs several: each thread's calls use its own), every
 * statement prepared once per connection from the tables the process's
 * modules register, and a transparent reconnect after PostgreSQL restarts.
 *
 * While the database is unreachable, db_exec() fails fast with DB_DOWN (the
 * caller answers 503); the next call tries to reconnect. A connection the
 * server closed or condemned while idle (a restart) is replaced before a
 * statement is sent on it, so the first call after the database is back
 * succeeds, db_begin() included. connect_timeout and statement_timeout
 * bound every wait, so a worker never hangs.
 */
#ifndef RALLY_COMMON_DB_H
#define RALLY_COMMON_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

struct arena;

struct db_stmt {
    const char *name;
    const char *sql;
    int nparams;
    /* Safe to send again when the connection broke under it (reads, and
     * writes that are idempotent by construction). */
    bool retry_safe;
};

enum db_rc {
    DB_OK = 0,
    DB_DOWN = -1,  /* no connection: answer 503 */
    DB_ERROR = -2, /* the statement failed: see db_sqlstate() */
};

/* Adds a module's statement table (borrowed for the process lifetime),
 * before any second thread starts:
 * each of its statements is prepared on every connection, the current one
 * included. Names are unique across a process's tables (checked here: a
 * clash aborts). At most 8 tables. */
void db_register(const struct db_stmt *stmts, int nstmts);

/* Declares the database's metrics (metrics.h): connects, losses, errors.
 * Before a function forks its workers; at start in a daemon. */
void db_declare_metrics(void);

/* Names the connection (application_name, borrowed) and tries to connect;
 * a failed connect is not an error here (retried later). */
void db_init(const char *app_name);
void db_close(void);

/* Runs a prepared statement of a registered table with text parameters
 * (NULL = SQL NULL). On DB_OK, *out is a tuples/command-ok result owned by
 * the arena. */
enum db_rc db_exec(struct arena *a, const struct db_stmt *stmt, const char *const *params,
                   PGresult **out);

/* As db_exec, with parameters given as bytes where formats[i] is 1 (of
 * lengths[i] bytes; 0: text, lengths unused; NULL arrays: all text), and
 * every column of the result in PostgreSQL's binary form when
 * binary_result: a bytea both ways as it is, without hex. */
enum db_rc db_exec_bin(struct arena *a, const struct db_stmt *stmt, const char *const *params,
                       const int *lengths, const int *formats, bool binary_result, PGresult **out);

/* Transactions. Between db_begin() and db_commit() or db_rollback(), a
 * broken connection is never replaced under the caller (a statement
 * repeated on a new connection would run outside the transaction): db_exec
 * answers DB_DOWN, and the caller rolls back and starts over. */
enum db_rc db_begin(void);
enum db_rc db_commit(void);
void db_rollback(void);

/* The connection, connecting first when there is none; NULL while the
 * database is down. For LISTEN and notifications, which are not statements
 * of the table. Each new connection bumps db_generation(), so a listener
 * knows to LISTEN again. */
PGconn *db_connection(void);
unsigned long db_generation(void);
/* Runs `listen` (e.g. "LISTEN a; LISTEN b") on each new connection: *gen
 * starts at 0 and remembers the connection listened on. True while
 * listening. */
bool db_listening(const char *listen, unsigned long *gen);

/* SQLSTATE and primary message of the last DB_ERROR (borrowed, valid until
 * the next db_exec). */
const char *db_sqlstate(void);
const char *db_message(void);

/* Field helpers: NULL for SQL NULL. */
const char *db_get(const PGresult *r, int row, int col);

/* For a batch's result whose column col numbers its rows by request, 1..n
 * (WITH ORDINALITY): rows[k] = the first row of request k + 1, or -1 when
 * it has none. */
void db_rows_by_request(const PGresult *r, int col, int *rows, int n);

#endif
