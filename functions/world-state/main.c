/*
 * world-state: the state of persistent worlds (docs/worlds.md). This first
 * step serves the block store of the MMO seed: chunks of 32x32 columns
 * keyed (p, q), blocks (x, y, z) -> w, 0 <= y < 256, w = 0 for air.
 *
 *   PUT  /v1/worlds/{id}               a backend's new world -> 201 (200: it exists)
 *   POST /v1/worlds/{id}/host          {"gameSessionId"} -> 200 {"worldId","gameSessionId"}:
 *                                      the world is hosted by that game session
 *                                      (a game server's, of its fleet: made when new)
 *   POST /v1/worlds/{id}/blocks        {"blocks": [[x, y, z, w], ...]} -> 200 {"chunks":
 *                                      [{"p","q","version"}]}: one batch, one transaction
 *   POST /v1/worlds/{id}/chunks        {"chunks": [[p, q], ...], "since"?} -> 200 {"chunks":
 *                                      [{"p","q","version","reset"?,"blocks": [[x,y,z,w]]}]}
 *                                      without since: the solid blocks; with since: those
 *                                      changed after it, air included (a removed block);
 *                                      "reset": the chunk was cleared after it (all of it
 *                                      follows, start over)
 *   POST /v1/worlds/{id}/chunks/clear  {"p","q"} -> 200 {"p","q","version"}
 *
 * Who: a game server (server token) uses only a world that a running game
 * session of its fleet hosts (any other is 404, as if it did not exist); a
 * backend principal (an admin token, or a backend access key of the
 * GameLift API signing the request) uses any. Every rule of the SQL lives
 * in sql/functions/world.sql.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "db.h"
#include "jsonw.h"
#include "serve.h"
#include "util.h"

enum { KEY, CREATE, HOST, WRITE, READ, CLEAR };

static const struct db_stmt stmts[] = {
    [KEY] = {"wo_key", "SELECT world.key_for($1, $2)", 2, true},
    [CREATE] = {"wo_create", "SELECT outcome FROM world.create_world($1)", 1, true},
    [HOST] = {"wo_host", "SELECT outcome, detail FROM world.host_world($1, $2, $3)", 3, true},
    [WRITE] = {"wo_write",
               "SELECT p, q, version FROM world.write_blocks($1::bigint, $2::integer[], "
               "$3::integer[], $4::integer[], $5::integer[])",
               5, false},
    /* Every chunk asked, present or not (version 0), with its blocks: the
     * solid ones, or those changed after $4 unless it was cleared since.
     * The blocks come as PostgreSQL prints an integer[][] ({{x,y,z,w},...}):
     * JSON once its braces are brackets, printed by PostgreSQL's own fast
     * array output rather than row by row. */
    [READ] = {"wo_read",
              "SELECT r.p, r.q, coalesce(c.version, 0), $4::bigint < c.cleared_version, "
              "(SELECT array_agg(ARRAY[b.x, b.y, b.z, b.w]) "
              " FROM world.blocks b WHERE b.world_key = $1::bigint AND b.p = r.p AND b.q = r.q "
              " AND CASE WHEN $4::bigint IS NULL OR $4::bigint < c.cleared_version THEN b.w <> 0 "
              " ELSE b.version > $4::bigint END) "
              "FROM unnest($2::integer[], $3::integer[]) WITH ORDINALITY AS r(p, q, n) "
              "LEFT JOIN world.chunks c ON c.world_key = $1::bigint AND c.p = r.p AND c.q = r.q "
              "ORDER BY r.n",
              4, true},
    [CLEAR] = {"wo_clear", "SELECT world.clear_chunk($1::bigint, $2::integer, $3::integer)", 3,
               false},
};

/* The most blocks one write carries, chunks one read asks for. */
#define MAX_BLOCKS 10000
#define MAX_CHUNKS 64
/* World coordinates: a world 2^26 blocks across each way. */
#define XZ_LIMIT (1L << 25)

static PGresult *call(struct http_req *req, struct http_resp *resp, int stmt,
                      const char *const *params)
{
    return serve_exec(req, resp, &stmts[stmt], params);
}

/* The caller's fleet when it is a game server; NULL for a backend. */
static const char *fleet_of(const struct http_req *req)
{
    return req->claims.scope_bit == AUTH_SCOPE_SERVER ? req->claims.sub : NULL;
}

static bool world_id_ok(struct http_req *req, struct http_resp *resp)
{
    if (req->path_id != NULL && util_is_token(req->path_id, 128, "-_."))
        return true;
    http_error(req, resp, 404, "not_found", "no such world");
    return false;
}

/* The world's key for this caller, or NULL after answering 404. */
static const char *world_key(struct http_req *req, struct http_resp *resp)
{
    if (!world_id_ok(req, resp))
        return NULL;
    const char *p[] = {req->path_id, fleet_of(req)};
    PGresult *r = call(req, resp, KEY, p);
    if (r == NULL)
        return NULL;
    const char *key = db_get(r, 0, 0);
    if (key == NULL)
        http_error(req, resp, 404, "not_found",
                   "no such world%s", fleet_of(req) != NULL
                                          ? " hosted by a running game session of this fleet"
                                          : "");
    return key;
}

static void handle_create(struct http_req *req, struct http_resp *resp)
{
    if (!world_id_ok(req, resp))
        return;
    const char *p[] = {req->path_id};
    PGresult *r = call(req, resp, CREATE, p);
    if (r != NULL)
        http_reply(req, resp, strcmp(db_get(r, 0, 0), "created") == 0 ? 201 : 200,
                   json_pack("{s:s}", "worldId", req->path_id));
}

static void handle_host(struct http_req *req, struct http_resp *resp)
{
    const char *game_session = NULL;
    json_error_t jerr;
    if (!world_id_ok(req, resp))
        return;
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:s}", "gameSessionId", &game_session) != 0 ||
        !util_is_token(game_session, 512, "-_.:/")) {
        http_error(req, resp, 400, "invalid_body", "gameSessionId: a game session's id or ARN");
        return;
    }
    const char *p[] = {req->path_id, game_session, fleet_of(req)};
    PGresult *r = call(req, resp, HOST, p);
    if (r == NULL)
        return;
    const char *outcome = db_get(r, 0, 0), *detail = db_get(r, 0, 1);
    if (strcmp(outcome, "hosted") == 0)
        http_reply(req, resp, 200,
                   json_pack("{s:s, s:s}", "worldId", req->path_id, "gameSessionId", detail));
    else if (strcmp(outcome, "hosted_elsewhere") == 0)
        http_error(req, resp, 409, "hosted_elsewhere",
                   "the world is hosted by game session %s, which runs", detail);
    else if (strcmp(outcome, "unknown_world") == 0)
        http_error(req, resp, 404, "not_found", "no such world");
    else
        http_error(req, resp, 404, "not_found", "no running game session %s%s", game_session,
                   fleet_of(req) != NULL ? " of this fleet" : "");
}

/* An integer array written as JSON ([1,2,3]) becomes PostgreSQL's
 * integer[] literal ({1,2,3}) once its brackets are swapped. */
static struct jsonw *int_array(struct arena *a, size_t n)
{
    struct jsonw *w = jsonw_new(a, n * 8 + 2);
    jsonw_open(w, '[');
    return w;
}

static void int_item(struct jsonw *w, long v)
{
    char num[24];
    snprintf(num, sizeof(num), "%ld", v);
    jsonw_raw(w, num);
}

static const char *pg_array(struct jsonw *w)
{
    jsonw_close(w, ']');
    w->text[0] = '{';
    w->text[w->len - 1] = '}';
    return w->text;
}

/* blocks: [[x, y, z, w], ...] as four integer[] literals; NULL after
 * answering what is wrong. */
static bool read_blocks(struct http_req *req, struct http_resp *resp, json_t *blocks,
                        const char *out[4])
{
    size_t n = json_is_array(blocks) ? json_array_size(blocks) : 0;
    if (n < 1 || n > MAX_BLOCKS) {
        http_error(req, resp, 400, "invalid_body", "blocks: an array of 1 to %d [x, y, z, w]",
                   MAX_BLOCKS);
        return false;
    }
    struct jsonw *cols[4];
    for (int k = 0; k < 4; k++)
        cols[k] = int_array(req->arena, n);
    for (size_t i = 0; i < n; i++) {
        json_t *b = json_array_get(blocks, i);
        long v[4];
        bool ok = json_is_array(b) && json_array_size(b) == 4;
        for (int k = 0; ok && k < 4; k++) {
            json_t *e = json_array_get(b, (size_t)k);
            ok = json_is_integer(e);
            v[k] = ok ? (long)json_integer_value(e) : 0;
        }
        const char *bad = !ok ? "[x, y, z, w], four integers"
                          : v[0] < -XZ_LIMIT || v[0] >= XZ_LIMIT || v[2] < -XZ_LIMIT ||
                                  v[2] >= XZ_LIMIT
                              ? "x and z: from -33554432 to 33554431"
                          : v[1] < 0 || v[1] > 255                  ? "y: from 0 to 255"
                          : v[3] < -2147483648L || v[3] > 2147483647L ? "w: a 32-bit integer"
                                                                      : NULL;
        if (bad != NULL) {
            http_error(req, resp, 400, "invalid_block", "blocks[%zu]: %s", i, bad);
            return false;
        }
        for (int k = 0; k < 4; k++)
            int_item(cols[k], v[k]);
    }
    for (int k = 0; k < 4; k++)
        out[k] = pg_array(cols[k]);
    return true;
}

static void handle_write(struct http_req *req, struct http_resp *resp)
{
    json_error_t jerr;
    json_t *body = http_json_body(req, resp), *blocks = NULL;
    if (body == NULL)
        return;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:o}", "blocks", &blocks) != 0) {
        http_error(req, resp, 400, "invalid_body", "%s", jerr.text);
        return;
    }
    const char *cols[4];
    if (!read_blocks(req, resp, blocks, cols))
        return;
    const char *key = world_key(req, resp);
    if (key == NULL)
        return;
    const char *p[] = {key, cols[0], cols[1], cols[2], cols[3]};
    PGresult *r = call(req, resp, WRITE, p);
    if (r == NULL)
        return;
    json_t *chunks = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(chunks, json_pack("{s:I, s:I, s:I}", "p",
                                                (json_int_t)strtoll(db_get(r, i, 0), NULL, 10),
                                                "q", (json_int_t)strtoll(db_get(r, i, 1), NULL, 10),
                                                "version",
                                                (json_int_t)strtoll(db_get(r, i, 2), NULL, 10)));
    http_reply(req, resp, 200, json_pack("{s:o}", "chunks", chunks));
}

/* PostgreSQL's text of an integer array ({{1,2},{3,4}}) as JSON
 * ([[1,2],[3,4]]), in the arena; "[]" for none (NULL). */
static const char *json_of_pg_array(struct arena *a, const char *pg)
{
    if (pg == NULL)
        return "[]";
    char *out = arena_strdup(a, pg);
    for (char *c = out; *c != '\0'; c++)
        *c = *c == '{' ? '[' : *c == '}' ? ']' : *c;
    return out;
}

/* The rows of READ, one a chunk, as the answer's text. */
static const struct jsonw *render_chunks(struct http_req *req, PGresult *r)
{
    size_t size = 64;
    for (int i = 0; i < PQntuples(r); i++)
        size += 96 + (size_t)PQgetlength(r, i, 4);
    struct jsonw *w = jsonw_new(req->arena, size);
    jsonw_open(w, '{');
    jsonw_key(w, "chunks");
    jsonw_open(w, '[');
    for (int i = 0; i < PQntuples(r); i++) {
        const char *reset = db_get(r, i, 3);
        jsonw_open(w, '{');
        jsonw_key_raw(w, "p", db_get(r, i, 0));
        jsonw_key_raw(w, "q", db_get(r, i, 1));
        jsonw_key_raw(w, "version", db_get(r, i, 2));
        if (reset != NULL && strcmp(reset, "t") == 0)
            jsonw_key_raw(w, "reset", "true");
        jsonw_key_raw(w, "blocks", json_of_pg_array(req->arena, db_get(r, i, 4)));
        jsonw_close(w, '}');
    }
    jsonw_close(w, ']');
    jsonw_close(w, '}');
    return w;
}

static void handle_read(struct http_req *req, struct http_resp *resp)
{
    json_error_t jerr;
    json_t *body = http_json_body(req, resp), *chunks = NULL, *since = NULL;
    if (body == NULL)
        return;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:o, s?o}", "chunks", &chunks, "since",
                       &since) != 0) {
        http_error(req, resp, 400, "invalid_body", "%s", jerr.text);
        return;
    }
    size_t n = json_is_array(chunks) ? json_array_size(chunks) : 0;
    if (n < 1 || n > MAX_CHUNKS || (since != NULL && (!json_is_integer(since) ||
                                                      json_integer_value(since) < 0))) {
        http_error(req, resp, 400, "invalid_body",
                   "chunks: an array of 1 to %d [p, q]; since: a chunk version", MAX_CHUNKS);
        return;
    }
    struct jsonw *ps = int_array(req->arena, n), *qs = int_array(req->arena, n);
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(chunks, i);
        json_t *p = json_array_get(c, 0), *q = json_array_get(c, 1);
        if (!json_is_array(c) || json_array_size(c) != 2 || !json_is_integer(p) ||
            !json_is_integer(q) || labs((long)json_integer_value(p)) > XZ_LIMIT / 32 ||
            labs((long)json_integer_value(q)) > XZ_LIMIT / 32) {
            http_error(req, resp, 400, "invalid_body",
                       "chunks[%zu]: [p, q], integers from -1048576 to 1048576", i);
            return;
        }
        int_item(ps, (long)json_integer_value(p));
        int_item(qs, (long)json_integer_value(q));
    }
    const char *key = world_key(req, resp);
    if (key == NULL)
        return;
    const char *p[] = {key, pg_array(ps), pg_array(qs),
                       since != NULL ? arena_sprintf(req->arena, "%lld",
                                                     (long long)json_integer_value(since))
                                     : NULL};
    PGresult *r = call(req, resp, READ, p);
    if (r != NULL) {
        const struct jsonw *w = render_chunks(req, r);
        http_reply_text(req, resp, 200, w->text, w->len);
    }
}

static void handle_clear(struct http_req *req, struct http_resp *resp)
{
    json_int_t p = 0, q = 0;
    json_error_t jerr;
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:I, s:I}", "p", &p, "q", &q) != 0 ||
        llabs((long long)p) > XZ_LIMIT / 32 || llabs((long long)q) > XZ_LIMIT / 32) {
        http_error(req, resp, 400, "invalid_body", "{\"p\", \"q\"}: a chunk's integers");
        return;
    }
    const char *key = world_key(req, resp);
    if (key == NULL)
        return;
    const char *args[] = {key, arena_sprintf(req->arena, "%lld", (long long)p),
                          arena_sprintf(req->arena, "%lld", (long long)q)};
    PGresult *r = call(req, resp, CLEAR, args);
    if (r == NULL)
        return;
    const char *version = db_get(r, 0, 0);
    http_reply(req, resp, 200,
               json_pack("{s:I, s:I, s:I}", "p", p, "q", q, "version",
                         (json_int_t)(version != NULL ? strtoll(version, NULL, 10) : 0)));
}

/* A backend principal: an admin token, or a backend access key's
 * signature (GameLift API keys, common/awsauth.h). */
#define BACKEND (AUTH_SCOPE_ADMIN | AUTH_SCOPE_AWS_BACKEND)

static const struct http_route routes[] = {
    {"create_world", "PUT", &dialect_native, BACKEND, handle_create},
    {"host_world", "POST", &dialect_native, AUTH_SCOPE_SERVER | BACKEND, handle_host},
    {"write_blocks", "POST", &dialect_native, AUTH_SCOPE_SERVER | BACKEND, handle_write},
    {"read_chunks", "POST", &dialect_native, AUTH_SCOPE_SERVER | BACKEND, handle_read},
    {"clear_chunk", "POST", &dialect_native, AUTH_SCOPE_SERVER | BACKEND, handle_clear},
};

int main(void)
{
    static const struct service svc = {
        .name = "world-state",
        .max_body = 1024 * 1024, /* 10,000 blocks of world coordinates fit */
        .routes = routes,
        .nroutes = sizeof(routes) / sizeof(routes[0]),
        .stmts = stmts,
        .nstmts = sizeof(stmts) / sizeof(stmts[0]),
        .verifies_tokens = true,
    };
    serve_main(&svc);
}
