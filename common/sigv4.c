/* AWS Signature Version 4 (sigv4.h). */
#include "sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "http.h"
#include "util.h"

#define ALGORITHM "AWS4-HMAC-SHA256"

static bool all_of(const char *s, size_t len, const char *extra, bool upper, bool lower)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= '0' && c <= '9') || (upper && c >= 'A' && c <= 'Z') ||
                  (lower && c >= 'a' && c <= 'z') || (c != '\0' && strchr(extra, c) != NULL);
        if (!ok)
            return false;
    }
    return true;
}

/* Copies s[0..len) into dst (cap bytes) if it fits and is made of the
 * allowed characters; false otherwise. */
static bool take(char *dst, size_t cap, const char *s, size_t len, const char *extra, bool upper,
                 bool lower)
{
    if (len == 0 || len >= cap || !all_of(s, len, extra, upper, lower))
        return false;
    memcpy(dst, s, len);
    dst[len] = '\0';
    return true;
}

/* Credential=AKID/YYYYMMDD/region/service/aws4_request */
static bool parse_credential(const char *v, size_t len, struct sigv4_auth *out)
{
    const char *part[5];
    size_t plen[5];
    size_t n = 0;
    const char *p = v, *end = v + len;
    while (n < 5) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *stop = slash != NULL && n < 4 ? slash : end;
        part[n] = p;
        plen[n] = (size_t)(stop - p);
        n++;
        if (stop == end)
            break;
        p = stop + 1;
    }
    return n == 5 &&
           take(out->access_key_id, sizeof(out->access_key_id), part[0], plen[0], "", true,
                false) &&
           plen[1] == 8 && take(out->date, sizeof(out->date), part[1], plen[1], "", false, false) &&
           take(out->region, sizeof(out->region), part[2], plen[2], "-", false, true) &&
           take(out->service, sizeof(out->service), part[3], plen[3], "-", false, true) &&
           plen[4] == strlen("aws4_request") && memcmp(part[4], "aws4_request", plen[4]) == 0;
}

int sigv4_parse(const char *header, struct sigv4_auth *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    size_t alen = strlen(ALGORITHM);
    if (header == NULL || strncmp(header, ALGORITHM, alen) != 0 || header[alen] != ' ') {
        *why = "Authorization header requires the AWS4-HMAC-SHA256 algorithm";
        return -1;
    }
    bool credential = false, signed_headers = false, signature = false;
    const char *p = header + alen;
    while (*p != '\0') {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        while (len > 0 && p[len - 1] == ' ')
            len--;
        const char *eq = memchr(p, '=', len);
        if (eq == NULL) {
            *why = "Authorization header has a component without '='";
            return -1;
        }
        size_t klen = (size_t)(eq - p), vlen = len - klen - 1;
        const char *v = eq + 1;
        if (klen == 10 && memcmp(p, "Credential", 10) == 0 && !credential) {
            if (!parse_credential(v, vlen, out)) {
                *why = "Credential must have the form AccessKeyId/YYYYMMDD/region/service/"
                       "aws4_request";
                return -1;
            }
            credential = true;
        } else if (klen == 13 && memcmp(p, "SignedHeaders", 13) == 0 && !signed_headers) {
            if (!take(out->signed_headers, sizeof(out->signed_headers), v, vlen, "-;", false,
                      true)) {
                *why = "SignedHeaders must be lowercase header names separated by ';'";
                return -1;
            }
            signed_headers = true;
        } else if (klen == 9 && memcmp(p, "Signature", 9) == 0 && !signature) {
            if (vlen != 64 ||
                !take(out->signature, sizeof(out->signature), v, vlen, "", false, true) ||
                !all_of(v, vlen, "abcdef", false, false)) {
                *why = "Signature must be 64 lowercase hexadecimal digits";
                return -1;
            }
            signature = true;
        } else {
            *why = "Authorization header has an unknown or repeated component";
            return -1;
        }
        p += comma != NULL ? (size_t)(comma - p) : strlen(p);
    }
    if (!credential || !signed_headers || !signature) {
        *why = !credential       ? "Authorization header requires 'Credential' parameter"
               : !signed_headers ? "Authorization header requires 'SignedHeaders' parameter"
                                 : "Authorization header requires 'Signature' parameter";
        return -1;
    }
    return 0;
}

/* SHA-256 with a digest fetched once and a context kept (per thread):
 * OpenSSL 3 otherwise looks the algorithm up on every call, which cost more
 * than the hashing of a request. */
static void sha256(const void *a, size_t alen, const void *b, size_t blen, unsigned char out[32])
{
    static _Thread_local EVP_MD *md;
    static _Thread_local EVP_MD_CTX *ctx;
    if (md == NULL)
        md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (ctx == NULL)
        ctx = EVP_MD_CTX_new();
    unsigned int n = 32;
    if (md == NULL || ctx == NULL || EVP_DigestInit_ex(ctx, md, NULL) != 1 ||
        EVP_DigestUpdate(ctx, a, alen) != 1 || (blen > 0 && EVP_DigestUpdate(ctx, b, blen) != 1) ||
        EVP_DigestFinal_ex(ctx, out, &n) != 1)
        memset(out, 0, 32); /* no signature matches an all-zero digest's */
}

/* HMAC-SHA256 (RFC 2104) over sha256(); keys here are at most 64 bytes
 * (an AWS secret is 40, a derived key 32), longer ones are hashed first. */
static void hmac256(const void *key, size_t klen, const void *data, size_t dlen,
                    unsigned char out[32])
{
    unsigned char k[64] = {0}, pad[64], inner[32];
    if (klen > 64)
        sha256(key, klen, NULL, 0, k);
    else
        memcpy(k, key, klen);
    for (int i = 0; i < 64; i++)
        pad[i] = (unsigned char)(k[i] ^ 0x36);
    sha256(pad, 64, data, dlen, inner);
    for (int i = 0; i < 64; i++)
        pad[i] = (unsigned char)(k[i] ^ 0x5c);
    sha256(pad, 64, inner, 32, out);
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    sha256(data, len, NULL, 0, md);
    util_hex(md, 32, out);
}

void sigv4_signing_key(const char *secret, const char *date, const char *region,
                       const char *service, unsigned char key[32])
{
    char first[256];
    int n = snprintf(first, sizeof(first), "AWS4%s", secret);
    size_t flen = n > 0 && (size_t)n < sizeof(first) ? (size_t)n : 0;
    unsigned char k[32];
    hmac256(first, flen, date, strlen(date), k);
    hmac256(k, 32, region, strlen(region), k);
    hmac256(k, 32, service, strlen(service), k);
    hmac256(k, 32, "aws4_request", 12, key);
    OPENSSL_cleanse(first, sizeof(first));
    OPENSSL_cleanse(k, sizeof(k));
}

/* A growing arena string. */
struct buf {
    struct arena *a;
    char *s;
    size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap + n + 1) * 2;
        char *grown = arena_alloc(b->a, cap);
        if (b->len > 0)
            memcpy(grown, b->s, b->len);
        b->s = grown;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~';
}

/* RFC 3986 encoding of s[0..n), '/' kept when keep_slash. */
static void put_encoded(struct buf *b, const char *s, size_t n, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            put(b, (const char *)&s[i], 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            put(b, e, 3);
        }
    }
}

struct qpair {
    char *key, *value; /* encoded as the canonical form wants them */
};

static int by_pair(const void *x, const void *y)
{
    const struct qpair *a = x, *b = y;
    int c = strcmp(a->key, b->key);
    return c != 0 ? c : strcmp(a->value, b->value);
}

/* Decodes then re-encodes one query component, so that a client's own
 * (valid) encoding and AWS's canonical one agree. */
static char *canonical_component(struct arena *a, const char *s, size_t n)
{
    const char *raw = http_url_decode(a, s, n, false);
    struct buf out = {a, NULL, 0, 0};
    put(&out, "", 0);
    put_encoded(&out, raw, strlen(raw), false);
    return out.s;
}

static void put_query(struct buf *b, struct arena *a, const char *q)
{
    size_t n = 0, cap = 1;
    for (const char *p = q; *p; p++)
        cap += *p == '&';
    struct qpair *pairs = arena_alloc(a, cap * sizeof(*pairs));
    for (const char *p = q; *p != '\0';) {
        const char *amp = strchr(p, '&');
        size_t len = amp != NULL ? (size_t)(amp - p) : strlen(p);
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t klen = eq != NULL ? (size_t)(eq - p) : len;
            pairs[n].key = canonical_component(a, p, klen);
            pairs[n].value = eq != NULL ? canonical_component(a, eq + 1, len - klen - 1)
                                        : canonical_component(a, "", 0);
            n++;
        }
        p += len + (amp != NULL);
    }
    qsort(pairs, n, sizeof(*pairs), by_pair);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            put(b, "&", 1);
        puts_(b, pairs[i].key);
        put(b, "=", 1);
        puts_(b, pairs[i].value);
    }
}

/* A header value as signed: trimmed, runs of spaces made one. */
static void put_header_value(struct buf *b, const char *v)
{
    if (v == NULL)
        return;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    bool space = false;
    for (size_t i = 0; i < n; i++) {
        bool ws = v[i] == ' ' || v[i] == '\t';
        if (ws && space)
            continue;
        space = ws;
        put(b, ws ? " " : &v[i], 1);
    }
}

char *sigv4_canonical_request(struct arena *a, const struct sigv4_request *r,
                              const struct sigv4_auth *auth)
{
    struct buf b = {a, NULL, 0, 0};
    puts_(&b, r->method);
    put(&b, "\n", 1);
    const char *path = r->path != NULL && *r->path != '\0' ? r->path : "/";
    put_encoded(&b, path, strlen(path), true);
    put(&b, "\n", 1);
    put_query(&b, a, r->query != NULL ? r->query : "");
    put(&b, "\n", 1);
    char name[128];
    for (const char *p = auth->signed_headers; *p != '\0';) {
        const char *semi = strchr(p, ';');
        size_t len = semi != NULL ? (size_t)(semi - p) : strlen(p);
        if (len > 0 && len < sizeof(name)) {
            memcpy(name, p, len);
            name[len] = '\0';
            put(&b, name, len);
            put(&b, ":", 1);
            put_header_value(&b, r->header(r->ctx, name));
            put(&b, "\n", 1);
        }
        p += len + (semi != NULL);
    }
    put(&b, "\n", 1);
    puts_(&b, auth->signed_headers);
    put(&b, "\n", 1);
    char hash[65];
    sha256_hex(r->body, r->body_len, hash);
    put(&b, hash, 64);
    return b.s;
}

int sigv4_matches(struct arena *a, const struct sigv4_request *r, const struct sigv4_auth *auth,
                  const char *amz_date, const unsigned char key[32])
{
    char *canonical = sigv4_canonical_request(a, r, auth);
    char hash[65];
    sha256_hex(canonical, strlen(canonical), hash);
    char *sts = arena_sprintf(a, ALGORITHM "\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, auth->date,
                              auth->region, auth->service, hash);
    unsigned char mac[32];
    hmac256(key, 32, sts, strlen(sts), mac);
    char hex[65];
    util_hex(mac, 32, hex);
    return CRYPTO_memcmp(hex, auth->signature, 64) == 0;
}

/* The number written by n decimal digits at s (checked by the caller). */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

int64_t sigv4_parse_amz_date(const char *s)
{
    if (s == NULL || strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z' ||
        !all_of(s, 8, "", false, false) || !all_of(s + 9, 6, "", false, false))
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = digits(s, 4) - 1900;
    tm.tm_mon = digits(s + 4, 2) - 1;
    tm.tm_mday = digits(s + 6, 2);
    tm.tm_hour = digits(s + 9, 2);
    tm.tm_min = digits(s + 11, 2);
    tm.tm_sec = digits(s + 13, 2);
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    return (int64_t)timegm(&tm);
}
