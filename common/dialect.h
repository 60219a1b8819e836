/*
 * Wire dialects: how a route's answers look to the clients it serves.
 *
 * rally's own API speaks the native dialect. The compatibility routes speak
 * the dialects of the two AWS samples whose clients they serve unchanged:
 * the GUIDANCE sample's (/login-as-guest, /get-match-status, ...: Python's
 * json.dumps and str(datetime), CORS headers) and the LEGACY sample's
 * (/requestmatch, /requestmatchstatus). Each dialect is one const table in
 * dialect.c; a route points at its table (struct http_route.dialect), and
 * http.c, serve.c, ticket.c and the handlers read its fields, never asking
 * which dialect it is. A new dialect is one more table plus the routes that
 * speak it.
 *
 * Ownership: the tables, and every string and array they point at, are
 * static and immutable for the life of the process (borrowed by everyone,
 * freed by no one). The function fields say what they return.
 */
#ifndef RALLY_COMMON_DIALECT_H
#define RALLY_COMMON_DIALECT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

struct dialect_header {
    const char *name;
    const char *value;
};

struct dialect {
    const char *name; /* "native", "guidance", "legacy": for logs and tests */

    /* The body of an error answer. `code` is a stable machine-readable word,
     * `msg` the human text (both borrowed, valid UTF-8; either may be left
     * out of the body). Returns a new reference. */
    json_t *(*error_body)(const char *code, const char *msg);
    /* The body of a 401 or 403 from the token check (code "unauthorized" or
     * "forbidden", msg why). Where API Gateway checked tokens for the
     * sample, this is its own body, whatever the reason. New reference. */
    json_t *(*auth_error_body)(int status, const char *code, const char *msg);
    /* The WWW-Authenticate value on a 401 from the token check, or NULL for
     * none (API Gateway sent none). */
    const char *auth_challenge;

    /* json_dumps() flags for every body (JSON_ENCODE_ANY included: a
     * dialect's error body may be a bare string). */
    size_t json_flags;
    /* Headers on every response, written before the handler's own; NULL, or
     * an array ended by {NULL, NULL}. */
    const struct dialect_header *headers;
    /* Microseconds since the epoch (UTC) as the dialect writes times: a
     * string, or a number of seconds. New reference. */
    json_t *(*time_value)(int64_t us);
    /* The Content-Type of every body. */
    const char *content_type;
    /* The header that carries the request id besides nginx's X-Request-Id
     * (AWS SDKs read x-amzn-RequestId), or NULL. */
    const char *request_id_header;
    /* Every 4xx error answered with this status (AWS JSON: 400, the error
     * named in the body), or 0 to keep each one's own. */
    int client_error_status;

    /* StartMatchmaking. The status of a newly created ticket. */
    int created_status;
    /* A player who starts matchmaking while a ticket is active gets that
     * ticket back (200) instead of a 409: the sample clients restart
     * matchmaking blindly every 20 s. */
    bool reuse_active_ticket;
    /* A latency of 0 ms is taken as 1 (the sample clients may send 0)
     * instead of being refused with a 400. */
    bool clamp_zero_latency;
};

/* rally's own: {"error","message"} errors, compact JSON, ISO 8601 times
 * with milliseconds ("2024-02-16T12:00:00.123Z"), 201 for a new ticket. */
extern const struct dialect dialect_native;
/* The GUIDANCE sample's: errors are bare JSON strings, Python's ", "/": "
 * spacing, CORS headers, Python's str(datetime) ("2024-02-16
 * 12:00:00.123000+00:00", no fraction when it is 0), API Gateway's auth
 * errors. */
extern const struct dialect dialect_guidance;
/* The LEGACY sample's: {"message"} errors, compact JSON, native times, API
 * Gateway's auth errors. */
extern const struct dialect dialect_legacy;
/* The GameLift service API's (AWS JSON 1.1): {"__type", "message"} errors
 * named by AWS's exceptions (rally's own codes become
 * InvalidRequestException, or InternalServiceException for a failure of
 * ours), compact JSON as application/x-amz-json-1.1, times as epoch
 * seconds with a fraction, x-amzn-RequestId. Callers are checked by
 * signature (awsauth.h), not by token. */
extern const struct dialect dialect_gamelift;

#endif
