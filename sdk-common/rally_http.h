/*
 * rally_http: one HTTP exchange with rally over libcurl, the only libcurl
 * code of the two SDK libraries. It is compiled into both librally
 * (client-sdk/) and librallyserver.a (gameserver/), so each library stays
 * whole on its own; it needs libcurl and jansson, which both link anyway
 * (no libpq, no FastCGI). Internal: never installed, hidden in librally.so.
 *
 * Every exchange: the URL is base followed by path; http and https only,
 * redirects not followed; a Content-Type always (application/json unless
 * the request names another), plus
 * "Authorization: Bearer <token>" and "Accept: <accept>" when given; the
 * body sent as it is (NULL: no body); the caller's connect and total
 * timeouts; no signals, so it is safe in threaded programs.
 *
 * Response bodies are collected in the handle's buffer. Streams (the
 * client SDK's EventSource subscription) are served too: on_data sees the
 * buffer after each piece arrives, takes whole messages off its front with
 * rally_http_consume(), and may end the transfer. What a message is (the
 * EventSource framing and the JSON in it) stays in client-sdk/src/rally.c,
 * the only reader of a stream. rally_http_json() is the plain
 * request/response exchange both SDKs make: a JSON body out, the JSON
 * answer back.
 *
 * Errors: rally_http_exchange() returns libcurl's CURLcode: CURLE_OK when a
 * response came (any HTTP status), otherwise what went wrong, which
 * curl_easy_strerror() names: CURLE_WRITE_ERROR when on_data ended the
 * transfer or memory ran out for the body, CURLE_URL_MALFORMAT for a URL
 * of 8 KiB or more, CURLE_OUT_OF_MEMORY when a header line did not fit in
 * 4 KiB or memory ran out for it.
 *
 * Threads: a struct rally_http is used by one thread at a time; the program
 * calls curl_global_init() (the client SDK's rally_global_init()) first.
 *
 * Ownership: the caller owns the struct rally_http (usually inside its own
 * handle); the struct owns its CURL handle, kept between exchanges so that
 * connections are reused, and its buffer. Request strings are borrowed for
 * the call only.
 */
#ifndef RALLY_SDK_HTTP_H
#define RALLY_SDK_HTTP_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct rally_http {
    CURL *curl;
    /* The response body so far (NULL before any byte came, NUL-terminated
     * after): valid until the next exchange or rally_http_cleanup(). */
    char *buf;
    size_t len;
    /* The response's Content-Type after an exchange ("" when none). */
    char content_type[128];
};

/* Called after each piece of a streamed body is appended to h->buf (never
 * NULL then); false ends the transfer. */
typedef bool (*rally_http_data_fn)(struct rally_http *h, void *ctx);

struct rally_http_request {
    const char *method;       /* "GET", "POST", "DELETE", ... */
    const char *base;         /* rally's URL, "http://127.0.0.1:8080" */
    const char *path;         /* "/v1/..." */
    const char *token;        /* NULL: no Authorization header */
    const char *accept;       /* NULL: no Accept header */
    const char *body;         /* NULL: none; "" sends an empty body */
    size_t body_len;          /* the body's bytes (it may hold NULs); 0: strlen(body) */
    const char *content_type; /* NULL: application/json */
    const char *header;       /* one more "Name: value" line, or NULL */
    /* Non-NULL: the exchange ends (CURLE_ABORTED_BY_CALLBACK) within about
     * a second of *cancel becoming true, from any thread. */
    const _Atomic bool *cancel;
    long connect_timeout_ms;
    long timeout_ms;            /* the whole exchange, a stream's too */
    rally_http_data_fn on_data; /* NULL: only collect the body */
    void *ctx;                  /* on_data's */
};

/* A handle with no buffer yet: 0, or -1 when libcurl could not make one. */
int rally_http_init(struct rally_http *h);

/* Frees what the handle owns; a zeroed or already cleaned struct is fine. */
void rally_http_cleanup(struct rally_http *h);

/* Sends the request and waits for the whole response (or the stream's
 * end). The buffer is emptied first. *status is the HTTP status on
 * CURLE_OK, 0 otherwise. */
CURLcode rally_http_exchange(struct rally_http *h, const struct rally_http_request *r,
                             long *status);

/* rally_http_exchange() with JSON. body (consumed, may be NULL) is sent
 * compact in place of r->body; NULL sends r->body as it is. On CURLE_OK
 * *answer, released first, is the new reference to the response parsed as
 * JSON (NULL when it is empty or not JSON); on an error it is left as it
 * was. CURLE_OUT_OF_MEMORY when the body could not be encoded. */
CURLcode rally_http_json(struct rally_http *h, const struct rally_http_request *r, json_t *body,
                         json_t **answer, long *status);

/* Drops the first n bytes of the buffer (n <= h->len), for on_data. */
void rally_http_consume(struct rally_http *h, size_t n);

#endif
