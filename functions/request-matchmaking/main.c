/*
 * request-matchmaking: StartMatchmaking for the calling player.
 *
 *   POST /v1/matchmaking   {"configuration"?, "latencyInMs", "attributes"?, "ticketId"?}
 *   POST /request-matchmaking          {"latencyInMs"}        (GUIDANCE sample)
 *   GET  /requestmatchmaking?latencies=us-east-1_23_us-west-2_81   (LEGACY sample)
 *   POST /v1/fleet/matchmaking/start   server scope: GameLift's StartMatchmaking
 *        {"ConfigurationName", "Players": [{"PlayerId", "PlayerAttributes"?,
 *        "LatencyInMs"?}], "TicketId"?} -> {"MatchmakingTicket"}
 *
 * Server-side attributes (skill...) come from the players row, created with
 * the rule set defaults on first use; a client may only set the attributes
 * its configuration lists in ClientSettableAttributes. One active ticket per
 * player: the same ticketId again returns that ticket (200); another while it
 * is active is 409 with the active TicketId. The compatibility routes return
 * the active ticket instead, since those clients restart matchmaking blindly.
 *
 * The server route is for trusted backends (a hub world submitting a
 * party): 1-10 players on one ticket, any attribute the rule set declares,
 * and FlexMatch's duplicate-player rule (sql/010_server_matchmaking.sql).
 *
 * On every route, a player without a value for an attribute the rule set
 * declares without a default is refused (400 attribute_missing, as GameLift
 * refuses it): no ticket is written that could never match
 * (sql/012_required_attributes.sql).
 *
 * The player routes' starts waiting on the socket run together, in one
 * transaction (start_batch, serve.c's batches), each answered as it would
 * be alone; the server routes run one by one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "serve.h"
#include "ticket.h"
#include "util.h"

enum { START, VIEW, START_PARTY, VIEW_ANY, START_BACKFILL };

/* Players a StartMatchBackfill names at most: a full game session less the
 * one seat it needs (GameLift's limit). */
#define TICKET_MAX_BACKFILL 199

/* START answers the player routes' requests waiting on the socket together
 * (start_batch), in one call of start_matchmaking_many: request k's
 * arguments are element k of each array parameter, its answer the row whose
 * last column is k. The columns: the ticket as TICKET_VIEW_SQL would read
 * it back (the TICKET_COL_* order), then the outcome, its detail and k.
 * They describe the ticket only when the call created it: what
 * start_matchmaking inserted, the attributes it stored for the player, and
 * start_time, which is now(), the same transaction's. For 'existing' the
 * ticket is an earlier one, read with VIEW; the other outcomes are
 * refusals. test_matchmaking checks that a new ticket's answer is what a
 * poll of it reads; a column added to TICKET_COLUMNS_SQL without one here
 * is a 500, not a wrong answer. */
enum {
    START_COL_OUTCOME = TICKET_COL_MY_PLAYER_SESSION + 1,
    START_COL_DETAIL,
    START_COL_REQUEST,
    START_NCOLS
};

/* Player starts one worker answers at once; each holds its player's lock
 * until the batch commits. */
#define START_BATCH_MAX 32

static const struct db_stmt stmts[] = {
    [START] = {"start",
               "SELECT s.ticket_id, ($2::text[])[s.i], 'QUEUED', NULL, NULL, "
               "(extract(epoch FROM now()) * 1000000)::bigint, NULL::bigint, NULL::integer, "
               "NULL, NULL, NULL, NULL::integer, NULL, "
               "json_build_array(json_build_object('PlayerId', ($3::text[])[s.i], "
               "'PlayerAttributes', s.attributes, 'LatencyInMs', ($4::jsonb[])[s.i], "
               "'Team', NULL, 'PlayerSessionId', NULL)), "
               "NULL, s.outcome, s.detail, s.i FROM matchmaking.start_matchmaking_many("
               "$1::text[], $2::text[], $3::text[], $4::jsonb[], $5::jsonb[], $6::integer, "
               "$7::boolean[], $8::boolean) s",
               8, false},
    [VIEW] = {"view", TICKET_VIEW_SQL, 2, true},
    [START_PARTY] = {"start_party",
                     "SELECT outcome, ticket_id, detail FROM matchmaking.start_party($1, $2, "
                     "$3::jsonb, $4::integer)",
                     4, false},
    [VIEW_ANY] = {"view_any", TICKET_VIEW_ANY_SQL, 1, true},
    [START_BACKFILL] = {"start_backfill",
                        "SELECT outcome, ticket_id, detail FROM matchmaking.start_backfill($1, $2, "
                        "$3, $4, $5::jsonb, $6::integer, false)",
                        6, false},
};

static void json_decref_hook(void *p)
{
    json_decref(p);
}

/* A player lacks a value for an attribute its rule set declares without a
 * default: FlexMatch could never match the ticket, and GameLift refuses the
 * request (InvalidRequestException), so rally does too. */
static void attribute_missing(struct http_req *req, struct http_resp *resp, const char *name)
{
    http_error(req, resp, 400, "attribute_missing",
               "attribute %s is required: the rule set declares it without a default", name);
}

/* A player route's StartMatchmaking, waiting for start_batch: the
 * arguments of start_matchmaking (JSON as text), and whether this is its
 * second run (the first could not do it without waiting). Lives in the
 * request's arena. */
struct start_request {
    const char *ticket_id, *configuration, *latency, *attributes;
    bool reuse_active, again;
};

/* Leaves StartMatchmaking for the caller to start_batch. Takes no
 * ownership; the strings it keeps live as long as the request (its body,
 * or the configuration). */
static void start(struct http_req *req, const char *configuration, json_t *latency,
                  json_t *attributes, const char *ticket_id)
{
    struct start_request *s = arena_alloc(req->arena, sizeof(*s));
    char *lat = json_dumps(latency, JSON_COMPACT);
    char *attrs = json_dumps(attributes, JSON_COMPACT);
    arena_defer(req->arena, free, lat);
    arena_defer(req->arena, free, attrs);
    *s = (struct start_request){
        .ticket_id = ticket_id,
        .configuration = configuration,
        .latency = lat,
        .attributes = attrs,
        .reuse_active = http_dialect(req)->reuse_active_ticket,
    };
    serve_defer(req, s);
}

/* Answers a start from row `row` of START's result. */
static void answer_start(struct http_req *req, struct http_resp *resp, PGresult *r, int row)
{
    const char *outcome = db_get(r, row, START_COL_OUTCOME);
    const char *id = db_get(r, row, TICKET_COL_ID);
    const char *detail = db_get(r, row, START_COL_DETAIL);
    if (strcmp(outcome, "created") == 0) {
        http_reply(req, resp, http_dialect(req)->created_status,
                   ticket_render(req->arena, r, row, http_dialect(req)));
        return;
    } else if (strcmp(outcome, "active") == 0) {
        http_reply(req, resp, 409,
                   json_pack("{s:s, s:s, s:s}", "error", "active_ticket", "message",
                             "the player already has an active ticket", "TicketId", detail));
        return;
    } else if (strcmp(outcome, "ticket_id_taken") == 0) {
        http_error(req, resp, 409, "ticket_id_taken", "ticketId %s is already in use", id);
        return;
    } else if (strcmp(outcome, "unknown_configuration") == 0) {
        http_error(req, resp, 400, "unknown_configuration", "no matchmaking configuration %s",
                   detail);
        return;
    } else if (strcmp(outcome, "attribute_not_settable") == 0) {
        http_error(req, resp, 400, "attribute_not_settable",
                   "attribute %s is not client-settable in this configuration", detail);
        return;
    } else if (strcmp(outcome, "attribute_type") == 0) {
        http_error(req, resp, 400, "attribute_type",
                   "attribute %s does not have the type its rule set declares", detail);
        return;
    } else if (strcmp(outcome, "attribute_missing") == 0) {
        attribute_missing(req, resp, detail);
        return;
    } else if (strcmp(outcome, "existing") != 0) {
        http_error(req, resp, 500, "internal", "unexpected outcome %s", outcome);
        return;
    }

    const char *pv[] = {id, req->claims.sub};
    PGresult *view = serve_exec(req, resp, &stmts[VIEW], pv);
    if (view == NULL)
        return;
    if (PQntuples(view) != 1) {
        http_error(req, resp, 500, "internal", "ticket vanished");
        return;
    }
    /* existing: the same ticket again, or the active one for a compatibility route */
    http_reply(req, resp, 200, ticket_render(req->arena, view, 0, http_dialect(req)));
}

/* Leaves a start its first run could not do without waiting to a second
 * run, which waits, after the others' answers are sent (serve.c's
 * batches). */
static void run_again(struct http_req *req)
{
    struct start_request *again = arena_alloc(req->arena, sizeof(*again));
    *again = *(const struct start_request *)req->deferred_arg;
    again->again = true;
    serve_defer(req, again);
}

/* Runs starts in one transaction (START) and answers each from its row.
 * A first run waits for no lock: a start that would (a busy player), or
 * every start when the transaction fails, is left to the second run
 * (again), which waits, for all of its starts together. The result lives
 * in the first request's arena until run() returns; each answer copies
 * what it needs. */
static void start_together(struct http_req *const *reqs, struct http_resp *const *resps, int n,
                           bool again)
{
    struct arena *a = reqs[0]->arena;
    const char *ids[START_BATCH_MAX], *confs[START_BATCH_MAX], *players[START_BATCH_MAX],
        *lats[START_BATCH_MAX], *attrs[START_BATCH_MAX], *reuse[START_BATCH_MAX];
    int rows[START_BATCH_MAX];
    for (int i = 0; i < n; i++) {
        const struct start_request *s = reqs[i]->deferred_arg;
        ids[i] = s->ticket_id;
        confs[i] = s->configuration;
        players[i] = reqs[i]->claims.sub;
        lats[i] = s->latency;
        attrs[i] = s->attributes;
        reuse[i] = s->reuse_active ? "true" : "false";
    }
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%ld", cfg->ticket_ttl);
    const char *p[] = {
        util_pg_text_array(a, ids, (size_t)n),     util_pg_text_array(a, confs, (size_t)n),
        util_pg_text_array(a, players, (size_t)n), util_pg_text_array(a, lats, (size_t)n),
        util_pg_text_array(a, attrs, (size_t)n),   ttl,
        util_pg_text_array(a, reuse, (size_t)n),   again ? "true" : "false"};
    PGresult *r;
    int rc = db_exec(a, &stmts[START], p, &r);
    if (rc == DB_ERROR && !again) {
        log_warn("%d starts failed together (%s): they run again", n, db_sqlstate());
        for (int i = 0; i < n; i++)
            run_again(reqs[i]);
        return;
    }
    for (int i = 0; i < n && rc != DB_OK; i++)
        serve_db_error(reqs[i], resps[i], rc);
    if (rc != DB_OK)
        return;
    db_rows_by_request(r, START_COL_REQUEST, rows, n);
    for (int i = 0; i < n && PQnfields(r) != START_NCOLS; i++)
        rows[i] = -1; /* not START's columns: a 500 below, not a wrong answer */
    for (int i = 0; i < n; i++) {
        bool later = rows[i] >= 0 && strcmp(db_get(r, rows[i], START_COL_OUTCOME), "later") == 0;
        if (rows[i] < 0) {
            http_error(reqs[i], resps[i], 500, "internal", "start returned no answer (%d columns)",
                       PQnfields(r));
        } else if (later && !again) {
            run_again(reqs[i]);
        } else if (later) { /* a deadlock, even waiting: rare, and worth one retry */
            http_add_header(resps[i], "Retry-After", "1");
            http_error(reqs[i], resps[i], 503, "busy",
                       "the player's tickets are busy, retry shortly");
        } else {
            answer_start(reqs[i], resps[i], r, rows[i]);
        }
    }
}

/* The deferred starts (struct serve_batch): a first run of those that
 * arrived, or the second run of those it left. */
static void start_batch(struct http_req *const *reqs, struct http_resp *const *resps, int n)
{
    n = n < START_BATCH_MAX ? n : START_BATCH_MAX; /* serve.c gives at most .max */
    const struct start_request *first = reqs[0]->deferred_arg;
    start_together(reqs, resps, n, first->again);
}

static void handle_start(struct http_req *req, struct http_resp *resp)
{
    const char *configuration = NULL, *ticket_id = NULL;
    json_t *latency_in = NULL, *attributes = NULL;
    json_error_t jerr;
    const char *why;
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s?:s, s:o, s?:o, s?:s}", "configuration",
                       &configuration, "latencyInMs", &latency_in, "attributes", &attributes,
                       "ticketId", &ticket_id) != 0) {
        http_error(req, resp, 400, "invalid_body", "%s", jerr.text);
        return;
    }
    if (configuration != NULL && !util_is_token(configuration, 256, "-_.")) {
        http_error(req, resp, 400, "invalid_body", "configuration must be a configuration name");
        return;
    }
    if (ticket_id != NULL && !ticket_id_is_valid(ticket_id)) {
        http_error(req, resp, 400, "invalid_body", "ticketId must be 1-128 of [a-zA-Z0-9-.]");
        return;
    }
    json_t *latency =
        ticket_latency_from_json(latency_in, http_dialect(req)->clamp_zero_latency, &why);
    if (latency == NULL) {
        http_error(req, resp, 400, "invalid_latency", "%s", why);
        return;
    }
    arena_defer(req->arena, json_decref_hook, latency);
    if (attributes != NULL && ticket_check_attributes(attributes, &why) < 0) {
        http_error(req, resp, 400, "invalid_attributes", "%s", why);
        return;
    }
    json_t *none = json_object();
    arena_defer(req->arena, json_decref_hook, none);
    start(req, configuration != NULL ? configuration : cfg->default_configuration, latency,
          attributes != NULL ? attributes : none, ticket_id);
}

static void handle_start_v2(struct http_req *req, struct http_resp *resp)
{
    const char *why;
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return;
    json_t *latency_in = json_object_get(body, "latencyInMs");
    if (latency_in == NULL) {
        http_error(req, resp, 400, "invalid_latency", "No latency data provided");
        return;
    }
    json_t *latency =
        ticket_latency_from_json(latency_in, http_dialect(req)->clamp_zero_latency, &why);
    if (latency == NULL) {
        http_error(req, resp, 400, "invalid_latency", "%s", why);
        return;
    }
    arena_defer(req->arena, json_decref_hook, latency);
    json_t *none = json_object();
    arena_defer(req->arena, json_decref_hook, none);
    start(req, cfg->default_configuration, latency, none, NULL);
}

static void handle_start_v1(struct http_req *req, struct http_resp *resp)
{
    const char *why;
    const char *latencies = http_query(req, "latencies");
    if (latencies == NULL || *latencies == '\0') {
        http_error(req, resp, 400, "invalid_latency", "latencies query parameter is required");
        return;
    }
    json_t *latency = ticket_latency_from_v1(req->arena, latencies, &why);
    if (latency == NULL) {
        http_error(req, resp, 400, "invalid_latency", "%s", why);
        return;
    }
    arena_defer(req->arena, json_decref_hook, latency);
    json_t *none = json_object();
    arena_defer(req->arena, json_decref_hook, none);
    start(req, cfg->default_configuration, latency, none, NULL);
}

/* One entry of Players, checked and normalised into out (new keys only).
 * A backfill's players each name their Team; a new party's never do. */
static const char *party_player(json_t *p, json_t *seen, json_t *out, bool backfill)
{
    const char *id = NULL, *why = NULL, *team = NULL;
    json_t *attributes = NULL, *latency_in = NULL;
    json_error_t jerr;
    int rc = backfill ? json_unpack_ex(p, &jerr, JSON_STRICT, "{s:s, s:s, s?:o, s?:o}", "PlayerId",
                                       &id, "Team", &team, "PlayerAttributes", &attributes,
                                       "LatencyInMs", &latency_in)
                      : json_unpack_ex(p, &jerr, JSON_STRICT, "{s:s, s?:o, s?:o}", "PlayerId", &id,
                                       "PlayerAttributes", &attributes, "LatencyInMs", &latency_in);
    if (rc != 0 && backfill)
        return "each player is {\"PlayerId\", \"Team\", \"PlayerAttributes\"?, "
               "\"LatencyInMs\"?}";
    if (rc != 0)
        return json_object_get(p, "Team") != NULL
                   ? "Team is for StartMatchBackfill: a new ticket's players have no team yet"
                   : "each player is {\"PlayerId\", \"PlayerAttributes\"?, \"LatencyInMs\"?}";
    if (strlen(id) < 1 || strlen(id) > 1024)
        return "PlayerId must be 1 to 1024 characters";
    if (team != NULL && (strlen(team) < 1 || strlen(team) > 1024))
        return "Team must be 1 to 1024 characters";
    if (team != NULL)
        json_object_set_new(out, "Team", json_string(team));
    if (json_object_get(seen, id) != NULL)
        return "a PlayerId appears twice";
    json_object_set_new(seen, id, json_true());
    if (attributes != NULL && ticket_check_attributes(attributes, &why) < 0)
        return why;
    json_object_set_new(out, "PlayerId", json_string(id));
    if (attributes != NULL)
        json_object_set(out, "PlayerAttributes", attributes);
    if (latency_in != NULL) {
        json_t *latency = ticket_latency_from_json(latency_in, false, &why);
        if (latency == NULL)
            return why;
        json_object_set_new(out, "LatencyInMs", latency);
    }
    return NULL;
}

/* What StartMatchmaking and StartMatchBackfill are asked: the
 * configuration's name, the ticket id (or NULL) and the players as the SQL
 * functions take them (JSON text). */
struct party_request {
    const char *configuration, *ticket_id, *game_session, *players;
};

/* Reads and checks a request of `max_players` players at most (each with
 * its Team for a backfill); false after answering what is wrong. */
static bool read_party(struct http_req *req, struct http_resp *resp, bool backfill,
                       size_t max_players, struct party_request *out)
{
    const char *configuration = NULL, *ticket_id = NULL, *game_session = NULL, *why = NULL;
    json_t *party = NULL;
    json_error_t jerr;
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return false;
    int rc = backfill
                 ? json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s:o, s?:s, s:s}",
                                  "ConfigurationName", &configuration, "Players", &party,
                                  "TicketId", &ticket_id, "GameSessionArn", &game_session)
                 : json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s:o, s?:s}", "ConfigurationName",
                                  &configuration, "Players", &party, "TicketId", &ticket_id);
    if (rc != 0) {
        http_error(req, resp, 400, "invalid_body", "%s", jerr.text);
        return false;
    }
    const char *name = strrchr(configuration, '/'); /* an ARN names it after the slash */
    name = name != NULL ? name + 1 : configuration;
    if (!util_is_token(name, 256, "-_.")) {
        http_error(req, resp, 400, "invalid_body", "ConfigurationName must name a configuration");
        return false;
    }
    if (ticket_id != NULL && !ticket_id_is_valid(ticket_id)) {
        http_error(req, resp, 400, "invalid_body", "TicketId must be 1-128 of [a-zA-Z0-9-.]");
        return false;
    }
    if (game_session != NULL && (strlen(game_session) < 1 || strlen(game_session) > 256)) {
        http_error(req, resp, 400, "invalid_body", "GameSessionArn must be 1 to 256 characters");
        return false;
    }
    if (!json_is_array(party) || json_array_size(party) < 1 ||
        json_array_size(party) > max_players) {
        http_error(req, resp, 400, "invalid_body", "Players must be an array of 1 to %zu players",
                   max_players);
        return false;
    }
    json_t *players = json_array(), *seen = json_object();
    arena_defer(req->arena, json_decref_hook, players);
    arena_defer(req->arena, json_decref_hook, seen);
    size_t i;
    json_t *p;
    json_array_foreach(party, i, p)
    {
        json_t *one = json_object();
        json_array_append_new(players, one);
        if ((why = party_player(p, seen, one, backfill)) != NULL) {
            http_error(req, resp, 400, "invalid_body", "Players[%zu]: %s", i, why);
            return false;
        }
    }
    char *players_text = json_dumps(players, JSON_COMPACT);
    arena_defer(req->arena, free, players_text);
    *out = (struct party_request){name, ticket_id, game_session, players_text};
    return true;
}

/* Answers what start_party or start_backfill said (r: outcome, ticket_id,
 * detail): the new ticket, or why there is none. */
static void reply_started(struct http_req *req, struct http_resp *resp, PGresult *r)
{
    const char *outcome = db_get(r, 0, 0), *id = db_get(r, 0, 1), *detail = db_get(r, 0, 2);
    if (strcmp(outcome, "not_found") == 0) {
        http_error(req, resp, 404, "not_found", "no such game session");
        return;
    }
    if (strcmp(outcome, "not_active") == 0) {
        http_error(req, resp, 409, "not_active", "the game session is %s, not ACTIVE", detail);
        return;
    }
    if (strcmp(outcome, "unknown_team") == 0) {
        http_error(req, resp, 400, "unknown_team", "the rule set has no team %s", detail);
        return;
    }
    if (strcmp(outcome, "busy") == 0) {
        http_error(req, resp, 409, "backfill_busy",
                   "backfill ticket %s of this game session is in a match being placed", detail);
        return;
    }
    if (strcmp(outcome, "unknown_configuration") == 0) {
        http_error(req, resp, 400, "unknown_configuration", "no matchmaking configuration %s",
                   detail);
        return;
    }
    if (strcmp(outcome, "attribute_type") == 0) {
        http_error(req, resp, 400, "attribute_type",
                   "attribute %s does not have the type its rule set declares", detail);
        return;
    }
    if (strcmp(outcome, "attribute_missing") == 0) {
        attribute_missing(req, resp, detail);
        return;
    }
    if (strcmp(outcome, "ticket_id_taken") == 0) {
        http_error(req, resp, 409, "ticket_id_taken", "TicketId %s is already in use", id);
        return;
    }
    if (strcmp(outcome, "player_busy") == 0) {
        http_error(req, resp, 409, "player_busy",
                   "player %s is in a proposed match or one being placed", detail);
        return;
    }
    const char *one[] = {id};
    const char *pv[] = {util_pg_text_array(req->arena, one, 1)};
    int rc = db_exec(req->arena, &stmts[VIEW_ANY], pv, &r);
    if (rc != DB_OK || PQntuples(r) != 1) {
        if (rc != DB_OK)
            serve_db_error(req, resp, rc);
        else
            http_error(req, resp, 500, "internal", "ticket vanished");
        return;
    }
    http_reply(req, resp, 200,
               json_pack("{s:o}", "MatchmakingTicket",
                         ticket_render(req->arena, r, 0, http_dialect(req))));
}

static void handle_start_server(struct http_req *req, struct http_resp *resp)
{
    struct party_request pr;
    if (!read_party(req, resp, false, TICKET_MAX_PARTY, &pr))
        return;
    char ttl[16];
    snprintf(ttl, sizeof(ttl), "%ld", cfg->ticket_ttl);
    const char *ps[] = {pr.ticket_id, pr.configuration, pr.players, ttl};
    PGresult *r = serve_exec(req, resp, &stmts[START_PARTY], ps);
    if (r != NULL)
        reply_started(req, resp, r);
}

/* StartMatchBackfill: the players already in a running game session, each
 * on its team, for the matchmaker to complete with new players. A game
 * server's key or token may backfill only the game sessions of its fleet. */
static void handle_backfill(struct http_req *req, struct http_resp *resp)
{
    struct party_request pr;
    if (!read_party(req, resp, true, TICKET_MAX_BACKFILL, &pr))
        return;
    bool fleet_caller =
        req->claims.scope_bit == AUTH_SCOPE_SERVER || req->claims.scope_bit == AUTH_SCOPE_AWS_FLEET;
    char ttl[16];
    snprintf(ttl, sizeof(ttl), "%ld", cfg->ticket_ttl);
    const char *ps[] = {pr.ticket_id,    pr.configuration,
                        pr.game_session, fleet_caller ? req->claims.sub : NULL,
                        pr.players,      ttl};
    PGresult *r = serve_exec(req, resp, &stmts[START_BACKFILL], ps);
    if (r != NULL)
        reply_started(req, resp, r);
}

static const struct http_route routes[] = {
    /* The GameLift API's StartMatchmaking: the same, signed with a key. */
    {.name = "StartMatchmaking",
     .method = "POST",
     .dialect = &dialect_gamelift,
     .scopes = AUTH_SCOPE_AWS_BACKEND,
     .handle = handle_start_server},
    {.name = "start_server",
     .method = "POST",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_SERVER,
     .handle = handle_start_server},
    {.name = "StartMatchBackfill",
     .method = "POST",
     .dialect = &dialect_gamelift,
     .scopes = AUTH_SCOPE_AWS_BACKEND | AUTH_SCOPE_AWS_FLEET,
     .handle = handle_backfill},
    {.name = "backfill_server",
     .method = "POST",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_SERVER,
     .handle = handle_backfill},
    {.name = "start",
     .method = "POST",
     .dialect = &dialect_native,
     .scopes = AUTH_SCOPE_PLAYER,
     .handle = handle_start},
    {.name = "start_v2",
     .method = "POST",
     .dialect = &dialect_guidance,
     .scopes = AUTH_SCOPE_PLAYER,
     .handle = handle_start_v2},
    {.name = "start_v1",
     .method = "GET",
     .dialect = &dialect_legacy,
     .scopes = AUTH_SCOPE_PLAYER,
     .handle = handle_start_v1},
};

int main(void)
{
    static const struct serve_batch batch = {.max = START_BATCH_MAX, .run = start_batch};
    static const struct service svc = {
        .name = "request-matchmaking",
        .max_body = 256 * 1024, /* a backfill names up to 199 players */
        .routes = routes,
        .nroutes = sizeof(routes) / sizeof(routes[0]),
        .stmts = stmts,
        .nstmts = sizeof(stmts) / sizeof(stmts[0]),
        .verifies_tokens = true,
        .batch = &batch,
    };
    serve_main(&svc);
}
