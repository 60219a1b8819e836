/* The metrics of the agent's processes, fetched and merged (child_metrics.h). */
#include "child_metrics.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "metrics.h"

#define MAX_BODY (4 * 1024 * 1024)

struct merged_family {
    char name[128];
    char help[256];
    char type[16];
    char *samples; /* lines, each ending in \n */
    size_t len, cap;
};

char *child_metrics_fetch(const char *path, const char *token)
{
    struct stat st;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (token == NULL || stat(path, &st) != 0 || !S_ISSOCK(st.st_mode) ||
        strlen(path) >= sizeof(sa.sun_path))
        return NULL;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    struct timeval tv = {0, 500 * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "GET /metrics HTTP/1.0\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n\r\n",
                     token);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || n < 0 || (size_t)n >= sizeof(req) ||
        send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        goto fail;
    for (;;) {
        if (len + 65536 + 1 > cap) {
            if (cap >= MAX_BODY)
                goto fail;
            cap = cap ? cap * 2 : 65536 * 2;
            char *grown = realloc(buf, cap);
            if (grown == NULL)
                goto fail;
            buf = grown;
        }
        ssize_t got = recv(fd, buf + len, cap - len - 1, 0);
        if (got < 0)
            goto fail;
        if (got == 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    if (buf == NULL)
        return NULL;
    buf[len] = '\0';
    char *body = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.", 7) != 0 || strncmp(buf + 8, " 200", 4) != 0 || body == NULL) {
        free(buf);
        return NULL;
    }
    memmove(buf, body + 4, len - (size_t)(body + 4 - buf) + 1);
    return buf;
fail:
    close(fd);
    free(buf);
    return NULL;
}

static struct merged_family *family(struct merged *m, const char *name, size_t len)
{
    if (len == 0 || len >= sizeof(m->f[0].name))
        return NULL;
    for (size_t i = 0; i < m->n; i++)
        if (strncmp(m->f[i].name, name, len) == 0 && m->f[i].name[len] == '\0')
            return &m->f[i];
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        struct merged_family *grown = realloc(m->f, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        m->f = grown;
        m->cap = cap;
    }
    struct merged_family *f = &m->f[m->n++];
    memset(f, 0, sizeof(*f));
    memcpy(f->name, name, len);
    return f;
}

static void append(struct merged_family *f, const char *s, size_t len)
{
    if (f->len + len + 1 > f->cap) {
        size_t cap = (f->cap + len) * 2 + 256;
        char *grown = realloc(f->samples, cap);
        if (grown == NULL)
            return;
        f->samples = grown;
        f->cap = cap;
    }
    memcpy(f->samples + f->len, s, len);
    f->len += len;
    f->samples[f->len] = '\0';
}

/* Whether a sample's name is of family f: its own, or a histogram's parts. */
static bool of_family(const struct merged_family *f, const char *name, size_t len)
{
    size_t fl = strlen(f->name);
    if (len == fl)
        return strncmp(name, f->name, fl) == 0;
    if (len < fl + 4 || strncmp(name, f->name, fl) != 0 || name[fl] != '_')
        return false;
    const char *suffix = name + fl + 1;
    size_t sl = len - fl - 1;
    return (sl == 6 && strncmp(suffix, "bucket", 6) == 0) ||
           (sl == 3 && strncmp(suffix, "sum", 3) == 0) ||
           (sl == 5 && strncmp(suffix, "count", 5) == 0);
}

/* One sample line, labels added, into its family. */
static void add_sample(struct merged *m, struct merged_family **current, const char *line,
                       size_t len, const char *labels)
{
    size_t name_len = strcspn(line, "{ ");
    if (name_len == 0 || name_len >= len)
        return;
    struct merged_family *f = *current;
    if (f == NULL || !of_family(f, line, name_len))
        f = *current = family(m, line, name_len);
    if (f == NULL || strncmp(f->name, "process_", 8) == 0)
        return;
    char out[4096];
    int w;
    if (line[name_len] == '{')
        w = snprintf(out, sizeof(out), "%.*s{%s,%.*s\n", (int)name_len, line, labels,
                     (int)(len - name_len - 1), line + name_len + 1);
    else
        w = snprintf(out, sizeof(out), "%.*s{%s}%.*s\n", (int)name_len, line, labels,
                     (int)(len - name_len), line + name_len);
    if (w > 0 && (size_t)w < sizeof(out))
        append(f, out, (size_t)w);
}

void merged_add(struct merged *m, const char *text, const char *labels)
{
    struct merged_family *current = NULL;
    for (const char *p = text; *p != '\0';) {
        const char *end = strchr(p, '\n');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len > 7 && (strncmp(p, "# HELP ", 7) == 0 || strncmp(p, "# TYPE ", 7) == 0)) {
            const char *name = p + 7;
            size_t name_len = strcspn(name, " \n");
            current = family(m, name, name_len);
            const char *rest = name + name_len + (name[name_len] == ' ');
            size_t rest_len = len - (size_t)(rest - p);
            if (current != NULL) {
                char *dst = p[2] == 'H' ? current->help : current->type;
                size_t size = p[2] == 'H' ? sizeof(current->help) : sizeof(current->type);
                if (dst[0] == '\0' && rest_len < size) {
                    memcpy(dst, rest, rest_len);
                    dst[rest_len] = '\0';
                }
            }
        } else if (len > 0 && p[0] != '#') {
            add_sample(m, &current, p, len, labels);
        }
        p += len + (end != NULL);
    }
}

void merged_write(const struct merged *m, struct metrics_text *out)
{
    for (size_t i = 0; i < m->n; i++) {
        const struct merged_family *f = &m->f[i];
        if (f->len == 0)
            continue;
        char head[512];
        int w = snprintf(head, sizeof(head), "# HELP %s %s\n", f->name, f->help);
        if (w > 0 && (size_t)w < sizeof(head))
            metrics_write_text(out, head, (size_t)w);
        if (f->type[0] != '\0') {
            w = snprintf(head, sizeof(head), "# TYPE %s %s\n", f->name, f->type);
            if (w > 0 && (size_t)w < sizeof(head))
                metrics_write_text(out, head, (size_t)w);
        }
        metrics_write_text(out, f->samples, f->len);
    }
}

void merged_free(struct merged *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->f[i].samples);
    free(m->f);
    m->f = NULL;
    m->n = m->cap = 0;
}
