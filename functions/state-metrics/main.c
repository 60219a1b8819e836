/*
 * state-metrics: what the database holds, as Prometheus gauges, counted when
 * scraped (GET /metrics/state-metrics through nginx, with the scrape token):
 * tickets in matchmaking by configuration and status and the oldest one
 * waiting, each configuration's timeout, processes, idle processes, game
 * sessions and seats by fleet, location and status, each location's capacity,
 * and the events outbox's backlog and dead letters.
 *
 * One statement reads it all, so a scrape costs one round trip; it has no
 * other route. The processes' own counters (requests, ticks, deliveries)
 * are each process's metrics; this is the state they leave behind, the
 * same whichever process is asked, which is why one function says it.
 */
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "serve.h"

/* The families of the statement's rows, by the row's first column. */
static const struct {
    const char *name;
    enum metric_type type;
    const char *help;
    const char *labels[3];
} families[] = {
    {"rally_matchmaking_tickets",
     METRIC_GAUGE,
     "Tickets in matchmaking (QUEUED, SEARCHING, REQUIRES_ACCEPTANCE, PLACING), by "
     "configuration and status.",
     {"configuration", "status", NULL}},
    {"rally_matchmaking_oldest_waiting_ticket_seconds",
     METRIC_GAUGE,
     "Age of the oldest QUEUED or SEARCHING ticket, by configuration.",
     {"configuration", NULL, NULL}},
    {"rally_matchmaking_request_timeout_seconds",
     METRIC_GAUGE,
     "A configuration's RequestTimeoutSeconds.",
     {"configuration", NULL, NULL}},
    {"rally_fleet_processes",
     METRIC_GAUGE,
     "Game-server processes, by fleet, location and status.",
     {"fleet", "location", "status"}},
    {"rally_fleet_idle_processes",
     METRIC_GAUGE,
     "ACTIVE processes without a game session, by fleet and location (every location of a "
     "fleet, 0 included).",
     {"fleet", "location", NULL}},
    {"rally_fleet_game_sessions",
     METRIC_GAUGE,
     "Game sessions, by fleet, location and status.",
     {"fleet", "location", "status"}},
    {"rally_fleet_player_sessions",
     METRIC_GAUGE,
     "Seats of running game sessions, by fleet, location and status: RESERVED or ACTIVE.",
     {"fleet", "location", "status"}},
    {"rally_fleet_capacity",
     METRIC_GAUGE,
     "A location's capacity settings: desired, minimum and maximum processes.",
     {"fleet", "location", "setting"}},
    {"rally_events_outbox_backlog",
     METRIC_GAUGE,
     "Event deliveries to subscribers not yet made.",
     {NULL, NULL, NULL}},
    {"rally_events_outbox_oldest_due_seconds",
     METRIC_GAUGE,
     "How long the most overdue delivery has been due (0: none is).",
     {NULL, NULL, NULL}},
    {"rally_events_dead_letters",
     METRIC_GAUGE,
     "Event deliveries given up on and kept in events.dead_letters.",
     {NULL, NULL, NULL}},
};
#define NFAMILIES (int)(sizeof(families) / sizeof(families[0]))

enum { STATE };

/* Seats of the running game sessions are RESERVED and ACTIVE together
 * (seats_taken), the RESERVED ones counted by their index; tickets in
 * matchmaking by theirs (tickets_active): what a scrape reads stays small
 * however many ended tickets and seats are kept. */
#define STATE_SQL                                                                                  \
    "WITH seats AS (SELECT fleet_id, location, sum(seats_taken) AS taken "                         \
    "  FROM fleet.game_sessions WHERE status IN ('ACTIVATING', 'ACTIVE') GROUP BY 1, 2), "         \
    "reserved AS (SELECT g.fleet_id, g.location, count(*) AS n "                                   \
    "  FROM fleet.player_sessions p JOIN fleet.game_sessions g USING (game_session_id) "           \
    "  WHERE p.status = 'RESERVED' GROUP BY 1, 2) "                                                \
    "SELECT 0, configuration_name, status, NULL, count(*)::float8 FROM matchmaking.tickets "       \
    "  WHERE status IN ('QUEUED', 'SEARCHING', 'REQUIRES_ACCEPTANCE', 'PLACING') GROUP BY 2, 3 "   \
    "UNION ALL SELECT 1, configuration_name, NULL, NULL, "                                         \
    "  extract(epoch FROM now() - min(created_at))::float8 "                                       \
    "  FROM matchmaking.tickets WHERE status IN ('QUEUED', 'SEARCHING') GROUP BY 2 "               \
    "UNION ALL SELECT 2, name, NULL, NULL, (body->>'RequestTimeoutSeconds')::float8 "              \
    "  FROM matchmaking.configurations "                                                           \
    "  WHERE jsonb_typeof(body->'RequestTimeoutSeconds') = 'number' "                              \
    "UNION ALL SELECT 3, fleet_id, location, status, count(*)::float8 "                            \
    "  FROM fleet.processes GROUP BY 2, 3, 4 "                                                     \
    "UNION ALL SELECT 4, c.fleet_id, c.location, NULL, "                                           \
    "  (SELECT count(*) FROM fleet.processes p WHERE p.fleet_id = c.fleet_id "                     \
    "   AND p.location = c.location AND p.status = 'ACTIVE' "                                      \
    "   AND p.game_session_id IS NULL)::float8 "                                                   \
    "  FROM fleet.location_capacity c "                                                            \
    "UNION ALL SELECT 5, fleet_id, location, status, count(*)::float8 "                            \
    "  FROM fleet.game_sessions GROUP BY 2, 3, 4 "                                                 \
    "UNION ALL SELECT 6, s.fleet_id, s.location, 'RESERVED', coalesce(r.n, 0)::float8 "            \
    "  FROM seats s LEFT JOIN reserved r USING (fleet_id, location) "                              \
    "UNION ALL SELECT 6, s.fleet_id, s.location, 'ACTIVE', (s.taken - coalesce(r.n, 0))::float8 "  \
    "  FROM seats s LEFT JOIN reserved r USING (fleet_id, location) "                              \
    "UNION ALL SELECT 7, fleet_id, location, s, v::float8 "                                        \
    "  FROM fleet.location_capacity, LATERAL (VALUES ('desired', desired), "                       \
    "  ('minimum', minimum), ('maximum', maximum)) AS x(s, v) "                                    \
    "UNION ALL SELECT 8, NULL, NULL, NULL, count(*)::float8 FROM events.deliveries "               \
    "UNION ALL SELECT 9, NULL, NULL, NULL, "                                                       \
    "  coalesce(greatest(0, extract(epoch FROM now() - min(next_attempt_at))), 0)::float8 "        \
    "  FROM events.deliveries "                                                                    \
    "UNION ALL SELECT 10, NULL, NULL, NULL, count(*)::float8 FROM events.dead_letters "            \
    "ORDER BY 1, 2, 3, 4"

static const struct db_stmt stmts[] = {
    [STATE] = {"state", STATE_SQL, 0, true},
};

/* Writes the statement's rows, family by family (they come ordered). */
static void write_rows(struct metrics_text *out, PGresult *r)
{
    int last = -1;
    for (int i = 0; i < PQntuples(r); i++) {
        int f = (int)strtol(db_get(r, i, 0), NULL, 10);
        if (f < 0 || f >= NFAMILIES)
            continue;
        if (f != last)
            metrics_write_family(out, families[f].name, families[f].type, families[f].help);
        last = f;
        char labels[512];
        const char *v[3];
        for (int k = 0; k < 3; k++)
            v[k] = db_get(r, i, k + 1) != NULL ? db_get(r, i, k + 1) : "";
        /* Label names end at the first NULL: the rest are not passed. */
        metrics_labels(labels, sizeof(labels), families[f].labels[0], v[0], families[f].labels[1],
                       v[1], families[f].labels[2], v[2], METRIC_END);
        metrics_write_sample(out, families[f].name, labels, strtod(db_get(r, i, 4), NULL));
    }
}

static void collect_state(struct metrics_text *out, void *arg)
{
    (void)arg;
    static struct arena a;
    PGresult *r;
    int rc = db_exec(&a, &stmts[STATE], NULL, &r);
    metrics_write_family(out, "rally_state_up", METRIC_GAUGE,
                         "1 when the database answered this scrape's statement, else 0.");
    metrics_write_sample(out, "rally_state_up", NULL, rc == DB_OK);
    if (rc == DB_OK)
        write_rows(out, r);
    else
        log_warn("state metrics: %s", db_message());
    arena_reset(&a);
}

static int worker_init(void)
{
    metrics_add_collector(collect_state, NULL);
    return 0;
}

int main(void)
{
    static const struct service svc = {
        .name = "state-metrics",
        .max_body = 0,
        .routes = NULL,
        .nroutes = 0,
        .stmts = stmts,
        .nstmts = sizeof(stmts) / sizeof(stmts[0]),
        .worker_init = worker_init,
    };
    serve_main(&svc);
}
