/* Ticket validation and rendering shared by the matchmaking functions. */
#include "ticket.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cfg.h"
#include "db.h"
#include "util.h"

static bool region_is_valid(const char *r)
{
    return util_is_token(r, 64, "-");
}

json_t *ticket_latency_from_json(json_t *in, bool clamp, const char **why)
{
    if (!json_is_object(in)) {
        *why = "latencyInMs must be an object of region: milliseconds";
        return NULL;
    }
    size_t n = json_object_size(in);
    if (n == 0 || n > TICKET_MAX_REGIONS) {
        *why = "latencyInMs must list 1 to 32 regions";
        return NULL;
    }
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(in, k, v)
    {
        if (!region_is_valid(k)) {
            *why = "latencyInMs region names must be 1-64 characters of [A-Za-z0-9-]";
            goto fail;
        }
        if (!json_is_integer(v)) {
            *why = "latencyInMs values must be integers";
            goto fail;
        }
        json_int_t ms = json_integer_value(v);
        if (clamp && ms == 0)
            ms = 1;
        if (ms < 1 || ms > TICKET_MAX_LATENCY) {
            *why = "latencyInMs values must be from 1 to 999999";
            goto fail;
        }
        json_object_set_new(out, k, json_integer(ms));
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

json_t *ticket_latency_from_v1(struct arena *a, const char *s, const char **why)
{
    json_t *in = json_object();
    char *copy = arena_strdup(a, s);
    char *save = NULL;
    char *region = NULL;
    int items = 0;
    for (char *tok = strtok_r(copy, "_ \t+", &save); tok != NULL;
         tok = strtok_r(NULL, "_ \t+", &save)) {
        if (++items > 2 * TICKET_MAX_REGIONS) {
            *why = "latencies must list 1 to 32 regions";
            json_decref(in);
            return NULL;
        }
        if (region == NULL) {
            region = tok;
            continue;
        }
        char *end;
        long ms = strtol(tok, &end, 10);
        if (*end != '\0' || end == tok) {
            *why = "latencies must be region_milliseconds pairs with integer milliseconds";
            json_decref(in);
            return NULL;
        }
        json_object_set_new(in, region, json_integer(ms));
        region = NULL;
    }
    if (region != NULL) {
        *why = "latencies must be region_milliseconds pairs";
        json_decref(in);
        return NULL;
    }
    json_t *out = ticket_latency_from_json(in, true, why);
    json_decref(in);
    return out;
}

static bool is_short_string(json_t *v)
{
    size_t n = json_string_length(v);
    return json_is_string(v) && n >= 1 && n <= 100;
}

static bool is_number(json_t *v)
{
    return json_is_number(v) && isfinite(json_number_value(v));
}

static int check_value(json_t *v, const char **why)
{
    if (!json_is_object(v) || json_object_size(v) != 1) {
        *why = "each attribute must be exactly one of {\"S\"}, {\"N\"}, {\"SL\"}, {\"SDM\"}";
        return -1;
    }
    json_t *x;
    if ((x = json_object_get(v, "S")) != NULL) {
        if (!is_short_string(x)) {
            *why = "S attributes must be strings of 1-100 characters";
            return -1;
        }
    } else if ((x = json_object_get(v, "N")) != NULL) {
        if (!is_number(x)) {
            *why = "N attributes must be numbers";
            return -1;
        }
    } else if ((x = json_object_get(v, "SL")) != NULL) {
        size_t i;
        json_t *e;
        if (!json_is_array(x) || json_array_size(x) > 100) {
            *why = "SL attributes must be arrays of at most 100 strings";
            return -1;
        }
        json_array_foreach(x, i, e)
        {
            if (!is_short_string(e)) {
                *why = "SL attributes must hold strings of 1-100 characters";
                return -1;
            }
        }
    } else if ((x = json_object_get(v, "SDM")) != NULL) {
        const char *k;
        json_t *e;
        if (!json_is_object(x) || json_object_size(x) > 10) {
            *why = "SDM attributes must be objects of at most 10 string: number pairs";
            return -1;
        }
        json_object_foreach(x, k, e)
        {
            if (strlen(k) < 1 || strlen(k) > 100 || !is_number(e)) {
                *why = "SDM attributes must map names of 1-100 characters to numbers";
                return -1;
            }
        }
    } else {
        *why = "each attribute must be exactly one of {\"S\"}, {\"N\"}, {\"SL\"}, {\"SDM\"}";
        return -1;
    }
    return 0;
}

int ticket_check_attributes(json_t *attrs, const char **why)
{
    if (!json_is_object(attrs)) {
        *why = "attributes must be an object";
        return -1;
    }
    if (json_object_size(attrs) > TICKET_MAX_ATTRIBUTES) {
        *why = "at most 10 attributes";
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(attrs, k, v)
    {
        if (strlen(k) < 1 || strlen(k) > 1024) {
            *why = "attribute names must be 1-1024 characters";
            return -1;
        }
        if (check_value(v, why) < 0)
            return -1;
    }
    return 0;
}

bool ticket_id_is_valid(const char *id)
{
    return id != NULL && util_is_token(id, TICKET_MAX_ID, "-.");
}

char *ticket_configuration_arn(struct arena *a, const char *name)
{
    return arena_sprintf(a, "arn:aws:gamelift:%s:%s:matchmakingconfiguration/%s", cfg->region,
                         cfg->account_id, name);
}

static void set_str(json_t *o, const char *key, const char *v)
{
    if (v != NULL)
        json_object_set_new(o, key, json_string(v));
}

json_t *ticket_render(struct arena *a, const PGresult *r, int row, const struct dialect *d)
{
    json_t *t = json_object();
    const char *conf = db_get(r, row, TICKET_COL_CONFIGURATION);
    set_str(t, "TicketId", db_get(r, row, TICKET_COL_ID));
    set_str(t, "ConfigurationName", conf);
    json_object_set_new(t, "ConfigurationArn", json_string(ticket_configuration_arn(a, conf)));
    set_str(t, "Status", db_get(r, row, TICKET_COL_STATUS));
    set_str(t, "StatusReason", db_get(r, row, TICKET_COL_STATUS_REASON));
    set_str(t, "StatusMessage", db_get(r, row, TICKET_COL_STATUS_MESSAGE));
    const char *start = db_get(r, row, TICKET_COL_START_US);
    const char *end = db_get(r, row, TICKET_COL_END_US);
    if (start != NULL)
        json_object_set_new(t, "StartTime", d->time_value(strtoll(start, NULL, 10)));
    if (end != NULL)
        json_object_set_new(t, "EndTime", d->time_value(strtoll(end, NULL, 10)));
    const char *wait = db_get(r, row, TICKET_COL_WAIT);
    /* Stored as the Searching event's estimatedWaitMillis; GameLift's
     * EstimatedWaitTime is in seconds. */
    if (wait != NULL)
        json_object_set_new(t, "EstimatedWaitTime",
                            json_integer((strtoll(wait, NULL, 10) + 999) / 1000));

    const char *pj = db_get(r, row, TICKET_COL_PLAYERS);
    json_t *players = pj != NULL ? json_loads(pj, 0, NULL) : NULL;
    json_t *matched = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(players, i, p)
    {
        json_t *psess = json_object_get(p, "PlayerSessionId");
        if (json_is_string(psess))
            json_array_append_new(matched, json_pack("{s:O, s:O}", "PlayerId",
                                                     json_object_get(p, "PlayerId"),
                                                     "PlayerSessionId", psess));
        json_object_del(p, "PlayerSessionId");
        if (json_is_null(json_object_get(p, "Team")))
            json_object_del(p, "Team");
    }
    json_object_set_new(t, "Players", players != NULL ? players : json_array());

    const char *ip = db_get(r, row, TICKET_COL_IP);
    if (ip != NULL) {
        json_t *info = json_object();
        set_str(info, "GameSessionArn", db_get(r, row, TICKET_COL_GAME_SESSION_ARN));
        set_str(info, "IpAddress", ip);
        set_str(info, "DnsName", db_get(r, row, TICKET_COL_DNS));
        const char *port = db_get(r, row, TICKET_COL_PORT);
        if (port != NULL)
            json_object_set_new(info, "Port", json_integer(strtoll(port, NULL, 10)));
        json_object_set_new(info, "MatchedPlayerSessions", matched);
        json_object_set_new(t, "GameSessionConnectionInfo", info);
    } else {
        json_decref(matched);
    }
    return t;
}
