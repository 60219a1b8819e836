/* rally client SDK over libcurl and jansson (include/rally/rally.h). */
#include "rally/rally.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rally_http.h"

struct rally_client {
    char *url;
    char *credentials_path;
    long timeout_ms;
    long refresh_margin_ms; /* 0: the default */
    bool no_push;
    struct rally_http http; /* the libcurl handle and the response being received */
    char player_id[RALLY_ID_MAX];
    char guest_secret[RALLY_TEXT_MAX];
    char *access;        /* access token, or NULL before login */
    double access_until; /* monotonic seconds: refresh after this */
    char *refresh;
    char message[512];
    json_t *last; /* the last JSON body */
    /* While streaming a subscription: */
    struct rally_ticket *stream_out;
    rally_update_fn stream_fn;
    void *stream_ctx;
    bool stream_done; /* a final (or stop) state was seen */
    bool stream_any;  /* a message arrived */
};

static double monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((format(printf, 3, 4))) static rally_status fail(rally_client *c, rally_status rc,
                                                               const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->message, sizeof(c->message), fmt, ap);
    va_end(ap);
    return rc;
}

static rally_status ok(rally_client *c)
{
    c->message[0] = '\0';
    return RALLY_OK;
}

rally_status rally_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? RALLY_OK : RALLY_E_NOMEM;
}

const char *rally_status_name(rally_status status)
{
    switch (status) {
    case RALLY_OK: return "RALLY_OK";
    case RALLY_E_ARGUMENT: return "RALLY_E_ARGUMENT";
    case RALLY_E_NETWORK: return "RALLY_E_NETWORK";
    case RALLY_E_AUTH: return "RALLY_E_AUTH";
    case RALLY_E_NOT_FOUND: return "RALLY_E_NOT_FOUND";
    case RALLY_E_CONFLICT: return "RALLY_E_CONFLICT";
    case RALLY_E_REFUSED: return "RALLY_E_REFUSED";
    case RALLY_E_SERVER: return "RALLY_E_SERVER";
    case RALLY_E_TIMEOUT: return "RALLY_E_TIMEOUT";
    case RALLY_E_NOMEM: return "RALLY_E_NOMEM";
    case RALLY_E_IO: return "RALLY_E_IO";
    }
    return "RALLY_E_UNKNOWN";
}

const char *rally_error_message(const rally_client *c)
{
    return c != NULL ? c->message : "no client";
}

const char *rally_player_id(const rally_client *c)
{
    return c != NULL ? c->player_id : "";
}

/* ---- credentials ------------------------------------------------------------ */

static void load_credentials(rally_client *c)
{
    if (c->credentials_path == NULL)
        return;
    json_t *j = json_load_file(c->credentials_path, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "user_id"));
    const char *secret = json_string_value(json_object_get(j, "guest_secret"));
    if (id != NULL && secret != NULL && strlen(id) < sizeof(c->player_id) &&
        strlen(secret) < sizeof(c->guest_secret)) {
        snprintf(c->player_id, sizeof(c->player_id), "%s", id);
        snprintf(c->guest_secret, sizeof(c->guest_secret), "%s", secret);
    }
    json_decref(j);
}

/* Written to a private temporary file, then renamed: never half a file. */
static rally_status save_credentials(rally_client *c)
{
    if (c->credentials_path == NULL)
        return RALLY_OK;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", c->credentials_path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail(c, RALLY_E_IO, "%s: %s", tmp, strerror(errno));
    json_t *j = json_pack("{s:s, s:s}", "user_id", c->player_id, "guest_secret", c->guest_secret);
    char *text = json_dumps(j, JSON_INDENT(2));
    json_decref(j);
    size_t n = text != NULL ? strlen(text) : 0;
    bool wrote = text != NULL && write(fd, text, n) == (ssize_t)n && write(fd, "\n", 1) == 1;
    free(text);
    if (close(fd) != 0 || !wrote || rename(tmp, c->credentials_path) != 0) {
        unlink(tmp);
        return fail(c, RALLY_E_IO, "%s: could not save the guest credentials", c->credentials_path);
    }
    return RALLY_OK;
}

/* ---- HTTP --------------------------------------------------------------------- */

rally_client *rally_client_new(const struct rally_options *o)
{
    if (o == NULL || o->url == NULL || *o->url == '\0')
        return NULL;
    rally_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->url = strdup(o->url);
    c->credentials_path = o->credentials_path != NULL ? strdup(o->credentials_path) : NULL;
    c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
    c->no_push = o->no_push != 0;
    c->refresh_margin_ms = o->refresh_margin_ms > 0 ? o->refresh_margin_ms : 0;
    if (rally_http_init(&c->http) != 0 || c->url == NULL ||
        (o->credentials_path != NULL && c->credentials_path == NULL)) {
        rally_client_free(c);
        return NULL;
    }
    size_t n = strlen(c->url);
    while (n > 0 && c->url[n - 1] == '/')
        c->url[--n] = '\0';
    load_credentials(c);
    return c;
}

void rally_client_free(rally_client *c)
{
    if (c == NULL)
        return;
    rally_http_cleanup(&c->http);
    json_decref(c->last);
    free(c->url);
    free(c->credentials_path);
    free(c->access);
    free(c->refresh);
    memset(c->guest_secret, 0, sizeof(c->guest_secret));
    free(c);
}

/* One exchange: *status and c->last (the JSON body or NULL). body (may be
 * NULL) is consumed. */
static rally_status exchange(rally_client *c, const char *method, const char *path, json_t *body,
                             const char *token, long *status)
{
    const struct rally_http_request r = {
        .method = method,
        .base = c->url,
        .path = path,
        .token = token,
        .accept = "application/json",
        /* Every method but GET sends a body, empty if need be. */
        .body = strcmp(method, "GET") != 0 ? "" : NULL,
        .connect_timeout_ms = c->timeout_ms,
        .timeout_ms = c->timeout_ms,
    };
    CURLcode rc = rally_http_json(&c->http, &r, body, &c->last, status);
    if (rc != CURLE_OK)
        return fail(c, RALLY_E_NETWORK, "%s %s: %s", method, path, curl_easy_strerror(rc));
    return RALLY_OK;
}

/* Keeps the tokens of a login or refresh answer. */
static rally_status take_tokens(rally_client *c)
{
    const char *access = json_string_value(json_object_get(c->last, "auth_token"));
    const char *refresh = json_string_value(json_object_get(c->last, "refresh_token"));
    json_int_t ttl = json_integer_value(json_object_get(c->last, "auth_token_expires_in"));
    if (access == NULL || refresh == NULL)
        return fail(c, RALLY_E_SERVER, "rally answered a login without tokens");
    free(c->access);
    free(c->refresh);
    c->access = strdup(access);
    c->refresh = strdup(refresh);
    if (c->access == NULL || c->refresh == NULL)
        return fail(c, RALLY_E_NOMEM, "out of memory");
    /* Refresh a little before expiry: half a minute, or a third of a short TTL. */
    double margin = c->refresh_margin_ms > 0 ? (double)c->refresh_margin_ms / 1000
                    : ttl > 90               ? 30
                                             : (double)ttl / 3;
    c->access_until = monotonic() + (double)ttl - margin;
    return ok(c);
}

static rally_status login_saved(rally_client *c)
{
    long status = 0;
    rally_status rc =
        exchange(c, "POST", "/v1/identity/guest",
                 json_pack("{s:s, s:s}", "user_id", c->player_id, "guest_secret", c->guest_secret),
                 NULL, &status);
    if (rc != RALLY_OK)
        return rc;
    if (status == 401)
        return fail(c, RALLY_E_AUTH, "the saved guest %s was refused: remove %s to start anew",
                    c->player_id, c->credentials_path ? c->credentials_path : "it");
    if (status != 200)
        return fail(c, status >= 500 ? RALLY_E_SERVER : RALLY_E_REFUSED, "login: HTTP %ld", status);
    return take_tokens(c);
}

rally_status rally_login_guest(rally_client *c)
{
    if (c == NULL)
        return RALLY_E_ARGUMENT;
    if (c->player_id[0] != '\0' && c->guest_secret[0] != '\0')
        return login_saved(c);
    long status = 0;
    rally_status rc = exchange(c, "POST", "/v1/identity/guest", json_object(), NULL, &status);
    if (rc != RALLY_OK)
        return rc;
    const char *id = json_string_value(json_object_get(c->last, "user_id"));
    const char *secret = json_string_value(json_object_get(c->last, "guest_secret"));
    if (status != 200 || id == NULL || secret == NULL || strlen(id) >= sizeof(c->player_id) ||
        strlen(secret) >= sizeof(c->guest_secret))
        return fail(c, status >= 500 ? RALLY_E_SERVER : RALLY_E_REFUSED, "guest login: HTTP %ld",
                    status);
    snprintf(c->player_id, sizeof(c->player_id), "%s", id);
    snprintf(c->guest_secret, sizeof(c->guest_secret), "%s", secret);
    rc = take_tokens(c);
    return rc == RALLY_OK ? save_credentials(c) : rc;
}

/* A fresh access token: refreshed when due; a refused refresh token means
 * logging in again with the saved guest. */
static rally_status fresh_token(rally_client *c, bool force)
{
    if (c->access == NULL)
        return c->player_id[0] != '\0' ? login_saved(c) : fail(c, RALLY_E_AUTH, "not logged in");
    if (!force && monotonic() < c->access_until)
        return RALLY_OK;
    long status = 0;
    rally_status rc = exchange(c, "POST", "/v1/identity/refresh",
                               json_pack("{s:s}", "refresh_token", c->refresh), NULL, &status);
    if (rc != RALLY_OK)
        return rc;
    if (status == 200)
        return take_tokens(c);
    if (status == 401 && c->player_id[0] != '\0' && c->guest_secret[0] != '\0')
        return login_saved(c);
    return fail(c, RALLY_E_AUTH, "token refresh refused (HTTP %ld)", status);
}

/* An authenticated call, with one retry after a 401. */
static rally_status call(rally_client *c, const char *method, const char *path, json_t *body,
                         long *status)
{
    rally_status rc = RALLY_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = fresh_token(c, attempt > 0);
        if (rc == RALLY_OK)
            rc = exchange(c, method, path, json_incref(body), c->access, status);
        if (rc != RALLY_OK || *status != 401)
            break;
    }
    json_decref(body);
    return rc;
}

/* The error a status means, with rally's message. */
static rally_status judge(rally_client *c, long status, const char *what)
{
    if (status >= 200 && status < 300)
        return ok(c);
    const char *why = json_string_value(json_object_get(c->last, "message"));
    rally_status rc = status == 401 || status == 403 ? RALLY_E_AUTH
                      : status == 404                ? RALLY_E_NOT_FOUND
                      : status == 409                ? RALLY_E_CONFLICT
                      : status >= 500                ? RALLY_E_SERVER
                                                     : RALLY_E_REFUSED;
    return fail(c, rc, "%s: HTTP %ld%s%s", what, status, why ? ": " : "", why ? why : "");
}

/* ---- tickets -------------------------------------------------------------------- */

static void copy(char *dst, size_t cap, json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    snprintf(dst, cap, "%s", v != NULL ? v : "");
}

static void parse_ticket(const rally_client *c, json_t *j, struct rally_ticket *t)
{
    memset(t, 0, sizeof(*t));
    copy(t->ticket_id, sizeof(t->ticket_id), j, "TicketId");
    copy(t->configuration, sizeof(t->configuration), j, "ConfigurationName");
    copy(t->status, sizeof(t->status), j, "Status");
    copy(t->status_reason, sizeof(t->status_reason), j, "StatusReason");
    copy(t->status_message, sizeof(t->status_message), j, "StatusMessage");
    json_t *wait = json_object_get(j, "EstimatedWaitTime");
    t->estimated_wait_seconds = json_is_integer(wait) ? (long)json_integer_value(wait) : -1;
    json_t *info = json_object_get(j, "GameSessionConnectionInfo");
    copy(t->game_session_arn, sizeof(t->game_session_arn), info, "GameSessionArn");
    copy(t->ip_address, sizeof(t->ip_address), info, "IpAddress");
    copy(t->dns_name, sizeof(t->dns_name), info, "DnsName");
    t->port = (int)json_integer_value(json_object_get(info, "Port"));
    size_t i;
    json_t *seat;
    json_array_foreach(json_object_get(info, "MatchedPlayerSessions"), i, seat)
    {
        const char *who = json_string_value(json_object_get(seat, "PlayerId"));
        if (who != NULL && strcmp(who, c->player_id) == 0)
            copy(t->player_session_id, sizeof(t->player_session_id), seat, "PlayerSessionId");
    }
}

static bool valid_id(const char *id)
{
    if (id == NULL || *id == '\0' || strlen(id) >= RALLY_ID_MAX)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.'))
            return false;
    return true;
}

rally_status rally_start_matchmaking(rally_client *c, const char *configuration,
                                     const struct rally_latency *latencies, size_t n,
                                     struct rally_ticket *out)
{
    if (c == NULL || out == NULL || (n > 0 && latencies == NULL))
        return RALLY_E_ARGUMENT;
    memset(out, 0, sizeof(*out));
    json_t *lat = json_object();
    for (size_t i = 0; i < n; i++) {
        if (latencies[i].region == NULL || latencies[i].ms < 1) {
            json_decref(lat);
            return fail(c, RALLY_E_ARGUMENT, "latency %zu: a region and at least 1 ms", i);
        }
        json_object_set_new(lat, latencies[i].region, json_integer(latencies[i].ms));
    }
    json_t *body = json_pack("{s:o}", "latencyInMs", lat);
    if (configuration != NULL)
        json_object_set_new(body, "configuration", json_string(configuration));
    long status = 0;
    rally_status rc = call(c, "POST", "/v1/matchmaking", body, &status);
    if (rc != RALLY_OK)
        return rc;
    if (status == 409)
        copy(out->ticket_id, sizeof(out->ticket_id), c->last, "TicketId");
    if ((rc = judge(c, status, "StartMatchmaking")) != RALLY_OK)
        return rc;
    parse_ticket(c, c->last, out);
    return RALLY_OK;
}

rally_status rally_get_ticket(rally_client *c, const char *ticket_id, struct rally_ticket *out)
{
    if (c == NULL || out == NULL || !valid_id(ticket_id))
        return RALLY_E_ARGUMENT;
    char path[256];
    snprintf(path, sizeof(path), "/v1/matchmaking/%s", ticket_id);
    long status = 0;
    rally_status rc = call(c, "GET", path, NULL, &status);
    if (rc == RALLY_OK && (rc = judge(c, status, "DescribeMatchmaking")) == RALLY_OK)
        parse_ticket(c, c->last, out);
    return rc;
}

rally_status rally_cancel_ticket(rally_client *c, const char *ticket_id)
{
    if (c == NULL || !valid_id(ticket_id))
        return RALLY_E_ARGUMENT;
    char path[256];
    snprintf(path, sizeof(path), "/v1/matchmaking/%s", ticket_id);
    long status = 0;
    rally_status rc = call(c, "DELETE", path, NULL, &status);
    return rc == RALLY_OK ? judge(c, status, "StopMatchmaking") : rc;
}

rally_status rally_accept_match(rally_client *c, const char *ticket_id, int accept)
{
    if (c == NULL || !valid_id(ticket_id))
        return RALLY_E_ARGUMENT;
    char path[256];
    snprintf(path, sizeof(path), "/v1/matchmaking/%s/accept", ticket_id);
    long status = 0;
    rally_status rc =
        call(c, "POST", path, json_pack("{s:s}", "acceptanceType", accept ? "ACCEPT" : "REJECT"),
             &status);
    return rc == RALLY_OK ? judge(c, status, "AcceptMatch") : rc;
}

/* ---- waiting -------------------------------------------------------------------- */

/* A number in [0, 1) for jitter: xorshift64, seeded once from the clock and
 * the handle's address (not for secrets). */
static double unit_random(void)
{
    static unsigned long long state;
    if (state == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        state = ((unsigned long long)ts.tv_nsec << 20) ^ (unsigned long long)ts.tv_sec ^
                ((unsigned long long)getpid() | 1);
    }
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (double)(state >> 11) / 9007199254740992.0;
}

static bool settled(const char *status)
{
    return strcmp(status, "COMPLETED") == 0 || strcmp(status, "FAILED") == 0 ||
           strcmp(status, "CANCELLED") == 0 || strcmp(status, "TIMED_OUT") == 0 ||
           strcmp(status, "REQUIRES_ACCEPTANCE") == 0;
}

/* A new state: to the caller's callback, and whether waiting is over. */
static bool update(rally_client *c, json_t *j)
{
    struct rally_ticket t;
    parse_ticket(c, j, &t);
    if (t.ticket_id[0] == '\0')
        return false;
    /* The callback hears of changes only: the safety-net reads repeat. */
    bool changed = !c->stream_any || strcmp(c->stream_out->status, t.status) != 0;
    *c->stream_out = t;
    c->stream_any = true;
    bool stop = changed && c->stream_fn != NULL && c->stream_fn(c->stream_ctx, &t) != 0;
    return stop || settled(t.status);
}

/* text/event-stream: "data:" lines up to a blank line make one message.
 * The stream's framing lives here, not in rally_http: only this SDK reads
 * one. */
static bool on_event_data(struct rally_http *h, void *ctx)
{
    rally_client *c = ctx;
    char *line;
    while ((line = strstr(h->buf, "\n\n")) != NULL) {
        *line = '\0';
        size_t used = (size_t)(line - h->buf) + 2;
        json_t *j = NULL;
        for (char *l = h->buf; l != NULL && *l;) {
            char *next = strchr(l, '\n');
            if (next != NULL)
                *next++ = '\0';
            if (strncmp(l, "data: ", 6) == 0)
                j = json_loads(l + 6, 0, NULL);
            l = next;
        }
        rally_http_consume(h, used);
        bool over = j != NULL && update(c, j);
        json_decref(j);
        if (over) {
            c->stream_done = true;
            return false; /* ends the transfer */
        }
    }
    return true;
}

/* One push subscription for at most `ms`: 1 over, 0 not yet (timed out or
 * closed), -1 push unusable here (fall back to polling). */
static int subscribe(rally_client *c, const char *ticket_id, long ms)
{
    if (fresh_token(c, false) != RALLY_OK)
        return -1;
    char path[256];
    snprintf(path, sizeof(path), "/v1/matchmaking/%s/events", ticket_id);
    for (int attempt = 0; attempt < 2; attempt++) {
        const struct rally_http_request r = {
            .method = "GET",
            .base = c->url,
            .path = path,
            .token = c->access,
            .accept = "text/event-stream",
            .connect_timeout_ms = c->timeout_ms,
            .timeout_ms = ms,
            .on_data = on_event_data,
            .ctx = c,
        };
        c->stream_done = false;
        long status = 0;
        CURLcode rc = rally_http_exchange(&c->http, &r, &status);
        if (c->stream_done)
            return 1;
        if (status == 401 && attempt == 0 && fresh_token(c, true) == RALLY_OK)
            continue;
        if (rc == CURLE_OPERATION_TIMEDOUT || (rc == CURLE_OK && status == 200))
            return 0;
        return -1;
    }
    return -1;
}

rally_status rally_wait_for_match(rally_client *c, const char *ticket_id, long deadline_ms,
                                  struct rally_ticket *out, rally_update_fn on_update, void *ctx)
{
    if (c == NULL || out == NULL || !valid_id(ticket_id) || deadline_ms <= 0)
        return RALLY_E_ARGUMENT;
    char id[RALLY_ID_MAX]; /* ticket_id may point into *out */
    snprintf(id, sizeof(id), "%s", ticket_id);
    ticket_id = id;
    memset(out, 0, sizeof(*out));
    double end = monotonic() + (double)deadline_ms / 1000.0;
    c->stream_out = out;
    c->stream_fn = on_update;
    c->stream_ctx = ctx;
    c->stream_any = false;
    bool push = !c->no_push;
    double pause = 1.0;
    while (monotonic() < end) {
        long left = (long)((end - monotonic()) * 1000);
        if (push) {
            /* Push, with a read every 15 s as a safety net. */
            int r = subscribe(c, ticket_id, left < 15000 ? left : 15000);
            if (r == 1)
                return ok(c);
            if (r < 0)
                push = false;
        }
        struct rally_ticket now;
        rally_status rc = rally_get_ticket(c, ticket_id, &now);
        if (rc != RALLY_OK && rc != RALLY_E_NETWORK && rc != RALLY_E_SERVER)
            return rc;
        if (rc == RALLY_OK) {
            json_t *j = json_incref(c->last);
            bool over = update(c, j);
            json_decref(j);
            if (over)
                return ok(c);
        }
        if (!push) {
            /* Polling: 1 s growing to 5 s, each pause +-25% so that many
             * clients do not poll in step. */
            double jitter = 0.75 + 0.5 * unit_random();
            double wait = pause * jitter, remaining = end - monotonic();
            if (wait > remaining)
                wait = remaining;
            if (wait > 0) {
                struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
                nanosleep(&ts, NULL);
            }
            pause = pause * 1.5 < 5 ? pause * 1.5 : 5;
        }
    }
    return fail(c, RALLY_E_TIMEOUT, "ticket %s: still %s when the deadline passed", ticket_id,
                out->status[0] ? out->status : "unknown");
}

/* ---- latency ---------------------------------------------------------------------- */

/* Milliseconds to open a TCP connection to "host:port", or -1. */
static int connect_ms(const char *endpoint, long timeout_ms)
{
    char host[256];
    const char *colon = strrchr(endpoint, ':');
    if (colon == NULL || (size_t)(colon - endpoint) >= sizeof(host))
        return -1;
    snprintf(host, sizeof(host), "%.*s", (int)(colon - endpoint), endpoint);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int result = -1;
    double t0 = monotonic();
    if (fd >= 0 && (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS)) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t len = sizeof(err);
        if (poll(&p, 1, (int)timeout_ms) == 1 &&
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
            double ms = (monotonic() - t0) * 1000;
            result = ms < 1 ? 1 : (int)(ms + 0.5);
        }
    }
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return result;
}

rally_status rally_measure_latency(rally_client *c, const char *const *regions,
                                   const char *const *endpoints, size_t n, int tries,
                                   struct rally_latency *out)
{
    if (c == NULL || regions == NULL || endpoints == NULL || out == NULL || tries < 1)
        return RALLY_E_ARGUMENT;
    for (size_t i = 0; i < n; i++) {
        out[i].region = regions[i];
        out[i].ms = -1;
        for (int k = 0; k < tries; k++) {
            int ms = connect_ms(endpoints[i], c->timeout_ms);
            if (ms >= 0 && (out[i].ms < 0 || ms < out[i].ms))
                out[i].ms = ms;
        }
    }
    return ok(c);
}
