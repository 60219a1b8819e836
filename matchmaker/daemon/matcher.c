/* The matchmaking tick: leadership, timeouts, searching, matches, events. */
#include "matcher.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "builder.h"
#include "cfg.h"
#include "config.h"
#include "events.h"
#include "lead.h"
#include "log.h"
#include "placement.h"
#include "players.h"
#include "ruleset.h"
#include "tick.h"
#include "ticket.h"
#include "util.h"

enum {
    CONFIGS,
    EXPIRE,
    SEARCH,
    POOL,
    CANCEL_BACKFILLS,
    BACKFILL_MATCH,
    MATCHED,
    PENDING,
    TICKETS_OF,
    SET_MATCH,
    SET_TICKETS,
    RESET_ACCEPTANCE,
    ANNOUNCE_CANCELLED,
    WAIT_ESTIMATE,
};

static const struct db_stmt stmts[] = {
    [CONFIGS] = {"mm_configs",
                 "SELECT c.name, c.body::text, r.body::text FROM matchmaking.configurations c "
                 "JOIN matchmaking.rule_sets r ON r.name = c.rule_set_name ORDER BY c.name",
                 0, true},
    [EXPIRE] = {"mm_expire",
                "UPDATE matchmaking.tickets SET status = 'TIMED_OUT', updated_at = now() "
                "WHERE configuration_name = $1 AND status IN ('QUEUED', 'SEARCHING') "
                "AND created_at <= now() - $2::integer * interval '1 second' RETURNING " TICKET_ROW,
                2, false},
    [SEARCH] = {"mm_search",
                "UPDATE matchmaking.tickets SET status = 'SEARCHING', updated_at = now() "
                "WHERE configuration_name = $1 AND status = 'QUEUED' RETURNING " TICKET_ROW,
                1, false},
    /* Column 3: a backfill ticket's game session, NULL for a new one;
     * column 4, whether that game session still runs. */
    [POOL] = {"mm_pool",
              "SELECT " TICKET_ROW ", game_session_id, EXISTS (SELECT 1 FROM fleet.game_sessions g "
              "WHERE g.game_session_id = t.game_session_id AND g.status = 'ACTIVE') "
              "FROM matchmaking.tickets t WHERE configuration_name = $1 AND status = 'SEARCHING' "
              "ORDER BY created_at FOR UPDATE OF t",
              1, false},
    /* Backfill requests of game sessions that ended: announced as
     * cancelled on the next tick (ANNOUNCE_CANCELLED). */
    [CANCEL_BACKFILLS] = {"mm_cancel_backfills",
                          "UPDATE matchmaking.tickets SET status = 'CANCELLED', updated_at = now() "
                          "WHERE ticket_id = ANY($1::text[])",
                          1, false},
    /* A match that completes a running game session: placed there. */
    [BACKFILL_MATCH] = {"mm_backfill_match",
                        "UPDATE matchmaking.matches SET backfill_ticket_id = $2, "
                        "game_session_id = (SELECT game_session_id FROM matchmaking.tickets "
                        "WHERE ticket_id = $2) WHERE match_id = $1",
                        2, false},
    [MATCHED] =
        {"mm_matched",
         "WITH a AS (UPDATE backend.ticket_players tp SET accepted = (SELECT CASE WHEN "
         "t.game_session_id IS NOT NULL THEN true END FROM matchmaking.tickets t "
         "WHERE t.ticket_id = tp.ticket_id) "
         "WHERE tp.ticket_id = ANY($4::text[]) AND $3 = 'REQUIRES_ACCEPTANCE'), "
         "m AS (INSERT INTO matchmaking.matches (match_id, configuration_name, status, "
         "ticket_ids, teams, location, acceptance_deadline, placement_started_at) VALUES ($1, $2, "
         "$3, $4::text[], $5::jsonb, $6, now() + $7::integer * interval '1 second', "
         "CASE WHEN $3 = 'PLACING' THEN now() END)) "
         "UPDATE matchmaking.tickets SET status = $3, match_id = $1, updated_at = now() "
         "WHERE ticket_id = ANY($4::text[])",
         7, false},
    /* Matches waiting for acceptance, with what their players answered so
     * far ({"<PlayerId>": true | false | null}). */
    [PENDING] =
        {"mm_pending",
         "SELECT m.match_id, m.ticket_ids::text, m.teams::text, m.acceptance_deadline <= now(), "
         "m.acceptance_reported::text, (SELECT coalesce(jsonb_object_agg(tp.player_id, "
         "tp.accepted), '{}') FROM backend.ticket_players tp WHERE tp.ticket_id = "
         "ANY(m.ticket_ids))::text FROM matchmaking.matches m "
         "WHERE m.configuration_name = $1 AND m.status = 'REQUIRES_ACCEPTANCE' "
         "ORDER BY m.created_at FOR UPDATE OF m",
         1, false},
    [TICKETS_OF] = {"mm_tickets_of",
                    "SELECT " TICKET_ROW
                    " FROM matchmaking.tickets WHERE ticket_id = ANY($1::text[]) "
                    "ORDER BY created_at FOR UPDATE",
                    1, false},
    [SET_MATCH] = {"mm_set_match",
                   "UPDATE matchmaking.matches SET status = $2, acceptance_reported = $3::jsonb, "
                   "placement_started_at = CASE WHEN $2 = 'PLACING' THEN now() END, "
                   "updated_at = now() WHERE match_id = $1",
                   3, false},
    /* Cancelled by StopMatchmaking since the last tick. */
    [ANNOUNCE_CANCELLED] = {"mm_announce_cancelled",
                            "UPDATE matchmaking.tickets SET cancel_announced = true "
                            "WHERE configuration_name = $1 AND status = 'CANCELLED' "
                            "AND NOT cancel_announced RETURNING " TICKET_ROW,
                            1, false},
    /* EstimatedWaitTime: the median time from ticket to match over the
     * configuration's last 100 matches of the past 15 minutes. */
    [WAIT_ESTIMATE] = {"mm_wait_estimate",
                       "SELECT (percentile_cont(0.5) WITHIN GROUP (ORDER BY w) * 1000)::bigint "
                       "FROM (SELECT extract(epoch FROM m.created_at - t.created_at) AS w "
                       "FROM (SELECT ticket_ids, created_at FROM matchmaking.matches "
                       "WHERE configuration_name = $1 AND created_at > now() - interval "
                       "'15 minutes' ORDER BY created_at DESC LIMIT 100) m "
                       "JOIN matchmaking.tickets t ON t.ticket_id = ANY (m.ticket_ids)) x",
                       1, false},
    /* Back to SEARCHING leaves the match; a cancellation made here is
     * announced here. */
    [SET_TICKETS] = {"mm_set_tickets",
                     "UPDATE matchmaking.tickets SET status = $2, updated_at = now(), "
                     "match_id = CASE WHEN $2 = 'SEARCHING' THEN NULL ELSE match_id END, "
                     "cancel_announced = ($2 = 'CANCELLED') "
                     "WHERE ticket_id = ANY($1::text[])",
                     2, false},
    /* A ticket back in the pool answers the next proposal afresh. */
    [RESET_ACCEPTANCE] = {"mm_reset_acceptance",
                          "UPDATE backend.ticket_players SET accepted = NULL "
                          "WHERE ticket_id = ANY($1::text[])",
                          1, false},
};

void matcher_init(void)
{
    db_register(stmts, sizeof(stmts) / sizeof(stmts[0]));
}

/* The formed match, written and announced. */
struct formed {
    struct tick *t;
    int failed;
    int matches;
    struct fm_rule_metrics *metrics;
};

/* The match's tickets as its events name them, each once: a backfill
 * ticket is in the match as one engine ticket per team. Sets *nts, and
 * *backfill to the backfill ticket's id (NULL: none). */
static struct fm_event_ticket *event_tickets(struct tick *t, const struct fm_match *m,
                                             json_t *teams, size_t *nts, const char **backfill)
{
    struct fm_event_ticket *ts = arena_alloc(t->a, (size_t)m->n * sizeof(*ts));
    *nts = 0;
    *backfill = NULL;
    for (int k = 0; k < m->n; k++) {
        const struct fm_ticket *tk = m->tickets[k];
        const char *team = t->rs->teams[m->team[k]].name;
        size_t e = 0;
        while (e < *nts && strcmp(ts[e].ticket_id, tk->id) != 0)
            e++;
        if (e == *nts)
            ts[(*nts)++] =
                (struct fm_event_ticket){tk->id, (int64_t)(tk->created * 1000 + 0.5), NULL, 0};
        if (tk->backfill)
            *backfill = tk->id;
        struct fm_event_player *ps =
            arena_alloc(t->a, (ts[e].nplayers + (size_t)tk->nplayers) * sizeof(*ps));
        if (ts[e].nplayers > 0)
            memcpy(ps, ts[e].players, ts[e].nplayers * sizeof(*ps));
        for (int p = 0; p < tk->nplayers; p++) {
            json_object_set_new(teams, tk->players[p].id, json_string(team));
            ps[ts[e].nplayers + (size_t)p] =
                (struct fm_event_player){tk->players[p].id, team, NULL, -1};
        }
        ts[e].players = ps;
        ts[e].nplayers += (size_t)tk->nplayers;
    }
    return ts;
}

static void on_match(void *ctx, const struct fm_match *m, const size_t *idx)
{
    (void)idx;
    struct formed *f = ctx;
    struct tick *t = f->t;
    if (f->failed)
        return;
    char match_id[37];
    util_uuid(match_id);
    json_t *teams = json_object();
    size_t nts;
    const char *backfill;
    struct fm_event_ticket *ts = event_tickets(t, m, teams, &nts, &backfill);
    const char **ids = arena_alloc(t->a, nts * sizeof(*ids));
    for (size_t k = 0; k < nts; k++)
        ids[k] = ts[k].ticket_id;
    char *list = util_pg_text_array(t->a, ids, nts);
    char *teams_text = json_dumps(teams, JSON_COMPACT);
    json_decref(teams);
    /* With acceptance, a backfill's new players accept as any match's do;
     * the players of its backfill ticket are in the game already and count
     * as accepted (MATCHED). */
    bool accept = t->conf.acceptance_required;
    const char *status = accept               ? "REQUIRES_ACCEPTANCE"
                         : t->conf.standalone ? "COMPLETED"
                                              : "PLACING";
    char timeout[16];
    snprintf(timeout, sizeof(timeout), "%d", t->conf.acceptance_timeout_seconds);
    const char *p[] = {match_id,
                       t->name,
                       status,
                       list,
                       teams_text,
                       fm_region_name(m->region),
                       accept ? timeout : NULL};
    PGresult *r;
    /* With acceptance, MATCHED clears answers the queued events carry. */
    if ((accept && tick_flush(t) < 0) || db_exec(t->a, &stmts[MATCHED], p, &r) != DB_OK)
        f->failed = 1;
    const char *pb[] = {match_id, backfill};
    if (!f->failed && backfill != NULL && db_exec(t->a, &stmts[BACKFILL_MATCH], pb, &r) != DB_OK)
        f->failed = 1;
    free(teams_text);

    struct fm_event_metric *ms = arena_alloc(t->a, (t->rs->nrules + 1) * sizeof(*ms));
    size_t nm = 0;
    for (size_t i = 0; i < t->rs->nrules; i++)
        if (t->rs->rules[i].type != FM_RULE_ABSOLUTE_SORT &&
            t->rs->rules[i].type != FM_RULE_DISTANCE_SORT)
            ms[nm++] = (struct fm_event_metric){t->rs->rules[i].name, f->metrics[i].passed,
                                                f->metrics[i].failed};
    struct fm_event e = tick_event(t, FM_EV_POTENTIAL_MATCH_CREATED);
    e.tickets = ts;
    e.ntickets = nts;
    e.match_id = match_id;
    e.metrics = ms;
    e.nmetrics = nm;
    e.acceptance_required = accept;
    e.acceptance_timeout = t->conf.acceptance_timeout_seconds;
    struct fm_event done = tick_event(t, FM_EV_SUCCEEDED);
    done.tickets = ts;
    done.ntickets = nts;
    done.match_id = match_id;
    /* With a queue, MatchmakingSucceeded waits for the game session. */
    bool succeeded = !accept && t->conf.standalone;
    if (!f->failed && (tick_publish(t, &e) < 0 || (succeeded && tick_publish(t, &done) < 0)))
        f->failed = 1;
    f->matches++;
    mm_metrics_match(t->a, &t->tally, m, (double)util_now_ms() / 1000.0);
}

/* A backfill ticket's players as the engine's base for it: one ticket
 * per team they are on, pinned there. Returns how many, 0 when a player
 * cannot match (logged). */
static size_t backfill_parts(struct tick *t, PGresult *r, int row, struct fm_ticket *parts)
{
    json_t *players = json_loads(db_get(r, row, 1), 0, NULL);
    size_t n = 0;
    bool ok = true;
    for (size_t k = 0; k < t->rs->nteams && ok; k++) {
        json_t *mine = json_array();
        size_t i;
        json_t *p;
        json_array_foreach(players, i, p)
        {
            const char *team = json_string_value(json_object_get(p, "Team"));
            if (team != NULL && strcmp(team, t->rs->teams[k].name) == 0)
                json_array_append(mine, p);
        }
        const char *why = NULL;
        struct fm_ticket *tk = &parts[n];
        tk->id = db_get(r, row, 0);
        tk->created = (double)strtoll(db_get(r, row, 2), NULL, 10) / 1000.0;
        if (json_array_size(mine) > 0 && fm_ticket_from_json(t->a, t->rs, mine, tk, &why) < 0) {
            log_warn("backfill ticket %s cannot match under %s: %s", tk->id, t->name, why);
            ok = false;
        } else if (json_array_size(mine) > 0) {
            tk->backfill = true;
            tk->pinned_team = (int)k;
            n++;
        }
        json_decref(mine);
    }
    json_decref(players);
    return ok ? n : 0;
}

/* A backfill's build: which of the new tickets it took. */
struct backfill_build {
    struct formed *f;
    size_t nbase;
    const size_t *from; /* index in the new tickets of each candidate */
    bool *taken;        /* by new ticket */
};

static void on_backfill(void *ctx, const struct fm_match *m, const size_t *idx)
{
    struct backfill_build *bb = ctx;
    for (int k = 0; k < m->n; k++)
        if (idx[k] >= bb->nbase)
            bb->taken[bb->from[idx[k] - bb->nbase]] = true;
    on_match(bb->f, m, idx);
}

/* Forms matches among the SEARCHING tickets (locked for this transaction):
 * each backfill ticket first, oldest first (a running game waits on it:
 * FlexMatch's backfillPriority high, always), then new matches of the
 * tickets left. */
static int form_matches(struct tick *t)
{
    const char *p[] = {t->name};
    PGresult *r;
    if (db_exec(t->a, &stmts[POOL], p, &r) != DB_OK)
        return -1;
    int n = PQntuples(r);
    struct fm_ticket *pool = arena_alloc(t->a, (size_t)(n + 1) * sizeof(*pool));
    const struct fm_ticket **ptrs =
        arena_alloc(t->a, (size_t)(n + 1) * sizeof(const struct fm_ticket *));
    size_t count = 0;
    for (int i = 0; i < n; i++) {
        if (db_get(r, i, 3) != NULL)
            continue; /* a backfill ticket */
        json_t *players = json_loads(db_get(r, i, 1), 0, NULL);
        const char *why = NULL;
        struct fm_ticket *tk = &pool[i];
        tk->id = db_get(r, i, 0);
        tk->created = (double)strtoll(db_get(r, i, 2), NULL, 10) / 1000.0;
        if (fm_ticket_from_json(t->a, t->rs, players, tk, &why) == 0)
            ptrs[count++] = tk;
        else
            log_warn("ticket %s cannot match under %s: %s", tk->id, t->name, why);
        json_decref(players);
    }
    struct fm_rule_metrics *metrics = arena_alloc(t->a, (t->rs->nrules + 1) * sizeof(*metrics));
    struct formed f = {.t = t, .metrics = metrics};
    t->tally.rules = metrics;
    struct fm_build_opts opts = {.now = (double)t->now_ms / 1000.0,
                                 .additional_player_count = t->conf.additional_player_count};
    /* Backfills fill their game session's empty seats. */
    struct fm_build_opts fill = {.now = opts.now};
    bool *taken = arena_alloc(t->a, count + 1);
    memset(taken, 0, count + 1);
    const struct fm_ticket **cand =
        arena_alloc(t->a, (count + t->rs->nteams + 1) * sizeof(const struct fm_ticket *));
    size_t *from = arena_alloc(t->a, (count + 1) * sizeof(*from));
    const char **ended = arena_alloc(t->a, (size_t)(n + 1) * sizeof(*ended));
    size_t nended = 0;
    for (int i = 0; i < n && !f.failed; i++) {
        if (db_get(r, i, 3) == NULL)
            continue;
        if (strcmp(db_get(r, i, 4), "t") != 0) { /* its game session ended */
            ended[nended++] = db_get(r, i, 0);
            continue;
        }
        struct fm_ticket *parts = arena_alloc(t->a, (t->rs->nteams + 1) * sizeof(*parts));
        size_t nbase = backfill_parts(t, r, i, parts), len = nbase;
        for (size_t k = 0; k < nbase; k++)
            cand[k] = &parts[k];
        for (size_t k = 0; k < count; k++)
            if (!taken[k]) {
                from[len - nbase] = k;
                cand[len++] = ptrs[k];
            }
        struct backfill_build bb = {&f, nbase, from, taken};
        if (nbase > 0)
            fm_build_backfill(t->rs, cand, len, nbase, &fill, on_backfill, &bb, metrics);
    }
    size_t left = 0;
    for (size_t k = 0; k < count; k++)
        if (!taken[k])
            ptrs[left++] = ptrs[k];
    if (!f.failed)
        fm_build(t->rs, ptrs, left, &opts, on_match, &f, metrics);
    const char *pc[] = {util_pg_text_array(t->a, ended, nended)};
    PGresult *c;
    if (!f.failed && nended > 0 && db_exec(t->a, &stmts[CANCEL_BACKFILLS], pc, &c) != DB_OK)
        f.failed = 1;
    return f.failed ? -1 : f.matches;
}

/* ---- acceptance ---------------------------------------------------------- */

static int set_tickets(struct tick *t, const char *list, const char *status)
{
    const char *p[] = {list, status};
    PGresult *r;
    return db_exec(t->a, &stmts[SET_TICKETS], p, &r) == DB_OK ? 0 : -1;
}

/* One match waiting for acceptance: decided (all accepted; a rejection or
 * the deadline: FlexMatch's AcceptMatch rules), or its progress reported. */
static int decide_acceptance(struct tick *t, PGresult *pending, int row)
{
    const char *match_id = db_get(pending, row, 0), *ids = db_get(pending, row, 1);
    const char *past_deadline = db_get(pending, row, 3);
    bool expired = past_deadline != NULL && strcmp(past_deadline, "t") == 0;
    json_t *teams = json_loads(db_get(pending, row, 2), 0, NULL);
    json_t *reported = json_loads(db_get(pending, row, 4), 0, NULL);
    json_t *answers = json_loads(db_get(pending, row, 5), 0, NULL);
    PGresult *r;
    const char *pi[] = {ids};
    int rc = db_exec(t->a, &stmts[TICKETS_OF], pi, &r) == DB_OK ? 0 : -1;
    int n = rc == 0 ? PQntuples(r) : 0;
    struct fm_event_ticket *ts = rc == 0 ? tick_row_tickets(t, r, teams, answers) : NULL;
    bool all = n > 0, rejected = false;
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < ts[i].nplayers; k++) {
            all &= ts[i].players[k].accepted == 1;
            rejected |= ts[i].players[k].accepted == 0;
        }
    const char *answers_text = db_get(pending, row, 5);
    if (rc == 0 && (all || rejected || expired)) {
        struct fm_event done = tick_event(t, FM_EV_ACCEPT_MATCH_COMPLETED);
        done.tickets = ts;
        done.ntickets = (size_t)n;
        done.match_id = match_id;
        done.acceptance = all ? "Accepted" : rejected ? "Rejected" : "TimedOut";
        /* All accepted: a STANDALONE match is complete, one with a queue
         * goes to placement (placement.c). */
        const char *next = !all ? "CANCELLED" : t->conf.standalone ? "COMPLETED" : "PLACING";
        const char *pm[] = {match_id, next, answers_text};
        rc = tick_publish(t, &done) == 0 && db_exec(t->a, &stmts[SET_MATCH], pm, &r) == DB_OK ? 0
                                                                                              : -1;
        if (rc == 0 && all && !t->conf.standalone) {
            rc = set_tickets(t, ids, "PLACING");
        } else if (rc == 0 && all) {
            struct fm_event ok = tick_event(t, FM_EV_SUCCEEDED);
            ok.tickets = ts;
            ok.ntickets = (size_t)n;
            ok.match_id = match_id;
            rc = tick_publish(t, &ok) == 0 && set_tickets(t, ids, "COMPLETED") == 0 ? 0 : -1;
        }
        /* Not all accepted: a ticket whose players all accepted goes back
         * to the pool; one with a player who rejected or did not answer is
         * cancelled (the AcceptMatch API's wording). */
        for (int i = 0; rc == 0 && !all && i < n; i++) {
            bool mine = true;
            for (size_t k = 0; k < ts[i].nplayers; k++)
                mine &= ts[i].players[k].accepted == 1;
            const char *ids1[] = {ts[i].ticket_id};
            char *one = util_pg_text_array(t->a, ids1, 1);
            struct fm_event e = tick_event(t, mine ? FM_EV_SEARCHING : FM_EV_CANCELLED);
            struct fm_event_ticket again = tick_back_in_pool(t, &ts[i]);
            e.tickets = mine ? &again : &ts[i];
            e.ntickets = 1;
            e.match_id = match_id;
            e.reason = "Cancelled";
            e.message = rejected ? "Cancelled because a player rejected the match."
                                 : "Cancelled because a player did not accept the match in time.";
            const char *pr[] = {one};
            rc = set_tickets(t, one, mine ? "SEARCHING" : "CANCELLED") == 0 &&
                         tick_publish(t, &e) == 0 &&
                         (!mine || (tick_flush(t) == 0 &&
                                    db_exec(t->a, &stmts[RESET_ACCEPTANCE], pr, &r) == DB_OK))
                     ? 0
                     : -1;
        }
    } else if (rc == 0 && !json_equal(answers, reported)) {
        struct fm_event progress = tick_event(t, FM_EV_ACCEPT_MATCH);
        progress.tickets = ts;
        progress.ntickets = (size_t)n;
        progress.match_id = match_id;
        const char *pm[] = {match_id, "REQUIRES_ACCEPTANCE", answers_text};
        rc = tick_publish(t, &progress) == 0 && db_exec(t->a, &stmts[SET_MATCH], pm, &r) == DB_OK
                 ? 0
                 : -1;
    }
    json_decref(teams);
    json_decref(reported);
    json_decref(answers);
    return rc;
}

static int resolve_acceptances(struct tick *t)
{
    if (!t->conf.acceptance_required)
        return 0;
    const char *p[] = {t->name};
    PGresult *r;
    if (tick_flush(t) < 0 || db_exec(t->a, &stmts[PENDING], p, &r) != DB_OK)
        return -1;
    for (int i = 0; i < PQntuples(r); i++)
        if (decide_acceptance(t, r, i) < 0)
            return -1;
    return 0;
}

/* Sets t->wait_estimate_ms when `searching` tickets are about to be told
 * it (MatchmakingSearching's estimatedWaitMillis). */
static int estimate_wait(struct tick *t, int searching)
{
    t->wait_estimate_ms = -1;
    if (searching == 0)
        return 0;
    const char *p[] = {t->name};
    PGresult *r;
    if (db_exec(t->a, &stmts[WAIT_ESTIMATE], p, &r) != DB_OK)
        return -1;
    if (db_get(r, 0, 0) != NULL)
        t->wait_estimate_ms = strtol(db_get(r, 0, 0), NULL, 10);
    return 0;
}

/* One configuration's tick, in one transaction. */
static int tick_configuration(struct tick *t)
{
    if (db_begin() != DB_OK)
        return -1;
    /* db_begin replaces a connection the server dropped, and the advisory
     * lock of leadership ended with the old session: a standby may lead now.
     * The next tick asks for the lead again (lead_holds). */
    if (!lead_current()) {
        db_rollback();
        return -1;
    }
    char timeout[16];
    snprintf(timeout, sizeof(timeout), "%d", t->conf.request_timeout_seconds);
    const char *pe[] = {t->name, timeout};
    const char *ps[] = {t->name};
    PGresult *r;
    int matches = -1;
    if (resolve_acceptances(t) == 0 && db_exec(t->a, &stmts[ANNOUNCE_CANCELLED], ps, &r) == DB_OK &&
        tick_publish_each(t, r, FM_EV_CANCELLED) == 0 &&
        db_exec(t->a, &stmts[EXPIRE], pe, &r) == DB_OK &&
        tick_publish_each(t, r, FM_EV_TIMED_OUT) == 0 &&
        db_exec(t->a, &stmts[SEARCH], ps, &r) == DB_OK && estimate_wait(t, PQntuples(r)) == 0 &&
        tick_publish_each(t, r, FM_EV_SEARCHING) == 0)
        matches = form_matches(t);
    /* New matches are placed in the same tick: no wait for the next one. */
    if (matches >= 0 && !t->conf.standalone && placement_run(t) < 0)
        matches = -1;
    if (matches >= 0 && tick_flush(t) < 0)
        matches = -1;
    if (matches < 0) {
        log_warn("tick of %s rolled back: %s", t->name, db_message());
        db_rollback();
        return -1;
    }
    if (db_commit() != DB_OK) {
        log_warn("tick of %s not committed: %s", t->name, db_message());
        return -1;
    }
    tick_push(t);
    mm_metrics_commit(t->name, t->rs, &t->tally);
    if (matches > 0)
        log_info("%s: %d match(es)", t->name, matches);
    return matches;
}

int matcher_tick(void)
{
    struct arena list = {0}, a = {0};
    PGresult *configs;
    if (db_exec(&list, &stmts[CONFIGS], NULL, &configs) != DB_OK) {
        arena_destroy(&list);
        return -1;
    }
    int total = 0;
    for (int i = 0; i < PQntuples(configs); i++) {
        struct tick t = {.a = &a,
                         .name = db_get(configs, i, 0),
                         .now_ms = util_now_ms(),
                         .wait_estimate_ms = -1};
        json_t *conf_body = json_loads(db_get(configs, i, 1), 0, NULL);
        json_t *rs_body = json_loads(db_get(configs, i, 2), 0, NULL);
        struct fm_error err = {{0}, {0}};
        bool ok = fm_config_parse(conf_body, t.name, &t.conf, &err) == 0 &&
                  (t.rs = fm_ruleset_parse(rs_body, &err)) != NULL;
        if (!ok)
            log_warn("configuration %s is not usable: %s: %s", t.name, err.field, err.message);
        else if (lead_holds(&a, LEAD_CONFIGURATION, t.name)) {
            t.arn = ticket_configuration_arn(&a, t.name);
            int n = tick_configuration(&t);
            total += n > 0 ? n : 0;
        }
        fm_ruleset_free(t.rs);
        json_decref(conf_body);
        json_decref(rs_body);
        arena_reset(&a);
    }
    arena_destroy(&a);
    arena_destroy(&list);
    return total;
}
