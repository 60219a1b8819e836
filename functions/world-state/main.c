/*
 * world-state: the state of persistent worlds (docs/worlds.md): the block
 * store of the MMO seed (blocks.c: chunks of 32x32 columns keyed (p, q),
 * blocks (x, y, z) -> w, 0 <= y < 256, w = 0 for air) and saves, a world's
 * snapshot blobs of any size in parts (saves.c).
 *
 *   PUT  /v1/worlds/{id}               a backend's new world -> 201 (200: it exists); with
 *                                      {"fleetId", "location"?, "maxPlayers"?, "idleSeconds"?,
 *                                      "gameProperties"?} its lifecycle settings (lifecycle.c)
 *   GET  /v1/worlds/{id}               -> the world, its game session now, its newest save
 *   POST /v1/worlds/{id}/join          {"playerId", "playerData"?} -> 200 {"playerSession"},
 *                                      or 202 {"status"} while its game session starts or ends
 *   POST /v1/worlds/{id}/stop          -> 202 while it ends (its server saves), 200
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
 *   POST /v1/worlds/{id}/items         {"items": [{"key","value"|"binary","ifVersion"?,"delete"?}]}
 *                                      -> 200 {"items": [{"key","version"}]}, all or nothing;
 *                                      409 {"conflicts": [{"key","version"}]}
 *   GET  /v1/worlds/{id}/items?key=K   -> an item; ?prefix=P[&after=K&limit=N] -> a page
 *   PUT  /v1/worlds/{id}/items/upload?upload=U&part=N  a part of a value larger than a request
 *   GET  /v1/worlds/{id}/items/part?key=K&part=N       -> a part of a value kept in parts
 *   POST /v1/worlds/{id}/saves         -> 201 {"version"}: a new save, UPLOADING
 *   GET  /v1/worlds/{id}/saves         -> 200 {"saves": [...]}, newest first
 *   PUT  /v1/worlds/{id}/saves/part?version=V&part=N   the part's bytes (1 B to 8 MiB)
 *   GET  /v1/worlds/{id}/saves/part?version=V&part=N   -> its bytes (a COMPLETE save's)
 *   POST /v1/worlds/{id}/saves/complete  {"version","parts","sha256"} -> 200: checked, final
 *   GET  /v1/worlds/{id}/saves/manifest[?version=V]    -> a save's parts and sizes (newest)
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
#include "metrics.h"
#include "serve.h"
#include "util.h"
#include "world.h"

static const struct db_stmt stmts[W_NSTMTS] = {
    [W_KEY] = {"wo_key", "SELECT world.key_for($1, $2, $3)", 3, true},
    [W_CREATE] = {"wo_create", "SELECT outcome FROM world.create_world($1)", 1, true},
    [W_HOST] = {"wo_host", "SELECT outcome, detail FROM world.host_world($1, $2, $3)", 3, true},
    [W_WRITE_BLOCKS] = {"wo_write",
                        "SELECT p, q, version FROM world.write_blocks($1::bigint, $2::integer[], "
                        "$3::integer[], $4::integer[], $5::integer[])",
                        5, false},
    /* Every chunk asked, in order, with its log or its changed blocks
     * (world.read_chunk_logs; blocks.c renders them). */

    [W_READ_CHUNKS] = {"wo_read",
                       "SELECT p, q, version, reset, blocks, log FROM world.read_chunk_logs("
                       "$1::bigint, $2::integer[], $3::integer[], $4::bigint)",
                       4, true},
    [W_SAVE_BEGIN] = {"wo_save_begin", "SELECT world.begin_save($1::bigint)", 1, false},
    [W_SAVE_LIST] = {"wo_save_list",
                     "SELECT version, status, parts, size, sha256, "
                     "(extract(epoch FROM created_at) * 1000)::bigint, "
                     "(extract(epoch FROM completed_at) * 1000)::bigint "
                     "FROM world.saves WHERE world_key = $1::bigint ORDER BY version DESC",
                     1, true},
    [W_SAVE_PUT_PART] = {"wo_save_put",
                         "SELECT world.put_part($1::bigint, $2::integer, $3::integer, $4::bytea)",
                         4, true},
    /* A part of a save: of a COMPLETE one for readers ($4 true), of any
     * for the completion's checksum. */
    [W_SAVE_PART] =
        {"wo_save_part",
         "SELECT p.data FROM world.save_parts p JOIN world.saves s USING (world_key, "
         "version) WHERE p.world_key = $1::bigint AND p.version = $2::integer AND p.part "
         "= $3::integer AND (s.status = 'COMPLETE' OR NOT $4::boolean)",
         4, true},
    /* A save by version, or the newest COMPLETE one (NULL). */
    [W_SAVE_OF] = {"wo_save_of",
                   "SELECT version, status, parts, size, sha256 FROM world.saves "
                   "WHERE world_key = $1::bigint AND ($2::integer IS NULL AND status = 'COMPLETE' "
                   "OR version = $2::integer) ORDER BY version DESC LIMIT 1",
                   2, true},
    [W_SAVE_COMPLETE] = {"wo_save_complete",
                         "SELECT outcome, detail FROM world.complete_save($1::bigint, $2::integer, "
                         "$3::integer, $4::bigint, $5)",
                         5, false},
    [W_SAVE_MANIFEST] = {"wo_save_manifest",
                         "SELECT part, octet_length(data) FROM world.save_parts "
                         "WHERE world_key = $1::bigint AND version = $2::integer ORDER BY part",
                         2, true},
    [W_ITEMS_PUT] = {"wo_items_put", "SELECT world.put_items($1::bigint, $2::jsonb)::text", 2,
                     false},
#define ITEM_COLUMNS                                                                               \
    "key, version, kind, CASE kind WHEN 'json' THEN convert_from(value, 'UTF8') "                  \
    "ELSE translate(encode(value, 'base64'), E'\\n', '') END, "                                    \
    "(extract(epoch FROM updated_at) * 1000)::bigint, parts, size, sha256 "
    [W_ITEM_GET] = {"wo_item_get",
                    "SELECT " ITEM_COLUMNS
                    "FROM world.items WHERE world_key = $1::bigint AND key = $2",
                    2, true},
    /* A page: keys starting with $2 after $3, $4 at most, in byte order. */
    [W_ITEMS_PREFIX] = {"wo_items_prefix",
                        "SELECT " ITEM_COLUMNS "FROM world.items WHERE world_key = $1::bigint "
                        "AND key >= $2 AND left(key, length($2)) = $2 AND key > $3 "
                        "ORDER BY key LIMIT $4::integer",
                        4, true},
    [W_CLEAR_CHUNK] = {"wo_clear", "SELECT world.clear_chunk($1::bigint, $2::integer, $3::integer)",
                       3, false},
    [W_ITEM_UPLOAD] = {"wo_item_upload",
                       "INSERT INTO world.item_uploads (world_key, upload, part, data) "
                       "VALUES ($1::bigint, $2, $3::integer, $4::bytea) "
                       "ON CONFLICT (world_key, upload, part) DO UPDATE "
                       "SET data = excluded.data, created_at = now()",
                       4, true},
    [W_ITEM_PART] = {"wo_item_part",
                     "SELECT data FROM world.item_parts WHERE world_key = $1::bigint "
                     "AND key = $2 AND part = $3::integer",
                     3, true},
    [W_DESCRIBE] = {"wo_describe",
                    "SELECT w.world_id, w.fleet_id, w.location, w.max_players, w.idle_seconds, "
                    "w.running, w.sessions, g.game_session_arn, g.status, g.ip_address, g.port, "
                    "g.seats_taken, (SELECT max(s.version) FROM world.saves s WHERE s.world_key "
                    "= w.world_key AND s.status = 'COMPLETE'), w.game_properties::text "
                    "FROM world.worlds w LEFT JOIN fleet.game_sessions g "
                    "ON g.game_session_id = w.game_session_id WHERE w.world_key = $1::bigint",
                    1, true},
    [W_CONFIGURE] = {"wo_configure",
                     "SELECT outcome, detail FROM world.configure($1, $2, $3, $4::integer, "
                     "$5::integer, $6::jsonb)",
                     6, true},
    [W_JOIN] = {"wo_join",
                "SELECT outcome, detail, answer::text FROM world.join($1, $2, $3, $4, $5)", 5,
                false},
    [W_STOP] = {"wo_stop", "SELECT outcome, detail FROM world.stop($1)", 1, true},
};

const struct db_stmt *world_stmt(enum world_stmt stmt)
{
    return &stmts[stmt];
}

PGresult *world_call(struct http_req *req, struct http_resp *resp, enum world_stmt stmt,
                     const char *const *params)
{
    return serve_exec(req, resp, &stmts[stmt], params);
}

bool world_part_body_ok(struct http_req *req, struct http_resp *resp)
{
    if (req->body_len >= 1 && req->body_len <= WORLD_MAX_PART)
        return true;
    http_error(req, resp, req->body_len > WORLD_MAX_PART ? 413 : 400, "invalid_part",
               "a part is 1 byte to %d bytes", WORLD_MAX_PART);
    return false;
}

long world_query_number(struct http_req *req, const char *name, long max)
{
    const char *v = http_query(req, name);
    char *end = NULL;
    long n = v != NULL ? strtol(v, &end, 10) : -1;
    return v != NULL && end != v && *end == '\0' && n >= 1 && n <= max ? n : -1;
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
const char *world_key(struct http_req *req, struct http_resp *resp)
{
    if (!world_id_ok(req, resp))
        return NULL;
    /* A sidecar names the process it writes for (sidecar/upstream.h). */
    const char *process = fleet_of(req) != NULL ? http_param(req, "HTTP_X_RALLY_PROCESS_ID") : NULL;
    const char *p[] = {req->path_id, fleet_of(req), process};
    PGresult *r = world_call(req, resp, W_KEY, p);
    if (r == NULL)
        return NULL;
    const char *key = db_get(r, 0, 0);
    if (key == NULL)
        http_error(req, resp, 404, "not_found", "no such world%s",
                   process != NULL ? " hosted by a running game session of this process"
                   : fleet_of(req) ? " hosted by a running game session of this fleet"
                                   : "");
    return key;
}

struct world_metrics world_metrics;

void world_declare_metrics(void)
{
    world_metrics.blocks_written =
        metric_counter("rally_world_blocks_written_total",
                       "Blocks written to worlds (each in a committed batch).");
    world_metrics.chunks_read =
        metric_counter("rally_world_chunks_read_total", "Chunks read from worlds.");
    world_metrics.items_written = metric_counter(
        "rally_world_items_written_total", "Items written to worlds (each in a committed batch).");
    world_metrics.save_bytes =
        metric_counter("rally_world_save_bytes_total", "Bytes of saves' parts stored.");
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
    PGresult *r = world_call(req, resp, W_HOST, p);
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

/* A backend principal: an admin token, or a backend access key's
 * signature (GameLift API keys, common/awsauth.h). */
#define BACKEND (AUTH_SCOPE_ADMIN | AUTH_SCOPE_AWS_BACKEND)

static const struct http_route routes[] = {
    {"world", "PUT", &dialect_native, BACKEND, handle_world_put},
    {"world", "GET", &dialect_native, AUTH_SCOPE_SERVER | BACKEND, handle_world_get},
    {"join", "POST", &dialect_native, BACKEND, handle_join},
    {"stop", "POST", &dialect_native, BACKEND, handle_stop},
    {"host_world", "POST", &dialect_native, AUTH_SCOPE_SERVER | BACKEND, handle_host},
    {"write_blocks", "POST", &dialect_native, AUTH_SCOPE_SERVER | BACKEND, handle_write_blocks},
    {"read_chunks", "POST", &dialect_native, AUTH_SCOPE_SERVER | BACKEND, handle_read_chunks},
    {"clear_chunk", "POST", &dialect_native, AUTH_SCOPE_SERVER | BACKEND, handle_clear_chunk},
    {"items", "POST", &dialect_native, AUTH_SCOPE_SERVER | BACKEND, handle_items_put},
    {"items", "GET", &dialect_native, AUTH_SCOPE_SERVER | BACKEND, handle_items_get},
    {"item_upload", "PUT", &dialect_native, AUTH_SCOPE_SERVER | BACKEND, handle_item_upload},
    {"item_part", "GET", &dialect_native, AUTH_SCOPE_SERVER | BACKEND, handle_item_part},
    {"saves", "POST", &dialect_native, AUTH_SCOPE_SERVER | BACKEND, handle_save_begin},
    {"saves", "GET", &dialect_native, AUTH_SCOPE_SERVER | BACKEND, handle_save_list},
    {"save_part", "PUT", &dialect_native, AUTH_SCOPE_SERVER | BACKEND, handle_save_put_part},
    {"save_part", "GET", &dialect_native, AUTH_SCOPE_SERVER | BACKEND, handle_save_get_part},
    {"save_complete", "POST", &dialect_native, AUTH_SCOPE_SERVER | BACKEND, handle_save_complete},
    {"save_manifest", "GET", &dialect_native, AUTH_SCOPE_SERVER | BACKEND, handle_save_manifest},
};

int main(void)
{
    static const struct service svc = {
        .name = "world-state",
        .max_body = WORLD_MAX_PART + 1024, /* a part of a save or an item (saves.c, item_parts.c) */
        .routes = routes,
        .nroutes = sizeof(routes) / sizeof(routes[0]),
        .stmts = stmts,
        .nstmts = sizeof(stmts) / sizeof(stmts[0]),
        .verifies_tokens = true,
        .declare_metrics = world_declare_metrics,
    };
    serve_main(&svc);
}
