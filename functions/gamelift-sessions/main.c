/*
 * gamelift-sessions: game sessions (persistent worlds) and player sessions
 * through the GameLift service API. POST / with X-Amz-Target: GameLift.<op>.
 *
 *   CreateGameSession           an idle process of the fleet hosts a new world
 *   DescribeGameSessions        by GameSessionId, or a fleet's (Location,
 *   DescribeGameSessionDetails    StatusFilter), paged; Details add ProtectionPolicy
 *   UpdateGameSession           size, name, who may join, protection, properties
 *   TerminateGameSession        TRIGGER_ON_PROCESS_TERMINATE or FORCE_TERMINATE
 *   CreatePlayerSession(s)      seats, reserved until the player connects
 *   DescribePlayerSessions      by PlayerSessionId, GameSessionId or PlayerId
 *   SearchGameSessions          a fleet's ACTIVE ones by FilterExpression and
 *                               SortExpression (common/glsearch.h), 20 a page
 *   GetGameSessionLogUrl        a URL of the game session's log (game-session-logs),
 *                               good for 15 minutes without other credentials
 *
 * The rules (seats, policies, idempotency, the creator limit, termination)
 * are the SQL functions of sql/functions/fleet.sql; this file checks input,
 * calls them and answers in GameLift's shapes: game sessions written from
 * their columns by game_session.c, player sessions by
 * fleet.player_session_json.
 *
 * Callers: a backend key may call every operation; a fleet key only the
 * describes, of its own fleet (anything else is as unknown to it). A game
 * server's token (the server SDK, POST /v1/fleet/game-sessions/policy and
 * /v1/fleet/player-sessions/describe) may set its own fleet's game
 * sessions' PlayerSessionCreationPolicy and describe their seats.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cfg.h"
#include "db.h"
#include "game_session.h"
#include "gamelift.h"
#include "glsearch.h"
#include "jsonw.h"
#include "serve.h"
#include "util.h"

enum {
    CREATE,
    FLEET_EXISTS,
    SESSION,
    SESSIONS,
    UPDATE,
    TERMINATE,
    CREATE_PLAYERS,
    PLAYER_SESSIONS_BY_ID,
    PLAYER_SESSIONS_OF_GAME,
    PLAYER_SESSIONS_OF_PLAYER,
    SEARCHABLE,
    LOG,
};

/* The largest page a describe answers (Limit lowers it). */
#define PAGE_CAP 100
/* GameLift's for SearchGameSessions. */
#define SEARCH_PAGE_CAP 20
/* GameLift's ceiling on players per game session. */
#define MAX_PLAYERS 200

/* $2 of the player session reads is the ARN prefix of FleetArn
 * ("arn:aws:gamelift:<region>:<account>:"); a fleet key's own fleet
 * restricts what is found (NULL: any). */
static const struct db_stmt stmts[] = {
    [CREATE] = {"gl_create",
                "SELECT outcome, detail, game_session_id FROM fleet.create_game_session($1, $2, "
                "$3::integer, $4, $5::jsonb, $6, $7, $8, $9)",
                9, false},
    [FLEET_EXISTS] = {"gl_fleet_exists", "SELECT 1 FROM fleet.fleets WHERE fleet_id = $1", 1, true},
    /* The id of a game session (by ARN or id, $1) that has a log. */
    [LOG] = {"gl_log",
             "SELECT g.game_session_id FROM fleet.game_sessions g "
             "JOIN fleet.game_session_logs l USING (game_session_id) "
             "WHERE (g.game_session_arn = $1 OR g.game_session_id = $1) AND l.expires_at > now()",
             1, true},
    /* One game session by ARN or rally's id ($1), within fleet $2. */
    [SESSION] = {"gl_session",
                 "SELECT " GAME_SESSION_COLUMNS " FROM fleet.game_sessions g "
                 "WHERE (g.game_session_arn = $1 OR g.game_session_id = $1) "
                 "AND ($2::text IS NULL OR g.fleet_id = $2)",
                 2, true},
    /* A fleet's game sessions ($1), in a location ($2) and status ($3),
     * after $4, $5 at most. */
    [SESSIONS] = {"gl_sessions",
                  "SELECT " GAME_SESSION_COLUMNS " FROM fleet.game_sessions g "
                  "WHERE g.fleet_id = $1 AND ($2::text IS NULL OR g.location = $2) "
                  "AND ($3::text IS NULL OR g.status = $3) AND g.game_session_arn > $4 "
                  "ORDER BY g.game_session_arn LIMIT $5::integer",
                  5, true},
    [UPDATE] = {"gl_update",
                "SELECT outcome, game_session_id FROM fleet.update_game_session($1, $2, "
                "$3::integer, $4, $5, $6, $7::jsonb)",
                7, false},
    [TERMINATE] = {"gl_terminate",
                   "SELECT outcome, detail, game_session_id FROM "
                   "fleet.terminate_game_session($1, $2, $3)",
                   3, false},
    [CREATE_PLAYERS] = {"gl_create_players",
                        "SELECT outcome, detail, player_session_ids::text FROM "
                        "fleet.create_player_sessions($1, $2, $3::text[], $4::text[])",
                        4, false},
    [PLAYER_SESSIONS_BY_ID] = {"gl_psess_by_id",
                               "SELECT ps.player_session_id, fleet.player_session_json(ps, g, "
                               "$2)::text FROM unnest($1::text[]) WITH ORDINALITY AS u(id, n) "
                               "JOIN fleet.player_sessions ps ON ps.player_session_id = u.id "
                               "JOIN fleet.game_sessions g USING (game_session_id) "
                               "WHERE ($3::text IS NULL OR g.fleet_id = $3) ORDER BY u.n",
                               3, true},
    /* Of a game session ($1), in status $4, after $5, $6 at most. */
    [PLAYER_SESSIONS_OF_GAME] = {"gl_psess_of_game",
                                 "SELECT ps.player_session_id, fleet.player_session_json(ps, g, "
                                 "$2)::text FROM fleet.game_sessions g JOIN "
                                 "fleet.player_sessions ps USING (game_session_id) "
                                 "WHERE (g.game_session_arn = $1 OR g.game_session_id = $1) "
                                 "AND ($3::text IS NULL OR g.fleet_id = $3) "
                                 "AND ($4::text IS NULL OR fleet.player_session_status(ps) = $4) "
                                 "AND ps.player_session_id > $5 "
                                 "ORDER BY ps.player_session_id LIMIT $6::integer",
                                 6, true},
    [PLAYER_SESSIONS_OF_PLAYER] = {"gl_psess_of_player",
                                   "SELECT ps.player_session_id, fleet.player_session_json(ps, "
                                   "g, $2)::text FROM fleet.player_sessions ps "
                                   "JOIN fleet.game_sessions g USING (game_session_id) "
                                   "WHERE ps.player_id = $1 "
                                   "AND ($3::text IS NULL OR g.fleet_id = $3) "
                                   "AND ps.player_session_id > $4 "
                                   "ORDER BY ps.player_session_id LIMIT $5::integer",
                                   5, true},
    /* What a search looks at: the ACTIVE game sessions of fleet $1 (in
     * location $3), oldest first. */
    [SEARCHABLE] = {"gl_searchable",
                    "SELECT " GAME_SESSION_COLUMNS " FROM fleet.game_sessions g "
                    "WHERE g.fleet_id = $1 AND g.status = 'ACTIVE' "
                    "AND ($2::text IS NULL OR g.location = $2) ORDER BY g.created_at, "
                    "g.game_session_arn",
                    2, true},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static bool is_game_session_status(const char *s)
{
    return strcmp(s, "ACTIVE") == 0 || strcmp(s, "ACTIVATING") == 0 ||
           strcmp(s, "TERMINATED") == 0 || strcmp(s, "TERMINATING") == 0 || strcmp(s, "ERROR") == 0;
}

static bool is_player_session_status(const char *s)
{
    return strcmp(s, "RESERVED") == 0 || strcmp(s, "ACTIVE") == 0 || strcmp(s, "COMPLETED") == 0 ||
           strcmp(s, "TIMEDOUT") == 0;
}

static bool is_creation_policy(const char *s)
{
    return strcmp(s, "ACCEPT_ALL") == 0 || strcmp(s, "DENY_ALL") == 0;
}

static bool is_protection_policy(const char *s)
{
    return strcmp(s, "NoProtection") == 0 || strcmp(s, "FullProtection") == 0;
}

static bool is_termination_mode(const char *s)
{
    return strcmp(s, "TRIGGER_ON_PROCESS_TERMINATE") == 0 || strcmp(s, "FORCE_TERMINATE") == 0;
}

static bool is_player_session_id(const char *s)
{
    return strncmp(s, "psess-", 6) == 0 && s[6] != '\0' && util_is_token(s, 128, "-");
}

static const struct gl_member create_input[] = {
    {"FleetId", GL_STRING, false, 1, 512, 0, gl_is_fleet_id, NULL, 0},
    {"AliasId", GL_STRING, false, 1, 512, 0, NULL, NULL, 0},
    {"MaximumPlayerSessionCount", GL_INTEGER, true, 0, MAX_PLAYERS, 0, NULL, NULL, 0},
    {"Name", GL_STRING, false, 1, 1024, 0, NULL, NULL, 0},
    {"GameProperties", GL_PROPERTIES, false, 0, 16, 0, NULL, NULL, 0},
    {"CreatorId", GL_STRING, false, 1, 1024, 0, NULL, NULL, 0},
    {"GameSessionId", GL_STRING, false, 1, 48, 0, gl_is_id_string, NULL, 0},
    {"IdempotencyToken", GL_STRING, false, 1, 48, 0, gl_is_id_string, NULL, 0},
    {"GameSessionData", GL_STRING, false, 1, 262144, 0, NULL, NULL, 0},
    {"Location", GL_STRING, false, 1, 64, 0, gl_is_location, NULL, 0},
};

static const struct gl_member describe_input[] = {
    {"FleetId", GL_STRING, false, 1, 512, 0, gl_is_fleet_id, NULL, 0},
    {"GameSessionId", GL_STRING, false, 1, 512, 0, gl_is_arn_string, NULL, 0},
    {"AliasId", GL_STRING, false, 1, 512, 0, NULL, NULL, 0},
    {"Location", GL_STRING, false, 1, 64, 0, gl_is_location, NULL, 0},
    {"StatusFilter", GL_STRING, false, 1, 1024, 0, is_game_session_status, NULL, 0},
    GL_PAGING_MEMBERS,
};

static const struct gl_member update_input[] = {
    {"GameSessionId", GL_STRING, true, 1, 512, 0, gl_is_arn_string, NULL, 0},
    {"MaximumPlayerSessionCount", GL_INTEGER, false, 0, MAX_PLAYERS, 0, NULL, NULL, 0},
    {"Name", GL_STRING, false, 1, 1024, 0, NULL, NULL, 0},
    {"PlayerSessionCreationPolicy", GL_STRING, false, 1, 16, 0, is_creation_policy, NULL, 0},
    {"ProtectionPolicy", GL_STRING, false, 1, 16, 0, is_protection_policy, NULL, 0},
    {"GameProperties", GL_PROPERTIES, false, 0, 16, 0, NULL, NULL, 0},
};

/* The server SDK's UpdatePlayerSessionCreationPolicy. */
static const struct gl_member policy_input[] = {
    {"GameSessionId", GL_STRING, true, 1, 512, 0, gl_is_arn_string, NULL, 0},
    {"PlayerSessionCreationPolicy", GL_STRING, true, 1, 16, 0, is_creation_policy, NULL, 0},
};

static const struct gl_member terminate_input[] = {
    {"GameSessionId", GL_STRING, true, 1, 512, 0, gl_is_arn_string, NULL, 0},
    {"TerminationMode", GL_STRING, true, 1, 32, 0, is_termination_mode, NULL, 0},
};

static const struct gl_member player_input[] = {
    {"GameSessionId", GL_STRING, true, 1, 512, 0, gl_is_arn_string, NULL, 0},
    {"PlayerId", GL_STRING, true, 1, 1024, 0, NULL, NULL, 0},
    {"PlayerData", GL_STRING, false, 1, 2048, 0, NULL, NULL, 0},
};

static const struct gl_member players_input[] = {
    {"GameSessionId", GL_STRING, true, 1, 512, 0, gl_is_arn_string, NULL, 0},
    {"PlayerIds", GL_STRING_LIST, true, 1, 25, 1024, NULL, NULL, 0},
    {"PlayerDataMap", GL_STRING_MAP, false, 0, 25, 2048, NULL, NULL, 0},
};

static const struct gl_member describe_players_input[] = {
    {"GameSessionId", GL_STRING, false, 1, 512, 0, gl_is_arn_string, NULL, 0},
    {"PlayerId", GL_STRING, false, 1, 1024, 0, NULL, NULL, 0},
    {"PlayerSessionId", GL_STRING, false, 1, 128, 0, is_player_session_id, NULL, 0},
    {"PlayerSessionStatusFilter", GL_STRING, false, 1, 1024, 0, is_player_session_status, NULL, 0},
    GL_PAGING_MEMBERS,
};

static const struct gl_member search_input[] = {
    {"FleetId", GL_STRING, false, 1, 512, 0, gl_is_fleet_id, NULL, 0},
    {"AliasId", GL_STRING, false, 1, 512, 0, NULL, NULL, 0},
    {"Location", GL_STRING, false, 1, 64, 0, gl_is_location, NULL, 0},
    {"FilterExpression", GL_STRING, false, 1, 1024, 0, NULL, NULL, 0},
    {"SortExpression", GL_STRING, false, 1, 1024, 0, NULL, NULL, 0},
    GL_PAGING_MEMBERS,
};

static const char *str(json_t *in, const char *key)
{
    return json_string_value(json_object_get(in, key));
}

/* A fleet key's or a game server's own fleet, or NULL for a backend. */
static const char *own_fleet(const struct http_req *req)
{
    return req->claims.scope_bit == AUTH_SCOPE_AWS_FLEET ||
                   req->claims.scope_bit == AUTH_SCOPE_SERVER
               ? req->claims.sub
               : NULL;
}

/* The ARN prefix FleetArn is made of. */
static const char *arn_prefix(struct http_req *req)
{
    return gl_arn(req->arena, "");
}

static const char *limit_text(struct arena *a, long limit)
{
    return arena_sprintf(a, "%ld", limit + 1); /* one more: is there a next page? */
}

/* Replies {"<key>": <the JSON of column 1 of one row>}. */
static void reply_one(struct http_req *req, struct http_resp *resp, const char *key, PGresult *r)
{
    json_t *v = json_loads(db_get(r, 0, 1), 0, NULL);
    http_reply(req, resp, 200, json_pack("{s:o}", key, v != NULL ? v : json_object()));
}

/* Replies {"GameSession": ...} for one game session by id; NotFound if gone. */
static void reply_game_session(struct http_req *req, struct http_resp *resp, const char *id)
{
    const char *p[] = {id, NULL};
    PGresult *r = serve_exec(req, resp, &stmts[SESSION], p);
    if (r == NULL)
        return;
    if (PQntuples(r) == 0) {
        http_error(req, resp, 400, "NotFoundException", "Game session %s not found", id);
        return;
    }
    struct jsonw *w = jsonw_new(req->arena, 1024);
    jsonw_open(w, '{');
    jsonw_key(w, "GameSession");
    game_session_write(w, req->arena, r, 0);
    jsonw_close(w, '}');
    http_reply_text(req, resp, 200, w->text, w->len);
}

/* Ends a page of game sessions: its NextToken (none when next_key is
 * NULL), and the reply. */
static void reply_page(struct http_req *req, struct http_resp *resp, struct jsonw *w,
                       const char *next_key)
{
    jsonw_close(w, ']');
    if (next_key != NULL)
        jsonw_key_string(w, "NextToken", gl_next_token(req->arena, next_key));
    jsonw_close(w, '}');
    http_reply_text(req, resp, 200, w->text, w->len);
}

static void handle_create(struct http_req *req, struct http_resp *resp)
{
    json_t *in = gl_input(req, resp, create_input, N(create_input));
    if (in == NULL)
        return;
    const char *fleet = str(in, "FleetId");
    if (fleet == NULL || str(in, "AliasId") != NULL) {
        http_error(req, resp, 400,
                   str(in, "AliasId") != NULL ? "NotFoundException" : "InvalidRequestException",
                   str(in, "AliasId") != NULL ? "rally has no aliases: use FleetId"
                                              : "FleetId is required");
        return;
    }
    const char *custom = str(in, "GameSessionId");
    const char *token = str(in, "IdempotencyToken") != NULL ? str(in, "IdempotencyToken") : custom;
    json_t *props = json_object_get(in, "GameProperties");
    char *props_text = props != NULL ? json_dumps(props, JSON_COMPACT) : NULL;
    const char *p[] = {gl_name_of(fleet, "fleet"),
                       str(in, "Location"),
                       arena_sprintf(req->arena, "%lld",
                                     (long long)json_integer_value(
                                         json_object_get(in, "MaximumPlayerSessionCount"))),
                       str(in, "Name"),
                       props_text != NULL ? arena_strdup(req->arena, props_text) : NULL,
                       str(in, "GameSessionData"),
                       str(in, "CreatorId"),
                       token,
                       cfg->region};
    free(props_text);
    PGresult *r = serve_exec(req, resp, &stmts[CREATE], p);
    if (r == NULL)
        return;
    const char *outcome = db_get(r, 0, 0), *detail = db_get(r, 0, 1);
    if (strcmp(outcome, "created") == 0 ||
        (strcmp(outcome, "existing") == 0 && str(in, "IdempotencyToken") != NULL))
        reply_game_session(req, resp, db_get(r, 0, 2));
    else if (strcmp(outcome, "existing") == 0)
        http_error(req, resp, 400, "IdempotentParameterMismatchException",
                   "A game session with custom id %s already exists in this fleet", custom);
    else if (strcmp(outcome, "unknown_fleet") == 0)
        http_error(req, resp, 400, "NotFoundException", "Fleet %s not found", p[0]);
    else if (strcmp(outcome, "unknown_location") == 0)
        http_error(req, resp, 400, "InvalidRequestException",
                   "Location %s is not a location of fleet %s (%s)", str(in, "Location"), p[0],
                   detail);
    else if (strcmp(outcome, "creator_limit") == 0)
        http_error(req, resp, 400, "LimitExceededException",
                   "CreatorId %s has made as many game sessions as its limit allows for now",
                   str(in, "CreatorId"));
    else
        http_error(req, resp, 400, "FleetCapacityExceededException",
                   "Fleet %s has no idle server process in %s", p[0], detail);
}

/* DescribeGameSessions and its Details: the same rows, shaped by `details`. */
static void describe(struct http_req *req, struct http_resp *resp, bool details)
{
    json_t *in = gl_input(req, resp, describe_input, N(describe_input));
    long limit;
    const char *after;
    if (in == NULL || !gl_page(req, resp, in, PAGE_CAP, &limit, &after))
        return;
    const char *id = str(in, "GameSessionId"), *fleet = str(in, "FleetId");
    if (str(in, "AliasId") != NULL) {
        http_error(req, resp, 400, "NotFoundException", "rally has no aliases: use FleetId");
        return;
    }
    if (id == NULL && fleet == NULL) {
        http_error(req, resp, 400, "InvalidRequestException",
                   "FleetId or GameSessionId is required");
        return;
    }
    fleet = fleet != NULL ? gl_name_of(fleet, "fleet") : NULL;
    const char *own = own_fleet(req);
    PGresult *r;
    if (id != NULL) {
        const char *p[] = {id, own};
        r = serve_exec(req, resp, &stmts[SESSION], p);
        limit = PAGE_CAP;
    } else {
        if (own != NULL && strcmp(own, fleet) != 0)
            fleet = ""; /* another fleet: as unknown as one that does not exist */
        const char *p[] = {fleet, str(in, "Location"), str(in, "StatusFilter"), after,
                           limit_text(req->arena, limit)};
        r = serve_exec(req, resp, &stmts[SESSIONS], p);
    }
    if (r == NULL)
        return;
    if (PQntuples(r) == 0 && id == NULL) {
        const char *p[] = {fleet};
        PGresult *f = serve_exec(req, resp, &stmts[FLEET_EXISTS], p);
        if (f == NULL)
            return;
        if (PQntuples(f) == 0) {
            http_error(req, resp, 400, "NotFoundException", "Fleet %s not found", fleet);
            return;
        }
    }
    if (PQntuples(r) == 0 && id != NULL) {
        http_error(req, resp, 400, "NotFoundException", "Game session %s not found", id);
        return;
    }
    int n = PQntuples(r) > limit ? (int)limit : PQntuples(r);
    struct jsonw *w = jsonw_new(req->arena, 512 * (size_t)(n + 1));
    jsonw_open(w, '{');
    jsonw_key(w, details ? "GameSessionDetails" : "GameSessions");
    jsonw_open(w, '[');
    for (int i = 0; i < n; i++) {
        if (details) {
            jsonw_open(w, '{');
            jsonw_key(w, "GameSession");
        }
        game_session_write(w, req->arena, r, i);
        if (details) {
            jsonw_key_string(w, "ProtectionPolicy", db_get(r, i, GS_PROTECTION));
            jsonw_close(w, '}');
        }
    }
    reply_page(req, resp, w, PQntuples(r) > limit ? db_get(r, n - 1, GS_ARN) : NULL);
}

static void handle_describe(struct http_req *req, struct http_resp *resp)
{
    describe(req, resp, false);
}

static void handle_details(struct http_req *req, struct http_resp *resp)
{
    describe(req, resp, true);
}

static void update(struct http_req *req, struct http_resp *resp, json_t *in);

static void handle_update(struct http_req *req, struct http_resp *resp)
{
    json_t *in = gl_input(req, resp, update_input, N(update_input));
    if (in != NULL)
        update(req, resp, in);
}

/* A game server's UpdatePlayerSessionCreationPolicy, of its own fleet's
 * game session: that one member only. */
static void handle_update_policy(struct http_req *req, struct http_resp *resp)
{
    json_t *in = gl_input(req, resp, policy_input, N(policy_input));
    if (in != NULL)
        update(req, resp, in);
}

/* UpdateGameSession with what `in` holds (members absent: unchanged). */
static void update(struct http_req *req, struct http_resp *resp, json_t *in)
{
    json_t *max = json_object_get(in, "MaximumPlayerSessionCount");
    json_t *props = json_object_get(in, "GameProperties");
    char *props_text = props != NULL ? json_dumps(props, JSON_COMPACT) : NULL;
    const char *p[] = {
        str(in, "GameSessionId"),
        own_fleet(req),
        max != NULL ? arena_sprintf(req->arena, "%lld", (long long)json_integer_value(max)) : NULL,
        str(in, "Name"),
        str(in, "PlayerSessionCreationPolicy"),
        str(in, "ProtectionPolicy"),
        props_text != NULL ? arena_strdup(req->arena, props_text) : NULL};
    free(props_text);
    PGresult *r = serve_exec(req, resp, &stmts[UPDATE], p);
    if (r == NULL)
        return;
    const char *outcome = db_get(r, 0, 0);
    if (strcmp(outcome, "updated") == 0)
        reply_game_session(req, resp, db_get(r, 0, 1));
    else if (strcmp(outcome, "ended") == 0)
        http_error(req, resp, 400, "InvalidGameSessionStatusException", "Game session %s has ended",
                   p[0]);
    else
        http_error(req, resp, 400, "NotFoundException", "Game session %s not found", p[0]);
}

static void handle_terminate(struct http_req *req, struct http_resp *resp)
{
    json_t *in = gl_input(req, resp, terminate_input, N(terminate_input));
    if (in == NULL)
        return;
    const char *p[] = {str(in, "GameSessionId"), own_fleet(req), str(in, "TerminationMode")};
    PGresult *r = serve_exec(req, resp, &stmts[TERMINATE], p);
    if (r == NULL)
        return;
    const char *outcome = db_get(r, 0, 0);
    if (strcmp(outcome, "terminating") == 0 || strcmp(outcome, "terminated") == 0)
        reply_game_session(req, resp, db_get(r, 0, 2));
    else if (strcmp(outcome, "ended") == 0)
        http_error(req, resp, 400, "InvalidGameSessionStatusException", "Game session %s is %s",
                   p[0], db_get(r, 0, 1));
    else
        http_error(req, resp, 400, "NotFoundException", "Game session %s not found", p[0]);
}

/* A URL's token lives as long as GameLift's pre-signed URL. */
#define LOG_URL_TTL 900

static const struct gl_member log_url_input[] = {
    {"GameSessionId", GL_STRING, true, 1, 512, 0, gl_is_arn_string, NULL, 0},
};

/* GetGameSessionLogUrl: {"PreSignedUrl"}, the native log route with a token
 * of scope gamesession-log for this game session alone, signed as access
 * tokens are and good for 15 minutes. */
static void handle_log_url(struct http_req *req, struct http_resp *resp)
{
    json_t *in = gl_input(req, resp, log_url_input, N(log_url_input));
    if (in == NULL)
        return;
    const char *p[] = {str(in, "GameSessionId")};
    PGresult *r = serve_exec(req, resp, &stmts[LOG], p);
    if (r == NULL)
        return;
    if (PQntuples(r) == 0) {
        http_error(req, resp, 400, "NotFoundException", "No log of game session %s", p[0]);
        return;
    }
    const char *id = db_get(r, 0, 0);
    char *token = auth_sign(req->arena, id, "gamesession-log", NULL, util_now(), LOG_URL_TTL);
    if (token == NULL) {
        http_error(req, resp, 500, "InternalServiceException", "cannot sign the URL");
        return;
    }
    http_reply(req, resp, 200,
               json_pack("{s:s}", "PreSignedUrl",
                         arena_sprintf(req->arena, "%s/v1/game-sessions/%s/log?token=%s",
                                       cfg->jwt_issuer, id, token)));
}

/* Seats for players (with their data, NULL for none) in a game session;
 * replies the player sessions under `key`, one object or a list. */
static void create_players(struct http_req *req, struct http_resp *resp, const char *game_session,
                           const char **players, const char **data, size_t n, bool one)
{
    const char *p[] = {game_session, own_fleet(req), util_pg_text_array(req->arena, players, n),
                       util_pg_text_array(req->arena, data, n)};
    PGresult *r = serve_exec(req, resp, &stmts[CREATE_PLAYERS], p);
    if (r == NULL)
        return;
    const char *outcome = db_get(r, 0, 0), *detail = db_get(r, 0, 1);
    if (strcmp(outcome, "not_found") == 0) {
        http_error(req, resp, 400, "NotFoundException", "Game session %s not found", game_session);
        return;
    }
    if (strcmp(outcome, "not_active") == 0 || strcmp(outcome, "deny_all") == 0) {
        http_error(req, resp, 400, "InvalidGameSessionStatusException",
                   strcmp(outcome, "deny_all") == 0
                       ? "Game session %s does not accept new players (DENY_ALL)"
                       : "Game session %s is not ACTIVE",
                   game_session);
        return;
    }
    if (strcmp(outcome, "full") == 0) {
        http_error(req, resp, 400, "GameSessionFullException",
                   "Game session %s has %s seat(s) left", game_session, detail);
        return;
    }
    const char *pr[] = {db_get(r, 0, 2), arn_prefix(req), NULL};
    PGresult *made = serve_exec(req, resp, &stmts[PLAYER_SESSIONS_BY_ID], pr);
    if (made == NULL)
        return;
    if (one) {
        reply_one(req, resp, "PlayerSession", made);
        return;
    }
    json_t *list = json_array();
    for (int i = 0; i < PQntuples(made); i++)
        json_array_append_new(list, json_loads(db_get(made, i, 1), 0, NULL));
    http_reply(req, resp, 200, json_pack("{s:o}", "PlayerSessions", list));
}

static void handle_create_player(struct http_req *req, struct http_resp *resp)
{
    json_t *in = gl_input(req, resp, player_input, N(player_input));
    if (in == NULL)
        return;
    const char *players[] = {str(in, "PlayerId")};
    const char *data[] = {str(in, "PlayerData")};
    create_players(req, resp, str(in, "GameSessionId"), players, data, 1, true);
}

static void handle_create_players(struct http_req *req, struct http_resp *resp)
{
    json_t *in = gl_input(req, resp, players_input, N(players_input));
    if (in == NULL)
        return;
    json_t *ids = json_object_get(in, "PlayerIds"), *map = json_object_get(in, "PlayerDataMap");
    size_t n = json_array_size(ids);
    const char **players = arena_alloc(req->arena, n * sizeof(*players));
    const char **data = arena_alloc(req->arena, n * sizeof(*data));
    for (size_t i = 0; i < n; i++) {
        players[i] = json_string_value(json_array_get(ids, i));
        data[i] = json_string_value(json_object_get(map, players[i]));
        for (size_t k = 0; k < i; k++)
            if (strcmp(players[k], players[i]) == 0) {
                http_error(req, resp, 400, "InvalidRequestException", "PlayerIds names %s twice",
                           players[i]);
                return;
            }
    }
    create_players(req, resp, str(in, "GameSessionId"), players, data, n, false);
}

static void handle_describe_players(struct http_req *req, struct http_resp *resp)
{
    json_t *in = gl_input(req, resp, describe_players_input, N(describe_players_input));
    long limit;
    const char *after;
    if (in == NULL || !gl_page(req, resp, in, PAGE_CAP, &limit, &after))
        return;
    const char *psess = str(in, "PlayerSessionId"), *game = str(in, "GameSessionId");
    const char *player = str(in, "PlayerId");
    PGresult *r;
    if (psess != NULL) {
        const char *ids[] = {psess};
        const char *p[] = {util_pg_text_array(req->arena, ids, 1), arn_prefix(req), own_fleet(req)};
        r = serve_exec(req, resp, &stmts[PLAYER_SESSIONS_BY_ID], p);
        limit = 1;
    } else if (game != NULL) {
        const char *p[] = {game,           arn_prefix(req),
                           own_fleet(req), str(in, "PlayerSessionStatusFilter"),
                           after,          limit_text(req->arena, limit)};
        r = serve_exec(req, resp, &stmts[PLAYER_SESSIONS_OF_GAME], p);
    } else if (player != NULL) {
        const char *p[] = {player, arn_prefix(req), own_fleet(req), after,
                           limit_text(req->arena, limit)};
        r = serve_exec(req, resp, &stmts[PLAYER_SESSIONS_OF_PLAYER], p);
    } else {
        http_error(req, resp, 400, "InvalidRequestException",
                   "PlayerSessionId, GameSessionId or PlayerId is required");
        return;
    }
    if (r == NULL)
        return;
    if (psess != NULL && PQntuples(r) == 0) {
        http_error(req, resp, 400, "NotFoundException", "Player session %s not found", psess);
        return;
    }
    int n = PQntuples(r) > limit ? (int)limit : PQntuples(r);
    json_t *list = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(list, json_loads(db_get(r, i, 1), 0, NULL));
    json_t *out = json_pack("{s:o}", "PlayerSessions", list);
    if (PQntuples(r) > limit)
        json_object_set_new(out, "NextToken",
                            json_string(gl_next_token(req->arena, db_get(r, n - 1, 0))));
    http_reply(req, resp, 200, out);
}

static void decref(void *j)
{
    json_decref(j);
}

/* The search's candidates, filtered; NULL after answering a failure. */
static struct gls_session *candidates(struct http_req *req, struct http_resp *resp,
                                      const struct gls_query *q, const char *fleet,
                                      const char *location, PGresult **rows_out, size_t *n)
{
    const char *p[] = {fleet, location};
    PGresult *r = serve_exec(req, resp, &stmts[SEARCHABLE], p);
    if (r == NULL)
        return NULL;
    *rows_out = r;
    int rows = PQntuples(r);
    struct gls_session *s = arena_alloc(req->arena, (size_t)(rows + 1) * sizeof(*s));
    *n = 0;
    for (int i = 0; i < rows; i++) {
        json_t *props = json_loads(db_get(r, i, GS_PROPERTIES), 0, NULL);
        arena_defer(req->arena, decref, props);
        s[*n] = (struct gls_session){.id = db_get(r, i, GS_ARN),
                                     .name = db_get(r, i, GS_NAME),
                                     .properties = props,
                                     .maximum = strtod(db_get(r, i, GS_MAX), NULL),
                                     .created_ms = strtod(db_get(r, i, GS_CREATED), NULL),
                                     .players = strtod(db_get(r, i, GS_SEATS), NULL),
                                     .row = (const void *)(intptr_t)i};
        if (gls_matches(q, &s[*n]))
            (*n)++;
    }
    return s;
}

static void handle_search(struct http_req *req, struct http_resp *resp)
{
    json_t *in = gl_input(req, resp, search_input, N(search_input));
    long limit;
    const char *after, *why = NULL;
    if (in == NULL || !gl_page(req, resp, in, SEARCH_PAGE_CAP, &limit, &after))
        return;
    const char *fleet = str(in, "FleetId");
    if (fleet == NULL || str(in, "AliasId") != NULL) {
        http_error(req, resp, 400, fleet == NULL ? "InvalidRequestException" : "NotFoundException",
                   fleet == NULL ? "FleetId is required" : "rally has no aliases: use FleetId");
        return;
    }
    if (strspn(after, "0123456789") != strlen(after) || strlen(after) > 9) {
        http_error(req, resp, 400, "InvalidRequestException", "NextToken is not a valid token");
        return;
    }
    fleet = gl_name_of(fleet, "fleet");
    const char *own = own_fleet(req);
    struct gls_query *q =
        gls_compile(req->arena, str(in, "FilterExpression"), str(in, "SortExpression"), &why);
    if (q == NULL) {
        http_error(req, resp, 400, "InvalidRequestException", "%s", why);
        return;
    }
    const char *p[] = {own != NULL && strcmp(own, fleet) != 0 ? "" : fleet};
    PGresult *f = serve_exec(req, resp, &stmts[FLEET_EXISTS], p);
    if (f == NULL)
        return;
    if (PQntuples(f) == 0) {
        http_error(req, resp, 400, "NotFoundException", "Fleet %s not found", fleet);
        return;
    }
    size_t n;
    PGresult *rows;
    struct gls_session *s = candidates(req, resp, q, fleet, str(in, "Location"), &rows, &n);
    if (s == NULL)
        return;
    gls_sort(q, s, n);
    /* The page starts after the result numbered in the token: a search is a
     * snapshot, as GameLift says of its own. */
    size_t start = *after != '\0' ? (size_t)strtoul(after, NULL, 10) : 0;
    struct jsonw *w = jsonw_new(req->arena, 512 * (size_t)(limit + 1));
    jsonw_open(w, '{');
    jsonw_key(w, "GameSessions");
    jsonw_open(w, '[');
    for (size_t i = start; i < n && i < start + (size_t)limit; i++)
        game_session_write(w, req->arena, rows, (int)(intptr_t)s[i].row);
    reply_page(req, resp, w,
               start + (size_t)limit < n ? arena_sprintf(req->arena, "%zu", start + (size_t)limit)
                                         : NULL);
}

/* An operator's admin token may do what a backend's key does (the console). */
#define BACKEND (AUTH_SCOPE_AWS_BACKEND | AUTH_SCOPE_ADMIN)
#define ANY_KEY (BACKEND | AUTH_SCOPE_AWS_FLEET)

static const struct http_route routes[] = {
    {"CreateGameSession", "POST", &dialect_gamelift, BACKEND, handle_create},
    {"DescribeGameSessions", "POST", &dialect_gamelift, ANY_KEY, handle_describe},
    {"DescribeGameSessionDetails", "POST", &dialect_gamelift, ANY_KEY, handle_details},
    {"UpdateGameSession", "POST", &dialect_gamelift, BACKEND, handle_update},
    {"TerminateGameSession", "POST", &dialect_gamelift, BACKEND, handle_terminate},
    {"CreatePlayerSession", "POST", &dialect_gamelift, BACKEND, handle_create_player},
    {"CreatePlayerSessions", "POST", &dialect_gamelift, BACKEND, handle_create_players},
    {"DescribePlayerSessions", "POST", &dialect_gamelift, ANY_KEY, handle_describe_players},
    {"SearchGameSessions", "POST", &dialect_gamelift, ANY_KEY, handle_search},
    {"GetGameSessionLogUrl", "POST", &dialect_gamelift, BACKEND, handle_log_url},
    /* The server SDK's calls with a game server's token, of its own fleet,
     * in GameLift's shapes (POST /v1/fleet/...). */
    {"update_policy_server", "POST", &dialect_gamelift, AUTH_SCOPE_SERVER, handle_update_policy},
    {"describe_players_server", "POST", &dialect_gamelift, AUTH_SCOPE_SERVER,
     handle_describe_players},
};

int main(void)
{
    static const struct service svc = {
        .name = "gamelift-sessions",
        .max_body = 320 * 1024, /* GameSessionData may be 256 KiB */
        .routes = routes,
        .nroutes = N(routes),
        .stmts = stmts,
        .nstmts = N(stmts),
        .verifies_tokens = true, /* the game servers' routes */
        .signs_tokens = true,    /* GetGameSessionLogUrl's URLs */
    };
    serve_main(&svc);
}
