/* Item values larger than one request (docs/worlds.md, "Items"): their
 * parts uploaded, and read back one by one. A batch write naming the upload
 * makes them a key's value (items.c, world.put_items). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "serve.h"
#include "util.h"
#include "world.h"

/* PUT /v1/worlds/{id}/items/upload?upload=U&part=N: one part of an upload
 * (1 byte to 8 MiB; sending a part again replaces it). */
void handle_item_upload(struct http_req *req, struct http_resp *resp)
{
    const char *upload = http_query(req, "upload");
    long part = world_query_number(req, "part", ITEM_MAX_PARTS);
    if (upload == NULL || !util_is_token(upload, 64, "-_.") || part < 1) {
        http_error(req, resp, 400, "invalid_query",
                   "upload (your name for it: 1 to 64 of [A-Za-z0-9-_.]) and part (1 to %d)",
                   ITEM_MAX_PARTS);
        return;
    }
    if (!world_part_body_ok(req, resp))
        return;
    const char *key = world_key(req, resp);
    if (key == NULL)
        return;
    const char *p[] = {key, upload, arena_sprintf(req->arena, "%ld", part), req->body};
    const int lengths[] = {0, 0, 0, (int)req->body_len}, formats[] = {0, 0, 0, 1};
    PGresult *r;
    int rc = db_exec_bin(req->arena, world_stmt(W_ITEM_UPLOAD), p, lengths, formats, false, &r);
    if (rc != DB_OK) {
        serve_db_error(req, resp, rc);
        return;
    }
    http_reply(req, resp, 200,
               json_pack("{s:s, s:I, s:I}", "upload", upload, "part", (json_int_t)part, "size",
                         (json_int_t)req->body_len));
}

/* GET /v1/worlds/{id}/items/part?key=K&part=N: a part of a key's value
 * kept in parts, as application/octet-stream. */
void handle_item_part(struct http_req *req, struct http_resp *resp)
{
    const char *item = http_query(req, "key");
    long part = world_query_number(req, "part", ITEM_MAX_PARTS);
    if (item == NULL || *item == '\0' || strlen(item) > 1024 || part < 1) {
        http_error(req, resp, 400, "invalid_query", "key and part (1 to %d)", ITEM_MAX_PARTS);
        return;
    }
    const char *key = world_key(req, resp);
    if (key == NULL)
        return;
    const char *p[] = {key, item, arena_sprintf(req->arena, "%ld", part)};
    PGresult *r;
    int rc = db_exec_bin(req->arena, world_stmt(W_ITEM_PART), p, NULL, NULL, true, &r);
    if (rc != DB_OK) {
        serve_db_error(req, resp, rc);
        return;
    }
    if (PQntuples(r) == 0)
        http_error(req, resp, 404, "not_found", "no part %ld of a value in parts at that key",
                   part);
    else
        http_reply_bytes(req, resp, 200, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0),
                         "application/octet-stream");
}
