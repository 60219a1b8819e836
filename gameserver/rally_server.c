/* rally server SDK: the fleet API over libcurl (rally_server.h). */
#include "rally_server.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rally_http.h"

struct rally_server {
    char *url, *fleet_id, *fleet_secret, *location, *ip_address, *dns_name;
    char *agent_process_id, *compute_name, *host_process_id; /* given by the agent, or NULL */
    int port, max_players;
    struct rally_http http; /* the libcurl handle and the response being received */
    char *token;
    double token_until; /* monotonic seconds: log in again before this */
    char process_id[160];
    char session_id[160];   /* the game session this process hosts, once handed over */
    char session_arn[1024]; /* its ARN */
    char *matchmaker_data;  /* its MatchmakerData as last heard (malloc'd), for update_reason */
    char message[512];
    long last_status; /* of the last call's answer (0: none came) */
    json_t *last;     /* the last response body: what handed-out strings point into */
    struct rally_game_session session;
    char *response; /* the last rally_server_request() answer, as text */
};

static double monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((format(printf, 3, 4))) static int fail(rally_server *s, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->message, sizeof(s->message), fmt, ap);
    va_end(ap);
    return rc;
}

static char *dup_or_null(const char *v)
{
    return v != NULL ? strdup(v) : NULL;
}

int rally_server_read_secret(char *out, size_t cap)
{
    const char *path = getenv("RALLY_FLEET_SECRET_FILE");
    FILE *f = path != NULL && cap > 1 ? fopen(path, "r") : NULL;
    if (f == NULL)
        return -1;
    size_t n = fread(out, 1, cap - 1, f);
    fclose(f);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
        n--;
    out[n] = '\0';
    return n > 0 ? 0 : -1;
}

rally_server *rally_server_new(const struct rally_server_params *p)
{
    if (p == NULL || p->url == NULL || p->fleet_id == NULL || p->fleet_secret == NULL)
        return NULL;
    /* Without a location, the handle is for rally_server_request() only. */
    bool process = p->location != NULL;
    if (process && (p->ip_address == NULL || p->port < 1 || p->port > 60000 || p->max_players < 1 ||
                    p->max_players > 200))
        return NULL;
    rally_server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->url = strdup(p->url);
    s->fleet_id = strdup(p->fleet_id);
    s->fleet_secret = strdup(p->fleet_secret);
    s->location = strdup(process ? p->location : "");
    s->ip_address = strdup(process ? p->ip_address : "");
    s->dns_name = dup_or_null(p->dns_name);
    s->agent_process_id = dup_or_null(p->process_id);
    s->compute_name = dup_or_null(p->compute_name);
    s->host_process_id = dup_or_null(p->host_process_id);
    s->port = p->port;
    s->max_players = p->max_players;
    if (rally_http_init(&s->http) != 0 || s->url == NULL || s->fleet_id == NULL ||
        s->fleet_secret == NULL || s->location == NULL || s->ip_address == NULL ||
        (p->dns_name != NULL && s->dns_name == NULL) ||
        (p->process_id != NULL && s->agent_process_id == NULL) ||
        (p->compute_name != NULL && s->compute_name == NULL) ||
        (p->host_process_id != NULL && s->host_process_id == NULL)) {
        rally_server_free(s);
        return NULL;
    }
    size_t n = strlen(s->url);
    if (n > 0 && s->url[n - 1] == '/')
        s->url[n - 1] = '\0';
    return s;
}

void rally_server_free(rally_server *s)
{
    if (s == NULL)
        return;
    rally_http_cleanup(&s->http);
    json_decref(s->last);
    free(s->matchmaker_data);
    free(s->agent_process_id);
    free(s->compute_name);
    free(s->host_process_id);
    free(s->url);
    free(s->fleet_id);
    if (s->fleet_secret != NULL)
        memset(s->fleet_secret, 0, strlen(s->fleet_secret));
    free(s->fleet_secret);
    free(s->location);
    free(s->ip_address);
    free(s->dns_name);
    free(s->token);
    free(s->response);
    free(s);
}

/* One HTTP exchange. body (may be NULL) is consumed. On a response, *status
 * is its code and s->last its JSON body (or NULL). */
static int exchange(rally_server *s, const char *method, const char *path, json_t *body,
                    bool with_token, long *status)
{
    const struct rally_http_request r = {
        .method = method,
        .base = s->url,
        .path = path,
        .token = with_token ? s->token : NULL,
        .body = "", /* every method sends one, GET too */
        .connect_timeout_ms = 3000,
        .timeout_ms = 10000,
    };
    CURLcode rc = rally_http_json(&s->http, &r, body, &s->last, status);
    if (rc != CURLE_OK)
        return fail(s, RALLY_SERVER_E_TRANSPORT, "%s %s: %s", method, path, curl_easy_strerror(rc));
    return RALLY_SERVER_OK;
}

/* A server-scope token, fetched again a minute before it expires. */
static int login(rally_server *s)
{
    if (s->token != NULL && monotonic() < s->token_until)
        return RALLY_SERVER_OK;
    long status = 0;
    int rc =
        exchange(s, "POST", "/v1/identity/server",
                 json_pack("{s:s, s:s}", "fleetId", s->fleet_id, "fleetSecret", s->fleet_secret),
                 false, &status);
    if (rc != RALLY_SERVER_OK)
        return rc;
    const char *token = json_string_value(json_object_get(s->last, "auth_token"));
    if (status != 200 || token == NULL)
        return fail(s, RALLY_SERVER_E_AUTH, "fleet %s: credentials refused (HTTP %ld)", s->fleet_id,
                    status);
    free(s->token);
    s->token = strdup(token);
    if (s->token == NULL)
        return fail(s, RALLY_SERVER_E_TRANSPORT, "out of memory");
    json_int_t ttl = json_integer_value(json_object_get(s->last, "auth_token_expires_in"));
    s->token_until = monotonic() + (double)(ttl > 120 ? ttl - 60 : ttl / 2);
    return RALLY_SERVER_OK;
}

/* An authenticated call: logs in first, and once more on a 401. Maps the
 * status onto an error with rally's message. */
static int call(rally_server *s, const char *method, const char *path, json_t *body)
{
    long status = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        int rc = login(s);
        if (rc != RALLY_SERVER_OK) {
            json_decref(body);
            return rc;
        }
        rc = exchange(s, method, path, json_incref(body), true, &status);
        if (rc != RALLY_SERVER_OK || status != 401)
            break;
        free(s->token); /* rejected: a new one */
        s->token = NULL;
    }
    json_decref(body);
    s->last_status = status;
    if (status == 0)
        return RALLY_SERVER_E_TRANSPORT;
    const char *why = json_string_value(json_object_get(s->last, "message"));
    why = why != NULL ? why : "";
    if (status >= 200 && status < 300) {
        s->message[0] = '\0';
        return RALLY_SERVER_OK;
    }
    int rc = status == 401 || status == 403 ? RALLY_SERVER_E_AUTH
             : status == 404                ? RALLY_SERVER_E_NOT_FOUND
             : status == 410                ? RALLY_SERVER_E_TERMINATED
                                            : RALLY_SERVER_E_REFUSED;
    return fail(s, rc, "%s %s: HTTP %ld %s", method, path, status, why);
}

int rally_server_request(rally_server *s, const char *method, const char *path,
                         const char *body_json, const char **response_json)
{
    if (s == NULL || method == NULL || path == NULL || path[0] != '/')
        return RALLY_SERVER_E_ARGUMENT;
    json_t *body = NULL;
    if (body_json != NULL && (body = json_loads(body_json, 0, NULL)) == NULL)
        return fail(s, RALLY_SERVER_E_ARGUMENT, "the request body is not JSON");
    int rc = call(s, method, path, body);
    free(s->response);
    s->response = s->last != NULL ? json_dumps(s->last, JSON_COMPACT) : NULL;
    if (response_json != NULL)
        *response_json = s->response != NULL ? s->response : "";
    return rc;
}

int rally_server_process_ready(rally_server *s)
{
    if (s == NULL || s->location[0] == '\0')
        return RALLY_SERVER_E_ARGUMENT;
    json_t *body = json_pack("{s:s, s:s, s:i, s:i}", "location", s->location, "ipAddress",
                             s->ip_address, "port", s->port, "maxPlayers", s->max_players);
    if (s->dns_name != NULL)
        json_object_set_new(body, "dnsName", json_string(s->dns_name));
    if (s->agent_process_id != NULL)
        json_object_set_new(body, "processId", json_string(s->agent_process_id));
    if (s->compute_name != NULL)
        json_object_set_new(body, "computeName", json_string(s->compute_name));
    if (s->host_process_id != NULL)
        json_object_set_new(body, "hostProcessId", json_string(s->host_process_id));
    int rc = call(s, "POST", "/v1/fleet/processes", body);
    if (rc != RALLY_SERVER_OK)
        return rc;
    const char *id = json_string_value(json_object_get(s->last, "processId"));
    if (id == NULL || strlen(id) >= sizeof(s->process_id))
        return fail(s, RALLY_SERVER_E_TRANSPORT, "ProcessReady: no processId in the answer");
    snprintf(s->process_id, sizeof(s->process_id), "%s", id);
    s->session_id[0] = '\0';
    s->session_arn[0] = '\0';
    return RALLY_SERVER_OK;
}

const char *rally_server_process_id(const rally_server *s)
{
    return s != NULL ? s->process_id : "";
}

static const char *field(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

int rally_server_heartbeat(rally_server *s, const struct rally_game_session **session)
{
    if (s == NULL || session == NULL || s->process_id[0] == '\0')
        return RALLY_SERVER_E_ARGUMENT;
    *session = NULL;
    char path[256];
    snprintf(path, sizeof(path), "/v1/fleet/processes/%s/heartbeat", s->process_id);
    int rc = call(s, "POST", path, NULL);
    if (rc != RALLY_SERVER_OK)
        return rc;
    json_t *gs = json_object_get(s->last, "gameSession");
    if (!json_is_object(gs))
        return RALLY_SERVER_OK;
    /* GameProperties as text, kept in the response it came with. */
    char *props = json_dumps(json_object_get(gs, "gameProperties"), JSON_COMPACT);
    json_object_set_new(gs, "gamePropertiesText", json_string(props != NULL ? props : "[]"));
    free(props);
    s->session = (struct rally_game_session){
        .game_session_id = field(gs, "gameSessionId"),
        .game_session_arn = field(gs, "gameSessionArn"),
        .status = field(gs, "status"),
        .location = field(gs, "location"),
        .matchmaker_data = field(gs, "matchmakerData"),
        .game_session_data = field(gs, "gameSessionData"),
        .game_properties = field(gs, "gamePropertiesText"),
        .max_players = (int)json_integer_value(json_object_get(gs, "maximumPlayerSessionCount")),
    };
    if (s->session.game_session_id == NULL || s->session.status == NULL)
        return fail(s, RALLY_SERVER_E_TRANSPORT, "heartbeat: malformed game session");
    /* The same game session with other MatchmakerData: a backfill. */
    const char *data = s->session.matchmaker_data != NULL ? s->session.matchmaker_data : "";
    bool same = strcmp(s->session_id, s->session.game_session_id) == 0;
    if (same && s->matchmaker_data != NULL && strcmp(s->matchmaker_data, data) != 0)
        s->session.update_reason = "MATCHMAKING_DATA_UPDATED";
    if (!same || s->matchmaker_data == NULL || s->session.update_reason != NULL) {
        free(s->matchmaker_data);
        s->matchmaker_data = strdup(data);
    }
    snprintf(s->session_id, sizeof(s->session_id), "%s", s->session.game_session_id);
    snprintf(s->session_arn, sizeof(s->session_arn), "%s",
             s->session.game_session_arn != NULL ? s->session.game_session_arn : "");
    *session = &s->session;
    return RALLY_SERVER_OK;
}

/* Ids go into paths: rally's own are [A-Za-z0-9.-]. */
static bool path_safe(const char *id)
{
    if (id == NULL || *id == '\0' || strlen(id) > 128)
        return false;
    for (const char *c = id; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '.'))
            return false;
    return true;
}

const char *rally_server_game_session_id(const rally_server *s)
{
    return s != NULL && s->session_arn[0] != '\0' ? s->session_arn : NULL;
}

int rally_server_update_creation_policy(rally_server *s, const char *policy)
{
    if (s == NULL || policy == NULL || s->session_id[0] == '\0')
        return RALLY_SERVER_E_ARGUMENT;
    json_t *body = json_pack("{s:s, s:s}", "GameSessionId", s->session_id,
                             "PlayerSessionCreationPolicy", policy);
    return call(s, "POST", "/v1/fleet/game-sessions/policy", body);
}

int rally_server_describe_player_sessions(rally_server *s, const char *status_filter,
                                          const char *next_token, const char **response_json)
{
    if (s == NULL || response_json == NULL || s->session_id[0] == '\0')
        return RALLY_SERVER_E_ARGUMENT;
    json_t *body = json_pack("{s:s}", "GameSessionId", s->session_id);
    if (status_filter != NULL)
        json_object_set_new(body, "PlayerSessionStatusFilter", json_string(status_filter));
    if (next_token != NULL)
        json_object_set_new(body, "NextToken", json_string(next_token));
    int rc = call(s, "POST", "/v1/fleet/player-sessions/describe", body);
    free(s->response);
    s->response = s->last != NULL ? json_dumps(s->last, JSON_COMPACT) : NULL;
    *response_json = s->response != NULL ? s->response : "";
    return rc;
}

int rally_server_start_backfill(rally_server *s, const char *configuration,
                                const char *players_json, const char **ticket_id)
{
    if (s == NULL || configuration == NULL || players_json == NULL || s->session_id[0] == '\0')
        return RALLY_SERVER_E_ARGUMENT;
    json_t *players = json_loads(players_json, 0, NULL);
    if (!json_is_array(players)) {
        json_decref(players);
        return fail(s, RALLY_SERVER_E_ARGUMENT, "players_json is not a JSON list");
    }
    json_t *body = json_pack("{s:s, s:s, s:o}", "ConfigurationName", configuration,
                             "GameSessionArn", s->session_id, "Players", players);
    int rc = call(s, "POST", "/v1/fleet/matchmaking/backfill", body);
    if (rc == RALLY_SERVER_OK && ticket_id != NULL)
        *ticket_id = field(json_object_get(s->last, "MatchmakingTicket"), "TicketId");
    return rc;
}

int rally_server_activate(rally_server *s, const char *game_session_id)
{
    if (s == NULL || !path_safe(game_session_id))
        return RALLY_SERVER_E_ARGUMENT;
    char path[256];
    snprintf(path, sizeof(path), "/v1/fleet/game-sessions/%s/activate", game_session_id);
    return call(s, "POST", path, NULL);
}

int rally_server_accept_player(rally_server *s, const char *player_session_id,
                               const char **player_id)
{
    if (s == NULL)
        return RALLY_SERVER_E_ARGUMENT;
    if (!path_safe(player_session_id))
        return fail(s, RALLY_SERVER_E_NOT_FOUND, "not a player session id");
    char path[256];
    snprintf(path, sizeof(path), "/v1/fleet/player-sessions/%s/accept", player_session_id);
    /* Only a seat of this process's own game session: a player of another
     * game of the fleet is refused here. */
    json_t *body =
        s->session_id[0] != '\0' ? json_pack("{s:s}", "gameSessionId", s->session_id) : NULL;
    int rc = call(s, "POST", path, body);
    if (rc == RALLY_SERVER_OK && player_id != NULL)
        *player_id = field(s->last, "playerId");
    return rc;
}

int rally_server_remove_player(rally_server *s, const char *player_session_id)
{
    if (s == NULL || !path_safe(player_session_id))
        return RALLY_SERVER_E_ARGUMENT;
    char path[256];
    snprintf(path, sizeof(path), "/v1/fleet/player-sessions/%s/remove", player_session_id);
    return call(s, "POST", path, NULL);
}

int rally_server_process_ending(rally_server *s)
{
    if (s == NULL || s->process_id[0] == '\0')
        return RALLY_SERVER_E_ARGUMENT;
    char path[256];
    snprintf(path, sizeof(path), "/v1/fleet/processes/%s", s->process_id);
    int rc = call(s, "DELETE", path, NULL);
    if (rc == RALLY_SERVER_OK || rc == RALLY_SERVER_E_NOT_FOUND)
        s->process_id[0] = '\0';
    return rc;
}

const char *rally_server_message(const rally_server *s)
{
    return s != NULL ? s->message : "no handle";
}

long rally_server_last_status(const rally_server *s)
{
    return s != NULL ? s->last_status : 0;
}
