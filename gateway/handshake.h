/*
 * The WebSocket opening handshake (sdk-common/wshandshake.h) as the gateway
 * sees it behind nginx, with the SDK's identity in its query string (reference/gamelift-server-sdk5.md §2):
 * Authorization, ComputeId, FleetId, IdempotencyToken, pID, sdkLanguage,
 * sdkVersion. Other query parameters are ignored (SigV4's, unsupported,
 * make Authorization "SigV4", which the caller refuses).
 */
#ifndef RALLY_GATEWAY_HANDSHAKE_H
#define RALLY_GATEWAY_HANDSHAKE_H

#include <stddef.h>

#include "wshandshake.h"

#define HS_MAX WSH_MAX

struct hs_request {
    size_t length;  /* of the request, headers and blank line included */
    char path[256]; /* without the query */
    char host[256]; /* Host, for RefreshConnection's endpoint */
    char proto[8];  /* X-Forwarded-Proto: "https" when nginx had TLS */
    char key[32];   /* Sec-WebSocket-Key */
    /* The query, decoded; "" when absent. */
    char authorization[4096], compute[257], fleet[257], process[257], idempotency[129];
    char sdk_language[33], sdk_version[33];
};

/* Parses buf[0..len). Returns 0 with *out filled when it holds a whole,
 * valid request; 1 when more bytes are needed; otherwise the HTTP status
 * to refuse with (400, 405, 426, 431) and *why. */
int hs_parse(const char *buf, size_t len, struct hs_request *out, const char **why);

#endif
