/* Game sessions on idle processes, for a queue (hosting.h). */
#include "hosting.h"

#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "db.h"
#include "util.h"

enum { IDLE, CLAIM, OPEN, ABANDON };

/* A process that answers heartbeats, with room for the players, on a
 * compute below its MaxConcurrentGameSessionActivations. */
#define IDLE_PROCESS                                                                               \
    "p.fleet_id = ANY($1::text[]) AND p.status = 'ACTIVE' AND p.game_session_id IS NULL "          \
    "AND p.max_players >= $2::integer "                                                            \
    "AND p.last_heartbeat > now() - f.heartbeat_timeout_seconds * interval '1 second' "            \
    "AND fleet.activation_room(p.fleet_id, p.compute_name)"

static const struct db_stmt stmts[] = {
    [IDLE] = {"ho_idle",
              "SELECT p.location FROM fleet.processes p JOIN fleet.fleets f USING (fleet_id) "
              "WHERE " IDLE_PROCESS " GROUP BY p.location ORDER BY p.location",
              2, false},
    /* SKIP LOCKED: a process another leader is claiming is not waited for. */
    [CLAIM] = {"ho_claim",
               "UPDATE fleet.processes SET game_session_id = $4 WHERE process_id = ("
               "SELECT p.process_id FROM fleet.processes p JOIN fleet.fleets f USING (fleet_id) "
               "WHERE " IDLE_PROCESS " AND p.location = $3 ORDER BY p.created_at LIMIT 1 "
               "FOR UPDATE OF p SKIP LOCKED) "
               "RETURNING process_id, fleet_id, ip_address, dns_name, port",
               4, false},
    [OPEN] = {"ho_open",
              "INSERT INTO fleet.game_sessions (game_session_id, game_session_arn, fleet_id, "
              "location, process_id, match_id, ip_address, dns_name, port, maximum_players, "
              "game_properties, game_session_data, matchmaker_data, name) VALUES ($1, $2, $3, "
              "$4, $5, $6, $7, $8, $9::integer, $10::integer, coalesce($11::jsonb, '[]'), $12, "
              "$13, $14)",
              14, false},
    [ABANDON] = {"ho_abandon", "SELECT fleet.abandon_game_session($1, $2)", 2, false},
};

void hosting_init(void)
{
    db_register(stmts, sizeof(stmts) / sizeof(stmts[0]));
}

enum hosting_claim hosting_claim(struct arena *a, const struct fm_queue *q,
                                 const struct fm_ticket *const *tickets, size_t ntickets, int seats,
                                 double elapsed, struct hosting_process *out)
{
    char *fleets = util_pg_text_array(a, q->fleets, q->nfleets);
    char *seats_s = arena_sprintf(a, "%d", seats);
    const char *pi[] = {fleets, seats_s};
    PGresult *idle;
    if (db_exec(a, &stmts[IDLE], pi, &idle) != DB_OK)
        return HOSTING_ERROR;
    int nl = PQntuples(idle);
    if (nl == 0)
        return HOSTING_NO_ROOM;
    const char **locs = arena_alloc(a, (size_t)(nl + 1) * sizeof(*locs));
    for (int i = 0; i < nl; i++)
        locs[i] = db_get(idle, i, 0);
    int avg = -1;
    int pick = fm_queue_choose(q, locs, (size_t)nl, tickets, ntickets, elapsed, &avg);
    if (pick < 0)
        return HOSTING_NOT_NOW;
    char uuid[37];
    util_uuid(uuid);
    char *gs_id = arena_sprintf(a, "gsess-%s", uuid);
    const char *pc[] = {fleets, seats_s, locs[pick], gs_id};
    PGresult *claimed;
    if (db_exec(a, &stmts[CLAIM], pc, &claimed) != DB_OK)
        return HOSTING_ERROR;
    if (PQntuples(claimed) == 0)
        return HOSTING_NOT_NOW; /* taken meanwhile: next tick */
    *out = (struct hosting_process){.game_session_id = gs_id,
                                    .process_id = db_get(claimed, 0, 0),
                                    .fleet_id = db_get(claimed, 0, 1),
                                    .location = locs[pick],
                                    .ip_address = db_get(claimed, 0, 2),
                                    .dns_name = db_get(claimed, 0, 3),
                                    .port = db_get(claimed, 0, 4),
                                    .average_latency_ms = avg};
    return HOSTING_CLAIMED;
}

int hosting_open(struct arena *a, const struct hosting_process *p,
                 const struct hosting_game_session *gs)
{
    char *arn = arena_sprintf(a, "arn:aws:gamelift:%s::gamesession/%s/%s/%s", cfg->region,
                              p->fleet_id, p->location, p->game_session_id);
    const char *po[] = {p->game_session_id,
                        arn,
                        p->fleet_id,
                        p->location,
                        p->process_id,
                        gs->match_id,
                        p->ip_address,
                        p->dns_name,
                        p->port,
                        arena_sprintf(a, "%d", gs->maximum_players),
                        gs->properties,
                        gs->data,
                        gs->matchmaker_data,
                        gs->name};
    PGresult *r;
    return db_exec(a, &stmts[OPEN], po, &r) == DB_OK ? 0 : -1;
}

int hosting_abandon(struct arena *a, const char *game_session_id, const char *why)
{
    const char *p[] = {game_session_id, why};
    PGresult *r;
    if (db_exec(a, &stmts[ABANDON], p, &r) != DB_OK)
        return -1;
    return strcmp(db_get(r, 0, 0), "t") == 0 ? 1 : 0;
}
