/* The agent's metrics (agent_metrics.h). */
#include "agent_metrics.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "child_metrics.h"
#include "logs.h"
#include "metrics.h"
#include "metrics_auth.h"
#include "metrics_http.h"
#include "procstat.h"

/* A crash loop: this many quick exits in a row. */
#define CRASH_LOOP_FAILURES 3

struct seen {
    char process_id[64];
    char launch_path[256];
    pid_t pid;
    bool ready, hosting;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct seen *seen; /* the last round's running processes, under lock */
static size_t nseen, capseen;
static int crash_looping;
static char fleet[128], location[128];
static const struct agent_logs
    *logs; /* where processes serve their metrics (borrowed; NULL: none) */

static struct metric *launches, *exits, *kills, *quick_exits;
static unsigned last_launches, last_exits, last_kills, last_quick;

static void process_labels(char *buf, size_t size, const struct seen *p)
{
    metrics_labels(buf, size, "fleet", fleet, "location", location, "process_id", p->process_id,
                   "launch_path", p->launch_path, METRIC_END);
}

/* Each running process's CPU, memory and uptime, read from /proc now. */
static void collect(struct metrics_text *out, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    char labels[640];
    metrics_labels(labels, sizeof(labels), "fleet", fleet, "location", location, METRIC_END);
    metrics_write_family(out, "rally_agent_crash_looping_slots", METRIC_GAUGE,
                         "Slots whose process exited quickly at least 3 times in a row.");
    metrics_write_sample(out, "rally_agent_crash_looping_slots", labels, crash_looping);
    struct {
        const char *name, *help;
        enum metric_type type;
    } fams[] = {
        {"rally_gameserver_cpu_seconds_total", "A game-server process's CPU time, in seconds.",
         METRIC_COUNTER},
        {"rally_gameserver_resident_memory_bytes", "A game-server process's resident memory.",
         METRIC_GAUGE},
        {"rally_gameserver_uptime_seconds", "Seconds since a game-server process started.",
         METRIC_GAUGE},
        {"rally_gameserver_hosting", "1 while a game-server process hosts a game session.",
         METRIC_GAUGE},
    };
    struct procstat *st = calloc(nseen + 1, sizeof(*st));
    bool *alive = calloc(nseen + 1, sizeof(*alive));
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    for (size_t i = 0; st != NULL && alive != NULL && i < nseen; i++)
        alive[i] = procstat_read(seen[i].pid, &st[i]) == 0;
    for (int f = 0; f < 4 && st != NULL && alive != NULL; f++) {
        metrics_write_family(out, fams[f].name, fams[f].type, fams[f].help);
        for (size_t i = 0; i < nseen; i++) {
            if (!alive[i])
                continue;
            process_labels(labels, sizeof(labels), &seen[i]);
            double v = f == 0   ? st[i].cpu_seconds
                       : f == 1 ? st[i].rss_bytes
                       : f == 2 ? (double)wall.tv_sec - st[i].start_time
                                : (double)seen[i].hosting;
            metrics_write_sample(out, fams[f].name, labels, v);
        }
    }
    free(st);
    free(alive);
    /* The processes' own metrics, fetched with the lock released: a slow
     * process holds up this scrape, never the agent's loop. */
    size_t n = nseen;
    char(*ids)[64] = logs != NULL && n > 0 ? calloc(n, sizeof(*ids)) : NULL;
    for (size_t i = 0; ids != NULL && i < n; i++)
        memcpy(ids[i], seen[i].process_id, sizeof(ids[i]));
    pthread_mutex_unlock(&lock);
    struct merged merged = {0};
    for (size_t i = 0; ids != NULL && i < n; i++) {
        metrics_labels(labels, sizeof(labels), "fleet", fleet, "location", location, "process_id",
                       ids[i], METRIC_END);
        for (int kind = 0; kind < 2; kind++) { /* the process's own, its sidecar's */
            char path[4096];
            if (kind == 0)
                logs_metrics_socket(logs, ids[i], path, sizeof(path));
            else
                logs_sidecar_metrics_socket(logs, ids[i], path, sizeof(path));
            char *text = child_metrics_fetch(path, metrics_token());
            if (text != NULL)
                merged_add(&merged, text, labels);
            free(text);
        }
    }
    merged_write(&merged, out);
    merged_free(&merged);
    free(ids);
}

static struct metric *counter(const char *name, const char *help)
{
    return metric_series(metric_family(name, METRIC_COUNTER, help), "fleet", fleet, "location",
                         location, METRIC_END);
}

int agent_metrics_start(const char *addr, const char *fleet_id, const char *loc,
                        const struct agent_logs *process_logs)
{
    logs = process_logs;
    if (metrics_setup(1) < 0)
        return -1;
    if (!metrics_enabled())
        return 0;
    snprintf(fleet, sizeof(fleet), "%s", fleet_id);
    snprintf(location, sizeof(location), "%s", loc);
    launches = counter("rally_agent_launches_total", "Game-server processes launched.");
    exits = counter("rally_agent_exits_total", "Game-server processes that ended.");
    kills = counter("rally_agent_kills_total",
                    "Game-server processes the agent ended (no ProcessReady in time, or rally "
                    "ended them).");
    quick_exits = counter("rally_agent_quick_exits_total",
                          "Processes that ended within 10 s of launch without ProcessReady: their "
                          "relaunch backs off.");
    metrics_add_collector(collect, NULL);
    return metrics_http_start(addr);
}

void agent_metrics_update(const struct slots *t)
{
    if (!metrics_enabled())
        return;
    metric_add(launches, t->launches - last_launches);
    metric_add(exits, t->exits - last_exits);
    metric_add(kills, t->kills - last_kills);
    metric_add(quick_exits, t->quick_exits - last_quick);
    last_launches = t->launches;
    last_exits = t->exits;
    last_kills = t->kills;
    last_quick = t->quick_exits;
    pthread_mutex_lock(&lock);
    if (capseen < t->n) {
        struct seen *grown = realloc(seen, t->n * sizeof(*grown));
        if (grown != NULL) {
            seen = grown;
            capseen = t->n;
        }
    }
    nseen = 0;
    crash_looping = 0;
    for (size_t i = 0; i < t->n; i++) {
        const struct slot *s = &t->s[i];
        crash_looping += s->wanted && s->failures >= CRASH_LOOP_FAILURES;
        if (s->pid <= 0 || nseen == capseen)
            continue;
        struct seen *p = &seen[nseen++];
        snprintf(p->process_id, sizeof(p->process_id), "%s", s->process_id);
        snprintf(p->launch_path, sizeof(p->launch_path), "%s", s->launch_path);
        p->pid = s->pid;
        p->ready = s->ready;
        p->hosting = s->hosting;
    }
    pthread_mutex_unlock(&lock);
}

void agent_metrics_stop(void)
{
    metrics_http_stop();
    pthread_mutex_lock(&lock);
    free(seen);
    seen = NULL;
    nseen = capseen = 0;
    pthread_mutex_unlock(&lock);
}
