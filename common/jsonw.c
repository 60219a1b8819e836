/*
 * The JSON text writer: one malloc'd buffer doubled as it fills, and a
 * comma before anything that follows a value. Each call makes room for
 * its worst case once, then writes without further checks.
 */
#include "jsonw.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "log.h"

static void release(void *p)
{
    free(((struct jsonw *)p)->text);
}

struct jsonw *jsonw_new(struct arena *a, size_t hint)
{
    struct jsonw *w = arena_alloc(a, sizeof(*w));
    w->cap = hint > 64 ? hint : 64;
    w->text = malloc(w->cap);
    if (w->text == NULL)
        log_fatal("out of memory allocating %zu bytes", w->cap);
    w->text[0] = '\0';
    arena_defer(a, release, w);
    return w;
}

/* Room for n more bytes and the NUL; where they go. */
static char *grow(struct jsonw *w, size_t n)
{
    if (n > SIZE_MAX / 4 - w->len)
        log_fatal("jsonw: text too large");
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap * 2;
        while (w->len + n + 1 > cap)
            cap *= 2;
        char *text = realloc(w->text, cap);
        if (text == NULL)
            log_fatal("out of memory allocating %zu bytes", cap);
        w->text = text;
        w->cap = cap;
    }
    return w->text + w->len;
}

/* Room for a comma and n more bytes; where they go, past the comma if one
 * is needed: none at the start, after an opening bracket or a key's colon. */
static char *next(struct jsonw *w, size_t n)
{
    char *p = grow(w, n + 1);
    if (w->len > 0 && p[-1] != '{' && p[-1] != '[' && p[-1] != ':')
        *p++ = ',';
    return p;
}

/* The text now ends at p. */
static void end(struct jsonw *w, char *p)
{
    *p = '\0';
    w->len = (size_t)(p - w->text);
}

void jsonw_open(struct jsonw *w, char bracket)
{
    char *p = next(w, 1);
    *p++ = bracket;
    end(w, p);
}

void jsonw_close(struct jsonw *w, char bracket)
{
    char *p = grow(w, 1);
    *p++ = bracket;
    end(w, p);
}

void jsonw_key(struct jsonw *w, const char *key)
{
    size_t n = strlen(key);
    char *p = next(w, n + 3);
    *p++ = '"';
    memcpy(p, key, n);
    p += n;
    *p++ = '"';
    *p++ = ':';
    end(w, p);
}

void jsonw_string(struct jsonw *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (s == NULL) {
        jsonw_raw(w, "null");
        return;
    }
    size_t n = strlen(s);
    char *p = next(w, n * 6 + 2); /* each byte escaped at worst as \u00XX */
    *p++ = '"';
    for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++) {
        if (*c >= 0x20 && *c != '"' && *c != '\\') {
            *p++ = (char)*c;
            continue;
        }
        *p++ = '\\';
        switch (*c) {
        case '"': *p++ = '"'; break;
        case '\\': *p++ = '\\'; break;
        case '\n': *p++ = 'n'; break;
        case '\r': *p++ = 'r'; break;
        case '\t': *p++ = 't'; break;
        default:
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = hex[*c >> 4];
            *p++ = hex[*c & 15];
        }
    }
    *p++ = '"';
    end(w, p);
}

void jsonw_raw(struct jsonw *w, const char *json)
{
    size_t n = strlen(json);
    char *p = next(w, n);
    memcpy(p, json, n);
    end(w, p + n);
}

void jsonw_epoch_ms(struct jsonw *w, const char *ms)
{
    size_t n = strlen(ms), whole = n > 3 ? n - 3 : 0;
    char *p = next(w, n + 5);
    if (whole == 0)
        *p++ = '0';
    memcpy(p, ms, whole);
    p += whole;
    *p++ = '.';
    for (size_t pad = n < 3 ? 3 - n : 0; pad > 0; pad--)
        *p++ = '0';
    memcpy(p, ms + whole, n - whole);
    end(w, p + (n - whole));
}

void jsonw_key_string(struct jsonw *w, const char *key, const char *s)
{
    jsonw_key(w, key);
    jsonw_string(w, s);
}

void jsonw_key_raw(struct jsonw *w, const char *key, const char *json)
{
    jsonw_key(w, key);
    jsonw_raw(w, json);
}
