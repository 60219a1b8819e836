/* A world's lifecycle (docs/worlds.md, "Lifecycle"): its settings, what it
 * runs on now, players joining it (its next game session started when none
 * runs), and its end. The rules live in sql/functions/world.sql. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cfg.h"
#include "util.h"
#include "world.h"

/* 400 with what is wrong; false. */
static bool bad(struct http_req *req, struct http_resp *resp, const char *what)
{
    http_error(req, resp, 400, "invalid_body", "%s", what);
    return false;
}

/* GameProperties: up to 16 {"Key", "Value"} strings (GameLift's shape). */
static bool properties_ok(json_t *props)
{
    size_t i;
    json_t *p;
    if (!json_is_array(props) || json_array_size(props) > 16)
        return false;
    json_array_foreach(props, i, p)
    {
        const char *k = NULL, *v = NULL;
        if (json_unpack(p, "{s:s, s:s !}", "Key", &k, "Value", &v) != 0 || strlen(k) < 1 ||
            strlen(k) > 32 || strlen(v) > 96)
            return false;
    }
    return true;
}

/* PUT's body: the settings as configure's parameters; false after 400. */
static bool read_settings(struct http_req *req, struct http_resp *resp, json_t *body,
                          const char *p[6])
{
    const char *fleet = NULL, *location = NULL;
    json_t *max = NULL, *idle = NULL, *props = NULL;
    json_error_t jerr;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s?s, s?o, s?o, s?o}", "fleetId", &fleet,
                       "location", &location, "maxPlayers", &max, "idleSeconds", &idle,
                       "gameProperties", &props) != 0)
        return bad(req, resp, jerr.text);
    if (!util_is_token(fleet, 128, "-_.") ||
        (location != NULL && !util_is_token(location, 64, "-")))
        return bad(req, resp, "fleetId and location: a fleet's id and one of its locations");
    if (max != NULL &&
        (!json_is_integer(max) || json_integer_value(max) < 1 || json_integer_value(max) > 200))
        return bad(req, resp, "maxPlayers: 1 to 200");
    if (idle != NULL && !json_is_null(idle) &&
        (!json_is_integer(idle) || json_integer_value(idle) < 1 ||
         json_integer_value(idle) > 604800))
        return bad(req, resp, "idleSeconds: 1 to 604800, or null for a world that never idles");
    if (props != NULL && !properties_ok(props))
        return bad(req, resp, "gameProperties: up to 16 {\"Key\", \"Value\"} strings");
    p[1] = fleet;
    p[2] = location;
    p[3] = arena_sprintf(req->arena, "%lld", max != NULL ? (long long)json_integer_value(max) : 10);
    p[4] = json_is_integer(idle)
               ? arena_sprintf(req->arena, "%lld", (long long)json_integer_value(idle))
               : NULL;
    char *text = props != NULL ? json_dumps(props, JSON_COMPACT) : NULL;
    p[5] = text != NULL ? arena_strdup(req->arena, text) : "[]";
    free(text);
    return true;
}

/* GET /v1/worlds/{id}: the world, what runs it now, its newest save. */
void handle_world_get(struct http_req *req, struct http_resp *resp)
{
    const char *key = world_key(req, resp);
    if (key == NULL)
        return;
    const char *p[] = {key};
    PGresult *r = world_call(req, resp, W_DESCRIBE, p);
    if (r == NULL)
        return;
    json_t *w = json_pack("{s:s, s:b, s:i, s:i}", "worldId", db_get(r, 0, 0), "running",
                          strcmp(db_get(r, 0, 5), "t") == 0, "sessions",
                          (int)strtol(db_get(r, 0, 6), NULL, 10), "maxPlayers",
                          (int)strtol(db_get(r, 0, 3), NULL, 10));
    static const char *const text[][2] = {{"fleetId", NULL},
                                          {"location", NULL},
                                          {"gameSessionId", NULL},
                                          {"status", NULL},
                                          {"ipAddress", NULL}};
    static const int column[] = {1, 2, 7, 8, 9};
    for (size_t i = 0; i < sizeof(column) / sizeof(column[0]); i++)
        if (!PQgetisnull(r, 0, column[i]))
            json_object_set_new(w, text[i][0], json_string(db_get(r, 0, column[i])));
    static const char *const numbers[] = {"idleSeconds", "port", "playerSessions", "saveVersion"};
    static const int ncolumn[] = {4, 10, 11, 12};
    for (size_t i = 0; i < sizeof(ncolumn) / sizeof(ncolumn[0]); i++)
        if (!PQgetisnull(r, 0, ncolumn[i]))
            json_object_set_new(w, numbers[i],
                                json_integer(strtoll(db_get(r, 0, ncolumn[i]), NULL, 10)));
    json_object_set_new(w, "gameProperties", json_loads(db_get(r, 0, 13), 0, NULL));
    http_reply(req, resp, 200, w);
}

/* PUT /v1/worlds/{id}: a world for storage only (no body), or one with a
 * lifecycle (its settings). 201 made, 200 it existed. */
void handle_world_put(struct http_req *req, struct http_resp *resp)
{
    if (req->path_id == NULL || !util_is_token(req->path_id, 128, "-_.")) {
        http_error(req, resp, 404, "not_found", "no such world");
        return;
    }
    if (req->body_len == 0) {
        const char *p[] = {req->path_id};
        PGresult *r = world_call(req, resp, W_CREATE, p);
        if (r != NULL)
            http_reply(req, resp, strcmp(db_get(r, 0, 0), "created") == 0 ? 201 : 200,
                       json_pack("{s:s}", "worldId", req->path_id));
        return;
    }
    json_t *body = http_json_body(req, resp);
    const char *p[6] = {req->path_id};
    if (body == NULL || !read_settings(req, resp, body, p))
        return;
    PGresult *r = world_call(req, resp, W_CONFIGURE, p);
    if (r == NULL)
        return;
    const char *outcome = db_get(r, 0, 0);
    if (strcmp(outcome, "unknown_fleet") == 0)
        http_error(req, resp, 400, "unknown_fleet", "no fleet %s", p[1]);
    else if (strcmp(outcome, "unknown_location") == 0)
        http_error(req, resp, 400, "unknown_location", "fleet %s runs in %s", p[1],
                   db_get(r, 0, 1));
    else
        http_reply(req, resp, strcmp(outcome, "created") == 0 ? 201 : 200,
                   json_pack("{s:s, s:s}", "worldId", req->path_id, "fleetId", p[1]));
}

/* A game session on its way (starting, activating, ending): 202, and ask
 * again in a moment. */
static void not_yet(struct http_req *req, struct http_resp *resp, const char *status,
                    const char *arn)
{
    resp->headers[resp->nheaders][0] = "Retry-After";
    resp->headers[resp->nheaders++][1] = "1";
    http_reply(req, resp, 202, json_pack("{s:s, s:s?}", "status", status, "gameSessionId", arn));
}

/* POST /v1/worlds/{id}/join {"playerId", "playerData"?}: a seat in the
 * world's running game session (200 {"playerSession"}), or 202 while its
 * game session starts (its next one, when none ran) or ends. */
void handle_join(struct http_req *req, struct http_resp *resp)
{
    const char *player = NULL, *data = NULL;
    json_error_t jerr;
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s, s?s}", "playerId", &player, "playerData",
                       &data) != 0 ||
        strlen(player) < 1 || strlen(player) > 1024 || (data != NULL && strlen(data) > 2048)) {
        http_error(req, resp, 400, "invalid_body",
                   "{\"playerId\": 1 to 1024 characters, \"playerData\"?: up to 2048}");
        return;
    }
    if (world_key(req, resp) == NULL)
        return;
    const char *p[] = {req->path_id, player, data, cfg->region, cfg->account_id};
    PGresult *r = world_call(req, resp, W_JOIN, p);
    if (r == NULL)
        return;
    const char *outcome = db_get(r, 0, 0), *detail = db_get(r, 0, 1);
    if (strcmp(outcome, "joined") == 0)
        http_reply(req, resp, 200,
                   json_pack("{s:o}", "playerSession", json_loads(db_get(r, 0, 2), 0, NULL)));
    else if (strcmp(outcome, "starting") == 0 || strcmp(outcome, "activating") == 0)
        not_yet(req, resp, "ACTIVATING", detail);
    else if (strcmp(outcome, "terminating") == 0)
        not_yet(req, resp, "TERMINATING", detail);
    else if (strcmp(outcome, "no_capacity") == 0) {
        resp->headers[resp->nheaders][0] = "Retry-After";
        resp->headers[resp->nheaders++][1] = "5";
        http_error(req, resp, 503, "no_capacity",
                   "no idle server process of the world's fleet in %s; try again shortly", detail);
    } else if (strcmp(outcome, "no_fleet") == 0)
        http_error(req, resp, 409, "no_fleet",
                   "the world has no fleet to run on: PUT it with a fleetId first");
    else if (strcmp(outcome, "full") == 0 || strcmp(outcome, "deny_all") == 0)
        http_error(req, resp, 409, outcome, "the world's game session takes no more players");
    else
        http_error(req, resp, 409, outcome, "the world cannot start: %s", detail ? detail : "");
}

/* POST /v1/worlds/{id}/stop: the world ends (its server saves first) and
 * stays ended until a player joins: 202 while it ends, 200 when nothing ran. */
void handle_stop(struct http_req *req, struct http_resp *resp)
{
    if (world_key(req, resp) == NULL)
        return;
    const char *p[] = {req->path_id};
    PGresult *r = world_call(req, resp, W_STOP, p);
    if (r == NULL)
        return;
    if (strcmp(db_get(r, 0, 0), "stopping") == 0)
        http_reply(
            req, resp, 202,
            json_pack("{s:s, s:s}", "status", "TERMINATING", "gameSessionId", db_get(r, 0, 1)));
    else
        http_reply(req, resp, 200, json_pack("{s:s}", "status", "STOPPED"));
}
