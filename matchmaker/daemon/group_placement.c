/* Group placement: StartGameSessionPlacement carried out (group_placement.h). */
#include "group_placement.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cfg.h"
#include "db.h"
#include "hosting.h"
#include "lead.h"
#include "log.h"
#include "players.h"
#include "queue.h"

enum { QUEUES, LOCATIONS, PENDING, SET_SESSION, FULFIL, END };

/* Placements one tick looks at per queue, oldest first: a bounded
 * transaction; the rest wait a tick. */
#define TICK_PLACEMENTS "500"

/* A pending placement (the PL_ columns below), its game session, and why
 * that will not start (HOSTING_WHY_STUCK: NULL while it may). */
#define STUCK HOSTING_WHY_STUCK("g", "p", "f")
#define PENDING_COLUMNS                                                                            \
    "pl.placement_id, pl.maximum_players, pl.game_session_name, pl.game_properties::text, "        \
    "pl.game_session_data, pl.player_latencies::text, pl.priority_override::text, "                \
    "jsonb_array_length(pl.desired_players), "                                                     \
    "extract(epoch FROM now() - pl.start_time)::float8, g.game_session_id, g.status, " STUCK

static const struct db_stmt stmts[] = {
    /* The queues with pending placements; no body: the queue is gone. */
    [QUEUES] = {"gp_queues",
                "SELECT n.queue_name, q.body::text FROM (SELECT DISTINCT queue_name "
                "FROM fleet.placements WHERE status = 'PENDING') n "
                "LEFT JOIN fleet.queues q ON q.name = n.queue_name ORDER BY n.queue_name",
                0, false},
    /* Every location a fleet has: the names a player's latency may count for. */
    [LOCATIONS] = {"gp_locations", "SELECT DISTINCT unnest(locations) FROM fleet.fleets", 0, false},
    [PENDING] = {"gp_pending",
                 "SELECT " PENDING_COLUMNS " FROM fleet.placements pl "
                 "LEFT JOIN fleet.game_sessions g ON g.game_session_id = pl.game_session_id "
                 "LEFT JOIN fleet.processes p ON p.process_id = g.process_id "
                 "LEFT JOIN fleet.fleets f ON f.fleet_id = g.fleet_id "
                 "WHERE pl.queue_name = $1 AND pl.status = 'PENDING' ORDER BY pl.start_time "
                 "LIMIT " TICK_PLACEMENTS " FOR UPDATE OF pl SKIP LOCKED",
                 1, false},
    [SET_SESSION] = {"gp_set_session",
                     "UPDATE fleet.placements SET game_session_id = $1 WHERE placement_id = $2", 2,
                     false},
    [FULFIL] = {"gp_fulfil", "SELECT fleet.fulfil_placement($1, $2, $3)", 3, false},
    [END] = {"gp_end", "SELECT fleet.end_placement($1, $2, $3, $4)", 4, false},
};

enum {
    PL_ID,
    PL_MAX,
    PL_NAME,
    PL_PROPERTIES,
    PL_DATA,
    PL_LATENCIES,
    PL_OVERRIDE,
    PL_SEATS,
    PL_ELAPSED,
    PL_GAME_SESSION,
    PL_STATUS,
    PL_STUCK,
};

void group_placement_init(void)
{
    db_register(stmts, sizeof(stmts) / sizeof(stmts[0]));
}

static void decref(void *j)
{
    json_decref(j);
}

/* Parses JSON text whose references live as long as the arena. */
static json_t *load(struct arena *a, const char *text)
{
    json_t *j = text != NULL ? json_loads(text, 0, NULL) : NULL;
    if (j != NULL)
        arena_defer(a, decref, j);
    return j;
}

/* The placement's players as one ticket: a player per PlayerId of
 * PlayerLatencies, its latency to each location a fleet has. */
static const struct fm_ticket *players_of(struct arena *a, json_t *latencies)
{
    struct fm_ticket *t = arena_alloc(a, sizeof(*t));
    size_t n = json_array_size(latencies);
    t->players = arena_alloc(a, (n + 1) * sizeof(*t->players));
    t->nplayers = 0;
    t->pinned_team = -1;
    size_t i;
    json_t *l;
    json_array_foreach(latencies, i, l)
    {
        const char *id = json_string_value(json_object_get(l, "PlayerId"));
        const char *where = json_string_value(json_object_get(l, "RegionIdentifier"));
        double ms = json_number_value(json_object_get(l, "LatencyInMilliseconds"));
        if (id == NULL || where == NULL)
            continue;
        int region = fm_region_find(where);
        int k = 0;
        while (k < t->nplayers && strcmp(t->players[k].id, id) != 0)
            k++;
        if (k == t->nplayers) {
            struct fm_player *p = &t->players[t->nplayers++];
            memset(p, 0, sizeof(*p));
            p->id = id;
            for (int r = 0; r < FM_MAX_REGIONS; r++)
                p->latency[r] = -1;
        }
        if (region >= 0)
            t->players[k].latency[region] = (int)(ms + 0.5);
    }
    return t;
}

/* The queue as this placement's PriorityConfigurationOverride reorders it:
 * its LocationOrder first; with PlacementFallbackStrategy NONE, nothing
 * else (within the queue's own filter). */
static struct fm_queue overridden(const struct fm_queue *q, json_t *override)
{
    struct fm_queue o = *q;
    json_t *order = json_object_get(override, "LocationOrder");
    const char *fallback =
        json_string_value(json_object_get(override, "PlacementFallbackStrategy"));
    bool only = fallback != NULL && strcmp(fallback, "NONE") == 0;
    o.norder = 0;
    size_t i;
    json_t *loc;
    json_array_foreach(order, i, loc)
    {
        if (o.norder < FM_MAX_LOCATIONS)
            o.order[o.norder++] = json_string_value(loc);
    }
    size_t first = o.norder;
    for (size_t k = 0; k < q->norder && o.norder < FM_MAX_LOCATIONS; k++) {
        bool listed = false;
        for (size_t m = 0; m < first; m++)
            listed |= strcmp(o.order[m], q->order[k]) == 0;
        if (!listed)
            o.order[o.norder++] = q->order[k];
    }
    if (only) {
        o.nallowed = 0;
        for (size_t m = 0; m < first; m++) {
            bool in_filter = q->nallowed == 0;
            for (size_t k = 0; k < q->nallowed; k++)
                in_filter |= strcmp(q->allowed[k], o.order[m]) == 0;
            if (in_filter)
                o.allowed[o.nallowed++] = o.order[m];
        }
        if (o.nallowed == 0) /* nothing left: a location no fleet has */
            o.allowed[o.nallowed++] = "";
    }
    return o;
}

/* What one queue's tick shares. */
struct queue_tick {
    struct arena *a;
    const char *name;
    const struct fm_queue *q; /* NULL: the queue is gone */
    int no_room_from;         /* no idle process has room for this many players */
    int fulfilled;
};

/* Ends a placement without a game session (TIMED_OUT, FAILED). */
static int end(struct queue_tick *qt, const char *id, const char *status)
{
    const char *p[] = {id, status, cfg->region, cfg->account_id};
    PGresult *r;
    if (db_exec(qt->a, &stmts[END], p, &r) != DB_OK)
        return -1;
    log_info("placement %s in %s: %s", id, qt->name, status);
    return 0;
}

/* Opens a game session for the placement where the queue puts it. */
static int try_place(struct queue_tick *qt, PGresult *r, int row)
{
    int seats = (int)strtol(db_get(r, row, PL_SEATS), NULL, 10);
    if (seats >= qt->no_room_from)
        return 0;
    json_t *override = load(qt->a, db_get(r, row, PL_OVERRIDE));
    struct fm_queue q = override != NULL ? overridden(qt->q, override) : *qt->q;
    const struct fm_ticket *players = players_of(qt->a, load(qt->a, db_get(r, row, PL_LATENCIES)));
    struct hosting_process proc;
    enum hosting_claim claimed = hosting_claim(qt->a, &q, &players, 1, seats,
                                               strtod(db_get(r, row, PL_ELAPSED), NULL), &proc);
    if (claimed == HOSTING_NO_ROOM)
        qt->no_room_from = seats;
    if (claimed != HOSTING_CLAIMED)
        return claimed == HOSTING_ERROR ? -1 : 0;
    struct hosting_game_session gs = {
        .maximum_players = (int)strtol(db_get(r, row, PL_MAX), NULL, 10),
        .name = db_get(r, row, PL_NAME),
        .properties = db_get(r, row, PL_PROPERTIES),
        .data = db_get(r, row, PL_DATA),
    };
    const char *ps[] = {proc.game_session_id, db_get(r, row, PL_ID)};
    PGresult *set;
    if (hosting_open(qt->a, &proc, &gs) < 0 ||
        db_exec(qt->a, &stmts[SET_SESSION], ps, &set) != DB_OK)
        return -1;
    log_info("placement %s: game session %s on %s in %s (average latency %d ms)",
             db_get(r, row, PL_ID), proc.game_session_id, proc.process_id, proc.location,
             proc.average_latency_ms);
    return 0;
}

/* One pending placement one step further. 0 or -1. */
static int advance(struct queue_tick *qt, PGresult *r, int row)
{
    const char *id = db_get(r, row, PL_ID), *gs_id = db_get(r, row, PL_GAME_SESSION);
    const char *status = db_get(r, row, PL_STATUS), *stuck = db_get(r, row, PL_STUCK);
    if (gs_id != NULL && strcmp(status, "ACTIVE") == 0) {
        const char *p[] = {id, cfg->region, cfg->account_id};
        PGresult *f;
        if (db_exec(qt->a, &stmts[FULFIL], p, &f) != DB_OK)
            return -1;
        if (strcmp(db_get(f, 0, 0), "t") == 0) {
            qt->fulfilled++;
            log_info("placement %s in %s: FULFILLED on game session %s", id, qt->name, gs_id);
        }
        return 0; /* else it ended meanwhile: the next tick places again */
    }
    if (gs_id != NULL && strcmp(status, "TERMINATED") != 0 && stuck == NULL)
        return 0; /* its process has yet to activate it */
    if (gs_id != NULL) {
        const char *why = stuck != NULL ? stuck : "INTERRUPTED";
        int abandoned = hosting_abandon(qt->a, gs_id, why);
        if (abandoned <= 0)
            return abandoned; /* activated meanwhile: fulfilled next tick */
        log_warn("placement %s: game session %s did not start (%s); placing again", id, gs_id, why);
    }
    if (qt->q == NULL)
        return end(qt, id, "FAILED");
    if (strtod(db_get(r, row, PL_ELAPSED), NULL) >= qt->q->timeout_seconds)
        return end(qt, id, "TIMED_OUT");
    return try_place(qt, r, row);
}

/* One queue's tick, in one transaction. */
static int tick_queue(struct queue_tick *qt)
{
    if (db_begin() != DB_OK)
        return -1;
    if (!lead_current()) { /* the connection was replaced: lead again next tick */
        db_rollback();
        return -1;
    }
    const char *p[] = {qt->name};
    PGresult *r;
    int rc = db_exec(qt->a, &stmts[PENDING], p, &r) == DB_OK ? 0 : -1;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++)
        rc = advance(qt, r, i);
    if (rc < 0) {
        log_warn("placements of %s rolled back: %s", qt->name, db_message());
        db_rollback();
        return -1;
    }
    if (db_commit() != DB_OK) {
        log_warn("placements of %s not committed: %s", qt->name, db_message());
        return -1;
    }
    return qt->fulfilled;
}

/* Registers every fleet location, so players' latencies to them count. */
static int register_locations(struct arena *a)
{
    PGresult *r;
    if (db_exec(a, &stmts[LOCATIONS], NULL, &r) != DB_OK)
        return -1;
    for (int i = 0; i < PQntuples(r); i++)
        (void)fm_region_index(db_get(r, i, 0));
    return 0;
}

int group_placement_tick(void)
{
    struct arena list = {0}, a = {0};
    PGresult *queues;
    if (db_exec(&list, &stmts[QUEUES], NULL, &queues) != DB_OK ||
        (PQntuples(queues) > 0 && register_locations(&list) < 0)) {
        arena_destroy(&list);
        return -1;
    }
    int total = 0;
    for (int i = 0; i < PQntuples(queues); i++) {
        struct queue_tick qt = {.a = &a, .name = db_get(queues, i, 0), .no_room_from = 1 << 30};
        struct fm_queue q;
        struct fm_error err = {{0}, {0}};
        json_t *body = load(&a, db_get(queues, i, 1));
        if (body != NULL && fm_queue_parse(body, qt.name, &q, &err) == 0)
            qt.q = &q;
        else if (body != NULL)
            log_warn("queue %s is not usable: %s: %s", qt.name, err.field, err.message);
        if (lead_holds(&a, LEAD_QUEUE, qt.name)) {
            int n = tick_queue(&qt);
            total += n > 0 ? n : 0;
        }
        arena_reset(&a);
    }
    arena_destroy(&a);
    arena_destroy(&list);
    return total;
}
