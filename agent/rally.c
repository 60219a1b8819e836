#include "rally.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int agent_register_compute(rally_server *s, const char *compute, const char *location,
                           const char *ip, int *processes)
{
    json_t *body =
        json_pack("{s:s, s:s, s:s}", "computeName", compute, "location", location, "ipAddress", ip);
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    const char *answer = NULL;
    int rc = text != NULL ? rally_server_request(s, "POST", "/v1/fleet/computes", text, &answer)
                          : RALLY_SERVER_E_ARGUMENT;
    free(text);
    if (rc != RALLY_SERVER_OK) {
        log_warn("cannot register compute %s: %s", compute, rally_server_message(s));
        return -1;
    }
    json_t *got = json_loads(answer, 0, NULL);
    json_t *n = json_object_get(got, "processes");
    *processes = json_is_integer(n) ? (int)json_integer_value(n) : -1;
    json_decref(got);
    return 0;
}

void agent_deregister_compute(rally_server *s, const char *compute)
{
    char path[256];
    snprintf(path, sizeof(path), "/v1/fleet/computes/%s", compute);
    if (rally_server_request(s, "DELETE", path, NULL, NULL) != RALLY_SERVER_OK)
        log_warn("cannot deregister compute %s: %s", compute, rally_server_message(s));
}

char *agent_sdk_token(rally_server *s, const char *fleet, const char *secret, long *ttl)
{
    json_t *body =
        json_pack("{s:s, s:s, s:s}", "fleetId", fleet, "fleetSecret", secret, "tokenUse", "sdk5");
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    const char *answer = NULL;
    int rc = text != NULL ? rally_server_request(s, "POST", "/v1/identity/server", text, &answer)
                          : RALLY_SERVER_E_ARGUMENT;
    if (text != NULL)
        memset(text, 0, strlen(text)); /* it held the secret */
    free(text);
    json_t *got = rc == RALLY_SERVER_OK ? json_loads(answer, 0, NULL) : NULL;
    const char *token = json_string_value(json_object_get(got, "auth_token"));
    char *out = token != NULL ? strdup(token) : NULL;
    *ttl = (long)json_integer_value(json_object_get(got, "auth_token_expires_in"));
    json_decref(got);
    if (out == NULL)
        log_warn("cannot get an SDK 5 token: %s", rally_server_message(s));
    return out;
}

json_t *agent_fetch_runtime(rally_server *s, struct fm_runtime *rt)
{
    const char *answer = NULL;
    int rc = rally_server_request(s, "GET", "/v1/fleet/runtime-configuration", NULL, &answer);
    if (rc != RALLY_SERVER_OK) {
        log_warn("cannot read the runtime configuration: %s", rally_server_message(s));
        return NULL;
    }
    json_t *body = json_loads(answer, 0, NULL);
    json_t *runtime = json_incref(json_object_get(body, "RuntimeConfiguration"));
    json_decref(body);
    struct fm_error err;
    if (runtime == NULL || fm_runtime_parse(runtime, rt, &err) < 0) {
        log_warn("the runtime configuration is not usable: %s %s", runtime ? err.field : "",
                 runtime ? err.message : "missing");
        json_decref(runtime);
        return NULL;
    }
    return runtime;
}

int agent_observe(rally_server *s, struct slots *t, double now)
{
    json_t *ids = json_array();
    for (size_t i = 0; i < t->n; i++)
        if (t->s[i].pid > 0)
            json_array_append_new(ids, json_string(t->s[i].process_id));
    if (json_array_size(ids) == 0) {
        json_decref(ids);
        return 0;
    }
    json_t *body = json_pack("{s:o}", "processIds", ids);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    const char *answer = NULL;
    int rc = text != NULL
                 ? rally_server_request(s, "POST", "/v1/fleet/processes/describe", text, &answer)
                 : RALLY_SERVER_E_ARGUMENT;
    free(text);
    if (rc != RALLY_SERVER_OK) {
        log_warn("cannot describe the processes: %s", rally_server_message(s));
        return -1;
    }
    json_t *found = json_loads(answer, 0, NULL);
    log_debug("rally has %zu of our processes",
              json_array_size(json_object_get(found, "processes")));
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(found, "processes"), i, p)
    {
        const char *id = json_string_value(json_object_get(p, "processId"));
        const char *status = json_string_value(json_object_get(p, "status"));
        const char *game_session = json_string_value(json_object_get(p, "gameSessionId"));
        if (id != NULL && status != NULL)
            slots_observe(t, id, status, json_string_value(json_object_get(p, "statusReason")),
                          game_session != NULL, now);
        if (id != NULL && t->logs != NULL)
            logs_hosting(t->logs, id, game_session, now);
    }
    json_decref(found);
    return 0;
}

void agent_report_gone(rally_server *s, struct slots *t)
{
    size_t kept = 0;
    for (size_t i = 0; i < t->ngone; i++) {
        char path[128];
        snprintf(path, sizeof(path), "/v1/fleet/processes/%s", t->gone[i]);
        int rc = rally_server_request(s, "DELETE", path, NULL, NULL);
        if (rc == RALLY_SERVER_E_TRANSPORT || rc == RALLY_SERVER_E_AUTH) {
            /* rally is away: this one and the rest next time, without
             * waiting out a timeout for each. */
            for (; i < t->ngone; i++)
                memmove(t->gone[kept++], t->gone[i], sizeof(t->gone[i]));
            break;
        } else
            log_info("told rally process %s exited (%s)", t->gone[i],
                     rc == RALLY_SERVER_OK ? "ended" : rally_server_message(s));
    }
    t->ngone = kept;
}
