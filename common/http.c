/* Request helpers and the single response writer. */
#include "http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "util.h"

const struct dialect *http_dialect(const struct http_req *req)
{
    if (req->route == NULL || req->route->dialect == NULL)
        return &dialect_native;
    return req->route->dialect;
}

const char *http_param(const struct http_req *req, const char *name)
{
    size_t n = strlen(name);
    for (char **e = req->envp; e != NULL && *e != NULL; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

char *http_url_decode(struct arena *a, const char *s, size_t len, bool plus_is_space)
{
    char *out = arena_alloc(a, len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len && (hi = util_hex_value(s[i + 1])) >= 0 &&
            (lo = util_hex_value(s[i + 2])) >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (s[i] == '+' && plus_is_space) {
            out[o++] = ' ';
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

size_t http_parse_query(struct arena *a, const char *query, struct http_query_pair **out)
{
    size_t cap = 1;
    for (const char *p = query; *p != '\0'; p++)
        cap += *p == '&';
    struct http_query_pair *pairs = arena_alloc(a, cap * sizeof(*pairs));
    size_t n = 0;
    const char *p = query;
    while (*p != '\0') {
        size_t plen = strcspn(p, "&");
        if (plen > 0) {
            const char *eq = memchr(p, '=', plen);
            size_t klen = eq != NULL ? (size_t)(eq - p) : plen;
            if (klen > 0) {
                pairs[n].key = http_url_decode(a, p, klen, true);
                pairs[n].value = eq != NULL ? http_url_decode(a, eq + 1, plen - klen - 1, true)
                                            : arena_strdup(a, "");
                n++;
            }
        }
        p += plen;
        if (*p == '&')
            p++;
    }
    *out = pairs;
    return n;
}

const char *http_query(struct http_req *req, const char *key)
{
    if (!req->query_parsed) {
        req->nqpairs = http_parse_query(req->arena, req->query, &req->qpairs);
        req->query_parsed = true;
    }
    for (size_t i = 0; i < req->nqpairs; i++)
        if (strcmp(req->qpairs[i].key, key) == 0)
            return req->qpairs[i].value;
    return NULL;
}

static void json_decref_hook(void *p)
{
    json_decref(p);
}

json_t *http_json_body(struct http_req *req, struct http_resp *resp)
{
    json_error_t jerr;
    if (req->body_len == 0) {
        http_error(req, resp, 400, "invalid_body", "request body must be a JSON object");
        return NULL;
    }
    json_t *root = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        http_error(req, resp, 400, "invalid_json", "request body is not valid JSON: %s", jerr.text);
        return NULL;
    }
    arena_defer(req->arena, json_decref_hook, root);
    if (!json_is_object(root)) {
        http_error(req, resp, 400, "invalid_body", "request body must be a JSON object");
        return NULL;
    }
    return root;
}

void http_reply(struct http_req *req, struct http_resp *resp, int status, json_t *body)
{
    if (resp->body != NULL)
        json_decref(resp->body);
    resp->status = status;
    resp->body = body;
    resp->text = NULL;
    resp->content_type = NULL;
    (void)req;
}

void http_reply_text(struct http_req *req, struct http_resp *resp, int status, const char *text,
                     size_t len)
{
    http_reply(req, resp, status, NULL);
    resp->text = text;
    resp->text_len = len;
}

void http_reply_bytes(struct http_req *req, struct http_resp *resp, int status, const char *bytes,
                      size_t len, const char *content_type)
{
    http_reply_text(req, resp, status, bytes, len);
    resp->content_type = content_type;
}

void http_error(struct http_req *req, struct http_resp *resp, int status, const char *code,
                const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof(msg)) {
        /* Truncated: drop a UTF-8 character cut in half, or jansson refuses
         * the string and the error body is lost. */
        size_t k = sizeof(msg) - 1;
        while (k > 0 && ((unsigned char)msg[k - 1] & 0xC0) == 0x80)
            k--;
        if (k > 0 && (unsigned char)msg[k - 1] >= 0xC0) {
            unsigned char lead = (unsigned char)msg[k - 1];
            size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
            if (sizeof(msg) - k < need)
                msg[k - 1] = '\0';
        }
    }

    const struct dialect *d = http_dialect(req);
    if (d->client_error_status != 0 && status >= 400 && status < 500)
        status = d->client_error_status;
    http_reply(req, resp, status, d->error_body(code, msg));
}

void http_add_header(struct http_resp *resp, const char *name, const char *value)
{
    if (resp->nheaders < HTTP_MAX_HEADERS) {
        resp->headers[resp->nheaders][0] = name;
        resp->headers[resp->nheaders][1] = value;
        resp->nheaders++;
    }
}

const char *http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

/* Appends "name: value\r\n" to head (hn bytes used of cap) if it fits
 * whole, and returns the new length: a cut line would eat the blank line
 * that ends the headers, so a header that does not fit is left out. */
static int append_header(char *head, size_t cap, int hn, const char *name, const char *value)
{
    int n = snprintf(head + hn, cap - (size_t)hn, "%s: %s\r\n", name, value);
    if (n < 0 || n >= (int)cap - hn)
        return hn;
    return hn + n;
}

char *http_render(struct http_req *req, const struct http_resp *resp, size_t *len)
{
    const struct dialect *d = http_dialect(req);
    char *body = resp->body != NULL ? json_dumps(resp->body, d->json_flags) : NULL;
    const char *b = resp->status == 204  ? ""
                    : resp->text != NULL ? resp->text
                    : body != NULL       ? body
                                         : "{}";
    size_t bn = b == resp->text ? resp->text_len : strlen(b);

    char head[1024];
    int hn = snprintf(head, sizeof(head), "Status: %d %s\r\nContent-Type: %s\r\n", resp->status,
                      http_reason(resp->status),
                      resp->content_type != NULL && b == resp->text ? resp->content_type
                                                                    : d->content_type);
    if (d->request_id_header != NULL)
        hn = append_header(head, sizeof(head), hn, d->request_id_header, req->request_id);
    for (const struct dialect_header *h = d->headers; h != NULL && h->name != NULL; h++)
        hn = append_header(head, sizeof(head), hn, h->name, h->value);
    for (size_t i = 0; i < resp->nheaders; i++)
        hn = append_header(head, sizeof(head), hn, resp->headers[i][0], resp->headers[i][1]);
    /* Copied, not printed: a body may be tens of kilobytes. */
    char *out = arena_alloc(req->arena, (size_t)hn + 2 + bn + 1);
    memcpy(out, head, (size_t)hn);
    memcpy(out + hn, "\r\n", 2);
    memcpy(out + hn + 2, b, bn);
    *len = (size_t)hn + 2 + bn;
    free(body);
    return out;
}
