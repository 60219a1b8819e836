#include "slots.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* A process that exits sooner than this after its launch, without having
 * called ProcessReady, failed: the next launch waits (backoff). */
#define QUICK_EXIT_S 10.0
#define BACKOFF_MAX_S 60.0
/* How long a process rally ended may take to go by itself. */
#define ENDED_GRACE_S 30.0
#define MAX_ARGS 64

struct slots *slots_new(const char *game_dir, char *const *env, double ready_timeout)
{
    struct slots *t = calloc(1, sizeof(*t));
    size_t n = 0;
    while (env[n] != NULL)
        n++;
    if (t == NULL || (t->env = calloc(n + 8, sizeof(char *))) == NULL ||
        (t->game_dir = strdup(game_dir)) == NULL) {
        slots_free(t);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if ((t->env[i] = strdup(env[i])) == NULL) {
            slots_free(t);
            return NULL;
        }
    t->ready_timeout = ready_timeout;
    return t;
}

void slots_free(struct slots *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->s[i].launch_path);
        free(t->s[i].parameters);
        if (t->s[i].side.listen_fd >= 0) /* the sidecars run on, as their processes do */
            close(t->s[i].side.listen_fd);
    }
    for (size_t i = 0; t->env != NULL && t->env[i] != NULL; i++)
        free(t->env[i]);
    free(t->env);
    free(t->s);
    free(t->gone);
    free(t->state_path);
    free(t->game_dir);
    free(t);
}

static struct slot *find(struct slots *t, const char *path, const char *params, int index)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->s[i].wanted && t->s[i].index == index && strcmp(t->s[i].launch_path, path) == 0 &&
            strcmp(t->s[i].parameters, params) == 0)
            return &t->s[i];
    return NULL;
}

/* The lowest port of the range no slot holds; 0 when none is left. */
static int free_port(const struct slots *t)
{
    for (int port = t->first_port; port > 0 && port <= t->last_port; port++) {
        bool held = false;
        for (size_t i = 0; i < t->n && !held; i++)
            held = t->s[i].port == port;
        if (!held)
            return port;
    }
    return 0;
}

static void add(struct slots *t, const struct fm_server_process *p, int index, double now)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct slot *s = realloc(t->s, cap * sizeof(*s));
        if (s == NULL)
            log_fatal("out of memory for %zu slots", cap);
        t->s = s;
        t->cap = cap;
    }
    struct slot *s = &t->s[t->n];
    *s = (struct slot){.launch_path = strdup(p->launch_path),
                       .parameters = strdup(p->parameters),
                       .index = index,
                       .wanted = true,
                       .next_launch = now,
                       .side = SIDECAR_NONE};
    if (s->launch_path == NULL || s->parameters == NULL)
        log_fatal("out of memory for a slot");
    t->n++;
}

/* Asks the process to end: SIGTERM (once), SIGKILL after `grace`, or
 * sooner when an earlier call gave a shorter one. */
static void end(struct slot *s, double grace, double now, const char *why)
{
    if (s->pid <= 0 || s->killed)
        return;
    if (!s->termed) {
        log_info("ending process %s (pid %d): %s", s->process_id, (int)s->pid, why);
        kill(s->pid, SIGTERM);
        s->termed = true;
    }
    if (s->kill_at == 0 || now + grace < s->kill_at)
        s->kill_at = now + grace;
}

/* SIGKILL, once. */
static void kill_now(struct slots *t, struct slot *s)
{
    if (s->pid <= 0 || s->killed)
        return;
    kill(s->pid, SIGKILL);
    s->killed = true;
    t->kills++;
}

void slots_configure(struct slots *t, const struct fm_runtime *rt, double now)
{
    bool *keep = calloc(t->n + 1, sizeof(*keep));
    if (keep == NULL)
        log_fatal("out of memory");
    for (size_t i = 0; i < rt->nprocs; i++)
        for (int k = 0; k < rt->procs[i].concurrent; k++) {
            struct slot *s = find(t, rt->procs[i].launch_path, rt->procs[i].parameters, k);
            if (s != NULL)
                keep[s - t->s] = true;
        }
    size_t before = t->n;
    for (size_t i = 0; i < before; i++)
        if (t->s[i].wanted && !keep[i]) {
            t->s[i].wanted = false;
            if (!t->s[i].hosting)
                end(&t->s[i], ENDED_GRACE_S, now, "no longer in the runtime configuration");
        }
    free(keep);
    t->sidecar = rt->sidecar;
    for (size_t i = 0; i < rt->nprocs; i++)
        for (int k = 0; k < rt->procs[i].concurrent; k++)
            if (find(t, rt->procs[i].launch_path, rt->procs[i].parameters, k) == NULL)
                add(t, &rt->procs[i], k, now);
}

/* argv from the launch path and its parameters split on spaces (no shell,
 * no quoting: GameLift's Parameters are plain words). */
static int build_argv(const struct slots *t, const struct slot *s, char *path, size_t cap,
                      char *words, char **argv)
{
    const char *lp = s->launch_path;
    if (strncmp(lp, "/local/game/", 12) == 0) /* GameLift's install root */
        lp += 12;
    int n = lp[0] == '/' ? snprintf(path, cap, "%s", lp)
                         : snprintf(path, cap, "%s/%s", t->game_dir, lp);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    int argc = 0;
    argv[argc++] = path;
    for (char *w = strtok(words, " \t"); w != NULL && argc < MAX_ARGS; w = strtok(NULL, " \t"))
        argv[argc++] = w;
    argv[argc] = NULL;
    return 0;
}

/* What start_time() answers when /proc could not be read for another
 * reason than the process being gone (no descriptor left, ...). */
#define START_UNKNOWN ULLONG_MAX

/* The start time of pid (field 22 of /proc/PID/stat), 0 when it is gone
 * or a zombie. */
static unsigned long long start_time(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return errno == ENOENT || errno == ESRCH ? 0 : START_UNKNOWN;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ' || p[2] == 'Z')
        return 0;
    p += 2; /* at field 3, the state */
    for (int field = 3; field < 22 && p != NULL; field++) {
        p = strchr(p, ' ');
        if (p != NULL)
            p++;
    }
    return p != NULL ? strtoull(p, NULL, 10) : 0;
}

/* RALLY_METRICS_LISTEN of s's sidecar (child_metrics.h), or NULL. The
 * string lives until the next call. */
static const char *sidecar_metrics_env(const struct slots *t, const struct slot *s)
{
    static char env[4200];
    if (t->logs == NULL)
        return NULL;
    char sock[4096];
    logs_sidecar_metrics_socket(t->logs, s->process_id, sock, sizeof(sock));
    snprintf(env, sizeof(env), "RALLY_METRICS_LISTEN=%s", sock);
    return env;
}

static void launch(struct slots *t, struct slot *s, double now)
{
    char path[4096], words[1025], id[37];
    char *argv[MAX_ARGS + 1];
    snprintf(words, sizeof(words), "%s", s->parameters);
    if (build_argv(t, s, path, sizeof(path), words, argv) < 0) {
        log_error("launch path %s is too long", s->launch_path);
        s->next_launch = now + BACKOFF_MAX_S;
        return;
    }
    util_uuid(id);
    snprintf(s->process_id, sizeof(s->process_id), "process-%s", id);
    size_t n = 0;
    while (t->env[n] != NULL)
        n++;
    char env_id[96], env_port[32], env_token[4096], env_side_url[64], env_side_key[96];
    char env_metrics[4200];
    if (t->sidecar.enabled && t->sidecar_bin != NULL) {
        if (sidecar_open(&s->side) < 0) {
            s->next_launch = now + 1;
            return;
        }
        sidecar_env(&s->side, env_side_url, env_side_key);
    }
    snprintf(env_id, sizeof(env_id), "GAMELIFT_SDK_PROCESS_ID=%s", s->process_id);
    snprintf(env_port, sizeof(env_port), "RALLY_PORT=%d", s->port);
    snprintf(env_token, sizeof(env_token), "GAMELIFT_SDK_AUTH_TOKEN=%s",
             t->sdk_token != NULL ? t->sdk_token : "");
    /* For the child only: taken off below. */
    size_t k = n;
    t->env[k++] = env_id;
    if (t->sdk_token != NULL)
        t->env[k++] = env_token;
    if (s->port > 0)
        t->env[k++] = env_port;
    if (s->side.listen_fd >= 0) {
        t->env[k++] = env_side_url;
        t->env[k++] = env_side_key;
    }
    if (t->logs != NULL) { /* where it may serve its metrics (child_metrics.h) */
        char sock[4096];
        logs_metrics_socket(t->logs, s->process_id, sock, sizeof(sock));
        snprintf(env_metrics, sizeof(env_metrics), "RALLY_METRICS_LISTEN=%s", sock);
        t->env[k++] = env_metrics;
    }
    t->env[k] = NULL;
    int out = t->logs != NULL ? logs_open(t->logs, s->process_id) : -1;
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);  /* its own group: it outlives the agent */
        if (out >= 0) { /* its stdout and stderr: its log file (logs.h) */
            dup2(out, STDOUT_FILENO);
            dup2(out, STDERR_FILENO);
        }
        /* Nothing of the agent's: its descriptors (libcurl's connection
         * among them), its ignored signals, its mask. */
        close_range(3, ~0U, 0);
        for (int sig = 1; sig < NSIG; sig++)
            signal(sig, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(path, argv, t->env);
        static const char msg[] = "rally-agent: cannot run the launch path\n";
        ssize_t rc = write(STDERR_FILENO, msg, sizeof(msg) - 1);
        (void)rc;
        _exit(127);
    }
    for (size_t i = n; i < k; i++)
        t->env[i] = NULL;
    if (out >= 0)
        close(out);
    if (pid < 0) {
        log_error("cannot launch %s: %s", path, strerror(errno));
        sidecar_close(&s->side);
        s->next_launch = now + 1;
        return;
    }
    if (s->side.listen_fd >= 0)
        sidecar_launch(&s->side, t->sidecar_bin, t->env, sidecar_metrics_env(t, s), &t->sidecar,
                       pid, s->process_id, now);
    s->pid = pid;
    s->start_time = start_time(pid);
    s->adopted = false;
    t->dirty = true;
    s->started = now;
    s->ready = s->hosting = s->ended = s->termed = s->killed = false;
    s->kill_at = 0;
    t->launches++;
    log_info("launched %s as process %s (pid %d)", path, s->process_id, (int)pid);
}

/* The slot of a child of ours (an adopted process is not one, and its
 * pid may have been reused by one). */
static struct slot *by_pid(struct slots *t, pid_t pid)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->s[i].pid == pid && !t->s[i].adopted)
            return &t->s[i];
    return NULL;
}

/* A process exited: when the slot relaunches, after what backoff. */
static void exited(struct slots *t, struct slot *s, int status, double now)
{
    bool quick = !s->ready && now - s->started < QUICK_EXIT_S;
    s->failures = quick ? s->failures + 1 : 0;
    t->quick_exits += quick;
    double wait = 0;
    if (s->failures > 0) {
        wait = 1;
        for (int i = 1; i < s->failures && wait < BACKOFF_MAX_S; i++)
            wait *= 2;
        wait = wait < BACKOFF_MAX_S ? wait : BACKOFF_MAX_S;
    }
    s->next_launch = now + wait;
    t->exits++;
    /* Unless rally ended it, rally may have it ready (it may have called
     * ProcessReady since the last look): it is told. */
    if (!s->ended) {
        if (t->ngone == t->capgone) {
            size_t cap = t->capgone ? t->capgone * 2 : 16;
            char(*g)[64] = realloc(t->gone, cap * sizeof(*g));
            if (g == NULL)
                log_fatal("out of memory");
            t->gone = g;
            t->capgone = cap;
        }
        memcpy(t->gone[t->ngone++], s->process_id, sizeof(s->process_id));
    }
    t->dirty = true;
    if (s->adopted)
        log_info("process %s (pid %d, an earlier agent's) is gone", s->process_id, (int)s->pid);
    else if (WIFSIGNALED(status))
        log_info("process %s (pid %d) killed by signal %d%s", s->process_id, (int)s->pid,
                 WTERMSIG(status), quick ? "; relaunch backs off" : "");
    else
        log_info("process %s (pid %d) exited with %d%s", s->process_id, (int)s->pid,
                 WEXITSTATUS(status), quick ? "; relaunch backs off" : "");
    if (t->logs != NULL)
        logs_ended(t->logs, s->process_id);
    s->pid = 0;
    s->ready = s->hosting = s->ended = s->adopted = s->termed = s->killed = false;
    s->kill_at = 0;
    sidecar_close(&s->side); /* it writes out what it holds, then ends */
}

/* A sidecar of ours ended: relaunched (by slots_run) while its process runs. */
static void sidecar_exited(struct slots *t, pid_t pid, int status)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->s[i].side.pid == pid) {
            t->s[i].side.pid = 0;
            log_warn("the sidecar of process %s (pid %d) %s %d; it is launched again",
                     t->s[i].process_id, (int)pid,
                     WIFSIGNALED(status) ? "was killed by signal" : "exited with",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            return;
        }
}

void slots_run(struct slots *t, double now, bool draining)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct slot *s = by_pid(t, pid);
        if (s != NULL)
            exited(t, s, status, now);
        else
            sidecar_exited(t, pid, status);
    }
    /* An earlier agent's processes are not our children: /proc says. */
    for (size_t i = 0; i < t->n; i++) {
        unsigned long long st = t->s[i].adopted && t->s[i].pid > 0 ? start_time(t->s[i].pid) : 0;
        if (t->s[i].adopted && t->s[i].pid > 0 && st != START_UNKNOWN && st != t->s[i].start_time)
            exited(t, &t->s[i], 0, now);
    }
    for (size_t i = 0; i < t->n; i++) {
        struct slot *s = &t->s[i];
        if (s->pid > 0 && s->side.listen_fd >= 0 && s->side.pid == 0 && now >= s->side.launched + 1)
            sidecar_launch(&s->side, t->sidecar_bin, t->env, sidecar_metrics_env(t, s), &t->sidecar,
                           s->pid, s->process_id, now);
        if (s->pid > 0 && !s->killed && s->kill_at > 0 && now >= s->kill_at) {
            log_warn("process %s (pid %d) did not end in time: SIGKILL", s->process_id,
                     (int)s->pid);
            kill_now(t, s);
        } else if (s->pid > 0 && !s->ready && !s->killed && s->kill_at == 0 &&
                   now - s->started > t->ready_timeout) {
            log_warn("process %s (pid %d) did not call ProcessReady within %.0f s: SIGKILL",
                     s->process_id, (int)s->pid, t->ready_timeout);
            kill_now(t, s);
        } else if (s->pid == 0 && s->wanted && !draining && now >= s->next_launch) {
            if (t->first_port > 0 && s->port == 0)
                s->port = free_port(t); /* one freed by a slot gone since */
            if (t->first_port == 0 || s->port > 0) {
                launch(t, s, now);
            } else if (!s->port_wanted) {
                log_error("no port left in %d-%d for another process of %s: it waits for one",
                          t->first_port, t->last_port, s->launch_path);
                s->port_wanted = true;
            }
        }
    }
    /* Slots no longer wanted, their process gone: dropped. */
    size_t w = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (!t->s[i].wanted && t->s[i].pid == 0) {
            free(t->s[i].launch_path);
            free(t->s[i].parameters);
            continue;
        }
        t->s[w++] = t->s[i];
    }
    t->n = w;
}

void slots_observe(struct slots *t, const char *process_id, const char *status, const char *reason,
                   bool hosting, double now)
{
    for (size_t i = 0; i < t->n; i++) {
        struct slot *s = &t->s[i];
        if (s->pid <= 0 || strcmp(s->process_id, process_id) != 0)
            continue;
        if (strcmp(status, "ACTIVE") == 0) {
            s->ready = true;
            s->hosting = hosting;
            if (!hosting && !s->wanted)
                end(s, ENDED_GRACE_S, now, "it hosts nothing, and its slot is gone");
        } else if (reason != NULL && strcmp(reason, "FORCE_TERMINATED") == 0) {
            s->ready = s->ended = true;
            if (!s->killed)
                log_info("process %s (pid %d): FORCE_TERMINATE", s->process_id, (int)s->pid);
            kill_now(t, s);
        } else if (reason != NULL && strcmp(reason, "PROCESS_ENDING") == 0) {
            /* It said it is ending: it has the grace to go by itself. */
            s->ready = s->ended = true;
            if (s->kill_at == 0)
                s->kill_at = now + ENDED_GRACE_S;
        } else {
            s->ready = s->ended = true; /* rally ended it (a lost heartbeat, ...): ask it to go */
            end(s, ENDED_GRACE_S, now, reason != NULL ? reason : "ended by rally");
        }
        return;
    }
}

void slots_end(struct slots *t, bool all, double grace, double now)
{
    for (size_t i = 0; i < t->n; i++)
        if (all || !t->s[i].hosting)
            end(&t->s[i], grace, now, all ? "the agent is stopping" : "the agent is draining");
}

size_t slots_running(const struct slots *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        n += t->s[i].pid > 0;
    return n;
}

void slots_save(struct slots *t)
{
    if (t->state_path == NULL || !t->dirty)
        return;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", t->state_path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        log_warn("cannot write %s: %s", tmp, strerror(errno));
        return;
    }
    for (size_t i = 0; i < t->n; i++) {
        const struct slot *s = &t->s[i];
        if (s->pid > 0)
            fprintf(f, "%d\t%llu\t%d\t%s\t%d\t%s\t%s\n", (int)s->pid, s->start_time, s->port,
                    s->process_id, s->index, s->launch_path, s->parameters);
    }
    if (fclose(f) != 0 || rename(tmp, t->state_path) != 0) {
        log_warn("cannot write %s: %s", t->state_path, strerror(errno));
        return;
    }
    t->dirty = false;
}

/* Moves port `port` to slot s, from whichever other slot holds it (none of
 * them runs anything yet: adoption comes before the first launch). */
static void take_port(struct slots *t, struct slot *s, int port)
{
    for (size_t i = 0; i < t->n; i++)
        if (&t->s[i] != s && t->s[i].port == port) {
            t->s[i].port = s->port;
            break;
        }
    s->port = port;
}

void slots_adopt(struct slots *t, double now)
{
    FILE *f = t->state_path != NULL ? fopen(t->state_path, "r") : NULL;
    if (f == NULL)
        return;
    char line[3200];
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        const char *field[7] = {NULL};
        char *save = NULL;
        int n = 0;
        for (char *p = strtok_r(line, "\t", &save); p != NULL && n < 7;
             p = strtok_r(NULL, "\t", &save))
            field[n++] = p;
        if (n == 6)
            field[n++] = ""; /* no parameters */
        pid_t pid = n == 7 ? (pid_t)strtol(field[0], NULL, 10) : 0;
        unsigned long long started = n == 7 ? strtoull(field[1], NULL, 10) : 0;
        if (pid <= 0 || started == 0 || started == START_UNKNOWN || start_time(pid) != started ||
            strlen(field[3]) >= sizeof(t->s[0].process_id))
            continue; /* gone, or another process has its pid now */
        struct fm_server_process p = {.launch_path = field[5], .parameters = field[6]};
        int index = (int)strtol(field[4], NULL, 10);
        struct slot *s = find(t, p.launch_path, p.parameters, index);
        if (s == NULL || s->pid != 0) {
            add(t, &p, index, now); /* not in the configuration any more */
            s = &t->s[t->n - 1];
            s->wanted = false;
        }
        s->pid = pid;
        s->start_time = started;
        s->adopted = true;
        s->started = now;
        s->ready = false; /* rally says within a second; the ready timeout runs from now */
        snprintf(s->process_id, sizeof(s->process_id), "%s", field[3]);
        take_port(t, s, (int)strtol(field[2], NULL, 10));
        log_info("adopted process %s (pid %d) from an earlier agent", s->process_id, (int)pid);
        if (t->logs != NULL)
            logs_adopt(t->logs, s->process_id);
    }
    fclose(f);
    t->dirty = true;
}
