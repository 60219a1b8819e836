/* The sidecar's calls to rally, with the fleet's server token (upstream.h). */
#include "upstream.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define CONNECT_TIMEOUT_MS 3000L
/* A save's part is 8 MiB: time enough for it on a slow link. */
#define CALL_TIMEOUT_MS 60000L

struct upstream {
    char *url, *fleet_id, *fleet_secret;
    char *process_header; /* "X-Rally-Process-Id: ...", or NULL */
    pthread_mutex_t lock; /* guards token and token_until */
    char *token;
    double token_until; /* monotonic seconds */
};

static double monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct upstream *upstream_new(const char *url, const char *fleet_id, const char *fleet_secret,
                              const char *process_id)
{
    struct upstream *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return NULL;
    pthread_mutex_init(&u->lock, NULL);
    u->url = strdup(url);
    u->fleet_id = strdup(fleet_id);
    u->fleet_secret = strdup(fleet_secret);
    if (process_id != NULL) {
        size_t len = strlen(process_id) + 32;
        if ((u->process_header = malloc(len)) != NULL)
            snprintf(u->process_header, len, "X-Rally-Process-Id: %s", process_id);
    }
    if (u->url == NULL || u->fleet_id == NULL || u->fleet_secret == NULL ||
        (process_id != NULL && u->process_header == NULL)) {
        upstream_free(u);
        return NULL;
    }
    return u;
}

void upstream_free(struct upstream *u)
{
    if (u == NULL)
        return;
    if (u->fleet_secret != NULL)
        memset(u->fleet_secret, 0, strlen(u->fleet_secret));
    free(u->fleet_secret);
    free(u->fleet_id);
    free(u->url);
    free(u->process_header);
    free(u->token);
    pthread_mutex_destroy(&u->lock);
    free(u);
}

int upstream_conn_init(struct upstream_conn *c, struct upstream *u)
{
    *c = (struct upstream_conn){.u = u};
    return rally_http_init(&c->http);
}

void upstream_conn_cleanup(struct upstream_conn *c)
{
    rally_http_cleanup(&c->http);
}

/* A copy of the token (the caller frees it), logging in when there is none
 * or it is about to expire, and when `stale` is the one rally refused;
 * NULL with c->error set when no token could be had. */
static char *token(struct upstream_conn *c, const char *stale)
{
    struct upstream *u = c->u;
    pthread_mutex_lock(&u->lock);
    if (u->token != NULL &&
        (monotonic_s() >= u->token_until || (stale != NULL && strcmp(stale, u->token) == 0))) {
        free(u->token);
        u->token = NULL;
    }
    if (u->token == NULL) {
        const struct rally_http_request r = {.method = "POST",
                                             .base = u->url,
                                             .path = "/v1/identity/server",
                                             .connect_timeout_ms = CONNECT_TIMEOUT_MS,
                                             .timeout_ms = 10000L,
                                             .cancel = c->cancel};
        json_t *answer = NULL;
        long status = 0;
        CURLcode rc = rally_http_json(
            &c->http, &r,
            json_pack("{s:s, s:s}", "fleetId", u->fleet_id, "fleetSecret", u->fleet_secret),
            &answer, &status);
        const char *got = json_string_value(json_object_get(answer, "auth_token"));
        json_int_t ttl = json_integer_value(json_object_get(answer, "auth_token_expires_in"));
        if (rc != CURLE_OK)
            snprintf(c->error, sizeof(c->error), "rally unreachable: %s", curl_easy_strerror(rc));
        else if (status != 200 || got == NULL)
            snprintf(c->error, sizeof(c->error), "rally refused fleet %s's credentials (HTTP %ld)",
                     u->fleet_id, status);
        else if ((u->token = strdup(got)) != NULL)
            u->token_until = monotonic_s() + (double)(ttl > 120 ? ttl - 60 : ttl / 2);
        json_decref(answer);
    }
    char *copy = u->token != NULL ? strdup(u->token) : NULL;
    pthread_mutex_unlock(&u->lock);
    return copy;
}

long upstream_call(struct upstream_conn *c, const char *method, const char *path,
                   const char *content_type, const void *body, size_t len)
{
    char *used = NULL;
    long status = 0;
    c->error[0] = '\0';
    /* Once more with a new token when rally refuses the one it gave. */
    for (int attempt = 0; attempt < 2; attempt++) {
        char *t = token(c, used);
        free(used);
        used = t;
        if (t == NULL)
            return 0;
        const struct rally_http_request r = {
            .method = method,
            .base = c->u->url,
            .path = path,
            .token = t,
            .body = body != NULL && len > 0 ? body : "",
            .body_len = len,
            .content_type = content_type,
            .header = c->u->process_header,
            .cancel = c->cancel,
            .connect_timeout_ms = CONNECT_TIMEOUT_MS,
            .timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : CALL_TIMEOUT_MS,
        };
        CURLcode rc = rally_http_exchange(&c->http, &r, &status);
        if (rc != CURLE_OK) {
            snprintf(c->error, sizeof(c->error), "rally unreachable: %s", curl_easy_strerror(rc));
            status = 0;
            break;
        }
        if (status != 401)
            break;
    }
    free(used);
    return status;
}
