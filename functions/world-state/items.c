/* A world's items (docs/worlds.md, "Items"): keys with a JSON or binary
 * value, a version each, conditional writes in all-or-nothing batches,
 * reads by key and by prefix. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "jsonw.h"
#include "metrics.h"
#include "serve.h"
#include "util.h"
#include "world.h"

#define MAX_BATCH 100
#define MAX_KEY 1024
#define PAGE 100

/* A key: 1 to 1024 bytes, no control characters (UTF-8 otherwise: the
 * body parsed as JSON). */
static bool key_ok(const char *k)
{
    size_t n = k != NULL ? strlen(k) : 0;
    if (n < 1 || n > MAX_KEY)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x20 || k[i] == 0x7f)
            return false;
    return true;
}

static bool base64_ok(const char *s)
{
    size_t n = strlen(s);
    if (n % 4 != 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool pad = c == '=' && i >= n - 2 && (i == n - 1 || s[n - 1] == '=');
        if (!pad && !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '+' || c == '/'))
            return false;
    }
    return true;
}

/* One item of the request as put_items takes it; NULL after answering
 * what is wrong with it. */
static json_t *batch_item(struct http_req *req, struct http_resp *resp, size_t i, json_t *it)
{
    const char *key = NULL, *binary = NULL, *upload = NULL, *sha = NULL;
    json_t *value = NULL, *if_version = NULL, *parts = NULL;
    int del = 0;
    json_error_t jerr;
    if (json_unpack_ex(it, &jerr, JSON_STRICT, "{s:s, s?o, s?s, s?o, s?b, s?s, s?o, s?s}", "key",
                       &key, "value", &value, "binary", &binary, "ifVersion", &if_version, "delete",
                       &del, "upload", &upload, "parts", &parts, "sha256", &sha) != 0) {
        http_error(req, resp, 400, "invalid_item", "items[%zu]: %s", i, jerr.text);
        return NULL;
    }
    const char *bad =
        !key_ok(key) ? "key: 1 to 1024 bytes, no control characters"
        : if_version != NULL && (!json_is_integer(if_version) || json_integer_value(if_version) < 0)
            ? "ifVersion: the version the item must have (0: it must not exist)"
        : del && (value != NULL || binary != NULL || upload != NULL) ? "a delete has no value"
        : !del && (value != NULL) + (binary != NULL) + (upload != NULL) != 1
            ? "exactly one of value (JSON), binary (base64) and upload (its parts)"
        : binary != NULL && !base64_ok(binary) ? "binary: base64"
        : (upload != NULL) != (parts != NULL) || (upload != NULL) != (sha != NULL)
            ? "upload goes with parts and sha256"
        : upload != NULL &&
                (!util_is_token(upload, 64, "-_.") || !json_is_integer(parts) ||
                 json_integer_value(parts) < 1 || json_integer_value(parts) > ITEM_MAX_PARTS ||
                 strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64)
            ? "upload: its name; parts: 1 to 32; sha256: the value's, 64 lower-case hex digits"
            : NULL;
    if (bad != NULL) {
        http_error(req, resp, 400, "invalid_item", "items[%zu]: %s", i, bad);
        return NULL;
    }
    json_t *out = json_pack("{s:s}", "key", key);
    if (if_version != NULL)
        json_object_set(out, "ifVersion", if_version);
    if (del) {
        json_object_set_new(out, "delete", json_true());
        return out;
    }
    if (upload != NULL) {
        json_object_set_new(out, "upload", json_string(upload));
        json_object_set(out, "parts", parts);
        json_object_set_new(out, "sha256", json_string(sha));
        return out;
    }
    if (binary != NULL) {
        json_object_set_new(out, "kind", json_string("binary"));
        json_object_set_new(out, "value", json_string(binary));
        return out;
    }
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t n = text != NULL ? strlen(text) : 0;
    char *b64 = arena_alloc(req->arena, 4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)(text != NULL ? text : ""),
                    (int)n);
    free(text);
    json_object_set_new(out, "kind", json_string("json"));
    json_object_set_new(out, "value", json_string(b64));
    return out;
}

void handle_items_put(struct http_req *req, struct http_resp *resp)
{
    json_error_t jerr;
    json_t *body = http_json_body(req, resp), *items = NULL;
    if (body == NULL)
        return;
    if (json_unpack_ex(body, &jerr, JSON_STRICT, "{s:o}", "items", &items) != 0 ||
        !json_is_array(items) || json_array_size(items) < 1 || json_array_size(items) > MAX_BATCH) {
        http_error(req, resp, 400, "invalid_body", "{\"items\": [1 to %d items]}", MAX_BATCH);
        return;
    }
    json_t *batch = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        json_t *one = batch_item(req, resp, i, it);
        if (one == NULL) {
            json_decref(batch);
            return;
        }
        json_array_append_new(batch, one);
    }
    char *text = json_dumps(batch, JSON_COMPACT);
    json_decref(batch);
    const char *key = text != NULL ? world_key(req, resp) : NULL;
    if (key == NULL) {
        free(text);
        if (text == NULL)
            http_error(req, resp, 500, "internal", "out of memory");
        return;
    }
    const char *p[] = {key, arena_strdup(req->arena, text)};
    free(text);
    PGresult *r = world_call(req, resp, W_ITEMS_PUT, p);
    if (r == NULL)
        return;
    json_t *out = json_loads(db_get(r, 0, 0), 0, NULL);
    json_t *conflicts = json_object_get(out, "conflicts");
    json_t *problems = json_object_get(out, "problems");
    bool missing = false;
    size_t k;
    json_t *pr;
    json_array_foreach(problems, k, pr)
    {
        missing = missing ||
                  strcmp(json_string_value(json_object_get(pr, "error")), "missing_parts") == 0;
    }
    if (problems != NULL)
        http_reply(req, resp, missing ? 409 : 400,
                   json_pack("{s:s, s:s, s:O}", "error",
                             missing ? "missing_parts" : "checksum_mismatch", "message",
                             missing
                                 ? "an upload lacks some of its parts: nothing was written"
                                 : "an upload's SHA-256 is not the one given: nothing was written",
                             "problems", problems));
    else if (conflicts != NULL)
        http_reply(req, resp, 409,
                   json_pack("{s:s, s:s, s:O}", "error", "version_conflict", "message",
                             "an item's version is not the one asked for: nothing was written",
                             "conflicts", conflicts));
    else {
        metric_add(world_metrics.items_written, json_array_size(json_object_get(out, "items")));
        http_reply(req, resp, 200, json_pack("{s:O}", "items", json_object_get(out, "items")));
    }
    json_decref(out);
}

/* One item of a read's rows (key, version, kind, value text, updated,
 * parts, size, sha256), written. A value in parts is described; its parts
 * are read one by one (item_parts.c). */
static void write_item(struct jsonw *w, PGresult *r, int i)
{
    jsonw_open(w, '{');
    jsonw_key_string(w, "key", db_get(r, i, 0));
    jsonw_key_raw(w, "version", db_get(r, i, 1));
    if (strcmp(db_get(r, i, 5), "0") != 0) {
        jsonw_key_raw(w, "parts", db_get(r, i, 5));
        jsonw_key_raw(w, "size", db_get(r, i, 6) != NULL ? db_get(r, i, 6) : "0");
        jsonw_key_string(w, "sha256", db_get(r, i, 7));
    } else if (strcmp(db_get(r, i, 2), "json") == 0)
        jsonw_key_raw(w, "value", db_get(r, i, 3)); /* stored as JSON text */
    else
        jsonw_key_string(w, "binary", db_get(r, i, 3));
    jsonw_key_raw(w, "updatedAt", db_get(r, i, 4));
    jsonw_close(w, '}');
}

void handle_items_get(struct http_req *req, struct http_resp *resp)
{
    const char *key = http_query(req, "key"), *prefix = http_query(req, "prefix");
    const char *after = http_query(req, "after"), *limit_s = http_query(req, "limit");
    char *end = NULL;
    long limit = limit_s != NULL ? strtol(limit_s, &end, 10) : PAGE;
    if ((key == NULL) == (prefix == NULL) || (key != NULL && !key_ok(key)) ||
        (prefix != NULL && strlen(prefix) > MAX_KEY) || (after != NULL && !key_ok(after)) ||
        (limit_s != NULL && (end == limit_s || *end != '\0' || limit < 1 || limit > PAGE))) {
        http_error(req, resp, 400, "invalid_query",
                   "key=K, or prefix=P with after=K and limit (1 to %d) to page", PAGE);
        return;
    }
    const char *world = world_key(req, resp);
    if (world == NULL)
        return;
    if (key != NULL) {
        const char *p[] = {world, key};
        PGresult *r = world_call(req, resp, W_ITEM_GET, p);
        if (r == NULL)
            return;
        if (PQntuples(r) == 0) {
            http_error(req, resp, 404, "not_found", "no such item");
            return;
        }
        struct jsonw *w = jsonw_new(req->arena, (size_t)PQgetlength(r, 0, 3) + 256);
        write_item(w, r, 0);
        http_reply_text(req, resp, 200, w->text, w->len);
        return;
    }
    const char *p[] = {world, prefix, after != NULL ? after : "",
                       arena_sprintf(req->arena, "%ld", limit + 1)};
    PGresult *r = world_call(req, resp, W_ITEMS_PREFIX, p);
    if (r == NULL)
        return;
    int n = PQntuples(r) > limit ? (int)limit : PQntuples(r);
    size_t size = 64;
    for (int i = 0; i < n; i++)
        size += (size_t)PQgetlength(r, i, 3) + (size_t)PQgetlength(r, i, 0) + 128;
    struct jsonw *w = jsonw_new(req->arena, size);
    jsonw_open(w, '{');
    jsonw_key(w, "items");
    jsonw_open(w, '[');
    for (int i = 0; i < n; i++)
        write_item(w, r, i);
    jsonw_close(w, ']');
    if (PQntuples(r) > limit)
        jsonw_key_string(w, "next", db_get(r, n - 1, 0));
    jsonw_close(w, '}');
    http_reply_text(req, resp, 200, w->text, w->len);
}
