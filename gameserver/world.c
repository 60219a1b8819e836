/* The sample game server's persistent world, through its sidecar (world.h). */
#include "world.h"

#include <jansson.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rally_http.h"

/* The chat kept: the newest lines, up to this many bytes (one save part). */
#define CHAT_MAX (1024 * 1024)

struct world {
    char id[129];
    const char *url, *key; /* the sidecar's (the environment's) */
    struct rally_http http;
    char *chat; /* lines, each ending in '\n' */
    size_t chat_len;
};

/* One call to the sidecar: its status, 0 when it could not be reached. The
 * answer is in w->http.buf. */
static long call(struct world *w, const char *method, const char *path, const char *type,
                 const void *body, size_t len)
{
    const struct rally_http_request r = {.method = method,
                                         .base = w->url,
                                         .path = path,
                                         .token = w->key,
                                         .body = body != NULL && len > 0 ? body : "",
                                         .body_len = len,
                                         .content_type = type,
                                         .connect_timeout_ms = 3000,
                                         /* past the sidecar's own 30 s: its 504 comes */
                                         .timeout_ms = 35000};
    long status = 0;
    return rally_http_exchange(&w->http, &r, &status) == CURLE_OK ? status : 0;
}

/* A JSON call; the answer parsed (new reference, NULL when none). */
static json_t *call_json(struct world *w, const char *path, json_t *body, long *status)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    *status = text != NULL ? call(w, "POST", path, NULL, text, strlen(text)) : 0;
    free(text);
    return *status != 0 && w->http.buf != NULL ? json_loads(w->http.buf, 0, NULL) : NULL;
}

static void chat_add(struct world *w, const char *text, size_t n)
{
    if (n > CHAT_MAX / 2)
        return;
    if (w->chat_len + n > CHAT_MAX) { /* the older half goes */
        size_t drop = w->chat_len / 2;
        const char *nl = memchr(w->chat + drop, '\n', w->chat_len - drop);
        drop = nl != NULL ? (size_t)(nl - w->chat) + 1 : w->chat_len;
        memmove(w->chat, w->chat + drop, w->chat_len - drop);
        w->chat_len -= drop;
    }
    memcpy(w->chat + w->chat_len, text, n);
    w->chat_len += n;
}

/* The save GameSessionData names, part by part, into the chat. */
static void restore(struct world *w, long version)
{
    char path[256];
    long status = 0;
    snprintf(path, sizeof(path), "/v1/worlds/%s/saves/manifest?version=%ld", w->id, version);
    status = call(w, "GET", path, NULL, NULL, 0);
    json_t *m = status == 200 ? json_loads(w->http.buf, 0, NULL) : NULL;
    long parts = (long)json_integer_value(json_object_get(m, "parts"));
    json_decref(m);
    for (long part = 1; part <= parts; part++) {
        snprintf(path, sizeof(path), "/v1/worlds/%s/saves/part?version=%ld&part=%ld", w->id,
                 version, part);
        if (call(w, "GET", path, NULL, NULL, 0) != 200) {
            fprintf(stderr, "world %s: cannot read save %ld part %ld\n", w->id, version, part);
            return;
        }
        chat_add(w, w->http.buf, w->http.len);
    }
    fprintf(stderr, "world %s: restored save %ld (%zu bytes of chat)\n", w->id, version,
            w->chat_len);
}

struct world *world_open(const char *game_session_data)
{
    json_t *data = game_session_data != NULL ? json_loads(game_session_data, 0, NULL) : NULL;
    const char *id = json_string_value(json_object_get(data, "worldId"));
    const char *url = getenv("RALLY_SIDECAR_URL"), *key = getenv("RALLY_SIDECAR_KEY");
    struct world *w = NULL;
    if (id != NULL && (url == NULL || key == NULL))
        fprintf(stderr,
                "world %s: no sidecar beside this process (RALLY_SIDECAR_URL): its "
                "state cannot be reached\n",
                id);
    else if (id != NULL && strlen(id) < sizeof(w->id) && (w = calloc(1, sizeof(*w))) != NULL &&
             (w->chat = malloc(CHAT_MAX)) != NULL && rally_http_init(&w->http) == 0) {
        snprintf(w->id, sizeof(w->id), "%s", id);
        w->url = url;
        w->key = key;
        json_t *save = json_object_get(data, "saveVersion");
        if (json_is_integer(save))
            restore(w, (long)json_integer_value(save));
    } else if (w != NULL) {
        free(w->chat);
        free(w);
        w = NULL;
    }
    json_decref(data);
    return w;
}

const char *world_id(const struct world *w)
{
    return w->id;
}

/* n whole numbers separated by spaces, all of args; false otherwise. */
static bool numbers(const char *args, long *out, int n)
{
    char *end = NULL;
    for (int i = 0; i < n; i++, args = end) {
        out[i] = strtol(args, &end, 10);
        if (end == args)
            return false;
    }
    return end != NULL && *end == '\0';
}

/* "/place X Y Z W": one block, answered once committed. */
static void place(struct world *w, const char *args, char *reply, size_t cap)
{
    long v[4];
    char path[200];
    if (!numbers(args, v, 4)) {
        snprintf(reply, cap, "ERROR /place X Y Z W\n");
        return;
    }
    long x = v[0], y = v[1], z = v[2];
    snprintf(path, sizeof(path), "/v1/worlds/%s/blocks?durable=true", w->id);
    long status = 0;
    json_t *a = call_json(w, path,
                          json_pack("{s:[[I,I,I,I]]}", "blocks", (json_int_t)x, (json_int_t)y,
                                    (json_int_t)z, (json_int_t)v[3]),
                          &status);
    const char *why = json_string_value(json_object_get(a, "message"));
    if (status == 200)
        snprintf(reply, cap, "PLACED %ld %ld %ld %ld\n", x, y, z, v[3]);
    else
        snprintf(reply, cap, "ERROR %ld %s\n", status, why != NULL ? why : "sidecar unreachable");
    json_decref(a);
}

/* "/look P Q": the blocks of chunk (P, Q). */
static void look(struct world *w, const char *args, char *reply, size_t cap)
{
    long pq[2];
    char path[200];
    if (!numbers(args, pq, 2)) {
        snprintf(reply, cap, "ERROR /look P Q\n");
        return;
    }
    long p = pq[0], q = pq[1];
    snprintf(path, sizeof(path), "/v1/worlds/%s/chunks", w->id);
    long status = 0;
    json_t *a = call_json(w, path, json_pack("{s:[[I,I]]}", "chunks", (json_int_t)p, (json_int_t)q),
                          &status);
    json_t *blocks = json_object_get(json_array_get(json_object_get(a, "chunks"), 0), "blocks");
    if (status != 200 || !json_is_array(blocks)) {
        snprintf(reply, cap, "ERROR %ld\n", status);
        json_decref(a);
        return;
    }
    size_t len =
        (size_t)snprintf(reply, cap, "CHUNK %ld %ld: %zu blocks", p, q, json_array_size(blocks));
    size_t i;
    json_t *b;
    json_array_foreach(blocks, i, b)
    {
        if (len + 64 >= cap)
            break;
        len += (size_t)snprintf(reply + len, cap - len, "%s %lld %lld %lld %lld", i ? "," : ";",
                                (long long)json_integer_value(json_array_get(b, 0)),
                                (long long)json_integer_value(json_array_get(b, 1)),
                                (long long)json_integer_value(json_array_get(b, 2)),
                                (long long)json_integer_value(json_array_get(b, 3)));
    }
    snprintf(reply + len, cap - len, "\n");
    json_decref(a);
}

/* "/history": the chat's last 5 lines (restored ones among them), on one
 * line: "HISTORY ann: hi | bob: hello". */
static void history(const struct world *w, char *reply, size_t cap)
{
    size_t start = w->chat_len > 0 ? w->chat_len - 1 : 0; /* before the last '\n' */
    int lines = 0;
    while (start > 0 && !(w->chat[start - 1] == '\n' && ++lines == 5))
        start--;
    size_t len = (size_t)snprintf(reply, cap, "HISTORY ");
    for (size_t i = start; i + 1 < w->chat_len && len + 4 < cap; i++)
        if (w->chat[i] != '\n')
            reply[len++] = w->chat[i];
        else
            len += (size_t)snprintf(reply + len, cap - len, " | ");
    snprintf(reply + len, cap - len, "\n");
}

bool world_line(struct world *w, const char *player, const char *line, char *reply, size_t cap)
{
    if (strcmp(line, "/history") == 0) {
        history(w, reply, cap);
        return true;
    }
    if (strncmp(line, "/place ", 7) == 0) {
        place(w, line + 7, reply, cap);
        return true;
    }
    if (strncmp(line, "/look ", 6) == 0) {
        look(w, line + 6, reply, cap);
        return true;
    }
    char said[1024];
    int n = snprintf(said, sizeof(said), "%s: %s\n", player, line);
    chat_add(w, said, n > 0 && (size_t)n < sizeof(said) ? (size_t)n : 0);
    return false;
}

/* The chat as a new save: begun, its one part, completed with its SHA-256. */
static void save(struct world *w)
{
    char path[256], body[256], hex[65];
    unsigned char digest[SHA256_DIGEST_LENGTH];
    if (w->chat_len == 0)
        chat_add(w, "\n", 1); /* a save holds a byte at least */
    snprintf(path, sizeof(path), "/v1/worlds/%s/saves", w->id);
    long status = 0;
    json_t *begun = call_json(w, path, json_object(), &status);
    long version = (long)json_integer_value(json_object_get(begun, "version"));
    json_decref(begun);
    snprintf(path, sizeof(path), "/v1/worlds/%s/saves/part?version=%ld&part=1", w->id, version);
    if (status != 201 ||
        call(w, "PUT", path, "application/octet-stream", w->chat, w->chat_len) != 200) {
        fprintf(stderr, "world %s: cannot save (HTTP %ld)\n", w->id, status);
        return;
    }
    SHA256((const unsigned char *)w->chat, w->chat_len, digest);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    snprintf(path, sizeof(path), "/v1/worlds/%s/saves/complete", w->id);
    snprintf(body, sizeof(body), "{\"version\":%ld,\"parts\":1,\"sha256\":\"%s\"}", version, hex);
    status = call(w, "POST", path, NULL, body, strlen(body));
    fprintf(stderr, "world %s: %s save %ld (%zu bytes of chat)\n", w->id,
            status == 200 ? "wrote" : "could not complete", version, w->chat_len);
}

void world_close(struct world *w, bool and_save)
{
    if (w == NULL)
        return;
    if (and_save) {
        if (call(w, "POST", "/v1/sidecar/flush", NULL, NULL, 0) != 200)
            fprintf(stderr, "world %s: the sidecar did not write everything out\n", w->id);
        save(w);
    }
    rally_http_cleanup(&w->http);
    free(w->chat);
    free(w);
}
