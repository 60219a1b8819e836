/*
 * rally-agent: keeps a fleet's game-server processes running on one host,
 * as GameLift's agent does on an Anywhere compute (docs/agent.md).
 *
  *   rally-agent --fleet ID --location LOCATION [--url URL] [--compute NAME]
 *               [--ip ADDRESS] [--ports FIRST-LAST] [--game-dir DIR]
 *               [--ready-timeout S] [--drain-seconds S] [--config-seconds S]
 *               [--state-dir DIR] [--sdk-url WS-URL] [--sidecar PATH]
 *               [--metrics SOCKET-PATH|HOST:PORT] [--log-dir DIR] [--log-max-bytes N]
 *               [--log-days D] [--log-dir-max-bytes N]
 *
 * It registers its compute (--compute, the host name by default, in
 * --location at --ip), reads the fleet's RuntimeConfiguration from rally (and again every
 * --config-seconds, so a change needs no restart), runs its ServerProcesses
 * (slots.h), asks rally every second which of them are ready, hosting or
 * ended (FORCE_TERMINATE: killed), and ends one that has not called
 * ProcessReady within --ready-timeout (60 s). With --state-dir, the
 * processes it runs are written down there (<compute>.state), and an
 * agent started again after a crash takes them over instead of launching
 * a second set (slots_adopt). SIGTERM or SIGINT: drains
 * (nothing new is launched, idle processes end, those hosting a game
 * session get --drain-seconds, 300, to finish), then exits.
 *
 * Credentials: the fleet secret from the file RALLY_FLEET_SECRET_FILE
  * names, which its processes find in the same variable. Each process gets
 * RALLY_URL, RALLY_LOCATION, RALLY_IP_ADDRESS (the compute's address,
 * --ip, 127.0.0.1), GAMELIFT_SDK_FLEET_ID, GAMELIFT_SDK_HOST_ID (the
 * compute), GAMELIFT_SDK_PROCESS_ID (its own id), for GameLift's server SDK
 * 5 GAMELIFT_SDK_WEBSOCKET_URL (--sdk-url; by default --url's
 * /v1/fleet/sdk5, ws: for http:, wss: for https:) and
 * GAMELIFT_SDK_AUTH_TOKEN (a fresh SDK 5 token of the fleet), and with
 * --ports a RALLY_PORT of its own from that range (one a firewall or docker
 * can publish), in its environment, never on its command line. When the
 * RuntimeConfiguration has a "Sidecar", each process gets a rally-sidecar
 * (--sidecar, by default the one beside the agent's executable) and
 * RALLY_SIDECAR_URL and RALLY_SIDECAR_KEY to call it (sidecar.h).
 *
 * Each process's stdout and stderr go to a file in --log-dir (by default
 * <compute>.logs in --state-dir; neither: the agent's own), and what it wrote
 * while hosting a game session is sent to rally as that game session's log,
 * its last --log-max-bytes (1 MiB); the files stay --log-days (14), the
 * oldest going first while the directory holds more than
 * --log-dir-max-bytes (1 GiB) (logs.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "agent_metrics.h"
#include "log.h"
#include "rally.h"
#include "rally_server.h"
#include "runtime.h"
#include "slots.h"

extern char **environ;

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void on_child(int sig)
{
    (void)sig; /* only to cut the sleep short */
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct options {
    const char *url, *fleet, *location, *compute, *game_dir, *ip, *state_dir, *sdk_url, *sidecar;
    const char *metrics; /* where its metrics are served (agent_metrics.h); NULL: nowhere */
    const char *log_dir; /* the processes' output (logs.h); NULL: the agent's own */
    long log_max;
    double log_days, log_dir_max;
    int first_port, last_port;
    double ready_timeout, drain_s, config_s;
};

static int usage(void)
{
    fprintf(stderr, "usage: rally-agent --fleet ID --location LOCATION [--url URL] "
                    "[--compute NAME] [--ip ADDRESS] [--ports FIRST-LAST] [--game-dir DIR] "
                    "[--ready-timeout S] [--drain-seconds S] [--state-dir DIR] "
                    "[--config-seconds S] [--sdk-url WS-URL] [--sidecar PATH] "
                    "[--metrics SOCKET-PATH|HOST:PORT] [--log-dir DIR] [--log-max-bytes N] "
                    "[--log-days D] [--log-dir-max-bytes N]\n"
                    "  the fleet secret is read from the file RALLY_FLEET_SECRET_FILE names\n");
    return 2;
}

static bool seconds(const char *v, double lo, double hi, double *out)
{
    char *end = NULL;
    double d = strtod(v, &end);
    if (end == v || *end != '\0' || !(d >= lo && d <= hi))
        return false;
    *out = d;
    return true;
}

/* "FIRST-LAST", 1 <= FIRST <= LAST <= 60000. */
static bool ports(const char *v, int *first, int *last)
{
    char *dash = NULL, *end = NULL;
    long a = strtol(v, &dash, 10);
    if (dash == v || *dash != '-')
        return false;
    long b = strtol(dash + 1, &end, 10);
    if (end == dash + 1 || *end != '\0' || a < 1 || a > b || b > 60000)
        return false;
    *first = (int)a;
    *last = (int)b;
    return true;
}

static int parse(int argc, char **argv, struct options *o)
{
    static char host[256];
    if (gethostname(host, sizeof(host) - 1) != 0)
        snprintf(host, sizeof(host), "localhost");
    *o = (struct options){.url = "http://127.0.0.1:8080",
                          .compute = host,
                          .game_dir = ".",
                          .ip = "127.0.0.1",
                          .ready_timeout = 60,
                          .drain_s = 300,
                          .config_s = 10,
                          .log_max = 1024 * 1024,
                          .log_days = 14,
                          .log_dir_max = 1024.0 * 1024 * 1024};
    bool ok = true;
    for (int i = 1; i < argc && ok; i += 2) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            return -1;
        if (strcmp(k, "--url") == 0)
            o->url = v;
        else if (strcmp(k, "--fleet") == 0)
            o->fleet = v;
        else if (strcmp(k, "--location") == 0)
            o->location = v;
        else if (strcmp(k, "--compute") == 0)
            o->compute = v;
        else if (strcmp(k, "--game-dir") == 0)
            o->game_dir = v;
        else if (strcmp(k, "--ip") == 0)
            o->ip = v;
        else if (strcmp(k, "--state-dir") == 0)
            o->state_dir = v;
        else if (strcmp(k, "--sidecar") == 0)
            o->sidecar = v;
        else if (strcmp(k, "--metrics") == 0)
            o->metrics = v;
        else if (strcmp(k, "--log-dir") == 0)
            o->log_dir = v;
        else if (strcmp(k, "--log-max-bytes") == 0) {
            double n = 0;
            ok = seconds(v, 1024, 1024 * 1024, &n); /* a whole number in range */
            o->log_max = (long)n;
        } else if (strcmp(k, "--log-days") == 0)
            ok = seconds(v, 0.01, 3650, &o->log_days);
        else if (strcmp(k, "--log-dir-max-bytes") == 0)
            ok = seconds(v, 1024 * 1024, 1e15, &o->log_dir_max);
        else if (strcmp(k, "--sdk-url") == 0) {
            o->sdk_url = v;
            ok = strncmp(v, "ws://", 5) == 0 || strncmp(v, "wss://", 6) == 0;
        } else if (strcmp(k, "--ports") == 0)
            ok = ports(v, &o->first_port, &o->last_port);
        else if (strcmp(k, "--ready-timeout") == 0)
            ok = seconds(v, 1, 3600, &o->ready_timeout);
        else if (strcmp(k, "--drain-seconds") == 0)
            ok = seconds(v, 0, 86400, &o->drain_s);
        else if (strcmp(k, "--config-seconds") == 0)
            ok = seconds(v, 0.2, 3600, &o->config_s);
        else
            ok = false;
    }
    if (ok && o->sdk_url == NULL) { /* rally's own, through the same nginx */
        static char sdk_url[2048];
        bool tls = strncmp(o->url, "https://", 8) == 0;
        if (!tls && strncmp(o->url, "http://", 7) != 0)
            return -1;
        const char *rest = o->url + (tls ? 8 : 7);
        size_t len = strlen(rest);
        while (len > 0 && rest[len - 1] == '/')
            len--;
        snprintf(sdk_url, sizeof(sdk_url), "%s://%.*s/v1/fleet/sdk5", tls ? "wss" : "ws", (int)len,
                 rest);
        o->sdk_url = sdk_url;
    }
    if (ok && o->log_dir == NULL && o->state_dir != NULL) {
        /* One directory per compute: agents may share a state directory,
         * and each prunes what it does not run in its own. */
        static char logs[4096];
        snprintf(logs, sizeof(logs), "%s/%s.logs", o->state_dir, o->compute);
        o->log_dir = logs;
    }
    if (ok && o->sidecar == NULL) { /* beside the agent's own executable */
        static char beside[4096];
        ssize_t n = readlink("/proc/self/exe", beside, sizeof(beside) - 32);
        char *slash = n > 0 ? memrchr(beside, '/', (size_t)n) : NULL;
        if (slash != NULL) {
            snprintf(slash, 32, "/rally-sidecar");
            o->sidecar = beside;
        }
    }
    return ok && o->fleet != NULL && o->location != NULL ? 0 : -1;
}

/* The agent's environment, less what it sets, plus what each process
 * gets (malloc'd array; its strings are environ's and static). */
static char **child_env(const struct options *o)
{
    static char ours[6][2048];
    static const char *const set[] = {"RALLY_URL=",
                                      "RALLY_LOCATION=",
                                      "GAMELIFT_SDK_FLEET_ID=",
                                      "GAMELIFT_SDK_HOST_ID=",
                                      "RALLY_IP_ADDRESS=",
                                      "GAMELIFT_SDK_WEBSOCKET_URL=",
                                      "GAMELIFT_SDK_PROCESS_ID=",
                                      "GAMELIFT_SDK_AUTH_TOKEN=",
                                      "RALLY_PORT=",
                                      "RALLY_METRICS_LISTEN="};
    size_t n = 0;
    while (environ[n] != NULL)
        n++;
    char **env = calloc(n + 7, sizeof(*env));
    if (env == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool replaced = false;
        for (size_t j = 0; j < sizeof(set) / sizeof(set[0]) && !replaced; j++)
            replaced = strncmp(environ[i], set[j], strlen(set[j])) == 0;
        if (!replaced)
            env[k++] = environ[i];
    }
    const char *values[] = {o->url, o->location, o->fleet, o->compute, o->ip, o->sdk_url};
    for (size_t j = 0; j < 6; j++) {
        snprintf(ours[j], sizeof(ours[j]), "%s%s", set[j], values[j]);
        env[k++] = ours[j];
    }
    return env;
}

/* The configuration cut down to `share` processes (-1: all): the last
 * ServerProcesses give up theirs first. */
static void limit(struct fm_runtime *rt, int share)
{
    for (size_t i = rt->nprocs; share >= 0 && rt->total > share && i-- > 0;) {
        int cut = rt->total - share < rt->procs[i].concurrent ? rt->total - share
                                                              : rt->procs[i].concurrent;
        rt->procs[i].concurrent -= cut;
        rt->total -= cut;
    }
}

/* One agent per compute and state: a second one (a double start) would
 * run the same processes twice. The lock lives as long as the agent. */
static int lock_state(const char *state_path)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s.lock", state_path);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0) {
        fprintf(stderr, "rally-agent: %s: %s\n", path,
                errno == EWOULDBLOCK ? "another agent runs this compute" : strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return 0; /* fd kept open: the lock */
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse(argc, argv, &o) < 0)
        return usage();
    log_init("agent");
    char secret[512];
    if (rally_server_read_secret(secret, sizeof(secret)) < 0) {
        fprintf(stderr, "rally-agent: RALLY_FLEET_SECRET_FILE must name the fleet secret's file\n");
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_child;
    sa.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    rally_server *s = rally_server_new(
        &(struct rally_server_params){.url = o.url, .fleet_id = o.fleet, .fleet_secret = secret});
    char **env = child_env(&o);
    struct slots *t = env != NULL ? slots_new(o.game_dir, env, o.ready_timeout) : NULL;
    struct agent_logs *logs = NULL;
    free(env); /* copied */
    /* logs_new says why when it fails. */
    bool logs_ok = o.log_dir == NULL || (logs = logs_new(o.log_dir, (size_t)o.log_max, o.log_days,
                                                         o.log_dir_max)) != NULL;
    bool locked = true;
    if (t != NULL) {
        t->first_port = o.first_port;
        t->last_port = o.last_port;
        t->sidecar_bin = o.sidecar;
        t->logs = logs;
        if (o.state_dir != NULL) {
            size_t len = strlen(o.state_dir) + strlen(o.compute) + 8;
            if ((t->state_path = malloc(len)) != NULL)
                snprintf(t->state_path, len, "%s/%s.state", o.state_dir, o.compute);
            locked = t->state_path != NULL && lock_state(t->state_path) == 0;
        }
    }
    if (s == NULL || t == NULL || !locked || !logs_ok) {
        if (locked && logs_ok)
            fprintf(stderr, "rally-agent: cannot start (bad --url, or no memory)\n");
        slots_free(t);
        logs_free(logs);
        rally_server_free(s);
        return 1;
    }
    if (agent_metrics_start(o.metrics, o.fleet, o.location, logs) < 0) {
        slots_free(t);
        logs_free(logs);
        rally_server_free(s);
        return 1;
    }
    /* SDK 5 processes hold their token as long as they run (the gateway
     * renews it on their connection): each launch gets one with at least
     * half its life left. */
    char *sdk_token = NULL;
    double sdk_token_renew = 0;
    bool registered = false;
    int share = -1, running_total = -1; /* share: -1 runs all the configuration asks */
    log_info("agent for fleet %s in %s on compute %s", o.fleet, o.location, o.compute);
    json_t *config = NULL; /* the runtime configuration in force: the slots borrow nothing of it */
    double next_config = 0, next_observe = 0, drain_until = 0;
    bool draining = false, ended_all = false;
    for (;;) {
        double now = now_s();
        if (stop_requested && !draining) {
            draining = true;
            drain_until = now + o.drain_s;
            next_observe = 0; /* which of them host a game session, as of now */
            log_info("draining: %zu processes; those hosting have %.0f s", slots_running(t),
                     o.drain_s);
        }
        if (!draining && now >= next_config) {
            /* Said every round: the compute stays live, and hears its share
             * of its location's capacity (the last one heard is kept when
             * rally does not answer). */
            int fresh_share = share;
            if (agent_register_compute(s, o.compute, o.location, o.ip, &fresh_share) == 0) {
                registered = true;
                share = fresh_share;
            } else if (!registered) {
                next_config = now + 2;
            }
        }
        if (registered && !draining && now >= sdk_token_renew) {
            long ttl = 0;
            char *fresh = agent_sdk_token(s, o.fleet, secret, &ttl);
            if (fresh != NULL) {
                free(sdk_token);
                sdk_token = fresh;
                t->sdk_token = sdk_token;
            }
            sdk_token_renew = now + (fresh != NULL && ttl > 20 ? (double)ttl / 2 : 5);
        }
        if (registered && !draining && now >= next_config) {
            struct fm_runtime rt;
            json_t *fresh = agent_fetch_runtime(s, &rt);
            if (fresh != NULL) {
                limit(&rt, share);
                if (config == NULL || !json_equal(config, fresh) || rt.total != running_total) {
                    log_info("runtime configuration: %d processes%s", rt.total,
                             share >= 0 ? " (this compute's share of its location's capacity)"
                                        : "");
                    slots_configure(t, &rt, now);
                    running_total = rt.total;
                }
                if (config == NULL) {
                    slots_adopt(t, now); /* once, before anything is launched */
                    if (logs != NULL)
                        logs_adopted(logs);
                }
                json_decref(config);
                config = fresh;
            }
            next_config = now + o.config_s;
        }
        if (now >= next_observe) {
            agent_observe(s, t, now);
            next_observe = now + 1;
        }
        if (draining) {
            slots_end(t, false, 30, now);
            if (now >= drain_until && !ended_all) {
                slots_end(t, true, 10, now);
                ended_all = true;
            }
        }
        slots_run(t, now, draining);
        slots_save(t);
        agent_metrics_update(t);
        agent_report_gone(s, t);
        if (logs != NULL)
            logs_send(logs, s, now);
        if (draining && slots_running(t) == 0)
            break;
        struct timespec nap = {0, 200 * 1000 * 1000};
        nanosleep(&nap, NULL); /* SIGCHLD cuts it short */
    }
    if (registered)
        agent_deregister_compute(s, o.compute);
    log_info("stopped: %u launches, %u exits, %u killed", t->launches, t->exits, t->kills);
    agent_metrics_stop();
    if (logs != NULL)
        logs_flush(logs, s, 10); /* the last game sessions' logs */
    memset(secret, 0, sizeof(secret));
    free(sdk_token);
    json_decref(config);
    slots_free(t);
    logs_free(logs);
    rally_server_free(s);
    curl_global_cleanup();
    return 0;
}
