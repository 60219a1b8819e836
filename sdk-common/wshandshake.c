#include "wshandshake.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static int hex(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

bool wsh_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '+')
            c = ' ';
        else if (c == '%') {
            int h = i + 2 < n ? hex(s[i + 1]) : -1, l = i + 2 < n ? hex(s[i + 2]) : -1;
            if (h < 0 || l < 0)
                return false;
            c = h * 16 + l;
            i += 2;
        }
        if (c < 0x20 || c == 0x7f || o + 1 >= cap)
            return false;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return true;
}

/* Copies a header value (trimmed) into out; false when it does not fit. */
static bool value(const char *v, const char *eol, char *out, size_t cap)
{
    while (v < eol && (*v == ' ' || *v == '\t'))
        v++;
    while (eol > v && (eol[-1] == ' ' || eol[-1] == '\t'))
        eol--;
    if ((size_t)(eol - v) >= cap)
        return false;
    memcpy(out, v, (size_t)(eol - v));
    out[eol - v] = '\0';
    return true;
}

/* Whether a comma-separated header value has token (any case). */
static bool has_token(const char *v, const char *eol, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = v; p + n <= eol; p++)
        if (strncasecmp(p, token, n) == 0 && (p == v || p[-1] == ' ' || p[-1] == ',') &&
            (p + n == eol || p[n] == ',' || p[n] == ' ' || p[n] == '\r'))
            return true;
    return false;
}

int wsh_parse(const char *buf, size_t len, struct wsh_request *out, const char **why)
{
    const char *end = NULL;
    for (size_t i = 3; i < len && end == NULL; i++)
        if (memcmp(buf + i - 3, "\r\n\r\n", 4) == 0)
            end = buf + i + 1;
    if (end == NULL) {
        *why = "request headers too large";
        return len >= WSH_MAX ? 431 : 1;
    }
    memset(out, 0, sizeof(*out));
    out->length = (size_t)(end - buf);
    const char *eol = memchr(buf, '\r', (size_t)(end - buf));
    const char *sp1 = memchr(buf, ' ', (size_t)(eol - buf));
    const char *sp2 = sp1 != NULL ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (sp1 == NULL || sp2 == NULL || (size_t)(eol - sp2 - 1) != 8 ||
        memcmp(sp2 + 1, "HTTP/1.1", 8) != 0) {
        *why = "not an HTTP/1.1 request";
        return 400;
    }
    if (sp1 - buf != 3 || memcmp(buf, "GET", 3) != 0) {
        *why = "the WebSocket endpoint takes GET only";
        return 405;
    }
    const char *target = sp1 + 1, *qm = memchr(target, '?', (size_t)(sp2 - target));
    const char *path_end = qm != NULL ? qm : sp2;
    if ((size_t)(path_end - target) >= sizeof(out->path)) {
        *why = "path too long";
        return 400;
    }
    memcpy(out->path, target, (size_t)(path_end - target));
    if (qm != NULL) {
        out->query = qm + 1;
        out->query_len = (size_t)(sp2 - qm - 1);
    }
    bool upgrade = false, connection = false, version = false;
    for (const char *line = eol + 2; line < end - 2; line = eol + 2) {
        eol = memchr(line, '\r', (size_t)(end - line));
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon == NULL) {
            *why = "malformed header line";
            return 400;
        }
        size_t n = (size_t)(colon - line);
        const char *v = colon + 1;
#define IS(h) (n == sizeof(h) - 1 && strncasecmp(line, h, n) == 0)
        if (IS("Upgrade"))
            upgrade = has_token(v, eol, "websocket");
        else if (IS("Connection"))
            connection = has_token(v, eol, "upgrade");
        else if (IS("Sec-WebSocket-Version"))
            version = has_token(v, eol, "13");
        else if (IS("Sec-WebSocket-Key") && !value(v, eol, out->key, sizeof(out->key)))
            out->key[0] = '\0';
        else if (IS("Host") && !value(v, eol, out->host, sizeof(out->host)))
            out->host[0] = '\0';
        else if (IS("X-Forwarded-Proto") && !value(v, eol, out->proto, sizeof(out->proto)))
            out->proto[0] = '\0';
#undef IS
    }
    if (!upgrade || !connection) {
        *why = "a WebSocket upgrade is required (Upgrade: websocket, Connection: Upgrade)";
        return 426;
    }
    if (!version) {
        *why = "Sec-WebSocket-Version 13 is required";
        return 426;
    }
    if (strlen(out->key) != 24) {
        *why = "Sec-WebSocket-Key is missing or malformed";
        return 400;
    }
    return 0;
}

void wsh_accept_value(const char *key, char out[29])
{
    unsigned char md[SHA_DIGEST_LENGTH];
    char in[64];
    int n = snprintf(in, sizeof(in), "%s%s", key, WS_GUID);
    SHA1((const unsigned char *)in, (size_t)n, md);
    EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
}
