/*
 * Why a ticket does not match: the debugging FlexMatch users ask for.
 *
 * The ticket is tried with each other ticket of the pool as a two-ticket
 * potential match, every team placement that fits, the expansions in force
 * now. For each rule: with how many of them it fails and, for a rule with a
 * numeric limit (maxDistance, minDistance, maxLatency, minCount, maxCount),
 * the value the closest of them would need, next to the value now and the
 * value once every expansion has run. Rules that a two-ticket match cannot
 * decide (counts, empty teams) are reported as undecided, not failed.
 */
#ifndef RALLY_MATCHMAKER_EXPLAIN_H
#define RALLY_MATCHMAKER_EXPLAIN_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>

#include "match.h"
#include "ruleset.h"

/* A report for `ticket` against the other tickets of `pool` (n of them, the
 * ticket itself skipped if present), at time `now` (seconds since the
 * epoch). New reference:
 *   {"Players": int, "AgeSeconds": n, "PoolSize": n, "MatchNeeds": n,
 *    "CompatibleTickets": n, "Rules": [{"Name", "Type", "FailsWith",
 *    "PassesWith", "Undecided", "Limit"?: {"Property", "Now", "Eventually",
 *    "ClosestNeeds"?}}], "Summary": "..."} */
json_t *fm_explain(const struct fm_ruleset *rs, const struct fm_ticket *ticket,
                   const struct fm_ticket *const *pool, size_t n, double now);

/* The same from the database, for rally-admin explain and the server
 * route: the results of EXPLAIN_TICKET_SQL ($1 ticket id), then of
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
