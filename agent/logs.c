/* Game-session logs of the agent's processes (logs.h). */
#include "logs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* A log sent again while its game session runs, every this many seconds. */
#define INTERIM_S 60.0
/* A file emptied when it grows past this while its process hosts nothing. */
#define FILE_CAP (64L * 1024 * 1024)
/* A send rally could not take (no answer, 429, 5xx) is tried again after
 * 1, 2, 4, ... 300 s, this many times (about half an hour) in all. */
#define MAX_TRIES 14
#define MAX_BACKOFF_S 300.0
/* Sends per logs_send call: the agent's loop goes on between them. */
#define SENDS_PER_CALL 4

struct entry {
    char process_id[64];
    char game_session[129]; /* hosted now ("" none) */
    off_t from;             /* where that game session's log begins */
    off_t idle_mark;        /* the file's size when last seen hosting nothing */
    double next_send;       /* the next interim send while hosting */
};

struct pending {
    char process_id[64];
    char game_session[129];
    off_t from, to;
    int tries;
    double next_try;
    bool final; /* the game session ended: its last send */
};

struct agent_logs {
    char *dir;
    size_t max;
    double days, dir_cap; /* ended processes' files: how long, and all files' bytes at most */
    bool adopted;         /* the processes of an earlier agent are known: pruning may start */
    double next_prune;
    struct entry *e;
    size_t n, cap;
    struct pending *p;
    size_t np, capp;
};

struct agent_logs *logs_new(const char *dir, size_t max, double days, double cap)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        log_error("cannot make the log directory %s: %s", dir, strerror(errno));
        return NULL;
    }
    struct agent_logs *l = calloc(1, sizeof(*l));
    if (l == NULL || (l->dir = strdup(dir)) == NULL) {
        free(l);
        return NULL;
    }
    l->max = max;
    l->days = days;
    l->dir_cap = cap;
    return l;
}

void logs_free(struct agent_logs *l)
{
    if (l == NULL)
        return;
    free(l->e);
    free(l->p);
    free(l->dir);
    free(l);
}

/* DIR/<process id><suffix>: ".log" its output, ".session" the game session
 * it hosts and where that one's log begins (for an agent started again). */
static void path_of(const struct agent_logs *l, const char *process_id, const char *suffix,
                    char *out, size_t size)
{
    snprintf(out, size, "%s/%s%s", l->dir, process_id, suffix);
}

static off_t size_of(const struct agent_logs *l, const char *process_id)
{
    char path[4096];
    path_of(l, process_id, ".log", path, sizeof(path));
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

/* Writes (or, hosting nothing, removes) e's .session file. */
static void save_session(const struct agent_logs *l, const struct entry *e)
{
    char path[4096], tmp[4200];
    path_of(l, e->process_id, ".session", path, sizeof(path));
    if (e->game_session[0] == '\0') {
        unlink(path);
        return;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "we");
    if (f == NULL)
        return;
    fprintf(f, "%s %lld\n", e->game_session, (long long)e->from);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        unlink(tmp);
}

/* What an earlier agent wrote of e's game session, if anything. */
static void load_session(const struct agent_logs *l, struct entry *e)
{
    char path[4096], line[256];
    path_of(l, e->process_id, ".session", path, sizeof(path));
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    if (fgets(line, sizeof(line), f) != NULL) {
        char *space = strchr(line, ' ');
        char *end = NULL;
        long long from = space != NULL ? strtoll(space + 1, &end, 10) : -1;
        if (space != NULL && (size_t)(space - line) < sizeof(e->game_session) && from >= 0 &&
            end != space + 1) {
            memcpy(e->game_session, line, (size_t)(space - line));
            e->game_session[space - line] = '\0';
            e->from = (off_t)from;
        }
    }
    fclose(f);
}

static struct entry *find(struct agent_logs *l, const char *process_id, bool create)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->e[i].process_id, process_id) == 0)
            return &l->e[i];
    if (!create)
        return NULL;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct entry *grown = realloc(l->e, cap * sizeof(*grown));
        if (grown == NULL)
            return NULL;
        l->e = grown;
        l->cap = cap;
    }
    struct entry *e = &l->e[l->n++];
    memset(e, 0, sizeof(*e));
    snprintf(e->process_id, sizeof(e->process_id), "%s", process_id);
    e->idle_mark = size_of(l, process_id);
    load_session(l, e);
    return e;
}

static bool has_pending(const struct agent_logs *l, const char *process_id)
{
    for (size_t i = 0; i < l->np; i++)
        if (strcmp(l->p[i].process_id, process_id) == 0)
            return true;
    return false;
}

/* Queues a send of e's game session's log up to `to`; an interim send
 * already queued for it is moved up instead. */
static void queue(struct agent_logs *l, const struct entry *e, off_t to, bool final)
{
    for (size_t i = 0; i < l->np; i++) {
        struct pending *q = &l->p[i];
        if (!q->final && strcmp(q->process_id, e->process_id) == 0 &&
            strcmp(q->game_session, e->game_session) == 0) {
            q->to = to;
            q->final = final;
            return;
        }
    }
    if (l->np == l->capp) {
        size_t cap = l->capp ? l->capp * 2 : 16;
        struct pending *grown = realloc(l->p, cap * sizeof(*grown));
        if (grown == NULL)
            return;
        l->p = grown;
        l->capp = cap;
    }
    struct pending *q = &l->p[l->np++];
    memset(q, 0, sizeof(*q));
    memcpy(q->process_id, e->process_id, sizeof(q->process_id));
    memcpy(q->game_session, e->game_session, sizeof(q->game_session));
    q->from = e->from;
    q->to = to;
    q->final = final;
}

int logs_open(struct agent_logs *l, const char *process_id)
{
    char path[4096];
    path_of(l, process_id, ".log", path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_warn("cannot open %s: %s; the process writes where the agent does", path,
                 strerror(errno));
        return -1;
    }
    find(l, process_id, true);
    return fd;
}

void logs_metrics_socket(const struct agent_logs *l, const char *process_id, char *out, size_t size)
{
    path_of(l, process_id, ".metrics.sock", out, size);
}

void logs_sidecar_metrics_socket(const struct agent_logs *l, const char *process_id, char *out,
                                 size_t size)
{
    path_of(l, process_id, ".sidecar.metrics.sock", out, size);
}

void logs_adopt(struct agent_logs *l, const char *process_id)
{
    find(l, process_id, true);
}

void logs_adopted(struct agent_logs *l)
{
    l->adopted = true;
}

/* The process hosts nothing: its file is emptied once it is past the cap
 * and nothing of it waits to be sent. */
static void idle(struct agent_logs *l, struct entry *e)
{
    e->idle_mark = size_of(l, e->process_id);
    if (e->idle_mark > FILE_CAP && !has_pending(l, e->process_id)) {
        char path[4096];
        path_of(l, e->process_id, ".log", path, sizeof(path));
        if (truncate(path, 0) == 0)
            e->idle_mark = 0;
    }
}

void logs_hosting(struct agent_logs *l, const char *process_id, const char *game_session,
                  double now)
{
    struct entry *e = find(l, process_id, true);
    if (e == NULL)
        return;
    const char *now_hosting = game_session != NULL ? game_session : "";
    if (strcmp(e->game_session, now_hosting) == 0) {
        if (e->game_session[0] == '\0')
            idle(l, e);
        else if (now >= e->next_send) {
            queue(l, e, size_of(l, process_id), false);
            e->next_send = now + INTERIM_S;
        }
        return;
    }
    off_t size = size_of(l, process_id);
    if (e->game_session[0] != '\0')
        queue(l, e, size, true);
    /* From idle: what it wrote since last seen hosting nothing (its game
     * session's start). Straight from another game session: from where
     * that one's log ended, never into it. */
    e->from = e->game_session[0] == '\0' ? e->idle_mark : size;
    snprintf(e->game_session, sizeof(e->game_session), "%s", now_hosting);
    e->next_send = now + INTERIM_S;
    save_session(l, e);
    if (now_hosting[0] == '\0')
        idle(l, e);
}

void logs_ended(struct agent_logs *l, const char *process_id)
{
    struct entry *e = find(l, process_id, false);
    if (e == NULL)
        return;
    if (e->game_session[0] != '\0') {
        queue(l, e, size_of(l, process_id), true);
        e->game_session[0] = '\0';
        save_session(l, e);
    }
    *e = l->e[--l->n];
}

/* The log's bytes [from, to), the last max of them, as base64 in the JSON
 * body of the send (malloc'd), or NULL when the file is gone. */
static char *body_of(struct agent_logs *l, const struct pending *q)
{
    off_t from = q->from, to = q->to;
    off_t size = size_of(l, q->process_id);
    if (to > size) /* emptied meanwhile: what is left of it */
        to = size;
    if (from > to)
        from = to;
    bool truncated = false;
    if (to - from > (off_t)l->max) {
        from = to - (off_t)l->max;
        truncated = true;
    }
    size_t len = (size_t)(to - from);
    unsigned char *bytes = malloc(len + 1);
    char *b64 = malloc(len / 3 * 4 + 8);
    char path[4096];
    path_of(l, q->process_id, ".log", path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 && bytes != NULL ? pread(fd, bytes, len, from) : -1;
    if (fd >= 0)
        close(fd);
    char *text = NULL;
    if (got >= 0 && b64 != NULL) {
        EVP_EncodeBlock((unsigned char *)b64, bytes, (int)got);
        json_t *body = json_pack("{s:s, s:s, s:b}", "processId", q->process_id, "log", b64,
                                 "truncated", truncated);
        text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
    }
    free(bytes);
    free(b64);
    return text;
}

/* One send: true when it is done with (sent, or refused for good). */
static bool send_one(struct agent_logs *l, rally_server *s, struct pending *q, double now)
{
    char *body = body_of(l, q);
    if (body == NULL)
        return true; /* the file is gone: nothing to send */
    char path[256];
    snprintf(path, sizeof(path), "/v1/fleet/game-sessions/%s/log", q->game_session);
    int rc = rally_server_request(s, "PUT", path, body, NULL);
    free(body);
    if (rc == RALLY_SERVER_OK)
        return true;
    long status = rally_server_last_status(s);
    bool again = status == 0 || status == 429 || status >= 500;
    if (again && ++q->tries < MAX_TRIES) {
        double wait = 1;
        for (int i = 1; i < q->tries && wait < MAX_BACKOFF_S; i++)
            wait *= 2;
        q->next_try = now + (wait < MAX_BACKOFF_S ? wait : MAX_BACKOFF_S);
        return false;
    }
    log_warn("the log of game session %s was not sent: %s", q->game_session,
             rally_server_message(s));
    return true;
}

struct old_file {
    char name[128];
    time_t mtime;
    off_t size;
};

static int by_age(const void *a, const void *b)
{
    time_t x = ((const struct old_file *)a)->mtime, y = ((const struct old_file *)b)->mtime;
    return (x > y) - (x < y);
}

/* The files of ended processes past their days go, then the oldest of
 * them while the directory holds more than its cap. A file of a running
 * process (an entry: launched, adopted or seen) is never removed, nor is
 * one that waits to be sent. */
static void prune(struct agent_logs *l)
{
    DIR *d = opendir(l->dir);
    if (d == NULL)
        return;
    struct old_file *old = NULL;
    size_t n = 0, cap = 0;
    double total = 0;
    time_t now = time(NULL);
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        size_t len = strlen(de->d_name);
        struct stat st;
        /* A session or metrics socket file of a process that ended (while
         * no agent ran, or without removing its socket). */
        static const char *const extra[] = {".session", ".sidecar.metrics.sock", ".metrics.sock"};
        bool done = false;
        for (int x = 0; x < 3 && !done; x++) {
            size_t xl = strlen(extra[x]);
            if (len > xl && len < sizeof(old->name) &&
                strcmp(de->d_name + len - xl, extra[x]) == 0) {
                char id[128];
                snprintf(id, sizeof(id), "%.*s", (int)(len - xl), de->d_name);
                if (find(l, id, false) == NULL)
                    unlinkat(dirfd(d), de->d_name, 0);
                done = true;
            }
        }
        if (done)
            continue;
        if (len < 5 || len >= sizeof(old->name) || strcmp(de->d_name + len - 4, ".log") != 0 ||
            fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        total += (double)st.st_size;
        char id[128];
        snprintf(id, sizeof(id), "%.*s", (int)(len - 4), de->d_name);
        if (find(l, id, false) != NULL || has_pending(l, id))
            continue;
        if ((double)(now - st.st_mtime) > l->days * 86400) {
            unlinkat(dirfd(d), de->d_name, 0);
            total -= (double)st.st_size;
            continue;
        }
        if (n == cap) {
            size_t grown_cap = cap ? cap * 2 : 64;
            struct old_file *grown = realloc(old, grown_cap * sizeof(*grown));
            if (grown == NULL)
                break;
            old = grown;
            cap = grown_cap;
        }
        memcpy(old[n].name, de->d_name, len + 1); /* len < sizeof name: checked above */
        old[n].mtime = st.st_mtime;
        old[n++].size = st.st_size;
    }
    if (total > l->dir_cap && n > 0) {
        qsort(old, n, sizeof(*old), by_age);
        for (size_t i = 0; i < n && total > l->dir_cap; i++) {
            unlinkat(dirfd(d), old[i].name, 0);
            total -= (double)old[i].size;
        }
    }
    free(old);
    closedir(d);
}

void logs_send(struct agent_logs *l, rally_server *s, double now)
{
    size_t i = 0;
    for (int sends = 0; i < l->np && sends < SENDS_PER_CALL;) {
        struct pending *q = &l->p[i];
        if (q->next_try > now) {
            i++;
            continue;
        }
        sends++;
        if (!send_one(l, s, q, now)) {
            i++;
            continue;
        }
        l->p[i] = l->p[--l->np];
    }
    if (l->adopted && now >= l->next_prune) {
        prune(l);
        l->next_prune = now + 60;
    }
}

void logs_flush(struct agent_logs *l, rally_server *s, double seconds)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        double elapsed = (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
        if (l->np == 0 || elapsed >= seconds)
            break;
        for (size_t i = 0; i < l->np; i++)
            l->p[i].next_try = 0; /* no backoff now: this is the last chance */
        size_t before = l->np;
        logs_send(l, s, 0);
        if (l->np == before) { /* none done: wait a little before the next round */
            struct timespec nap = {0, 500 * 1000 * 1000};
            nanosleep(&nap, NULL);
        }
    }
    if (l->np > 0)
        log_warn("%zu game-session log(s) not sent before stopping", l->np);
}
