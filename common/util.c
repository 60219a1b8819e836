/* Encodings, randomness, digests and clocks shared by every binary. */
#include "util.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "arena.h"
#include "log.h"

static const char b64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *util_b64url_encode(struct arena *a, const unsigned char *data, size_t len)
{
    char *out = arena_alloc(a, (len + 2) / 3 * 4 + 1);
    size_t o = 0;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        out[o++] = b64url_chars[v >> 18 & 63];
        out[o++] = b64url_chars[v >> 12 & 63];
        out[o++] = b64url_chars[v >> 6 & 63];
        out[o++] = b64url_chars[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        out[o++] = b64url_chars[v >> 18 & 63];
        out[o++] = b64url_chars[v >> 12 & 63];
        if (i + 1 < len)
            out[o++] = b64url_chars[v >> 6 & 63];
    }
    out[o] = '\0';
    return out;
}

static int b64_value(unsigned char c, bool url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

static unsigned char *b64_decode(struct arena *a, const char *s, size_t len, size_t *out_len,
                                 bool url)
{
    while (len > 0 && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return NULL;
    unsigned char *out = arena_alloc(a, len / 4 * 3 + 3);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)s[i], url);
        if (v < 0)
            return NULL;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    *out_len = o;
    return out;
}

unsigned char *util_b64url_decode(struct arena *a, const char *s, size_t len, size_t *out_len)
{
    return b64_decode(a, s, len, out_len, true);
}

unsigned char *util_b64_decode(struct arena *a, const char *s, size_t len, size_t *out_len)
{
    return b64_decode(a, s, len, out_len, false);
}

void util_random(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0)
            log_fatal("could not read random bytes");
        p += n;
        len -= (size_t)n;
    }
}

void util_uuid(char out[37])
{
    unsigned char b[16];
    util_random(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

char *util_random_token(struct arena *a, size_t nbytes)
{
    unsigned char buf[64];
    if (nbytes > sizeof(buf))
        nbytes = sizeof(buf);
    util_random(buf, nbytes);
    return util_b64url_encode(a, buf, nbytes);
}

static EVP_MD *sha256_md; /* util_sha256's; never freed */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

const EVP_MD *util_sha256(void)
{
    pthread_once(&sha256_once, fetch_sha256);
    return sha256_md != NULL ? sha256_md : EVP_sha256();
}

void util_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (EVP_Digest(data, len, md, &mdlen, util_sha256(), NULL) != 1 || mdlen != 32)
        log_fatal("could not compute sha256");
    util_hex(md, 32, out);
}

int util_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool util_uuid_parse(const char *s, unsigned char out[16])
{
    unsigned char scratch[16];
    unsigned char *b = out != NULL ? out : scratch;
    if (s == NULL || strlen(s) != 36)
        return false;
    size_t j = 0;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
            continue;
        }
        int hi = util_hex_value(s[i]), lo = util_hex_value(s[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        b[j++] = (unsigned char)(hi << 4 | lo);
        i++;
    }
    return j == 16;
}

void util_hex(const unsigned char *data, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 15];
    }
    out[2 * len] = '\0';
}

bool util_ct_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

int64_t util_now(void)
{
    return (int64_t)time(NULL);
}

int64_t util_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + (ts.tv_nsec + 999999) / 1000000;
}

double util_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

bool util_is_token(const char *s, size_t max, const char *extra)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        unsigned char c = (unsigned char)s[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  (c != '\0' && strchr(extra, c) != NULL);
        if (!ok || n >= max)
            return false;
    }
    return n > 0;
}

char *util_pg_text_array(struct arena *a, const char *const *items, size_t n)
{
    size_t len = 3;
    for (size_t i = 0; i < n; i++)
        len += (items[i] != NULL ? 2 * strlen(items[i]) : 4) + 3;
    char *out = arena_alloc(a, len), *w = out;
    *w++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            *w++ = ',';
        if (items[i] == NULL) { /* unquoted: SQL NULL */
            memcpy(w, "NULL", 4);
            w += 4;
            continue;
        }
        *w++ = '"';
        for (const char *c = items[i]; *c; c++) {
            if (*c == '"' || *c == '\\')
                *w++ = '\\';
            *w++ = *c;
        }
        *w++ = '"';
    }
    *w++ = '}';
    *w = '\0';
    return out;
}
