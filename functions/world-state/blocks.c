/* The block store of a world (docs/worlds.md, "Blocks"): batched writes,
 * reads by chunk and by version, a chunk cleared. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "chunklog.h"
#include "jsonw.h"
#include "metrics.h"
#include "serve.h"
#include "world.h"
#include "worldblock.h"

/* The most chunks one read asks for. */
#define MAX_CHUNKS 64

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
    if (n < 1 || n > WORLD_MAX_BLOCKS) {
        http_error(req, resp, 400, "invalid_body", "blocks: an array of 1 to %d [x, y, z, w]",
                   WORLD_MAX_BLOCKS);
        return false;
    }
    struct jsonw *cols[4];
    for (int k = 0; k < 4; k++)
        cols[k] = int_array(req->arena, n);
    for (size_t i = 0; i < n; i++) {
        long v[4];
        const char *bad = world_block_read(json_array_get(blocks, i), v);
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

void handle_write_blocks(struct http_req *req, struct http_resp *resp)
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
    PGresult *r = world_call(req, resp, W_WRITE_BLOCKS, p);
    if (r == NULL)
        return;
    metric_add(world_metrics.blocks_written, json_array_size(blocks));
    json_t *chunks = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(chunks,
                              json_pack("{s:I, s:I, s:I}", "p",
                                        (json_int_t)strtoll(db_get(r, i, 0), NULL, 10), "q",
                                        (json_int_t)strtoll(db_get(r, i, 1), NULL, 10), "version",
                                        (json_int_t)strtoll(db_get(r, i, 2), NULL, 10)));
    http_reply(req, resp, 200, json_pack("{s:o}", "chunks", chunks));
}

/* A binary integer column (int4 or int8, big-endian) as decimal text. */
static const char *integer_of(struct http_req *req, PGresult *r, int row, int col)
{
    const unsigned char *v = (const unsigned char *)PQgetvalue(r, row, col);
    int64_t n = 0;
    for (int i = 0; i < PQgetlength(r, row, col); i++)
        n = (int64_t)((uint64_t)n << 8 | v[i]);
    if (PQgetlength(r, row, col) == 4)
        n = (int32_t)n;
    return arena_sprintf(req->arena, "%lld", (long long)n);
}

/* The rows of READ (binary: p, q, version, reset, blocks text, log), one a
 * chunk, as the answer's text. */
static const struct jsonw *render_chunks(struct http_req *req, PGresult *r)
{
    /* A hint: a log's solid blocks print in about twice its bytes, and a
     * long log is mostly blocks written over (the buffer grows if need be). */
    size_t size = 64;
    for (int i = 0; i < PQntuples(r); i++) {
        size_t log = (size_t)PQgetlength(r, i, 5);
        size += 96 + (size_t)PQgetlength(r, i, 4) + 2 * (log < 65536 ? log : 65536);
    }
    struct jsonw *w = jsonw_new(req->arena, size);
    jsonw_open(w, '{');
    jsonw_key(w, "chunks");
    jsonw_open(w, '[');
    for (int i = 0; i < PQntuples(r); i++) {
        jsonw_open(w, '{');
        jsonw_key_raw(w, "p", integer_of(req, r, i, 0));
        jsonw_key_raw(w, "q", integer_of(req, r, i, 1));
        jsonw_key_raw(w, "version", integer_of(req, r, i, 2));
        if (*PQgetvalue(r, i, 3) != 0)
            jsonw_key_raw(w, "reset", "true");
        jsonw_key(w, "blocks");
        if (!PQgetisnull(r, i, 5))
            chunklog_write(w, (const unsigned char *)PQgetvalue(r, i, 5),
                           (size_t)PQgetlength(r, i, 5));
        else
            jsonw_raw(w, PQgetisnull(r, i, 4) ? "[]" : PQgetvalue(r, i, 4)); /* JSON text */
        jsonw_close(w, '}');
    }
    jsonw_close(w, ']');
    jsonw_close(w, '}');
    return w;
}

void handle_read_chunks(struct http_req *req, struct http_resp *resp)
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
    if (n < 1 || n > MAX_CHUNKS ||
        (since != NULL && (!json_is_integer(since) || json_integer_value(since) < 0))) {
        http_error(req, resp, 400, "invalid_body",
                   "chunks: an array of 1 to %d [p, q]; since: a chunk version", MAX_CHUNKS);
        return;
    }
    struct jsonw *ps = int_array(req->arena, n), *qs = int_array(req->arena, n);
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(chunks, i);
        json_t *p = json_array_get(c, 0), *q = json_array_get(c, 1);
        if (!json_is_array(c) || json_array_size(c) != 2 || !json_is_integer(p) ||
            !json_is_integer(q) || labs((long)json_integer_value(p)) > WORLD_PQ_LIMIT ||
            labs((long)json_integer_value(q)) > WORLD_PQ_LIMIT) {
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
                       since != NULL
                           ? arena_sprintf(req->arena, "%lld", (long long)json_integer_value(since))
                           : NULL};
    PGresult *r = NULL;
    int rc = db_exec_bin(req->arena, world_stmt(W_READ_CHUNKS), p, NULL, NULL, true, &r);
    if (rc != DB_OK) {
        serve_db_error(req, resp, rc);
        return;
    }
    metric_add(world_metrics.chunks_read, (uint64_t)PQntuples(r));
    const struct jsonw *w = render_chunks(req, r);
    http_reply_text(req, resp, 200, w->text, w->len);
}

void handle_clear_chunk(struct http_req *req, struct http_resp *resp)
{
    json_int_t p = 0, q = 0;
    json_error_t jerr;
    json_t *body = http_json_body(req, resp);
    if (body == NULL)
        return;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:I, s:I}", "p", &p, "q", &q) != 0 ||
        llabs((long long)p) > WORLD_PQ_LIMIT || llabs((long long)q) > WORLD_PQ_LIMIT) {
        http_error(req, resp, 400, "invalid_body", "{\"p\", \"q\"}: a chunk's integers");
        return;
    }
    const char *key = world_key(req, resp);
    if (key == NULL)
        return;
    const char *args[] = {key, arena_sprintf(req->arena, "%lld", (long long)p),
                          arena_sprintf(req->arena, "%lld", (long long)q)};
    PGresult *r = world_call(req, resp, W_CLEAR_CHUNK, args);
    if (r == NULL)
        return;
    const char *version = db_get(r, 0, 0);
    http_reply(req, resp, 200,
               json_pack("{s:I, s:I, s:I}", "p", p, "q", q, "version",
                         (json_int_t)(version != NULL ? strtoll(version, NULL, 10) : 0)));
}
