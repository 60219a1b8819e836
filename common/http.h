/*
 * HTTP over FastCGI: the request as a struct, the response as a struct, and
 * the one writer that turns a response into bytes.
 *
 * Routing is nginx's job: each nginx location passes RALLY_ROUTE (the route
 * name) and, for paths with an id, RALLY_PATH_ID. A function binary declares
 * its routes in a table; serve.c matches the name and method, checks the
 * token for the route's scopes, and calls the handler.
 *
 * Lifetime: every pointer in struct http_req lives until the request ends
 * (the arena is reset after the response is written).
 */
#ifndef RALLY_COMMON_HTTP_H
#define RALLY_COMMON_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "auth.h"
#include "dialect.h"

struct arena;
struct http_req;
struct http_resp;

struct http_route {
    const char *name;              /* RALLY_ROUTE value set by nginx */
    const char *method;            /* "GET", "POST", "DELETE" */
    const struct dialect *dialect; /* the wire dialect it speaks (dialect.h); borrowed */
    unsigned scopes;               /* AUTH_SCOPE_* bits accepted; 0 = no token needed */
    void (*handle)(struct http_req *req, struct http_resp *resp);
};

struct http_query_pair {
    const char *key;
    const char *value;
};

struct http_req {
    struct arena *arena;
    const struct http_route *route;
    const char *method;
    const char *path_id;    /* decoded {id} path segment, or NULL */
    const char *query;      /* raw query string, never NULL */
    const char *request_id; /* from nginx, never NULL */
    const char *body;       /* NUL-terminated copy of the body, never NULL */
    size_t body_len;
    struct auth_claims claims; /* valid when route->scopes != 0 */
    char **envp;               /* FastCGI parameters (borrowed) */
    struct http_query_pair *qpairs;
    size_t nqpairs;
    bool query_parsed;
    bool deferred;            /* left to the service's batch (serve_defer) */
    const void *deferred_arg; /* what the handler gave serve_defer */
};

#define HTTP_MAX_HEADERS 4

struct http_resp {
    int status;
    json_t *body; /* owned: released with the request */
    /* Or a body already written as JSON text (jsonw.h), borrowed: it must
     * live until the response is rendered. At most one of the two is set. */
    const char *text;
    size_t text_len;
    const char *content_type; /* of text when it is not JSON (NULL: the dialect's) */
    const char *headers[HTTP_MAX_HEADERS][2];
    size_t nheaders;
};

/* The dialect the answer is written in: the route's, or native before a
 * route matched (404, 405 on an unknown name) or when it names none. */
const struct dialect *http_dialect(const struct http_req *req);

/* A FastCGI parameter (e.g. "HTTP_X_AMZ_SNS_MESSAGE_TYPE") or NULL. */
const char *http_param(const struct http_req *req, const char *name);

/* Query parameter by key, decoded; NULL when absent. Tolerates "?&k=v", empty
 * pairs, keys without "=", and unencoded values (a bad %xx stays literal). */
const char *http_query(struct http_req *req, const char *key);

/* Splits and decodes a query string into the arena. Exposed for tests. */
size_t http_parse_query(struct arena *a, const char *query, struct http_query_pair **out);
/* Percent-decodes s (and '+' to space when plus_is_space) into the arena. */
char *http_url_decode(struct arena *a, const char *s, size_t len, bool plus_is_space);

/* Parses the body as a JSON object (duplicate keys rejected). On failure sets
 * a 400 error on resp and returns NULL. The result is borrowed: released with
 * the request. */
json_t *http_json_body(struct http_req *req, struct http_resp *resp);

/* Sets status and body; takes ownership of body even on failure. */
void http_reply(struct http_req *req, struct http_resp *resp, int status, json_t *body);
/* Sets status and a body already written as JSON text (see text above). */
void http_reply_text(struct http_req *req, struct http_resp *resp, int status, const char *text,
                     size_t len);
/* Sets status and a body of bytes (borrowed, as text) of another type. */
void http_reply_bytes(struct http_req *req, struct http_resp *resp, int status, const char *bytes,
                      size_t len, const char *content_type);
/* Sets an error in the route's dialect. `code` is a stable machine-readable
 * word for the native envelope; `fmt` the human message. */
void http_error(struct http_req *req, struct http_resp *resp, int status, const char *code,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Adds a response header; both strings must live until the request ends. */
void http_add_header(struct http_resp *resp, const char *name, const char *value);

/* Serializes the response in the route's dialect; returns an arena string
 * with the complete CGI response (status line, headers, body). */
char *http_render(struct http_req *req, const struct http_resp *resp, size_t *len);

/* Reason phrase for a status code. */
const char *http_reason(int status);

#endif
