/* WITH_QUEUE placement of matches on fleet processes (placement.h). */
#include "placement.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "hosting.h"
#include "log.h"
#include "players.h"
#include "queue.h"
#include "util.h"

enum {
    PLACING,
    QUEUE,
    SET_SESSION,
    SET_MATCHMAKER_DATA,
    AUTO_BACKFILL,
    RESERVE,
    COMPLETE,
    REQUEUE,
    FAIL,
    TICKETS,
    STILL_ACTIVE,
};

/* Each PLACING match, with its game session if it has one, why that
 * session will not start (HOSTING_WHY_STUCK: NULL while it may), and its
 * backfill ticket when it fills a running game session. */
#define STUCK HOSTING_WHY_STUCK("g", "p", "f")
#define PLACING_COLUMNS                                                                            \
    "m.match_id, m.ticket_ids::text, m.teams::text, "                                              \
    "extract(epoch FROM now() - m.placement_started_at)::float8, g.game_session_id, "              \
    "g.status, " STUCK ", g.game_session_arn, g.ip_address, g.dns_name, g.port, "                  \
    "f.reservation_timeout_seconds, m.backfill_ticket_id"

static const struct db_stmt stmts[] = {
    [PLACING] = {"pl_placing",
                 "SELECT " PLACING_COLUMNS " FROM matchmaking.matches m "
                 "LEFT JOIN fleet.game_sessions g ON g.game_session_id = m.game_session_id "
                 "LEFT JOIN fleet.processes p ON p.process_id = g.process_id "
                 "LEFT JOIN fleet.fleets f ON f.fleet_id = g.fleet_id "
                 "WHERE m.configuration_name = $1 AND m.status = 'PLACING' "
                 "ORDER BY m.created_at FOR UPDATE OF m",
                 1, false},
    [QUEUE] = {"pl_queue", "SELECT body::text FROM fleet.queues WHERE name = $1", 1, false},
    [SET_SESSION] = {"pl_set_session",
                     "UPDATE matchmaking.matches SET game_session_id = $1, location = $2, "
                     "updated_at = now() WHERE match_id = $3",
                     3, false},
    /* A backfilled game session's MatchmakerData names everyone now: its
     * server hears of it on its next heartbeat (OnUpdateGameSession). */
    [SET_MATCHMAKER_DATA] = {"pl_set_matchmaker_data",
                             "UPDATE fleet.game_sessions SET matchmaker_data = $2 "
                             "WHERE game_session_id = $1",
                             2, false},
    [AUTO_BACKFILL] = {"pl_auto_backfill", "SELECT matchmaking.auto_backfill($1, $2::integer)", 2,
                       false},
    [RESERVE] = {"pl_reserve",
                 "INSERT INTO fleet.player_sessions (player_session_id, game_session_id, "
                 "player_id, reserved_until) SELECT s, $2, p, now() + $4::integer * "
                 "interval '1 second' FROM unnest($1::text[], $3::text[]) AS u(s, p)",
                 4, false},
    [COMPLETE] = {"pl_complete",
                  "WITH m AS (UPDATE matchmaking.matches SET status = 'COMPLETED', "
                  "updated_at = now() WHERE match_id = $1) "
                  "UPDATE matchmaking.tickets SET status = 'COMPLETED', updated_at = now() "
                  "WHERE ticket_id = ANY($2::text[]) RETURNING " TICKET_ROW,
                  2, false},
    /* Back to the pool: a new match asks for acceptance afresh. */
    [REQUEUE] = {"pl_requeue",
                 "WITH m AS (UPDATE matchmaking.matches SET status = 'PLACEMENT_TIMED_OUT', "
                 "updated_at = now() WHERE match_id = $1), "
                 "a AS (UPDATE backend.ticket_players SET accepted = NULL "
                 "WHERE ticket_id = ANY($2::text[])) "
                 "UPDATE matchmaking.tickets SET status = 'SEARCHING', match_id = NULL, "
                 "updated_at = now() WHERE ticket_id = ANY($2::text[]) RETURNING " TICKET_ROW,
                 2, false},
    [FAIL] = {"pl_fail",
              "WITH m AS (UPDATE matchmaking.matches SET status = 'FAILED', updated_at = now() "
              "WHERE match_id = $1) "
              "UPDATE matchmaking.tickets SET status = 'FAILED', updated_at = now() "
              "WHERE ticket_id = ANY($2::text[]) RETURNING " TICKET_ROW,
              2, false},
    /* The game session, locked while its seats are reserved: a concurrent
     * ProcessEnding waits, then finds the seats to end. */
    [STILL_ACTIVE] = {"pl_still_active",
                      "SELECT maximum_players - fleet.count_seats_now($1) FROM fleet.game_sessions "
                      "WHERE game_session_id = $1 AND status = 'ACTIVE' FOR UPDATE",
                      1, false},
    [TICKETS] = {"pl_tickets",
                 "SELECT " TICKET_ROW " FROM matchmaking.tickets WHERE ticket_id = ANY($1::text[]) "
                 "ORDER BY created_at",
                 1, false},
};

void placement_init(void)
{
    db_register(stmts, sizeof(stmts) / sizeof(stmts[0]));
}

static PGresult *run(struct tick *t, int stmt, const char *const *params)
{
    PGresult *r;
    /* REQUEUE clears acceptance answers the queued events may carry. */
    if (stmt == REQUEUE && tick_flush(t) < 0)
        return NULL;
    return db_exec(t->a, &stmts[stmt], params, &r) == DB_OK ? r : NULL;
}

/* The configuration's queues, loaded for one run. */
struct queues {
    struct fm_queue q[8];
    json_t *bodies[8];
    size_t n;
    int timeout_seconds; /* the longest of them */
    const char *missing; /* a queue that does not exist */
};

static void free_queues(struct queues *qs)
{
    for (size_t i = 0; i < qs->n; i++)
        json_decref(qs->bodies[i]);
}

static int load_queues(struct tick *t, struct queues *qs)
{
    size_t i;
    json_t *arn;
    memset(qs, 0, sizeof(*qs));
    json_array_foreach(t->conf.queue_arns, i, arn)
    {
        if (qs->n == sizeof(qs->q) / sizeof(qs->q[0]))
            break;
        const char *name = fm_arn_name(json_string_value(arn), "gamesessionqueue");
        const char *p[] = {name};
        PGresult *r = run(t, QUEUE, p);
        if (r == NULL) {
            free_queues(qs);
            return -1;
        }
        struct fm_error err = {{0}, {0}};
        json_t *body = PQntuples(r) == 1 ? json_loads(db_get(r, 0, 0), 0, NULL) : NULL;
        if (body == NULL || fm_queue_parse(body, name, &qs->q[qs->n], &err) < 0) {
            qs->missing = arena_strdup(t->a, name != NULL ? name : "?");
            json_decref(body);
            continue;
        }
        qs->bodies[qs->n] = body;
        if (qs->q[qs->n].timeout_seconds > qs->timeout_seconds)
            qs->timeout_seconds = qs->q[qs->n].timeout_seconds;
        qs->n++;
    }
    return 0;
}

/* One PLACING match, as the PLACING statement reads it. */
struct placing {
    const char *match_id;
    const char *ids; /* text[] literal */
    json_t *teams;   /* {"<PlayerId>": "<team>"} */
    double elapsed;
    PGresult *tickets;    /* TICKET_ROW rows */
    const char *backfill; /* the backfill ticket of a match that fills a running game session */
};

/* GameLift Player attributes ({"skill": {"N": 10}}) in MatchmakerData's
 * form ({"skill": {"attributeType": "DOUBLE", "valueAttribute": 10}}). */
static json_t *matchmaker_attributes(json_t *attrs)
{
    static const char *const kinds[][2] = {
        {"S", "STRING"}, {"N", "DOUBLE"}, {"SL", "STRING_LIST"}, {"SDM", "STRING_DOUBLE_MAP"}};
    json_t *out = json_object();
    const char *name;
    json_t *v;
    json_object_foreach(attrs, name, v)
    {
        for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
            json_t *value = json_object_get(v, kinds[k][0]);
            if (value != NULL)
                json_object_set_new(
                    out, name,
                    json_pack("{s:s, s:O}", "attributeType", kinds[k][1], "valueAttribute", value));
        }
    }
    return out;
}

/* FlexMatch's MatchmakerData string (aws-flow.md §5.9), naming the
 * automatic backfill ticket of the game session when there is one;
 * malloc'd. */
static char *matchmaker_data(struct tick *t, const struct placing *m, const char *auto_backfill)
{
    /* Every team, in the rule set's order, even an empty one. */
    json_t *by_team = json_object();
    for (size_t k = 0; k < t->rs->nteams; k++)
        json_object_set_new(by_team, t->rs->teams[k].name, json_array());
    for (int i = 0; i < PQntuples(m->tickets); i++) {
        json_t *ps = json_loads(db_get(m->tickets, i, 1), 0, NULL);
        size_t j;
        json_t *p;
        json_array_foreach(ps, j, p)
        {
            const char *id = json_string_value(json_object_get(p, "PlayerId"));
            const char *team = json_string_value(json_object_get(m->teams, id ? id : ""));
            json_t *players = team != NULL ? json_object_get(by_team, team) : NULL;
            if (players != NULL)
                json_array_append_new(
                    players,
                    json_pack("{s:s, s:o}", "playerId", id, "attributes",
                              matchmaker_attributes(json_object_get(p, "PlayerAttributes"))));
        }
        json_decref(ps);
    }
    json_t *teams = json_array();
    for (size_t k = 0; k < t->rs->nteams; k++)
        json_array_append_new(teams,
                              json_pack("{s:s, s:O}", "name", t->rs->teams[k].name, "players",
                                        json_object_get(by_team, t->rs->teams[k].name)));
    json_decref(by_team);
    json_t *data = json_pack("{s:s, s:s, s:o}", "matchId", m->match_id,
                             "matchmakingConfigurationArn", t->arn, "teams", teams);
    if (auto_backfill != NULL) {
        json_object_set_new(data, "autoBackfillTicketId", json_string(auto_backfill));
        json_object_set_new(data, "autoBackfillMode", json_string("AUTOMATIC"));
    }
    char *text = json_dumps(data, JSON_COMPACT);
    json_decref(data);
    return text;
}

/* Tries each queue for a location with an idle process; 1 placed, 0 not
 * now, -1 error. */
static int try_place(struct tick *t, const struct queues *qs, const struct placing *m)
{
    int n = PQntuples(m->tickets), players = 0;
    const struct fm_ticket **tickets =
        arena_alloc(t->a, (size_t)(n + 1) * sizeof(const struct fm_ticket *));
    for (int i = 0; i < n; i++) {
        struct fm_ticket *tk = arena_alloc(t->a, sizeof(*tk));
        json_t *ps = json_loads(db_get(m->tickets, i, 1), 0, NULL);
        const char *why = NULL;
        int rc = fm_ticket_from_json(t->a, t->rs, ps, tk, &why);
        json_decref(ps);
        if (rc < 0) {
            log_warn("match %s: ticket %s: %s", m->match_id, db_get(m->tickets, i, 0), why);
            return 0;
        }
        tickets[i] = tk;
        players += tk->nplayers;
    }
    for (size_t k = 0; k < qs->n; k++) {
        struct hosting_process proc;
        enum hosting_claim claimed =
            hosting_claim(t->a, &qs->q[k], tickets, (size_t)n, players, m->elapsed, &proc);
        if (claimed == HOSTING_ERROR)
            return -1;
        if (claimed != HOSTING_CLAIMED)
            continue;
        char *props = t->conf.game_properties != NULL
                          ? json_dumps(t->conf.game_properties, JSON_COMPACT)
                          : NULL;
        /* BackfillMode AUTOMATIC: the id of the backfill ticket the game
         * session gets if it starts with empty seats, told to its server
         * from the start (complete() makes the ticket). */
        char uuid[37];
        util_uuid(uuid);
        char *data = matchmaker_data(
            t, m,
            t->conf.backfill_automatic ? arena_sprintf(t->a, "auto-backfill-%s", uuid) : NULL);
        struct hosting_game_session gs = {.maximum_players = t->rs->max_players,
                                          .match_id = m->match_id,
                                          .properties = props,
                                          .data = t->conf.game_session_data,
                                          .matchmaker_data = data};
        int rc = hosting_open(t->a, &proc, &gs);
        free(props);
        free(data);
        const char *ps[] = {proc.game_session_id, proc.location, m->match_id};
        if (rc < 0 || run(t, SET_SESSION, ps) == NULL)
            return -1;
        log_info("match %s: game session %s on %s in %s (average latency %d ms)", m->match_id,
                 proc.game_session_id, proc.process_id, proc.location, proc.average_latency_ms);
        return 1;
    }
    return 0;
}

/* Players of a match's tickets other than its backfill ticket. */
static long new_players(const struct placing *m)
{
    long n = 0;
    for (int i = 0; i < PQntuples(m->tickets); i++) {
        if (strcmp(db_get(m->tickets, i, 0), m->backfill) == 0)
            continue;
        json_t *players = json_loads(db_get(m->tickets, i, 1), 0, NULL);
        n += (long)json_array_size(players);
        json_decref(players);
    }
    return n;
}

/* The match FAILED for tickets `ids` (a text[] literal): MatchmakingFailed
 * with `why`. */
static int fail_tickets(struct tick *t, const struct placing *m, const char *ids, const char *why)
{
    const char *p[] = {m->match_id, ids};
    PGresult *r = run(t, FAIL, p);
    if (r == NULL)
        return -1;
    struct fm_event e = tick_event(t, FM_EV_FAILED);
    e.tickets = tick_row_tickets(t, r, m->teams, NULL);
    e.ntickets = (size_t)PQntuples(r);
    e.match_id = m->match_id;
    e.reason = "UNEXPECTED_ERROR";
    e.message = why;
    return tick_publish(t, &e);
}

/* A backfill match cannot be placed (`why`: its game session ended, or has
 * no room left for its new players): the backfill ticket FAILS, its new
 * players search again. */
static int end_backfill(struct tick *t, const struct placing *m, const char *why)
{
    const char **others = arena_alloc(t->a, (size_t)(PQntuples(m->tickets) + 1) * sizeof(*others));
    size_t n = 0;
    for (int i = 0; i < PQntuples(m->tickets); i++)
        if (strcmp(db_get(m->tickets, i, 0), m->backfill) != 0)
            others[n++] = db_get(m->tickets, i, 0);
    const char *one[] = {m->backfill};
    const char *pq[] = {m->match_id, util_pg_text_array(t->a, others, n)};
    PGresult *back = run(t, REQUEUE, pq);
    if (back == NULL || tick_publish_each(t, back, FM_EV_SEARCHING) < 0)
        return -1;
    log_info("match %s: %s Its new players search again.", m->match_id, why);
    return fail_tickets(t, m, util_pg_text_array(t->a, one, 1), why);
}

/* The game session is ACTIVE: seats reserved, tickets COMPLETED,
 * MatchmakingSucceeded with the connection info. 1 when completed, 0 when
 * the session ended meanwhile (placed again next tick), -1 on error. */
static int complete(struct tick *t, const struct placing *m, PGresult *r, int row)
{
    const char *gs_id = db_get(r, row, 4);
    const char *pg[] = {gs_id};
    PGresult *still = run(t, STILL_ACTIVE, pg);
    if (still == NULL)
        return -1;
    if (PQntuples(still) == 0)
        return 0; /* ended meanwhile (ProcessEnding): the next tick places again */
    if (m->backfill != NULL && strtol(db_get(still, 0, 0), NULL, 10) < new_players(m))
        return end_backfill(t, m, "The game session has no room left for the backfill's players.")
                   ? -1
                   : 0;
    const char *pc[] = {m->match_id, m->ids};
    PGresult *done = run(t, COMPLETE, pc);
    if (done == NULL)
        return -1;
    struct fm_event_ticket *ts = tick_row_tickets(t, done, m->teams, NULL);
    int n = PQntuples(done);
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += ts[i].nplayers;
    const char **psess = arena_alloc(t->a, (total + 1) * sizeof(*psess));
    const char **pids = arena_alloc(t->a, (total + 1) * sizeof(*pids));
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        /* A backfill ticket's players have their seats already. */
        if (m->backfill != NULL && strcmp(ts[i].ticket_id, m->backfill) == 0)
            continue;
        struct fm_event_player *ps = arena_alloc(t->a, (ts[i].nplayers + 1) * sizeof(*ps));
        for (size_t j = 0; j < ts[i].nplayers; j++, k++) {
            char uuid[37];
            util_uuid(uuid);
            ps[j] = ts[i].players[j];
            ps[j].player_session_id = arena_sprintf(t->a, "psess-%s", uuid);
            psess[k] = ps[j].player_session_id;
            pids[k] = ps[j].player_id;
        }
        ts[i].players = ps;
    }
    const char *pr[] = {util_pg_text_array(t->a, psess, k), gs_id,
                        util_pg_text_array(t->a, pids, k), db_get(r, row, 11)};
    if (run(t, RESERVE, pr) == NULL)
        return -1;
    if (m->backfill != NULL) {
        char *data = matchmaker_data(t, m, t->conf.backfill_automatic ? m->backfill : NULL);
        const char *pd[] = {gs_id, data};
        PGresult *set = run(t, SET_MATCHMAKER_DATA, pd);
        free(data);
        if (set == NULL)
            return -1;
        log_info("match %s: backfilled game session %s with %zu player(s)", m->match_id, gs_id, k);
    }
    /* Empty seats in a game session of an AUTOMATIC configuration: its
     * backfill ticket. */
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%ld", cfg->ticket_ttl);
    const char *pa[] = {gs_id, ttl};
    if (t->conf.backfill_automatic && run(t, AUTO_BACKFILL, pa) == NULL)
        return -1;
    struct fm_event e = tick_event(t, FM_EV_SUCCEEDED);
    e.tickets = ts;
    e.ntickets = (size_t)n;
    e.match_id = m->match_id;
    e.game_session_arn = db_get(r, row, 7);
    e.ip_address = db_get(r, row, 8);
    e.dns_name = db_get(r, row, 9);
    e.port = (int)strtol(db_get(r, row, 10), NULL, 10);
    mm_metrics_placement(t->a, &t->tally, MM_PLACED, m->elapsed);
    return tick_publish(t, &e) == 0 ? 1 : -1;
}

/* No queue of the configuration exists: MatchmakingFailed. */
static int fail(struct tick *t, const struct placing *m, const char *queue)
{
    log_warn("match %s failed: game session queue %s does not exist", m->match_id, queue);
    mm_metrics_placement(t->a, &t->tally, MM_PLACEMENT_FAILED, m->elapsed);
    return fail_tickets(t, m, m->ids,
                        arena_sprintf(t->a, "Game session queue %s is not accessible.", queue));
}

/* The tickets go back to the pool: MatchmakingSearching for each. */
static int requeue(struct tick *t, const struct placing *m, int timeout)
{
    const char *p[] = {m->match_id, m->ids};
    PGresult *r = run(t, REQUEUE, p);
    if (r == NULL)
        return -1;
    log_info("match %s: not placed within %d s; its tickets search again", m->match_id, timeout);
    mm_metrics_placement(t->a, &t->tally, MM_PLACEMENT_TIMED_OUT, m->elapsed);
    return tick_publish_each(t, r, FM_EV_SEARCHING);
}

/* One PLACING match one step further; 1 when it completed, 0, or -1. */
static int advance(struct tick *t, const struct queues *qs, PGresult *r, int row)
{
    struct placing m = {.match_id = db_get(r, row, 0),
                        .ids = db_get(r, row, 1),
                        .teams = json_loads(db_get(r, row, 2), 0, NULL),
                        .elapsed = strtod(db_get(r, row, 3), NULL),
                        .backfill = db_get(r, row, 12)};
    const char *gs_id = db_get(r, row, 4), *status = db_get(r, row, 5);
    const char *stuck = db_get(r, row, 6);
    const char *pi[] = {m.ids};
    int rc = 0;
    if ((m.tickets = run(t, TICKETS, pi)) == NULL) {
        rc = -1;
    } else if (m.backfill != NULL && (gs_id == NULL || strcmp(status, "ACTIVE") != 0)) {
        rc = end_backfill(t, &m, "The game session ended before the backfill was placed.");
    } else if (gs_id != NULL && strcmp(status, "ACTIVE") == 0) {
        rc = complete(t, &m, r, row);
    } else if (gs_id != NULL && strcmp(status, "TERMINATED") != 0 && stuck == NULL) {
        rc = 0; /* the process has yet to activate it */
    } else {
        bool again = true;
        if (gs_id != NULL) {
            const char *why = stuck != NULL ? stuck : "INTERRUPTED";
            int abandoned = hosting_abandon(t->a, gs_id, why);
            rc = abandoned < 0 ? -1 : 0;
            /* Activated meanwhile: it completes on the next tick. */
            again = abandoned == 1;
            if (again)
                log_warn("match %s: game session %s did not start (%s); placing again", m.match_id,
                         gs_id, why);
        }
        if (rc == 0 && again && qs->n == 0)
            rc = fail(t, &m, qs->missing != NULL ? qs->missing : "(none)");
        else if (rc == 0 && again && m.elapsed >= qs->timeout_seconds)
            rc = requeue(t, &m, qs->timeout_seconds);
        else if (rc == 0 && again)
            rc = try_place(t, qs, &m) < 0 ? -1 : 0;
    }
    json_decref(m.teams);
    return rc;
}

int placement_run(struct tick *t)
{
    const char *p[] = {t->name};
    PGresult *r = run(t, PLACING, p);
    if (r == NULL)
        return -1;
    if (PQntuples(r) == 0)
        return 0;
    struct queues qs;
    if (load_queues(t, &qs) < 0)
        return -1;
    int completed = 0;
    for (int i = 0; i < PQntuples(r) && completed >= 0; i++) {
        int k = advance(t, &qs, r, i);
        completed = k < 0 ? -1 : completed + k;
    }
    free_queues(&qs);
    return completed;
}
