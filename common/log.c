/*
 * JSON-lines logger. Each line is built in a stack buffer and written with
 * one write(2), so lines from concurrent workers sharing a file never
 * interleave (writes to a pipe or O_APPEND file up to PIPE_BUF are atomic).
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *service_name = "rally";
static enum log_level min_level = LOG_INFO;
static const char *current_request_id;

static const char *const level_names[] = {
    [LOG_DEBUG] = "debug",
    [LOG_INFO] = "info",
    [LOG_WARN] = "warn",
    [LOG_ERROR] = "error",
};

void log_init(const char *service)
{
    service_name = service;
    const char *lvl = getenv("RALLY_LOG_LEVEL");
    if (lvl != NULL) {
        for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
            if (strcmp(lvl, level_names[i]) == 0)
                min_level = (enum log_level)i;
    }
}

void log_set_level(enum log_level level)
{
    min_level = level;
}

void log_set_request_id(const char *request_id)
{
    current_request_id = request_id;
}

/* Advances *pos by an snprintf result, never past the end of the buffer. */
static void advance(size_t cap, size_t *pos, int n)
{
    if (n > 0)
        *pos += (size_t)n;
    if (*pos > cap - 1)
        *pos = cap - 1;
}

/* Appends s as JSON string content (without quotes) to buf at *pos. */
static void put_escaped(char *buf, size_t cap, size_t *pos, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*pos + 7 >= cap)
            return;
        switch (*p) {
        case '"':
            buf[(*pos)++] = '\\';
            buf[(*pos)++] = '"';
            break;
        case '\\':
            buf[(*pos)++] = '\\';
            buf[(*pos)++] = '\\';
            break;
        case '\n':
            buf[(*pos)++] = '\\';
            buf[(*pos)++] = 'n';
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                advance(cap, pos, snprintf(buf + *pos, cap - *pos, "\\u%04x", *p));
            else
                buf[(*pos)++] = (char)*p;
        }
    }
}

static void put_raw(char *buf, size_t cap, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    if (*pos >= cap - 1)
        return;
    if (n > cap - 1 - *pos)
        n = cap - 1 - *pos;
    memcpy(buf + *pos, s, n);
    *pos += n;
}

static void put_head(char *buf, size_t cap, size_t *pos, enum log_level level)
{
    struct timeval tv;
    struct tm tm;
    char ts[64];

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (long)(tv.tv_usec / 1000));
    advance(cap, pos,
            snprintf(buf + *pos, cap - *pos, "{\"ts\":\"%s\",\"level\":\"%s\",\"service\":\"", ts,
                     level_names[level]));
    put_escaped(buf, cap, pos, service_name);
    advance(cap, pos, snprintf(buf + *pos, cap - *pos, "\",\"pid\":%ld", (long)getpid()));
    if (current_request_id != NULL) {
        put_raw(buf, cap, pos, ",\"request_id\":\"");
        put_escaped(buf, cap, pos, current_request_id);
        put_raw(buf, cap, pos, "\"");
    }
}

static void put_tail_and_write(char *buf, size_t cap, size_t *pos)
{
    if (*pos + 3 > cap)
        *pos = cap - 3;
    buf[(*pos)++] = '}';
    buf[(*pos)++] = '\n';
    ssize_t rc = write(STDERR_FILENO, buf, *pos);
    (void)rc; /* Nowhere left to report a failed log write. */
}

static void vlog(enum log_level level, const char *fmt, va_list ap)
{
    char buf[2048];
    char msg[1536];
    size_t pos = 0;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    put_head(buf, sizeof(buf), &pos, level);
    put_raw(buf, sizeof(buf), &pos, ",\"msg\":\"");
    put_escaped(buf, sizeof(buf), &pos, msg);
    put_raw(buf, sizeof(buf), &pos, "\"");
    put_tail_and_write(buf, sizeof(buf), &pos);
}

void log_write(enum log_level level, const char *fmt, ...)
{
    if (level < min_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

void log_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_ERROR, fmt, ap);
    va_end(ap);
    abort();
}

void log_request(const char *method, const char *route, int status, double duration_ms)
{
    char buf[1024];
    size_t pos = 0;

    /* A request the server failed is a warning; the rest is info, and
     * RALLY_LOG_LEVEL=warn keeps the log to what needs a look. */
    enum log_level level = status >= 500 ? LOG_WARN : LOG_INFO;
    if (level < min_level)
        return;
    put_head(buf, sizeof(buf), &pos, level);
    put_raw(buf, sizeof(buf), &pos, ",\"method\":\"");
    put_escaped(buf, sizeof(buf), &pos, method);
    put_raw(buf, sizeof(buf), &pos, "\",\"route\":\"");
    put_escaped(buf, sizeof(buf), &pos, route);
    advance(sizeof(buf), &pos,
            snprintf(buf + pos, sizeof(buf) - pos, "\",\"status\":%d,\"duration_ms\":%.3f", status,
                     duration_ms));
    put_tail_and_write(buf, sizeof(buf), &pos);
}
