/* The sidecar's HTTP server on 127.0.0.1 (intake.h). */
#include "intake.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "worldblock.h"

/* A block write or a chunk read's body at most (10,000 blocks are some
 * 400 KB); what rally takes (a save's part, 8 MiB) for what passes. */
#define SMALL_BODY (1024 * 1024)
#define LARGE_BODY (8 * 1024 * 1024 + 1024)
/* The bodies passing through at once, all connections together. */
#define PASS_POOL (64 * 1024 * 1024)
#define MAX_CONNECTIONS 64
/* A query passed on, encoded: an item's key (1,024 bytes) at 3 a byte, and more. */
#define QUERY_MAX 6144

struct intake {
    struct intake_config cfg;
    struct lanes *lanes;
    struct upstream *u;
    struct MHD_Daemon *d;
    atomic_size_t pass_bytes; /* bodies held by requests, all together */
};

/* A request's body, gathered over the calls libmicrohttpd makes. */
struct request {
    char *body;
    size_t len, cap, limit;
    int refuse; /* 413 or 429 once the body is in */
};

/* A connection's own: its libcurl handle for what passes to rally. */
struct conn {
    struct upstream_conn up;
    bool ready;
};

/* ---- answers ---------------------------------------------------------- */

/* Answers status with body (taken: freed by libmicrohttpd once sent). */
static enum MHD_Result answer(struct MHD_Connection *c, unsigned int status, const char *type,
                              char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, body, free);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    if (status == 429) /* backpressure: room comes as the lanes flush */
        MHD_add_response_header(r, "Retry-After", "1");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result answer_json(struct MHD_Connection *c, unsigned int status, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return text != NULL ? answer(c, status, "application/json", text, strlen(text)) : MHD_NO;
}

static enum MHD_Result answer_error(struct MHD_Connection *c, unsigned int status, const char *code,
                                    const char *message)
{
    return answer_json(c, status, json_pack("{s:s, s:s}", "error", code, "message", message));
}

/* What the lanes made of a call: ok (a new reference) when it went well. */
static enum MHD_Result answer_lanes(struct MHD_Connection *c, const struct lanes_result *res,
                                    json_t *ok)
{
    if (res->status < 300)
        return answer_json(c, (unsigned int)res->status, ok != NULL ? ok : json_object());
    json_decref(ok);
    const char *code = res->status == 429   ? "backpressure"
                       : res->status == 503 ? "unavailable"
                       : res->status == 504 ? "timeout"
                       : res->status == 404 ? "not_found"
                                            : "refused";
    return answer_error(c, (unsigned int)res->status, code, res->message);
}

/* ---- the routes ------------------------------------------------------- */

static bool query_flag(struct MHD_Connection *c, const char *name, bool otherwise)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    if (v == NULL)
        return otherwise;
    return strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

static enum MHD_Result write_blocks(struct intake *in, struct MHD_Connection *c, const char *world,
                                    const struct request *rq)
{
    json_t *body = json_loadb(rq->body, rq->len, 0, NULL);
    json_t *blocks = json_object_get(body, "blocks");
    size_t n = json_is_array(blocks) ? json_array_size(blocks) : 0;
    if (n < 1 || n > WORLD_MAX_BLOCKS || json_object_size(body) != 1) {
        json_decref(body);
        return answer_error(c, 400, "invalid_body",
                            "{\"blocks\": [[x, y, z, w], ...]}: 1 to 10000");
    }
    long(*v)[4] = malloc(n * sizeof(*v));
    if (v == NULL) {
        json_decref(body);
        return MHD_NO;
    }
    for (size_t i = 0; i < n; i++) {
        const char *bad = world_block_read(json_array_get(blocks, i), v[i]);
        if (bad != NULL) {
            char message[96];
            snprintf(message, sizeof(message), "blocks[%zu]: %s", i, bad);
            json_decref(body);
            free(v);
            return answer_error(c, 400, "invalid_block", message);
        }
    }
    json_decref(body);
    bool durable = query_flag(c, "durable", in->cfg.durable);
    struct lanes_result res;
    lanes_write(in->lanes, world, (const long(*)[4])v, n, durable, in->cfg.timeout_ms, &res);
    free(v);
    return answer_lanes(c, &res,
                        json_pack("{s:I}", durable ? "written" : "buffered", (json_int_t)n));
}

static enum MHD_Result clear_chunk(struct intake *in, struct MHD_Connection *c, const char *world,
                                   const struct request *rq)
{
    json_int_t p = 0, q = 0;
    json_t *body = json_loadb(rq->body, rq->len, 0, NULL);
    int rc = json_unpack(body, "{s:I, s:I !}", "p", &p, "q", &q);
    json_decref(body);
    if (rc != 0 || llabs((long long)p) > WORLD_PQ_LIMIT || llabs((long long)q) > WORLD_PQ_LIMIT)
        return answer_error(c, 400, "invalid_body", "{\"p\", \"q\"}: a chunk's integers");
    struct lanes_result res;
    lanes_clear(in->lanes, world, (long)p, (long)q, in->cfg.timeout_ms, &res);
    return answer_lanes(c, &res, json_loads(res.body, 0, NULL));
}

/* A query rebuilt from its decoded pairs, percent-encoded. */
struct query {
    char text[QUERY_MAX];
    size_t len;
    bool overflow;
};

static void query_put(struct query *q, char ch)
{
    if (q->len + 1 < sizeof(q->text))
        q->text[q->len++] = ch;
    else
        q->overflow = true;
    q->text[q->len] = '\0';
}

/* Appends "k=v" to the query. */
static enum MHD_Result add_query(void *ctx, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    (void)kind;
    struct query *q = ctx;
    const char *parts[] = {key, value != NULL ? value : ""};
    query_put(q, q->len == 0 ? '?' : '&');
    for (int k = 0; k < 2; k++) {
        for (const unsigned char *s = (const unsigned char *)parts[k]; *s != '\0'; s++) {
            bool plain = (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
                         (*s >= '0' && *s <= '9') || strchr("-_.~", *s) != NULL;
            if (plain) {
                query_put(q, (char)*s);
                continue;
            }
            query_put(q, '%');
            query_put(q, hex[*s >> 4]);
            query_put(q, hex[*s & 15]);
        }
        if (k == 0)
            query_put(q, '=');
    }
    return q->overflow ? MHD_NO : MHD_YES;
}

/* Hands the request to rally as it came, with the fleet's credentials. */
static enum MHD_Result pass(struct intake *in, struct MHD_Connection *c, const char *method,
                            const char *url, const struct request *rq)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn *conn = info != NULL ? info->socket_context : NULL;
    if (conn == NULL)
        return MHD_NO;
    if (!conn->ready && upstream_conn_init(&conn->up, in->u) == 0)
        conn->ready = true;
    char path[QUERY_MAX + 512];
    struct query query = {.len = 0};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_query, &query);
    if (query.overflow)
        return answer_error(c, 414, "too_long", "the query is over the sidecar's limit");
    snprintf(path, sizeof(path), "%s%s", url, query.text);
    const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    long status = conn->ready ? upstream_call(&conn->up, method, path, type, rq->body, rq->len) : 0;
    if (status == 0)
        return answer_error(c, 503, "unavailable", conn->up.error);
    /* The answer's bytes change hands: the next call grows a new buffer. */
    char *body = conn->up.http.buf;
    size_t len = conn->up.http.len;
    conn->up.http.buf = NULL;
    conn->up.http.len = 0;
    return answer(c, (unsigned int)status,
                  conn->up.http.content_type[0] ? conn->up.http.content_type : "application/json",
                  body != NULL ? body : strdup(""), len);
}

static enum MHD_Result sidecar_route(struct intake *in, struct MHD_Connection *c,
                                     const char *method, const char *what)
{
    struct lanes_result res;
    if (strcmp(what, "status") == 0 && strcmp(method, "GET") == 0) {
        json_t *s = lanes_status(in->lanes);
        json_object_set_new(s, "durableByDefault", json_boolean(in->cfg.durable));
        return answer_json(c, 200, s);
    }
    if (strcmp(what, "flush") == 0 && strcmp(method, "POST") == 0) {
        lanes_barrier(in->lanes, in->cfg.timeout_ms, &res);
        return answer_lanes(
            c, &res, json_pack("{s:b, s:I}", "flushed", 1, "dropped", (json_int_t)res.dropped));
    }
    return answer_error(c, 404, "not_found", "GET /v1/sidecar/status, POST /v1/sidecar/flush");
}

/* /v1/worlds/{id}[/rest]: the world id into world, rest after it. */
static bool world_path(const char *url, char world[129], const char **rest)
{
    const char *id = url + strlen("/v1/worlds/");
    size_t n = strcspn(id, "/");
    if (n == 0 || n > 128)
        return false;
    memcpy(world, id, n);
    world[n] = '\0';
    *rest = id + n;
    return util_is_token(world, 128, "-_.") && (**rest == '\0' || util_is_token(*rest, 64, "/_"));
}

static enum MHD_Result route(struct intake *in, struct MHD_Connection *c, const char *url,
                             const char *method, const struct request *rq)
{
    char world[129];
    const char *rest = NULL;
    if (strncmp(url, "/v1/sidecar/", 12) == 0)
        return sidecar_route(in, c, method, url + 12);
    if (strncmp(url, "/v1/worlds/", 11) != 0 || !world_path(url, world, &rest))
        return answer_error(c, 404, "not_found", "the sidecar serves /v1/worlds/ and /v1/sidecar/");
    bool post = strcmp(method, "POST") == 0;
    if (post && strcmp(rest, "/blocks") == 0)
        return write_blocks(in, c, world, rq);
    if (post && strcmp(rest, "/chunks/clear") == 0)
        return clear_chunk(in, c, world, rq);
    if (post && strcmp(rest, "/chunks") == 0) {
        /* Read what was written: the buffered writes go first. */
        struct lanes_result res;
        lanes_barrier(in->lanes, in->cfg.timeout_ms, &res);
        if (res.status != 200)
            return answer_lanes(c, &res, NULL);
    }
    return pass(in, c, method, url, rq);
}

/* ---- libmicrohttpd's calls -------------------------------------------- */

static bool authorized(const struct intake *in, struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    size_t n = strlen(in->cfg.key);
    return h != NULL && strncmp(h, "Bearer ", 7) == 0 && strlen(h + 7) == n &&
           util_ct_equal(h + 7, in->cfg.key, n);
}

/* Takes a piece of the body; false once it is over its limit. */
static bool gather(struct intake *in, struct request *rq, const char *data, size_t n)
{
    if (rq->refuse != 0)
        return false;
    if (rq->len + n > rq->limit) {
        rq->refuse = 413;
        return false;
    }
    if (rq->len + n + 1 > rq->cap) {
        size_t cap = rq->cap ? rq->cap : 16384;
        while (cap < rq->len + n + 1)
            cap *= 2;
        if (atomic_fetch_add(&in->pass_bytes, cap - rq->cap) + cap - rq->cap > PASS_POOL) {
            atomic_fetch_sub(&in->pass_bytes, cap - rq->cap);
            rq->refuse = 429;
            return false;
        }
        char *grown = realloc(rq->body, cap);
        if (grown == NULL) {
            atomic_fetch_sub(&in->pass_bytes, cap - rq->cap);
            rq->refuse = 429;
            return false;
        }
        rq->body = grown;
        rq->cap = cap;
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
    rq->body[rq->len] = '\0';
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_ctx)
{
    (void)version;
    struct intake *in = cls;
    struct request *rq = *req_ctx;
    if (rq == NULL) { /* the headers are in: say no early when the answer is known */
        if (!authorized(in, c))
            return answer_error(c, 401, "unauthorized",
                                "Authorization: Bearer <the sidecar's key> (RALLY_SIDECAR_KEY)");
        if ((rq = calloc(1, sizeof(*rq))) == NULL)
            return MHD_NO;
        char world[129];
        const char *rest = "";
        bool blocks = strncmp(url, "/v1/worlds/", 11) == 0 && world_path(url, world, &rest) &&
                      (strcmp(rest, "/blocks") == 0 || strncmp(rest, "/chunks", 7) == 0);
        rq->limit = blocks ? SMALL_BODY : LARGE_BODY;
        *req_ctx = rq;
        const char *length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (length != NULL && strtoull(length, NULL, 10) > rq->limit)
            return answer_error(c, 413, "too_large", "the body is over the route's limit");
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        gather(in, rq, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rq->refuse == 413)
        return answer_error(c, 413, "too_large", "the body is over the route's limit");
    if (rq->refuse == 429)
        return answer_error(c, 429, "backpressure",
                            "the sidecar holds too many large bodies at once; try again shortly");
    return route(in, c, url, method, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_ctx,
                         enum MHD_RequestTerminationCode why)
{
    (void)c;
    (void)why;
    struct intake *in = cls;
    struct request *rq = *req_ctx;
    if (rq == NULL)
        return;
    atomic_fetch_sub(&in->pass_bytes, rq->cap);
    free(rq->body);
    free(rq);
    *req_ctx = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode what)
{
    (void)cls;
    (void)c;
    if (what == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_ctx = calloc(1, sizeof(struct conn));
        return;
    }
    struct conn *conn = *socket_ctx;
    if (conn != NULL && conn->ready)
        upstream_conn_cleanup(&conn->up);
    free(conn);
    *socket_ctx = NULL;
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[256];
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_warn("http: %s", line);
}

struct intake *intake_start(const struct intake_config *cfg, struct lanes *lanes,
                            struct upstream *u)
{
    struct intake *in = calloc(1, sizeof(*in));
    if (in == NULL)
        return NULL;
    *in = (struct intake){.cfg = *cfg, .lanes = lanes, .u = u};
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)cfg->port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD |
                         MHD_USE_ITC | MHD_USE_ERROR_LOG;
    /* The agent's socket, or one of our own on the loopback address. */
    struct MHD_OptionItem where[] = {
        cfg->listen_fd >= 0
            ? (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, cfg->listen_fd, NULL}
            : (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &addr},
        {MHD_OPTION_END, 0, NULL}};
    in->d = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, in, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_error, NULL, MHD_OPTION_NOTIFY_COMPLETED, on_completed, in,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, in, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)(256 * 1024), MHD_OPTION_ARRAY, where,
        MHD_OPTION_END);
    if (in->d == NULL) {
        log_error("could not listen on 127.0.0.1:%d", cfg->port);
        free(in);
        return NULL;
    }
    return in;
}

int intake_port(const struct intake *in)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(in->d, MHD_DAEMON_INFO_BIND_PORT);
    return info != NULL ? info->port : 0;
}

void intake_quiesce(struct intake *in)
{
    MHD_socket fd = MHD_quiesce_daemon(in->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

void intake_stop(struct intake *in)
{
    MHD_stop_daemon(in->d);
    free(in);
}
