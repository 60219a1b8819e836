/*
 * Explain from the database (engine/explain.h, fm_explain), for
 * rally-admin explain and the server route POST /v1/fleet/matchmaking/explain:
 * the SQL that reads a ticket, its rule set and its pool, and the report
 * made from those rows. No connection here: the caller runs the statements
 * (its own table, or psql-like one-off queries) and passes the results.
 */
#ifndef RALLY_MATCHMAKER_EXPLAIN_DB_H
#define RALLY_MATCHMAKER_EXPLAIN_DB_H

#include <jansson.h>
#include <libpq-fe.h>

/* fm_explain's report from the results of EXPLAIN_TICKET_SQL ($1 ticket id), then of
 * EXPLAIN_RULESET_SQL and EXPLAIN_POOL_SQL ($1 its configuration). Adds
 * TicketId, ConfigurationName and Status; a ticket that is not searching
 * gets only those and a Summary. NULL with *why when the ticket or its rule
 * set cannot be read. */
#define EXPLAIN_TICKET_SQL                                                                         \
    "SELECT configuration_name, status, players::text, "                                           \
    "(extract(epoch FROM created_at) * 1000)::bigint FROM matchmaking.tickets WHERE ticket_id = "  \
    "$1"
#define EXPLAIN_RULESET_SQL                                                                        \
    "SELECT r.body::text FROM matchmaking.configurations c JOIN matchmaking.rule_sets r "          \
    "ON r.name = c.rule_set_name WHERE c.name = $1"
#define EXPLAIN_POOL_SQL                                                                           \
    "SELECT ticket_id, players::text, (extract(epoch FROM created_at) * 1000)::bigint "            \
    "FROM matchmaking.tickets WHERE configuration_name = $1 AND status = 'SEARCHING' "             \
    "ORDER BY created_at LIMIT 2000"
json_t *fm_explain_ticket(const char *ticket_id, const PGresult *ticket, const PGresult *ruleset,
                          const PGresult *pool, double now, const char **why);

#endif
