/*
 * The WebSocket opening handshake (RFC 6455 §4.2): one HTTP/1.1 GET with
 * Upgrade: websocket. Its parser serves rally's WebSocket daemons (the SDK 5
 * gateway, which reads its query, and rally-relay); the accept value serves
 * both sides, librally's realtime client checking the relay's answer.
 */
#ifndef RALLY_WSHANDSHAKE_H
#define RALLY_WSHANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>

/* The most a handshake request may take, headers included. */
#define WSH_MAX 8192

struct wsh_request {
    size_t length;  /* of the request, headers and blank line included */
    char path[256]; /* without the query */
    char host[256]; /* Host */
    char proto[8];  /* X-Forwarded-Proto: "https" when a proxy had TLS */
    char key[32];   /* Sec-WebSocket-Key */
    /* The raw query (after '?'), pointing into the parsed buffer; NULL
     * when there is none. */
    const char *query;
    size_t query_len;
};

/* Parses buf[0..len). Returns 0 with *out filled when it holds a whole,
 * valid request; 1 when more bytes are needed; otherwise the HTTP status
 * to refuse with (400, 405, 426, 431) and *why. */
int wsh_parse(const char *buf, size_t len, struct wsh_request *out, const char **why);

/* Percent-decodes s[0..n) into out (cap bytes, NUL-terminated); false when
 * malformed, too long, or decoding to a control character. */
bool wsh_decode(const char *s, size_t n, char *out, size_t cap);

/* Sec-WebSocket-Accept for a key: 28 characters and a NUL. */
void wsh_accept_value(const char *key, char out[29]);

#endif
