/*
 * Master/worker FastCGI server. The master only forks and reaps; all request
 * work happens in single-threaded workers that share the listening socket,
 * so each worker owns exactly one database connection and needs no locks.
 */

#include "serve.h"

#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "awsauth.h"
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "metrics_auth.h"
#include "util.h"

#define MAX_WORKERS 64

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

struct worker_slot {
    pid_t pid;
    time_t started;
};

/* The statuses counted on their own; the rest by class. */
static const int counted_codes[] = {200, 201, 202, 204, 304, 400, 401, 403, 404, 405, 409,
                                    410, 412, 413, 415, 429, 431, 500, 502, 503, 504};
#define NCODES (sizeof(counted_codes) / sizeof(counted_codes[0]))
static const char *const other_codes[] = {"2xx", "4xx", "5xx"};

/* A route's metrics: a counter per status (counted_codes, then the
 * classes) and a latency histogram. */
struct route_metrics {
    struct metric *status[NCODES + 3];
    struct metric *latency;
};

/* Declared by the master before it forks (metrics.h), for every route and
 * one more for names no route has; NULL while metrics are off. */
static struct route_metrics *route_metrics;
/* Bearer-token checks by their auth_result, negated: ok, missing, ... */
static struct metric *token_results[5];
static struct metric *worker_restarts;
static struct metric *batched_reads, *batched_requests;

/* A batching worker takes everything waiting whenever it is free, so it
 * keeps a core busy while requests wait, and more workers than cores would
 * only split the batches (docs/bench.md, issue 16): one a core it may run
 * on, two at least so that one runs while the other waits on the database,
 * and never more than RALLY_WORKERS. */
static int worker_count(const struct service *svc)
{
    if (svc->batch == NULL)
        return cfg->workers;
    cpu_set_t cpus;
    int cores = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 ? CPU_COUNT(&cpus) : 2;
    int n = cores < 2 ? 2 : cores > MAX_WORKERS ? MAX_WORKERS : cores;
    return n < cfg->workers ? n : cfg->workers;
}

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
    FCGX_ShutdownPending();
}

static void on_reload(int sig)
{
    (void)sig;
    reload_requested = 1;
}

static void on_child(int sig)
{
    (void)sig; /* Only here so SIGCHLD interrupts sigsuspend(). */
}

/* Installs handlers without SA_RESTART so a blocked accept() returns EINTR. */
static void set_handler(int sig, void (*fn)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

void serve_db_error(struct http_req *req, struct http_resp *resp, int rc)
{
    if (rc == DB_DOWN) {
        http_add_header(resp, "Retry-After", "1");
        http_error(req, resp, 503, "unavailable", "the database is unavailable, retry shortly");
    } else {
        log_error("database error %s: %s", db_sqlstate(), db_message());
        http_error(req, resp, 500, "internal", "internal error");
    }
}

PGresult *serve_exec(struct http_req *req, struct http_resp *resp, const struct db_stmt *stmt,
                     const char *const *params)
{
    PGresult *r;
    int rc = db_exec(req->arena, stmt, params, &r);
    if (rc != DB_OK) {
        serve_db_error(req, resp, rc);
        return NULL;
    }
    return r;
}

static void auth_error(struct http_req *req, struct http_resp *resp, enum auth_result rc,
                       const char *why)
{
    const struct dialect *d = http_dialect(req);
    int status = rc == AUTH_FORBIDDEN ? 403 : 401;
    if (status == 401 && d->auth_challenge != NULL)
        http_add_header(resp, "WWW-Authenticate", d->auth_challenge);
    http_reply(req, resp, status,
               d->auth_error_body(status, status == 403 ? "forbidden" : "unauthorized", why));
}

/* The GameLift service API's check: the request's AWS signature, then
 * whether the key's scope may call this operation (the route's name). */
static bool aws_authorized(struct http_req *req, struct http_resp *resp)
{
    struct awsauth_caller who;
    struct awsauth_error err;
    if (awsauth_check(req, util_now(), &who, &err) != 0) {
        http_error(req, resp, 400, err.type, "%s", err.message);
        return false;
    }
    unsigned bit = who.scope == AWSAUTH_BACKEND ? AUTH_SCOPE_AWS_BACKEND : AUTH_SCOPE_AWS_FLEET;
    if ((req->route->scopes & bit) == 0) {
        http_error(req, resp, 400, "AccessDeniedException",
                   "User: %s is not authorized to perform: gamelift:%s", who.principal,
                   req->route->name);
        return false;
    }
    req->claims = (struct auth_claims){
        .sub = who.scope == AWSAUTH_FLEET ? who.fleet_id : who.principal,
        .scope = who.scope == AWSAUTH_FLEET ? "aws-fleet" : "aws-backend",
        .kid = who.access_key_id,
        .scope_bit = bit,
    };
    return true;
}

/* Finds the route, checks its token, and runs its handler. */
static void serve_dispatch(const struct service *svc, struct http_req *req, struct http_resp *resp,
                           const char *route_name)
{
    const struct http_route *named = NULL;
    for (size_t i = 0; i < svc->nroutes; i++) {
        if (route_name == NULL || strcmp(svc->routes[i].name, route_name) != 0)
            continue;
        named = &svc->routes[i];
        if (strcmp(svc->routes[i].method, req->method) == 0) {
            req->route = &svc->routes[i];
            break;
        }
    }
    if (req->route == NULL) {
        req->route = named; /* answer in the route's dialect when we know it */
        if (named != NULL) {
            http_add_header(resp, "Allow", named->method);
            http_error(req, resp, 405, "method_not_allowed", "use %s on this route", named->method);
        } else {
            http_error(req, resp, 404, "not_found", "no such route");
        }
        return;
    }
    /* A route may take both, told apart by the Authorization's scheme. A
     * GameLift API operation answers as AWS does (a missing or malformed
     * signature is its 400) unless a bearer token is presented (an
     * operator's); another route takes a token unless an AWS signature is. */
    unsigned aws = req->route->scopes & AUTH_SCOPES_AWS, tokens = req->route->scopes & ~aws;
    const char *authorization = http_param(req, "HTTP_AUTHORIZATION");
    bool bearer = authorization != NULL && strncasecmp(authorization, "Bearer ", 7) == 0;
    bool signature = authorization != NULL && strncmp(authorization, "AWS4-HMAC-SHA256 ", 17) == 0;
    if (aws != 0 && tokens != 0 && (req->route->dialect == &dialect_gamelift ? bearer : !signature))
        aws = 0;
    if (aws != 0) {
        if (!aws_authorized(req, resp))
            return;
    } else if (tokens != 0) {
        const char *why = NULL;
        enum auth_result rc =
            auth_verify(req->arena, authorization, tokens, util_now(), &req->claims, &why);
        if (rc <= 0 && rc >= -4)
            metric_inc(token_results[-rc]);
        if (rc != AUTH_OK) {
            auth_error(req, resp, rc, why);
            return;
        }
    }
    req->route->handle(req, resp);
}

/* Reads the body, bounded by max_body; 0, or -1 after setting the error. */
static int read_body(const struct service *svc, FCGX_Request *fr, struct http_req *req,
                     struct http_resp *resp)
{
    const char *cl = FCGX_GetParam("CONTENT_LENGTH", fr->envp);
    req->body = "";
    req->body_len = 0;
    if (cl == NULL || *cl == '\0')
        return 0;
    char *end;
    errno = 0;
    long long n = strtoll(cl, &end, 10);
    if (errno != 0 || *end != '\0' || n < 0) {
        http_error(req, resp, 400, "invalid_length", "invalid Content-Length");
        return -1;
    }
    if ((unsigned long long)n > svc->max_body) {
        http_error(req, resp, 413, "body_too_large", "request body exceeds %zu bytes",
                   svc->max_body);
        return -1;
    }
    char *buf = arena_alloc(req->arena, (size_t)n + 1);
    int got = n > 0 ? FCGX_GetStr(buf, (int)n, fr->in) : 0;
    if (got != (int)n) {
        http_error(req, resp, 400, "short_body", "request body is shorter than Content-Length");
        return -1;
    }
    buf[n] = '\0';
    req->body = buf;
    req->body_len = (size_t)n;
    return 0;
}

static void json_decref_hook(void *p)
{
    json_decref(p);
}

static void free_hook(void *p)
{
    free(p);
}

/* The built-in routes of every function: _metrics, which nginx sends
 * /metrics/NAME to (the function's metrics, every worker's summed), and
 * _scrape_auth, nginx's auth_request check in front of the exporters it
 * proxies (204 or 401); both for the scrape token only. */
static void serve_scrape(struct http_req *req, struct http_resp *resp, bool check_only)
{
    if (!metrics_enabled()) {
        http_error(req, resp, 404, "metrics_off", "metrics are off (RALLY_METRICS=off)");
        return;
    }
    if (strcmp(req->method, "GET") != 0) {
        http_add_header(resp, "Allow", "GET");
        http_error(req, resp, 405, "method_not_allowed", "use GET on this route");
        return;
    }
    if (!metrics_authorized(http_param(req, "HTTP_AUTHORIZATION"))) {
        http_add_header(resp, "WWW-Authenticate", "Bearer realm=\"rally metrics\"");
        http_error(req, resp, 401, "unauthorized",
                   "a scrape takes the scrape token (RALLY_METRICS_TOKEN_FILE) as a bearer token");
        return;
    }
    if (check_only) {
        http_reply(req, resp, 204, NULL);
        return;
    }
    size_t len = 0;
    char *text = metrics_render(&len);
    if (text == NULL) {
        http_error(req, resp, 500, "internal", "internal error");
        return;
    }
    arena_defer(req->arena, free_hook, text);
    http_reply_bytes(req, resp, 200, text, len, METRICS_CONTENT_TYPE);
}

/* The built-in _admin_auth: nginx's auth_request check in front of what it
 * proxies for operators alone (Prometheus's query API for the console):
 * 204 for an admin token, else 401 or 403. */
static void serve_admin_check(struct http_req *req, struct http_resp *resp)
{
    const char *why = NULL;
    enum auth_result rc = auth_verify(req->arena, http_param(req, "HTTP_AUTHORIZATION"),
                                      AUTH_SCOPE_ADMIN, util_now(), &req->claims, &why);
    if (rc == AUTH_OK)
        http_reply(req, resp, 204, NULL);
    else
        auth_error(req, resp, rc, why);
}

static struct metric *status_metric(const struct route_metrics *m, int status)
{
    for (size_t i = 0; i < NCODES; i++)
        if (counted_codes[i] == status)
            return m->status[i];
    return m->status[NCODES + (status >= 500 ? 2 : status >= 400 ? 1 : 0)];
}

/* Counts a request under its route (or under "unknown"). */
static void count_request(const struct service *svc, const struct http_req *req, int status,
                          double ms)
{
    if (route_metrics == NULL)
        return;
    size_t i = req->route != NULL ? (size_t)(req->route - svc->routes) : svc->nroutes;
    metric_inc(status_metric(&route_metrics[i], status));
    metric_observe(route_metrics[i].latency, ms / 1000.0);
}

/* Declares what serve.c and the modules of every function count. */
static void declare_metrics(const struct service *svc)
{
    db_declare_metrics();
    auth_declare_metrics();
    struct metric_family *requests =
        metric_family("rally_http_requests_total", METRIC_COUNTER,
                      "Requests answered, by route, method, dialect and status code.");
    metric_family_sparse(requests);
    struct metric_family *latency = metric_histogram(
        "rally_http_request_duration_seconds",
        "Time from a request's arrival at the function to its answer, by route and method.",
        metrics_latency_bounds, metrics_latency_nbounds);
    route_metrics = calloc(svc->nroutes + 1, sizeof(*route_metrics));
    if (route_metrics == NULL)
        log_fatal("out of memory");
    for (size_t r = 0; r <= svc->nroutes; r++) {
        const struct http_route *route = r < svc->nroutes ? &svc->routes[r] : NULL;
        const char *name = route != NULL ? route->name : "unknown";
        const char *method = route != NULL ? route->method : "";
        const char *dialect =
            route != NULL && route->dialect != NULL ? route->dialect->name : dialect_native.name;
        for (size_t c = 0; c < NCODES + 3; c++) {
            char code[8];
            snprintf(code, sizeof(code), "%d", c < NCODES ? counted_codes[c] : 0);
            route_metrics[r].status[c] =
                metric_series(requests, "route", name, "method", method, "dialect", dialect, "code",
                              c < NCODES ? code : other_codes[c - NCODES], METRIC_END);
        }
        route_metrics[r].latency =
            metric_series(latency, "route", name, "method", method, METRIC_END);
    }
    struct metric_family *tokens =
        metric_family("rally_token_verifications_total", METRIC_COUNTER,
                      "Bearer tokens checked on routes that take one, by result.");
    static const char *const results[] = {"ok", "missing", "invalid", "expired", "forbidden"};
    for (int i = 0; i < 5; i++)
        token_results[i] = metric_series(tokens, "result", results[i], METRIC_END);
    worker_restarts = metric_counter("rally_worker_restarts_total",
                                     "Workers that ended unexpectedly and were started again.");
    struct metric *workers = metric_gauge("rally_workers", "Worker processes of the function.");
    metric_set(workers, worker_count(svc));
    if (svc->batch != NULL) {
        batched_reads = metric_counter("rally_batched_reads_total",
                                       "Batches of deferred requests answered together.");
        batched_requests =
            metric_counter("rally_batched_requests_total", "Requests answered in those batches.");
    }
}

/* What finish_request reads of a body the handler left, at most. */
#define DRAIN_MAX (64 * 1024)

/* Ends the request, without libfcgi's lingering close where it is not
 * needed. libfcgi closes a connection by shutting down its side and then
 * waiting (poll) until nginx has closed first, so that request bytes still
 * unread cannot turn into a reset that loses the response: one more sleep
 * and wake-up of the worker per request (docs/bench.md, issue 16). Once the
 * request's stdin has been read to its end nothing more can arrive (nginx
 * sends a request whole and keeps no FastCGI connection), so the worker
 * closes at once. A large body left unread keeps the lingering close. */
static void finish_request(FCGX_Request *fr)
{
    char sink[4096];
    size_t drained = 0;
    int n;
    while (drained <= DRAIN_MAX && (n = FCGX_GetStr(sink, sizeof(sink), fr->in)) > 0)
        drained += (size_t)n;
    if (FCGX_HasSeenEOF(fr->in) == EOF)
        FCGX_Detach(fr); /* FCGX_Finish_r then closes without the wait */
    FCGX_Finish_r(fr);
    fr->detached = 0;
}

/* One request between its acceptance and its answer. */
struct served {
    struct http_req req;
    struct http_resp resp;
    double t0;
    const char *route_name; /* in the arena, or NULL */
    bool scrape;            /* a built-in scrape: neither counted nor logged */
};

/* Reads the request and runs its route. The route's handler answers it,
 * or defers it to the worker's batch (serve_defer). */
static void serve_begin(const struct service *svc, FCGX_Request *fr, struct arena *arena,
                        struct served *s)
{
    memset(s, 0, sizeof(*s));
    s->t0 = util_mono_ms();
    struct http_req *req = &s->req;
    struct http_resp *resp = &s->resp;
    resp->status = 500; /* pessimistic until a handler says otherwise */

    /* FastCGI parameters die at FCGX_Finish_r(); what is logged after it
     * is copied into the arena first. */
    const char *method = FCGX_GetParam("REQUEST_METHOD", fr->envp);
    const char *request_id = FCGX_GetParam("REQUEST_ID", fr->envp);
    const char *route_name = FCGX_GetParam("RALLY_ROUTE", fr->envp);
    req->arena = arena;
    req->envp = fr->envp;
    req->method = arena_strdup(arena, method != NULL ? method : "GET");
    req->query = FCGX_GetParam("QUERY_STRING", fr->envp);
    if (req->query == NULL)
        req->query = "";
    req->request_id = arena_strdup(arena, request_id != NULL ? request_id : "-");
    s->route_name = route_name != NULL ? arena_strdup(arena, route_name) : NULL;
    log_set_request_id(req->request_id);
    const char *path_id = FCGX_GetParam("RALLY_PATH_ID", fr->envp);
    if (path_id != NULL)
        req->path_id = path_id; /* nginx already decoded the URI it matched */

    bool check_only = s->route_name != NULL && strcmp(s->route_name, "_scrape_auth") == 0;
    s->scrape = check_only || (s->route_name != NULL && strcmp(s->route_name, "_metrics") == 0);
    if (s->scrape)
        serve_scrape(req, resp, check_only);
    else if (s->route_name != NULL && strcmp(s->route_name, "_admin_auth") == 0)
        serve_admin_check(req, resp);
    else if (read_body(svc, fr, req, resp) == 0)
        serve_dispatch(svc, req, resp, s->route_name);
    log_set_request_id(NULL);
}

/* Writes the answer, ends the request, and counts and logs it. */
static void serve_end(const struct service *svc, FCGX_Request *fr, struct served *s)
{
    struct http_req *req = &s->req;
    struct http_resp *resp = &s->resp;
    log_set_request_id(req->request_id);
    if (req->deferred) /* a handler deferred it, and no batch answered */
        resp->status = 500;
    if (resp->body == NULL && resp->text == NULL && resp->status >= 400)
        http_error(req, resp, resp->status, "internal", "internal error");
    arena_defer(req->arena, json_decref_hook, resp->body);

    size_t len = 0;
    char *out = http_render(req, resp, &len);
    FCGX_PutStr(out, (int)len, fr->out);
    finish_request(fr);
    req->envp = NULL;
    double ms = util_mono_ms() - s->t0;
    if (!s->scrape) { /* a scrape is neither a request of the function's nor worth a log line */
        count_request(svc, req, resp->status, ms);
        log_request(req->method,
                    req->route != NULL ? req->route->name : (s->route_name ? s->route_name : "-"),
                    resp->status, ms);
    }
    log_set_request_id(NULL);
}

void serve_defer(struct http_req *req, const void *arg)
{
    req->deferred = true;
    req->deferred_arg = arg;
}

/* The plain worker loop: one connection at a time. */
static void serve_one_by_one(const struct service *svc, int listen_fd)
{
    FCGX_Request fr;
    struct arena arena = {0};
    struct served s;
    if (FCGX_InitRequest(&fr, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0)
        log_fatal("could not initialise fastcgi request");
    while (!stop_requested) {
        if (FCGX_Accept_r(&fr) < 0) {
            if (stop_requested)
                break;
            continue; /* a signal we do not stop on, or a peer that went away */
        }
        serve_begin(svc, &fr, &arena, &s);
        serve_end(svc, &fr, &s);
        arena_reset(&arena);
    }
    arena_destroy(&arena);
}

/*
 * Batches (struct serve_batch). A worker waits for its listening socket to
 * be readable, then takes the connections already waiting there (the socket
 * is non-blocking, so an empty backlog ends the batch: nothing waits for a
 * batch to fill), until batch->max requests are deferred or as many have
 * been taken. A request whose handler answers is ended at once; those whose
 * handler deferred are answered together by one batch->run(), which may
 * defer some of them again: those are run again together once the others'
 * answers are sent (at most SERVE_BATCH_RUNS runs). Each answer comes from
 * work started after its request arrived, so a batch never serves anything
 * older than the request would have read alone.
 * EPOLLEXCLUSIVE wakes one waiting worker per arrival, not all of them.
 */
static void serve_in_batches(const struct service *svc, int listen_fd)
{
    const struct serve_batch *b = svc->batch;
    int max = b->max < 1 ? 1 : b->max > SERVE_BATCH_MAX ? SERVE_BATCH_MAX : b->max;
    FCGX_Request fr[SERVE_BATCH_MAX];
    struct arena arena[SERVE_BATCH_MAX] = {0};
    struct served s[SERVE_BATCH_MAX];
    struct http_req *dreq[SERVE_BATCH_MAX];
    struct http_resp *dresp[SERVE_BATCH_MAX];
    for (int i = 0; i < max; i++)
        if (FCGX_InitRequest(&fr[i], listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0)
            log_fatal("could not initialise fastcgi request");
    int flags = fcntl(listen_fd, F_GETFL);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event want = {.events = EPOLLIN | EPOLLEXCLUSIVE};
    if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) < 0 || ep < 0 ||
        epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &want) < 0)
        log_fatal("could not wait on the listening socket: %s", strerror(errno));
    /* SIGTERM and SIGINT stay blocked but inside epoll_pwait, so that one
     * arriving after the check of stop_requested still ends the wait. */
    sigset_t stops, during_wait;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    sigprocmask(SIG_BLOCK, &stops, &during_wait);
    sigdelset(&during_wait, SIGTERM);
    sigdelset(&during_wait, SIGINT);
    while (!stop_requested) {
        struct epoll_event got;
        if (epoll_pwait(ep, &got, 1, -1, &during_wait) < 0)
            continue; /* a signal: stop_requested says whether to go on */
        int n = 0;    /* deferred requests, in fr[0..n) */
        /* FCGX_Accept_r is below 0 once the backlog is empty (EAGAIN). */
        for (int taken = 0; n < max && taken < max && !stop_requested; taken++) {
            if (FCGX_Accept_r(&fr[n]) < 0)
                break;
            serve_begin(svc, &fr[n], &arena[n], &s[n]);
            if (s[n].req.deferred) {
                dreq[n] = &s[n].req;
                dresp[n] = &s[n].resp;
                n++;
            } else {
                serve_end(svc, &fr[n], &s[n]);
                arena_reset(&arena[n]);
            }
        }
        /* run() answers each, or defers one again: that one waits for
         * another run(), after the others' answers are sent. */
        int slot[SERVE_BATCH_MAX];
        for (int i = 0; i < n; i++)
            slot[i] = i;
        for (int pass = 1; n > 0; pass++) {
            for (int i = 0; i < n; i++)
                dreq[i]->deferred = false;
            b->run(dreq, dresp, n);
            if (pass == 1) { /* a batch and its requests, counted once */
                metric_inc(batched_reads);
                metric_add(batched_requests, (uint64_t)n);
            }
            int kept = 0;
            for (int i = 0; i < n; i++) {
                if (dreq[i]->deferred && pass < SERVE_BATCH_RUNS) {
                    dreq[kept] = dreq[i];
                    dresp[kept] = dresp[i];
                    slot[kept++] = slot[i];
                    continue;
                }
                serve_end(svc, &fr[slot[i]], &s[slot[i]]); /* 500 if still deferred */
                arena_reset(&arena[slot[i]]);
            }
            n = kept;
        }
    }
    sigprocmask(SIG_UNBLOCK, &stops, NULL);
    for (int i = 0; i < max; i++)
        arena_destroy(&arena[i]);
    close(ep);
}

__attribute__((noreturn)) static void worker_main(const struct service *svc, int listen_fd,
                                                  pid_t master, int slot)
{
    metrics_enter(slot);
    /* A worker outlives a killed master only to finish its request: a new
     * master (restarted by its supervisor) listens on a new socket, and an
     * orphan would hold its connection to the database for nothing. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != master)
        stop_requested = 1;
    set_handler(SIGTERM, on_stop);
    set_handler(SIGINT, on_stop);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    if (svc->verifies_tokens || svc->signs_tokens) {
        if (auth_keys_load(cfg->jwt_key_dir, svc->signs_tokens) < 0)
            exit(1);
    }
    if (svc->stmts != NULL) {
        db_register(svc->stmts, svc->nstmts);
        db_init(svc->name);
    }
    if (svc->worker_init != NULL && svc->worker_init() < 0)
        exit(1);

    if (svc->batch != NULL)
        serve_in_batches(svc, listen_fd);
    else
        serve_one_by_one(svc, listen_fd);
    db_close();
    auth_keys_free();
    exit(0);
}

static pid_t spawn(const struct service *svc, int listen_fd, int slot)
{
    pid_t master = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        log_error("could not fork worker: %s", strerror(errno));
        return -1;
    }
    if (pid == 0)
        worker_main(svc, listen_fd, master, slot);
    return pid;
}

static int open_listener(const struct service *svc)
{
    const char *path = cfg->listen;
    if (path[0] == '/')
        unlink(path); /* a socket left by a killed master */
    int fd = FCGX_OpenSocket(path, cfg->listen_backlog);
    if (fd < 0) {
        log_error("could not listen on %s: %s", path, strerror(errno));
        return -1;
    }
    /* nginx's workers may run as another user: they come in through the
     * group (cfg.h, RALLY_SOCKET_MODE), other local users not at all. */
    if (path[0] == '/' && chmod(path, cfg->socket_mode) != 0) {
        log_error("could not set the mode of %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    (void)svc;
    return fd;
}

/* Asks a worker to finish its request and exit; its exit is then expected. */
static void retire(struct worker_slot *slot)
{
    if (slot->pid > 0) {
        kill(slot->pid, SIGTERM);
        slot->started = 0;
    }
}

static int slot_of(struct worker_slot *slots, int n, pid_t pid)
{
    for (int i = 0; i < n; i++)
        if (slots[i].pid == pid)
            return i;
    return -1;
}

void serve_main(const struct service *svc)
{
    log_init(svc->name);
    cfg_load(svc->name);
    if (FCGX_Init() != 0)
        log_fatal("could not initialise libfcgi");
    int fd = open_listener(svc);
    if (fd < 0)
        exit(1);
    /* A slice per worker and one for the master (metrics.h), every series
     * declared before the first fork. */
    if (metrics_setup(cfg->workers + 1) < 0)
        exit(1);
    if (metrics_enabled()) {
        declare_metrics(svc);
        if (svc->declare_metrics != NULL)
            svc->declare_metrics();
    }

    /* Keep signals blocked except inside sigsuspend(), so no wake-up is lost. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &old);
    set_handler(SIGTERM, on_stop);
    set_handler(SIGINT, on_stop);
    set_handler(SIGHUP, on_reload);
    set_handler(SIGCHLD, on_child);
    signal(SIGPIPE, SIG_IGN);

    int n = worker_count(svc);
    struct worker_slot slots[MAX_WORKERS] = {0};
    for (int i = 0; i < n; i++) {
        slots[i].pid = spawn(svc, fd, i);
        slots[i].started = time(NULL);
    }
    log_info("listening on %s with %d workers", cfg->listen, n);

    sigset_t wait_mask;
    sigemptyset(&wait_mask);
    int reload_next = -1;
    while (!stop_requested) {
        sigsuspend(&wait_mask);
        if (reload_requested && reload_next < 0) {
            /* One worker at a time, so the others keep serving meanwhile. */
            reload_requested = 0;
            reload_next = 0;
            log_info("reload requested: replacing workers");
            retire(&slots[0]);
        }
        int status;
        pid_t pid;
        struct rusage used;
        while ((pid = wait4(-1, &status, WNOHANG, &used)) > 0) {
            int i = slot_of(slots, n, pid);
            if (i < 0)
                continue;
            metrics_reaped(i, (double)used.ru_utime.tv_sec + (double)used.ru_utime.tv_usec / 1e6 +
                                  (double)used.ru_stime.tv_sec +
                                  (double)used.ru_stime.tv_usec / 1e6);
            bool expected = slots[i].started == 0;
            if (!expected && !stop_requested) {
                if (WIFSIGNALED(status))
                    log_error("worker %ld crashed with signal %d; restarting", (long)pid,
                              WTERMSIG(status));
                else
                    log_error("worker %ld exited with status %d; restarting", (long)pid,
                              WEXITSTATUS(status));
                metric_inc(worker_restarts);
                if (time(NULL) - slots[i].started < 1)
                    sleep(1); /* crash loop: do not spin */
            }
            slots[i].pid = -1;
            if (!stop_requested) {
                slots[i].pid = spawn(svc, fd, i);
                slots[i].started = time(NULL);
                if (expected && reload_next == i) {
                    reload_next = i + 1 < n ? i + 1 : -1;
                    if (reload_next >= 0)
                        retire(&slots[reload_next]);
                }
            }
        }
    }

    /* Drain: workers finish the request in hand, then exit. */
    log_info("shutting down: draining %d workers", n);
    for (int i = 0; i < n; i++)
        if (slots[i].pid > 0)
            kill(slots[i].pid, SIGTERM);
    sigprocmask(SIG_SETMASK, &old, NULL);
    for (int i = 0; i < n; i++)
        if (slots[i].pid > 0)
            waitpid(slots[i].pid, NULL, 0);
    if (cfg->listen[0] == '/')
        unlink(cfg->listen);
    log_info("stopped");
    exit(0);
}
