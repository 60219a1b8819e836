/*
 * rally-sidecar: world-state beside a game-server process (docs/sidecar.md).
 * The game server calls it on 127.0.0.1 without credentials of its own; it
 * buffers block writes and flushes them to rally in batches (lanes.h), the
 * seed's "lazy writes", or holds a durable write until it is committed, and
 * passes every other world-state call through (intake.h), with the fleet's
 * credentials (upstream.h).
 *
 *   rally-sidecar [--port N | --listen-fd FD] [--watch-pid PID] [--process-id ID] [--durable]
 *                 [--lanes N] [--capacity N] [--flush-ms N] [--flush-blocks N]
 *                 [--wait-ms N] [--timeout-ms N] [--stop-seconds S]
 *
 * Environment (the fleet agent sets it, as for its game servers): RALLY_URL,
 * GAMELIFT_SDK_FLEET_ID, RALLY_FLEET_SECRET_FILE (the fleet secret's file),
 * RALLY_SIDECAR_KEY (what the game server must present).
 *
 * With --watch-pid (the agent's: the game server it serves), it stops by
 * itself once that process is gone; with --process-id (its id in rally),
 * it may write only to the world that process hosts (upstream.h).
 *
 * SIGTERM or SIGINT: no new connections, writes refused with 503, what is
 * buffered written out (for up to --stop-seconds, 10), then exit: 0 when
 * everything was written, 1 when some was not (logged).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "intake.h"
#include "lanes.h"
#include "log.h"
#include "metrics.h"
#include "metrics_auth.h"
#include "metrics_http.h"
#include "rally_server.h"
#include "upstream.h"

struct options {
    struct lanes_config lanes;
    struct intake_config intake;
    int stop_s;
    pid_t watch;
    const char *process_id;
};

static int usage(void)
{
    fprintf(
        stderr,
        "usage: rally-sidecar [--port N | --listen-fd FD] [--watch-pid PID] [--process-id ID]\n"
        "                     [--durable]\n"
        "                     [--lanes N] [--capacity N] [--flush-ms N] [--flush-blocks N]\n"
        "                     [--wait-ms N] [--timeout-ms N] [--stop-seconds S]\n"
        "  env: RALLY_URL, GAMELIFT_SDK_FLEET_ID, RALLY_FLEET_SECRET_FILE, RALLY_SIDECAR_KEY\n");
    return 2;
}

/* An integer option's value within [lo, hi]; -1 when it is not one. */
static long number(const char *s, long lo, long hi)
{
    char *end = NULL;
    long v = s != NULL ? strtol(s, &end, 10) : -1;
    return s != NULL && *s != '\0' && *end == '\0' && v >= lo && v <= hi ? v : -1;
}

static int parse(int argc, char **argv, struct options *o)
{
    *o = (struct options){
        .lanes = {.nlanes = 2,
                  .capacity = 262144,
                  .flush_ms = 50,
                  .flush_blocks = 5000,
                  .wait_ms = 1000},
        .intake = {.port = 7600, .listen_fd = -1, .timeout_ms = 30000},
        .stop_s = 10,
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n = 0;
        if (strcmp(a, "--durable") == 0) {
            o->intake.durable = true;
            continue;
        }
        if (strcmp(a, "--port") == 0 && (n = number(v, 0, 65535)) >= 0)
            o->intake.port = (int)n;
        else if (strcmp(a, "--listen-fd") == 0 && (n = number(v, 0, 65535)) >= 0)
            o->intake.listen_fd = (int)n;
        else if (strcmp(a, "--watch-pid") == 0 && (n = number(v, 1, 1L << 22)) >= 0)
            o->watch = (pid_t)n;
        else if (strcmp(a, "--process-id") == 0 && v != NULL && strlen(v) < 128)
            o->process_id = v;
        else if (strcmp(a, "--lanes") == 0 && (n = number(v, 1, LANES_MAX)) >= 0)
            o->lanes.nlanes = (int)n;
        else if (strcmp(a, "--capacity") == 0 && (n = number(v, 10000, 1L << 26)) >= 0)
            o->lanes.capacity = (size_t)n;
        else if (strcmp(a, "--flush-ms") == 0 && (n = number(v, 0, 60000)) >= 0)
            o->lanes.flush_ms = (int)n;
        else if (strcmp(a, "--flush-blocks") == 0 && (n = number(v, 1, 10000)) >= 0)
            o->lanes.flush_blocks = (int)n;
        else if (strcmp(a, "--wait-ms") == 0 && (n = number(v, 0, 60000)) >= 0)
            o->lanes.wait_ms = (int)n;
        else if (strcmp(a, "--timeout-ms") == 0 && (n = number(v, 1, 600000)) >= 0)
            o->intake.timeout_ms = (int)n;
        else if (strcmp(a, "--stop-seconds") == 0 && (n = number(v, 0, 3600)) >= 0)
            o->stop_s = (int)n;
        else
            return -1;
        i++;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;
    char secret[512];
    log_init("rally-sidecar");
    if (parse(argc, argv, &o) < 0)
        return usage();
    const char *url = getenv("RALLY_URL"), *fleet = getenv("GAMELIFT_SDK_FLEET_ID");
    o.intake.key = getenv("RALLY_SIDECAR_KEY");
    if (url == NULL || fleet == NULL || o.intake.key == NULL || strlen(o.intake.key) < 16 ||
        rally_server_read_secret(secret, sizeof(secret)) < 0) {
        fprintf(stderr, "rally-sidecar: RALLY_URL, GAMELIFT_SDK_FLEET_ID, RALLY_FLEET_SECRET_FILE "
                        "(a readable file) and RALLY_SIDECAR_KEY (16 characters or more) must be "
                        "set\n");
        return 2;
    }
    /* The signals are taken by this thread only, with sigwait. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Its metrics at the socket its agent gives it (agent/child_metrics.h). */
    const char *metrics_at = getenv("RALLY_METRICS_LISTEN");
    if (metrics_at != NULL && metrics_at[0] != '\0' && metrics_setup(1) == 0 && metrics_enabled()) {
        lanes_declare_metrics();
        metrics_http_start(metrics_at);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);

    struct upstream *u = upstream_new(url, fleet, secret, o.process_id);
    memset(secret, 0, sizeof(secret));
    struct lanes *lanes = u != NULL ? lanes_start(&o.lanes, u) : NULL;
    struct intake *in = lanes != NULL ? intake_start(&o.intake, lanes, u) : NULL;
    if (in == NULL) {
        log_error("could not start (memory, threads or the listening socket)");
        return 1;
    }
    log_info("listening on 127.0.0.1:%d for fleet %s; %d lanes of %zu entries, flushed every "
             "%d ms or %d entries; %s by default",
             intake_port(in), fleet, o.lanes.nlanes, o.lanes.capacity, o.lanes.flush_ms,
             o.lanes.flush_blocks, o.intake.durable ? "durable" : "buffered");

    /* A signal, or the watched process gone (looked for every second). */
    const struct timespec second = {1, 0};
    int sig;
    while ((sig = sigtimedwait(&stop, NULL, &second)) < 0)
        if (o.watch > 0 && kill(o.watch, 0) < 0 && errno == ESRCH)
            break;
    if (sig > 0)
        log_info("stopping (signal %d): writing out what is buffered", sig);
    else
        log_info("stopping (process %d is gone): writing out what is buffered", (int)o.watch);
    intake_quiesce(in);
    size_t left = lanes_drain(lanes, o.stop_s * 1000);
    intake_stop(in);
    lanes_free(lanes);
    upstream_free(u);
    metrics_http_stop();
    curl_global_cleanup();
    if (left > 0) {
        log_error("stopped with %zu entries not written", left);
        return 1;
    }
    log_info("stopped, everything written");
    return 0;
}
