#include "handshake.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct param {
    const char *name;
    size_t off, cap;
};

#define P(name, field)                                                                             \
    {                                                                                              \
        name, offsetof(struct hs_request, field), sizeof(((struct hs_request *)0)->field)          \
    }
static const struct param params[] = {
    P("Authorization", authorization),  P("ComputeId", compute), P("FleetId", fleet),
    P("IdempotencyToken", idempotency), P("pID", process),       P("sdkLanguage", sdk_language),
    P("sdkVersion", sdk_version),
};

static bool parse_query(const char *q, size_t n, struct hs_request *out, const char **why)
{
    const char *end = q + n;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp != NULL ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(stop - q));
        if (eq != NULL)
            for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
                if (strlen(params[i].name) != (size_t)(eq - q) ||
                    memcmp(q, params[i].name, (size_t)(eq - q)) != 0)
                    continue;
                if (!wsh_decode(eq + 1, (size_t)(stop - eq - 1), (char *)out + params[i].off,
                                params[i].cap)) {
                    *why = "a query parameter is malformed or too long";
                    return false;
                }
            }
        q = stop + 1;
    }
    return true;
}

int hs_parse(const char *buf, size_t len, struct hs_request *out, const char **why)
{
    struct wsh_request ws;
    int status = wsh_parse(buf, len, &ws, why);
    if (status != 0)
        return status;
    memset(out, 0, sizeof(*out));
    out->length = ws.length;
    memcpy(out->path, ws.path, sizeof(out->path));
    memcpy(out->host, ws.host, sizeof(out->host));
    memcpy(out->proto, ws.proto, sizeof(out->proto));
    memcpy(out->key, ws.key, sizeof(out->key));
    return ws.query != NULL && !parse_query(ws.query, ws.query_len, out, why) ? 400 : 0;
}
