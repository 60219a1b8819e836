/* A world's saves (docs/worlds.md, "Saves"): snapshot blobs of any size,
 * uploaded in parts of up to 8 MiB (one row each, so no request and no row
 * holds a whole blob), SHA-256 checked when completed, kept up to the
 * world's retention, read back part by part. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "metrics.h"
#include "serve.h"
#include "util.h"
#include "world.h"

#define MAX_PARTS 100000

static void free_digest(void *md)
{
    EVP_MD_CTX_free(md);
}

static const char *text_of(struct arena *a, long n)
{
    return arena_sprintf(a, "%ld", n);
}

void handle_save_begin(struct http_req *req, struct http_resp *resp)
{
    const char *key = world_key(req, resp);
    if (key == NULL)
        return;
    const char *p[] = {key};
    PGresult *r = world_call(req, resp, W_SAVE_BEGIN, p);
    if (r != NULL)
        http_reply(req, resp, 201,
                   json_pack("{s:s, s:I}", "worldId", req->path_id, "version",
                             (json_int_t)strtoll(db_get(r, 0, 0), NULL, 10)));
}

static json_t *number_or_null(const char *v)
{
    return v != NULL ? json_integer(strtoll(v, NULL, 10)) : json_null();
}

void handle_save_list(struct http_req *req, struct http_resp *resp)
{
    const char *key = world_key(req, resp);
    if (key == NULL)
        return;
    const char *p[] = {key};
    PGresult *r = world_call(req, resp, W_SAVE_LIST, p);
    if (r == NULL)
        return;
    json_t *saves = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *s = json_pack(
            "{s:o, s:s, s:o, s:o, s:o}", "version", number_or_null(db_get(r, i, 0)), "status",
            db_get(r, i, 1), "parts", number_or_null(db_get(r, i, 2)), "size",
            number_or_null(db_get(r, i, 3)), "createdAt", number_or_null(db_get(r, i, 5)));
        if (db_get(r, i, 4) != NULL)
            json_object_set_new(s, "sha256", json_string(db_get(r, i, 4)));
        if (db_get(r, i, 6) != NULL)
            json_object_set_new(s, "completedAt", number_or_null(db_get(r, i, 6)));
        json_array_append_new(saves, s);
    }
    http_reply(req, resp, 200, json_pack("{s:o}", "saves", saves));
}

/* version and part from the query; false after answering 400. */
static bool part_address(struct http_req *req, struct http_resp *resp, long *version, long *part)
{
    *version = world_query_number(req, "version", 2147483647L);
    *part = world_query_number(req, "part", MAX_PARTS);
    if (*version > 0 && *part > 0)
        return true;
    http_error(req, resp, 400, "invalid_query", "version and part (1 to %d) are required",
               MAX_PARTS);
    return false;
}

void handle_save_put_part(struct http_req *req, struct http_resp *resp)
{
    long version, part;
    if (!part_address(req, resp, &version, &part))
        return;
    if (!world_part_body_ok(req, resp))
        return;
    const char *key = world_key(req, resp);
    if (key == NULL)
        return;
    /* The bytes go as they are (a binary parameter), not as hex. */
    const char *p[] = {key, text_of(req->arena, version), text_of(req->arena, part), req->body};
    const int lengths[] = {0, 0, 0, (int)req->body_len}, formats[] = {0, 0, 0, 1};
    PGresult *r;
    int rc = db_exec_bin(req->arena, world_stmt(W_SAVE_PUT_PART), p, lengths, formats, false, &r);
    if (rc != DB_OK) {
        serve_db_error(req, resp, rc);
        return;
    }
    const char *outcome = db_get(r, 0, 0);
    if (strcmp(outcome, "stored") == 0) {
        metric_add(world_metrics.save_bytes, req->body_len);
        http_reply(req, resp, 200,
                   json_pack("{s:I, s:I, s:I}", "version", (json_int_t)version, "part",
                             (json_int_t)part, "size", (json_int_t)req->body_len));
    } else if (strcmp(outcome, "complete") == 0)
        http_error(req, resp, 409, "save_complete", "save %ld is complete: begin another", version);
    else
        http_error(req, resp, 404, "not_found", "no save %ld of this world", version);
}

/* A part's bytes (in its result, which the arena owns); NULL when there
 * is none, or after answering a failure (*failed). */
static const unsigned char *part_bytes(struct http_req *req, struct http_resp *resp,
                                       const char *key, long version, long part, bool complete_only,
                                       size_t *len, bool *failed)
{
    const char *p[] = {key, text_of(req->arena, version), text_of(req->arena, part),
                       complete_only ? "true" : "false"};
    PGresult *r;
    int rc = db_exec_bin(req->arena, world_stmt(W_SAVE_PART), p, NULL, NULL, true, &r);
    *failed = rc != DB_OK;
    if (*failed) {
        serve_db_error(req, resp, rc);
        return NULL;
    }
    if (PQntuples(r) == 0)
        return NULL;
    *len = (size_t)PQgetlength(r, 0, 0); /* binary: the bytea as it is */
    return (const unsigned char *)PQgetvalue(r, 0, 0);
}

void handle_save_get_part(struct http_req *req, struct http_resp *resp)
{
    long version, part;
    if (!part_address(req, resp, &version, &part))
        return;
    const char *key = world_key(req, resp);
    if (key == NULL)
        return;
    size_t len = 0;
    bool failed;
    const unsigned char *bytes = part_bytes(req, resp, key, version, part, true, &len, &failed);
    if (failed)
        return;
    if (bytes == NULL)
        http_error(req, resp, 404, "not_found", "no part %ld of a complete save %ld", part,
                   version);
    else
        http_reply_bytes(req, resp, 200, (const char *)bytes, len, "application/octet-stream");
}

void handle_save_complete(struct http_req *req, struct http_resp *resp)
{
    json_int_t version = 0, parts = 0;
    const char *sha = NULL;
    json_error_t jerr;
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:I, s:I, s:s}", "version", &version, "parts",
                       &parts, "sha256", &sha) != 0 ||
        version < 1 || version > 2147483647 || parts < 1 || parts > MAX_PARTS ||
        strlen(sha) != 64 || !util_is_token(sha, 64, "")) {
        http_error(req, resp, 400, "invalid_body",
                   "{\"version\", \"parts\" (1 to %d), \"sha256\" (64 hex digits)}", MAX_PARTS);
        return;
    }
    const char *key = world_key(req, resp);
    if (key == NULL)
        return;
    /* The checksum over the parts as stored, one part in memory at a time. */
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        http_error(req, resp, 500, "internal", "no SHA-256");
        return;
    }
    arena_defer(req->arena, free_digest, md);
    long long size = 0;
    for (long part = 1; part <= parts; part++) {
        size_t len = 0;
        bool failed;
        const unsigned char *bytes =
            part_bytes(req, resp, key, (long)version, part, false, &len, &failed);
        if (failed)
            return;
        if (bytes == NULL) {
            http_error(req, resp, 409, "missing_parts", "part %ld of save %lld was not uploaded",
                       part, (long long)version);
            return;
        }
        EVP_DigestUpdate(md, bytes, len);
        size += (long long)len;
    }
    unsigned char digest[32];
    char hex[65], lower[65];
    EVP_DigestFinal_ex(md, digest, NULL);
    util_hex(digest, sizeof(digest), hex);
    for (int i = 0; i < 65; i++)
        lower[i] = (char)(sha[i] >= 'A' && sha[i] <= 'F' ? sha[i] + 32 : sha[i]);
    if (strcmp(hex, lower) != 0) {
        http_error(req, resp, 400, "checksum_mismatch",
                   "the parts' SHA-256 is %s, not %s: upload the parts again", hex, sha);
        return;
    }
    const char *p[] = {key, text_of(req->arena, (long)version), text_of(req->arena, (long)parts),
                       arena_sprintf(req->arena, "%lld", size), hex};
    PGresult *r = world_call(req, resp, W_SAVE_COMPLETE, p);
    if (r == NULL)
        return;
    const char *outcome = db_get(r, 0, 0);
    if (strcmp(outcome, "complete") == 0 || strcmp(outcome, "already") == 0)
        http_reply(req, resp, 200,
                   json_pack("{s:I, s:I, s:I, s:s}", "version", version, "parts", parts, "size",
                             (json_int_t)size, "sha256", hex));
    else if (strcmp(outcome, "missing_parts") == 0)
        http_error(req, resp, 409, "missing_parts",
                   "save %lld has parts beyond %lld: name them all in parts", (long long)version,
                   (long long)parts);
    else
        http_error(req, resp, 404, "not_found", "no save %lld of this world", (long long)version);
}

void handle_save_manifest(struct http_req *req, struct http_resp *resp)
{
    const char *v = http_query(req, "version");
    long version = v != NULL ? world_query_number(req, "version", 2147483647L) : 0;
    if (version < 0) {
        http_error(req, resp, 400, "invalid_query", "version: a save's number");
        return;
    }
    const char *key = world_key(req, resp);
    if (key == NULL)
        return;
    const char *p[] = {key, version > 0 ? text_of(req->arena, version) : NULL};
    PGresult *s = world_call(req, resp, W_SAVE_OF, p);
    if (s == NULL)
        return;
    if (PQntuples(s) == 0 || strcmp(db_get(s, 0, 1), "COMPLETE") != 0) {
        http_error(req, resp, 404, "not_found", "%s",
                   version > 0 ? "no complete save of that version"
                               : "the world has no complete save");
        return;
    }
    const char *q[] = {key, db_get(s, 0, 0)};
    PGresult *r = world_call(req, resp, W_SAVE_MANIFEST, q);
    if (r == NULL)
        return;
    json_t *sizes = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(sizes, number_or_null(db_get(r, i, 1)));
    http_reply(req, resp, 200,
               json_pack("{s:s, s:o, s:o, s:o, s:s, s:o}", "worldId", req->path_id, "version",
                         number_or_null(db_get(s, 0, 0)), "parts", number_or_null(db_get(s, 0, 2)),
                         "size", number_or_null(db_get(s, 0, 3)), "sha256", db_get(s, 0, 4),
                         "partSizes", sizes));
}
