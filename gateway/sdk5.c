#include "sdk5.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "auth.h"
#include "log.h"
#include "util.h"

/* What one connection may have forwarded and unanswered at once. */
#define MAX_INFLIGHT 32
/* A token with less than this left is replaced (RefreshConnection). */
#define REFRESH_MARGIN_S 300
#define SWEEP_MS 5000.0

static struct {
    struct sdk5_opts o;
    double last_heartbeats_ms, last_sweep_ms;
    bool heartbeats_busy, pushes_busy;
    bool any_due; /* some connection has push_due set */
} s;

/* Rally may have something for c's process: looked at on the next tick. */
static void due(struct conn *c)
{
    c->push_due = true;
    s.any_due = true;
}

void sdk5_init(const struct sdk5_opts *o)
{
    s.o = *o;
}

/* ---- answers ---------------------------------------------------------- */

/* Sends obj (stolen) with the envelope: Action, RequestId, StatusCode. */
static void send_json(struct conn *c, const char *action, const char *request_id, int status,
                      json_t *obj)
{
    json_object_set_new(obj, "Action", json_string(action));
    json_object_set_new(obj, "RequestId", json_string(request_id));
    json_object_set_new(obj, "StatusCode", json_integer(status));
    char *text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (text != NULL)
        conn_send_text(c, text, strlen(text));
    free(text);
}

/* The minimal success answer. request_id and action are tokens (checked
 * on arrival), so no escaping is needed. */
static void reply_ok(struct conn *c, const char *action, const char *request_id)
{
    char out[320];
    int n =
        snprintf(out, sizeof(out), "{\"Action\":\"%s\",\"RequestId\":\"%s\",\"StatusCode\":200}",
                 action, request_id);
    conn_send_text(c, out, (size_t)n);
}

/* An error answer: the SDK takes StatusCode (400 BadRequest, 401, 403,
 * 404, 409, 429, else InternalServiceException) and ErrorMessage. An
 * empty request_id (none could be read) makes it a note for logs only. */
static void reply_error(struct conn *c, const char *action, const char *request_id, int status,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void reply_error(struct conn *c, const char *action, const char *request_id, int status,
                        const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof(msg)) { /* cut: not inside a UTF-8 sequence */
        size_t end = sizeof(msg) - 1;
        while (end > 0 && ((unsigned char)msg[end - 1] & 0xC0) == 0x80)
            end--;
        if (end > 0 && (unsigned char)msg[end - 1] >= 0xC0)
            end--;
        msg[end] = '\0';
    }
    json_t *obj = json_pack("{s:s}", "ErrorMessage", msg);
    send_json(c, action, request_id, status,
              obj != NULL ? obj : json_pack("{s:s}", "ErrorMessage", "refused"));
}

/* ---- forwarding ------------------------------------------------------- */

enum action {
    ACTIVATE_SERVER_PROCESS,
    HEARTBEAT,
    ACTIVATE_GAME_SESSION,
    ACCEPT_PLAYER_SESSION,
    REMOVE_PLAYER_SESSION,
    UPDATE_POLICY,
    DESCRIBE_PLAYER_SESSIONS,
    START_BACKFILL,
    STOP_BACKFILL,
    TERMINATE_SERVER_PROCESS,
    GET_COMPUTE_CERTIFICATE,
    GET_FLEET_ROLE_CREDENTIALS,
};

static const char *const action_names[] = {
    [ACTIVATE_SERVER_PROCESS] = "ActivateServerProcess",
    [HEARTBEAT] = "HeartbeatServerProcess",
    [ACTIVATE_GAME_SESSION] = "ActivateGameSession",
    [ACCEPT_PLAYER_SESSION] = "AcceptPlayerSession",
    [REMOVE_PLAYER_SESSION] = "RemovePlayerSession",
    [UPDATE_POLICY] = "UpdatePlayerSessionCreationPolicy",
    [DESCRIBE_PLAYER_SESSIONS] = "DescribePlayerSessions",
    [START_BACKFILL] = "StartMatchBackfill",
    [STOP_BACKFILL] = "StopMatchBackfill",
    [TERMINATE_SERVER_PROCESS] = "TerminateServerProcess",
    [GET_COMPUTE_CERTIFICATE] = "GetComputeCertificate",
    [GET_FLEET_ROLE_CREDENTIALS] = "GetFleetRoleCredentials",
};

/* Sends a call on to rally; body (stolen, may be NULL) as JSON. */
static void forward(struct conn *c, int action, const char *request_id, const char *method,
                    char *path, json_t *body)
{
    struct fwd_job *j = calloc(1, sizeof(*j));
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (j == NULL || path == NULL || (body != NULL && text == NULL) ||
        (j->token = strdup(c->token)) == NULL) {
        free(j);
        free(path);
        free(text);
        reply_error(c, action_names[action], request_id, 500, "the gateway is out of memory");
        return;
    }
    j->slot = c->base.slot;
    j->gen = c->base.gen;
    j->action = action;
    snprintf(j->request_id, sizeof(j->request_id), "%s", request_id);
    j->method = method;
    j->path = path;
    j->body = text;
    c->inflight++;
    forward_submit(j);
}

/* prefix, id, suffix: a path of a fleet route (malloc'd; NULL without
 * memory). */
static char *path_with(const char *prefix, const char *id, const char *suffix)
{
    char *p = NULL;
    if (asprintf(&p, "%s%s%s", prefix, id, suffix) < 0)
        return NULL;
    return p;
}

/* ---- actions ---------------------------------------------------------- */

/* A string member that is absent, or a string. */
static bool opt_string(json_t *msg, const char *name, const char **out)
{
    json_t *v = json_object_get(msg, name);
    *out = json_is_string(v) ? json_string_value(v) : NULL;
    return v == NULL || json_is_null(v) || json_is_string(v);
}

/* rally's game session id of the GameSessionId the SDK holds: its
 * ARN, "arn:aws:gamelift:<region>::gamesession/<fleet>/<location>/<id>". */
static const char *game_session_of(const char *arn)
{
    if (arn == NULL)
        return NULL;
    const char *slash = strrchr(arn, '/');
    const char *id = slash != NULL ? slash + 1 : arn;
    return util_is_token(id, 128, "-.") ? id : NULL;
}

typedef void handler_fn(struct conn *c, const char *rid, json_t *msg);

static void activate_server_process(struct conn *c, const char *rid, json_t *msg)
{
    json_t *port = json_object_get(msg, "Port");
    if (!json_is_integer(port) || json_integer_value(port) < 1 ||
        json_integer_value(port) > 60000) {
        reply_error(c, action_names[ACTIVATE_SERVER_PROCESS], rid, 400,
                    "Port: an integer from 1 to 60000");
        return;
    }
    /* The process's location and address are its compute's. GameLift's
     * game sessions hold up to 200 players: so may this process's. No push
     * goes out until the SDK has taken the answer (its first heartbeat). */
    c->push_hold = HOLD_UNTIL_ANSWERED;
    forward(c, ACTIVATE_SERVER_PROCESS, rid, "POST", strdup("/v1/fleet/processes"),
            json_pack("{s:s, s:s, s:O, s:i, s:s}", "processId", c->process, "computeName",
                      c->compute, "port", port, "maxPlayers", 200, "sdk", c->sdk));
}

static void heartbeat(struct conn *c, const char *rid, json_t *msg)
{
    json_t *health = json_object_get(msg, "HealthStatus");
    if (!json_is_boolean(health)) {
        reply_error(c, action_names[HEARTBEAT], rid, 400, "HealthStatus: true or false");
        return;
    }
    c->last_heartbeat_ms = util_mono_ms();
    c->unhealthy = !json_is_true(health);
    /* The SDK beats once its ProcessReady succeeded: from now on it takes
     * a CreateGameSession (before, it would drop one). */
    if (c->push_hold == HOLD_UNTIL_HEARTBEAT) {
        c->push_hold = HOLD_NONE;
        due(c);
    }
    reply_ok(c, action_names[HEARTBEAT], rid);
}

static void activate_game_session(struct conn *c, const char *rid, json_t *msg)
{
    const char *arn;
    const char *id = opt_string(msg, "GameSessionId", &arn) ? game_session_of(arn) : NULL;
    if (id == NULL) {
        reply_error(c, action_names[ACTIVATE_GAME_SESSION], rid, 400,
                    "GameSessionId: the game session's id, as CreateGameSession gave it");
        return;
    }
    forward(c, ACTIVATE_GAME_SESSION, rid, "POST",
            path_with("/v1/fleet/game-sessions/", id, "/activate"), NULL);
}

/* AcceptPlayerSession and RemovePlayerSession: a player session of the
 * game session. */
static void player_session_call(struct conn *c, const char *rid, json_t *msg, int action,
                                const char *verb)
{
    const char *arn, *psess;
    const char *id = opt_string(msg, "GameSessionId", &arn) ? game_session_of(arn) : NULL;
    if (id == NULL || !opt_string(msg, "PlayerSessionId", &psess) || psess == NULL ||
        !util_is_token(psess, 128, "-.")) {
        reply_error(c, action_names[action], rid, 400,
                    id == NULL
                        ? "GameSessionId: the game session's id, as CreateGameSession gave it"
                        : "PlayerSessionId: 1-128 of [A-Za-z0-9-.]");
        return;
    }
    char path[192];
    snprintf(path, sizeof(path), "/v1/fleet/player-sessions/%s/%s", psess, verb);
    forward(c, action, rid, "POST", strdup(path),
            action == ACCEPT_PLAYER_SESSION ? json_pack("{s:s}", "gameSessionId", id) : NULL);
}

static void accept_player_session(struct conn *c, const char *rid, json_t *msg)
{
    player_session_call(c, rid, msg, ACCEPT_PLAYER_SESSION, "accept");
}

static void remove_player_session(struct conn *c, const char *rid, json_t *msg)
{
    player_session_call(c, rid, msg, REMOVE_PLAYER_SESSION, "remove");
}

static void update_policy(struct conn *c, const char *rid, json_t *msg)
{
    const char *arn, *policy;
    if (!opt_string(msg, "GameSessionId", &arn) || game_session_of(arn) == NULL ||
        !opt_string(msg, "PlayerSessionPolicy", &policy) || policy == NULL) {
        reply_error(c, action_names[UPDATE_POLICY], rid, 400,
                    "GameSessionId and PlayerSessionPolicy (ACCEPT_ALL or DENY_ALL) are required");
        return;
    }
    forward(c, UPDATE_POLICY, rid, "POST", strdup("/v1/fleet/game-sessions/policy"),
            json_pack("{s:s, s:s}", "GameSessionId", arn, "PlayerSessionCreationPolicy", policy));
}

/* The request's members rally's DescribePlayerSessions takes, as they
 * are: it checks them. */
static void describe_player_sessions(struct conn *c, const char *rid, json_t *msg)
{
    static const char *const members[] = {"GameSessionId",   "PlayerId",
                                          "PlayerSessionId", "PlayerSessionStatusFilter",
                                          "NextToken",       "Limit"};
    json_t *body = json_object();
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        json_t *v = json_object_get(msg, members[i]);
        if (v != NULL && !json_is_null(v))
            json_object_set(body, members[i], v);
    }
    forward(c, DESCRIBE_PLAYER_SESSIONS, rid, "POST", strdup("/v1/fleet/player-sessions/describe"),
            body);
}

/* The SDK's AttributeValue, {"AttrType", "S"|"N"|"SL"|"SDM"}, as the
 * GameLift API's: the member its AttrType names. NULL: malformed. */
static json_t *attribute_value(json_t *v)
{
    static const char *const kinds[][2] = {
        {"STRING", "S"}, {"DOUBLE", "N"}, {"STRING_LIST", "SL"}, {"STRING_DOUBLE_MAP", "SDM"}};
    const char *type = json_string_value(json_object_get(v, "AttrType"));
    for (size_t i = 0; type != NULL && i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(type, kinds[i][0]) == 0) {
            json_t *member = json_object_get(v, kinds[i][1]);
            return member != NULL ? json_pack("{s:O}", kinds[i][1], member) : NULL;
        }
    return NULL;
}

/* The SDK's Players as the GameLift API's; NULL after answering what is
 * wrong. */
static json_t *backfill_players(struct conn *c, const char *rid, json_t *players)
{
    if (!json_is_array(players)) {
        reply_error(c, action_names[START_BACKFILL], rid, 400, "Players: an array");
        return NULL;
    }
    json_t *out = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(players, i, p)
    {
        if (!json_is_object(p)) {
            reply_error(c, action_names[START_BACKFILL], rid, 400, "Players[%zu]: an object", i);
            json_decref(out);
            return NULL;
        }
        json_t *q = json_object(), *attrs = json_object_get(p, "PlayerAttributes");
        const char *key;
        json_t *v;
        json_object_foreach(p, key, v)
        {
            if (strcmp(key, "PlayerAttributes") != 0 && !json_is_null(v))
                json_object_set(q, key, v);
        }
        if (json_is_object(attrs) && json_object_size(attrs) > 0) {
            json_t *converted = json_object();
            json_object_foreach(attrs, key, v)
            {
                const char *type = json_string_value(json_object_get(v, "AttrType"));
                if (type != NULL && strcmp(type, "NONE") == 0)
                    continue;
                json_t *value = attribute_value(v);
                if (value == NULL) {
                    reply_error(c, action_names[START_BACKFILL], rid, 400,
                                "Players[%zu].PlayerAttributes.%s: AttrType STRING, DOUBLE, "
                                "STRING_LIST or STRING_DOUBLE_MAP with its S, N, SL or SDM",
                                i, key);
                    json_decref(converted);
                    json_decref(q);
                    json_decref(out);
                    return NULL;
                }
                json_object_set_new(converted, key, value);
            }
            json_object_set_new(q, "PlayerAttributes", converted);
        }
        json_array_append_new(out, q);
    }
    return out;
}

static void start_backfill(struct conn *c, const char *rid, json_t *msg)
{
    const char *config, *arn, *ticket;
    if (!opt_string(msg, "MatchmakingConfigurationArn", &config) || config == NULL ||
        !opt_string(msg, "GameSessionArn", &arn) || arn == NULL ||
        !opt_string(msg, "TicketId", &ticket)) {
        reply_error(c, action_names[START_BACKFILL], rid, 400,
                    "MatchmakingConfigurationArn and GameSessionArn are required");
        return;
    }
    json_t *players = backfill_players(c, rid, json_object_get(msg, "Players"));
    if (players == NULL)
        return;
    json_t *body = json_pack("{s:s, s:s, s:o}", "ConfigurationName", config, "GameSessionArn", arn,
                             "Players", players);
    if (ticket != NULL && ticket[0] != '\0') /* the SDK sends "" for none */
        json_object_set_new(body, "TicketId", json_string(ticket));
    forward(c, START_BACKFILL, rid, "POST", strdup("/v1/fleet/matchmaking/backfill"), body);
}

static void stop_backfill(struct conn *c, const char *rid, json_t *msg)
{
    const char *ticket, *ignored;
    if (!opt_string(msg, "TicketId", &ticket) || ticket == NULL || ticket[0] == '\0' ||
        !opt_string(msg, "GameSessionArn", &ignored) ||
        !opt_string(msg, "MatchmakingConfigurationArn", &ignored)) {
        reply_error(c, action_names[STOP_BACKFILL], rid, 400, "TicketId is required");
        return;
    }
    forward(c, STOP_BACKFILL, rid, "POST", strdup("/v1/fleet/matchmaking/stop"),
            json_pack("{s:s}", "TicketId", ticket));
}

static void terminate_server_process(struct conn *c, const char *rid, json_t *msg)
{
    (void)msg;
    forward(c, TERMINATE_SERVER_PROCESS, rid, "DELETE",
            path_with("/v1/fleet/processes/", c->process, ""), NULL);
}

static void get_compute_certificate(struct conn *c, const char *rid, json_t *msg)
{
    (void)msg;
    reply_error(c, action_names[GET_COMPUTE_CERTIFICATE], rid, 400,
                "rally issues no TLS certificates to computes: give the game server its "
                "certificate by other means");
}

static void get_fleet_role_credentials(struct conn *c, const char *rid, json_t *msg)
{
    (void)msg;
    reply_error(c, action_names[GET_FLEET_ROLE_CREDENTIALS], rid, 400,
                "rally fleets have no IAM role to assume: give the game server the AWS "
                "credentials it needs by other means");
}

static handler_fn *const handlers[] = {
    [ACTIVATE_SERVER_PROCESS] = activate_server_process,
    [HEARTBEAT] = heartbeat,
    [ACTIVATE_GAME_SESSION] = activate_game_session,
    [ACCEPT_PLAYER_SESSION] = accept_player_session,
    [REMOVE_PLAYER_SESSION] = remove_player_session,
    [UPDATE_POLICY] = update_policy,
    [DESCRIBE_PLAYER_SESSIONS] = describe_player_sessions,
    [START_BACKFILL] = start_backfill,
    [STOP_BACKFILL] = stop_backfill,
    [TERMINATE_SERVER_PROCESS] = terminate_server_process,
    [GET_COMPUTE_CERTIFICATE] = get_compute_certificate,
    [GET_FLEET_ROLE_CREDENTIALS] = get_fleet_role_credentials,
};

#define NACTIONS (int)(sizeof(handlers) / sizeof(handlers[0]))

void sdk5_on_message(struct conn *c, const char *msg, size_t len, bool text)
{
    if (!text) {
        reply_error(c, "", "", 400, "binary frames are not part of the protocol: send JSON text");
        return;
    }
    json_error_t jerr;
    json_t *m = json_loadb(msg, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(m)) {
        reply_error(c, "", "", 400, "not a JSON object: %s", m == NULL ? jerr.text : "");
        json_decref(m);
        return;
    }
    const char *action = json_string_value(json_object_get(m, "Action"));
    const char *rid = json_string_value(json_object_get(m, "RequestId"));
    if (rid == NULL || !util_is_token(rid, 128, "-_.")) {
        reply_error(c, "", "", 400, "RequestId: 1-128 of [A-Za-z0-9-_.] is required");
        json_decref(m);
        return;
    }
    int a = 0;
    while (a < NACTIONS && (action == NULL || strcmp(action, action_names[a]) != 0))
        a++;
    if (a == NACTIONS) {
        bool named = action != NULL && util_is_token(action, 64, "");
        reply_error(c, named ? action : "", rid, 400, "unknown Action: %s",
                    action == NULL ? "(none)"
                    : named        ? action
                                   : "(malformed)");
    } else if (c->inflight >= MAX_INFLIGHT && a != HEARTBEAT)
        reply_error(c, action_names[a], rid, 429,
                    "%d calls of this process are still unanswered: wait for them", MAX_INFLIGHT);
    else
        handlers[a](c, rid, m);
    json_decref(m);
}

/* ---- answers from rally ----------------------------------------------- */

/* Epoch seconds (the GameLift API's times) as the SDK's epoch ms. */
static void times_to_ms(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    if (json_is_number(v))
        json_object_set_new(obj, name, json_integer((json_int_t)(json_number_value(v) * 1000.0)));
}

static json_t *describe_result(json_t *answer)
{
    json_t *out = json_object(), *list = json_object_get(answer, "PlayerSessions");
    size_t i;
    json_t *ps;
    json_array_foreach(list, i, ps)
    {
        times_to_ms(ps, "CreationTime");
        times_to_ms(ps, "TerminationTime");
    }
    json_object_set_new(out, "PlayerSessions",
                        json_is_array(list) ? json_incref(list) : json_array());
    json_t *next = json_object_get(answer, "NextToken");
    if (json_is_string(next))
        json_object_set(out, "NextToken", next);
    return out;
}

void sdk5_forward_done(struct fwd_job *j)
{
    struct conn *c = conn_get(j->slot, j->gen);
    if (c == NULL) { /* gone meanwhile: the SDK asks again on its new connection */
        fwd_job_free(j);
        return;
    }
    c->inflight--;
    const char *action = action_names[j->action];
    if (j->action == ACTIVATE_SERVER_PROCESS)
        c->push_hold = j->status >= 200 && j->status < 300 ? HOLD_UNTIL_HEARTBEAT : HOLD_NONE;
    json_t *answer = j->response != NULL ? json_loads(j->response, 0, NULL) : NULL;
    if (j->status == 0) {
        reply_error(c, action, j->request_id, 500, "rally did not answer: try again");
    } else if (j->status >= 200 && j->status < 300) {
        if (j->action == DESCRIBE_PLAYER_SESSIONS)
            send_json(c, action, j->request_id, 200, describe_result(answer));
        else if (j->action == START_BACKFILL)
            send_json(c, action, j->request_id, 200,
                      json_pack("{s:O?}", "TicketId",
                                json_object_get(json_object_get(answer, "MatchmakingTicket"),
                                                "TicketId")));
        else
            reply_ok(c, action, j->request_id);
    } else {
        const char *why = json_string_value(json_object_get(answer, "message"));
        if (why == NULL)
            why = json_string_value(json_object_get(answer, "Message"));
        reply_error(c, action, j->request_id, (int)j->status, "%s",
                    why != NULL ? why : "refused by rally");
    }
    json_decref(answer);
    fwd_job_free(j);
}

/* ---- connecting ------------------------------------------------------- */

bool sdk5_admit(struct conn *c, const struct hs_request *req, int *status, const char **why)
{
    *status = 400;
    if (strcmp(req->authorization, "SigV4") == 0) {
        *status = 401;
        *why = "SigV4 is not supported: set GAMELIFT_SDK_AUTH_TOKEN to a server token of the fleet";
        return false;
    }
    if (!util_is_token(req->fleet, 256, ".-")) {
        *why = "FleetId: 1-256 of [A-Za-z0-9.-] is required";
        return false;
    }
    if (!util_is_token(req->compute, 128, "-_.")) {
        *why = "ComputeId: 1-128 of [A-Za-z0-9-_.] is required";
        return false;
    }
    if (!util_is_token(req->process, 128, "-.")) {
        *why = "pID: 1-128 of [A-Za-z0-9-.] is required";
        return false;
    }
    struct arena a = {0};
    struct auth_claims claims;
    const char *reason = NULL;
    enum auth_result rc =
        auth_verify(&a, req->authorization, AUTH_SCOPE_SERVER, util_now(), &claims, &reason);
    if (rc == AUTH_OK && strcmp(claims.sub, req->fleet) != 0) {
        rc = AUTH_FORBIDDEN;
        reason = "the token is of another fleet";
    }
    if (rc != AUTH_OK) {
        *status = rc == AUTH_FORBIDDEN ? 403 : 401;
        *why = rc == AUTH_MISSING   ? "Authorization: a server token of the fleet is required"
               : rc == AUTH_EXPIRED ? "the token has expired"
               : rc == AUTH_FORBIDDEN && reason != NULL ? reason
                                                        : "the token is not valid";
        arena_reset(&a);
        return false;
    }
    c->token_exp = claims.exp;
    arena_reset(&a);
    if ((c->token = strdup(req->authorization)) == NULL) {
        *status = 503;
        *why = "the gateway is out of memory";
        return false;
    }
    snprintf(c->fleet, sizeof(c->fleet), "%s", req->fleet);
    snprintf(c->compute, sizeof(c->compute), "%s", req->compute);
    snprintf(c->process, sizeof(c->process), "%s", req->process);
    bool named =
        util_is_token(req->sdk_language, 32, "-_.+#") && util_is_token(req->sdk_version, 32, "-_.");
    snprintf(c->sdk, sizeof(c->sdk), "%s %s", named ? req->sdk_language : "unknown",
             named ? req->sdk_version : "SDK");
    snprintf(c->endpoint, sizeof(c->endpoint), "%s://%s%s",
             strcmp(req->proto, "https") == 0 ? "wss" : "ws",
             req->host[0] != '\0' ? req->host : "127.0.0.1", req->path);
    *status = 0;
    return true;
}

void sdk5_on_open(struct conn *c)
{
    /* A reconnect: the SDK does not say ProcessReady again, and rally may
     * have handed the process a game session meanwhile. */
    due(c);
}

/* ---- rally's side: heartbeats, pushes, refreshes ---------------------- */

struct collect {
    struct db_job *job;
    size_t cap;
    double now_ms;
    bool heartbeats;
};

static bool alive(const struct conn *c, double now_ms)
{
    double since = c->last_heartbeat_ms > 0 ? c->last_heartbeat_ms : c->base.opened_ms;
    return !c->unhealthy && now_ms - since < s.o.heartbeat_window_ms;
}

static void collect(struct conn *c, void *ctx)
{
    struct collect *k = ctx;
    if (k->heartbeats ? !alive(c, k->now_ms)
                      : (!c->push_due || !c->mapped || c->push_hold != HOLD_NONE))
        return;
    struct db_job *j = k->job;
    if (j->n == k->cap)
        return; /* the table grew since it was counted: next time */
    j->fleets[j->n] = strdup(c->fleet);
    j->ids[j->n] = strdup(c->process);
    if (j->fleets[j->n] == NULL || j->ids[j->n] == NULL) {
        free(j->fleets[j->n]);
        free(j->ids[j->n]);
        return;
    }
    j->n++;
    if (!k->heartbeats)
        c->push_due = false;
}

/* A job for the connections that are alive (heartbeats) or due a look at
 * their pushes; NULL when there are none. */
static struct db_job *gather(enum db_job_kind kind, double now_ms)
{
    size_t cap = conn_count();
    if (cap == 0)
        return NULL;
    struct db_job *j = db_job_new(kind, cap);
    if (j == NULL)
        return NULL;
    struct collect k = {
        .job = j, .cap = cap, .now_ms = now_ms, .heartbeats = kind == DBJ_HEARTBEATS};
    j->n = 0;
    conn_each(collect, &k);
    if (j->n == 0) {
        db_job_free(j);
        return NULL;
    }
    return j;
}

static void send_push(const struct db_push *p)
{
    struct conn *c = conn_by_process(p->process_id);
    json_t *m = json_loads(p->message, 0, NULL);
    if (c == NULL || m == NULL) {
        log_warn("gateway: %s for process %s not delivered: it is not connected", p->action,
                 p->process_id);
        json_decref(m);
        return;
    }
    char rid[37];
    util_uuid(rid);
    log_info("gateway: %s to process %s", p->action, p->process_id);
    send_json(c, p->action, rid, 200, m);
}

static void mark_due(struct conn *c, void *ctx)
{
    (void)ctx;
    due(c);
}

void sdk5_db_done(struct db_job *j)
{
    switch (j->kind) {
    case DBJ_HEARTBEATS: s.heartbeats_busy = false; break;
    case DBJ_PUSHES:
        s.pushes_busy = false;
        for (size_t i = 0; i < j->nrows; i++)
            send_push(&j->rows[i]);
        if (!j->ok) /* not looked at: again on the next tick */
            for (size_t i = 0; i < j->n; i++) {
                struct conn *c = conn_by_process(j->ids[i]);
                if (c != NULL)
                    due(c);
            }
        break;
    case DBJ_NOTIFIED:
        for (size_t i = 0; i < j->n; i++) {
            struct conn *c = conn_by_process(j->ids[i]);
            if (c != NULL)
                due(c);
        }
        break;
    }
    db_job_free(j);
}

static void refresh(struct conn *c, void *ctx)
{
    int64_t now = *(const int64_t *)ctx;
    if (c->refresh_sent || !c->mapped || c->token_exp - now > REFRESH_MARGIN_S)
        return;
    struct arena a = {0};
    char *token = auth_sign(&a, c->fleet, "server", NULL, now, s.o.token_ttl);
    if (token != NULL) {
        char rid[37];
        util_uuid(rid);
        c->refresh_sent = true;
        send_json(
            c, "RefreshConnection", rid, 200,
            json_pack("{s:s, s:s}", "RefreshConnectionEndpoint", c->endpoint, "AuthToken", token));
    }
    arena_reset(&a);
}

void sdk5_tick(double now_ms)
{
    if (!s.heartbeats_busy && now_ms - s.last_heartbeats_ms >= 1000.0) {
        s.last_heartbeats_ms = now_ms;
        struct db_job *j = gather(DBJ_HEARTBEATS, now_ms);
        if (j != NULL) {
            s.heartbeats_busy = true;
            fleetdb_submit(j);
        }
        if (s.o.can_sign) {
            int64_t now = util_now();
            conn_each(refresh, &now);
        }
    }
    if (now_ms - s.last_sweep_ms >= SWEEP_MS) { /* a missed notification waits 5 s at most */
        s.last_sweep_ms = now_ms;
        conn_each(mark_due, NULL);
    }
    if (!s.pushes_busy && s.any_due) {
        s.any_due = false;
        struct db_job *j = gather(DBJ_PUSHES, now_ms);
        if (j != NULL) {
            s.pushes_busy = true;
            fleetdb_submit(j);
        }
    }
}
