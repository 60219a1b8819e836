/* Game session queues and fleets: validation, and a queue's choice of location. */
#include "queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fields.h"
#include "players.h"
#include "runtime.h"

const char *fm_arn_name(const char *s, const char *kind)
{
    if (s == NULL || strncmp(s, "arn:", 4) != 0)
        return s;
    const char *slash = strchr(s, '/');
    size_t k = strlen(kind);
    if (slash == NULL || (size_t)(slash - s) < k + 1 || slash[-(long)k - 1] != ':' ||
        strncmp(slash - k, kind, k) != 0)
        return NULL;
    return slash + 1;
}

/* A list of location names (strings) into out; `field` names it. */
static int locations(json_t *v, const char *field, const char **out, size_t *n,
                     struct fm_error *err)
{
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > FM_MAX_LOCATIONS)
        return fm_fail(err, field, "must be an array of 1 to %d location names", FM_MAX_LOCATIONS);
    size_t i;
    json_t *l;
    json_array_foreach(v, i, l)
    {
        /* A CreateFleet LocationConfiguration {"Location": "..."} or a name. */
        if (json_is_object(l) && json_object_size(l) == 1)
            l = json_object_get(l, "Location");
        const char *name = json_string_value(l);
        if (!fm_token(name, 64, "-_"))
            return fm_fail(err, field, "entry %zu must be a location name: 1-64 of [a-z0-9-_]", i);
        for (size_t k = 0; k < i; k++)
            if (strcmp(out[k], name) == 0)
                return fm_fail(err, field, "entry %zu repeats %s", i, name);
        out[i] = name;
    }
    *n = json_array_size(v);
    return 0;
}

static int cmp_policy(const void *a, const void *b)
{
    const struct fm_latency_policy *x = a, *y = b;
    if ((x->duration_s == 0) != (y->duration_s == 0))
        return x->duration_s == 0 ? 1 : -1;
    return (x->max_ms > y->max_ms) - (x->max_ms < y->max_ms);
}

static int policies(json_t *v, struct fm_queue *q, struct fm_error *err)
{
    const char *field = "PlayerLatencyPolicies";
    if (!json_is_array(v) || json_array_size(v) > FM_MAX_POLICIES)
        return fm_fail(err, field, "must be an array of at most %d policies", FM_MAX_POLICIES);
    size_t i, finals = 0;
    json_t *p;
    static const char *const known[] = {"MaximumIndividualPlayerLatencyMilliseconds",
                                        "PolicyDurationSeconds", NULL};
    json_array_foreach(v, i, p)
    {
        struct fm_latency_policy *pol = &q->policies[i];
        pol->max_ms = -1;
        int rc = 0;
        if (!json_is_object(p))
            rc = fm_fail(err, "", "must be an object");
        else if (json_object_get(p, known[0]) == NULL)
            rc = fm_fail(err, known[0], "is required");
        else if (fm_known_fields(p, known, "a PlayerLatencyPolicy", err) < 0 ||
                 fm_int_field(p, known[0], 0, 1000000, &pol->max_ms, err) < 0 ||
                 fm_int_field(p, known[1], 1, 86400, &pol->duration_s, err) < 0)
            rc = -1;
        if (rc < 0) {
            char at[64];
            snprintf(at, sizeof(at), "%s[%zu]", field, i);
            fm_field_prefix(err, at);
            return -1;
        }
        finals += pol->duration_s == 0;
    }
    if (finals > 1)
        return fm_fail(err, field, "only one policy may have no PolicyDurationSeconds");
    q->npolicies = json_array_size(v);
    qsort(q->policies, q->npolicies, sizeof(q->policies[0]), cmp_policy);
    return 0;
}

static int destinations(json_t *v, struct fm_queue *q, struct fm_error *err)
{
    const char *field = "Destinations";
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > FM_MAX_DESTINATIONS)
        return fm_fail(err, field, "must be an array of 1 to %d {\"DestinationArn\"}",
                       FM_MAX_DESTINATIONS);
    size_t i;
    json_t *d;
    json_array_foreach(v, i, d)
    {
        const char *arn = json_string_value(json_object_get(d, "DestinationArn"));
        const char *fleet = fm_arn_name(arn, "fleet");
        if (!json_is_object(d) || json_object_size(d) != 1 || !fm_token(fleet, 128, "-_."))
            return fm_fail(err, field,
                           "entry %zu must be {\"DestinationArn\": a fleet ARN or fleet id}", i);
        q->fleets[i] = fleet;
    }
    q->nfleets = json_array_size(v);
    return 0;
}

int fm_queue_parse(json_t *body, const char *fallback_name, struct fm_queue *q,
                   struct fm_error *err)
{
    static const char *const known[] = {"Name",
                                        "TimeoutInSeconds",
                                        "PlayerLatencyPolicies",
                                        "Destinations",
                                        "FilterConfiguration",
                                        "PriorityConfiguration",
                                        "CustomEventData",
                                        "NotificationTarget",
                                        "Tags",
                                        NULL};
    memset(q, 0, sizeof(*q));
    memset(err, 0, sizeof(*err));
    if (!json_is_object(body))
        return fm_fail(err, "(queue)", "must be a JSON object");
    if (fm_known_fields(body, known, "CreateGameSessionQueue", err) < 0)
        return -1;
    q->name = fallback_name;
    q->timeout_seconds = 600;
    if (fm_text_field(body, "Name", 1, 128, &q->name, err) < 0 ||
        fm_int_field(body, "TimeoutInSeconds", 0, 86400, &q->timeout_seconds, err) < 0)
        return -1;
    if (!fm_token(q->name, 128, "-"))
        return fm_fail(err, "Name", "must be 1-128 characters of [a-zA-Z0-9-]");
    json_t *v = json_object_get(body, "PlayerLatencyPolicies");
    if (v != NULL && policies(v, q, err) < 0)
        return -1;
    v = json_object_get(body, "Destinations");
    if (v == NULL)
        return fm_fail(err, "Destinations", "is required: the fleets this queue places on");
    if (destinations(v, q, err) < 0)
        return -1;
    json_t *filter = json_object_get(body, "FilterConfiguration");
    if (filter != NULL) {
        static const char *const fk[] = {"AllowedLocations", NULL};
        if (!json_is_object(filter) ||
            fm_known_fields(filter, fk, "FilterConfiguration", err) < 0 ||
            locations(json_object_get(filter, "AllowedLocations"),
                      "FilterConfiguration.AllowedLocations", q->allowed, &q->nallowed, err) < 0)
            return err->field[0] ? -1 : fm_fail(err, "FilterConfiguration", "must be an object");
    }
    json_t *prio = json_object_get(body, "PriorityConfiguration");
    if (prio != NULL) {
        static const char *const pk[] = {"PriorityOrder", "LocationOrder", NULL};
        if (!json_is_object(prio) || fm_known_fields(prio, pk, "PriorityConfiguration", err) < 0)
            return err->field[0] ? -1 : fm_fail(err, "PriorityConfiguration", "must be an object");
        json_t *order = json_object_get(prio, "LocationOrder");
        if (order != NULL &&
            locations(order, "PriorityConfiguration.LocationOrder", q->order, &q->norder, err) < 0)
            return -1;
    }
    const char *ignored = NULL;
    return fm_text_field(body, "CustomEventData", 0, 256, &ignored, err) < 0 ||
                   fm_text_field(body, "NotificationTarget", 0, 300, &ignored, err) < 0
               ? -1
               : 0;
}

/* A fleet's Locations: names, or CreateFleet's LocationConfiguration
 * objects with, optionally, the capacity UpdateFleetCapacity sets:
 * {"Location", "MinSize"?, "MaxSize"?, "DesiredInstances"?}. */
static int fleet_locations(json_t *v, struct fm_fleet *f, struct fm_error *err)
{
    if (!json_is_array(v))
        return locations(v, "Locations", f->locations, &f->nlocations, err);
    json_t *names = json_array();
    size_t i;
    json_t *l;
    json_array_foreach(v, i, l)
    {
        json_t *name = json_is_object(l) ? json_object_get(l, "Location") : l;
        json_array_append(names, name != NULL ? name : json_null());
        if (json_is_object(l) && i < FM_MAX_LOCATIONS) {
            static const char *const known[] = {"Location", "MinSize", "MaxSize",
                                                "DesiredInstances", NULL};
            struct fm_capacity *c = &f->capacity[i];
            c->set = json_object_size(l) > 1;
            c->minimum = 0;
            c->maximum = FM_MAX_CAPACITY;
            c->desired = -1;
            char field[48];
            snprintf(field, sizeof(field), "Locations[%zu]", i);
            if (fm_known_fields(l, known, "a fleet location", err) < 0 ||
                fm_int_field(l, "MinSize", 0, FM_MAX_CAPACITY, &c->minimum, err) < 0 ||
                fm_int_field(l, "MaxSize", 0, FM_MAX_CAPACITY, &c->maximum, err) < 0 ||
                fm_int_field(l, "DesiredInstances", 0, FM_MAX_CAPACITY, &c->desired, err) < 0) {
                fm_field_prefix(err, field);
                json_decref(names);
                return -1;
            }
            if (c->desired < 0)
                c->desired = c->minimum;
            if (c->minimum > c->maximum || c->desired < c->minimum || c->desired > c->maximum) {
                json_decref(names);
                return fm_fail(err, field, "must have MinSize <= DesiredInstances <= MaxSize");
            }
        }
    }
    int rc = locations(names, "Locations", f->locations, &f->nlocations, err);
    json_decref(names); /* the names stay the body's */
    return rc;
}

/* ScalingPolicy: GameLift's PutScalingPolicy, target-based on
 * PercentAvailableGameSessions, the one kind rally runs. */
static int scaling_policy(json_t *v, struct fm_fleet *f, struct fm_error *err)
{
    static const char *const known[] = {"Name", "PolicyType", "MetricName", "TargetConfiguration",
                                        NULL};
    if (!json_is_object(v))
        return fm_fail(err, "ScalingPolicy", "must be an object");
    if (fm_known_fields(v, known, "ScalingPolicy", err) < 0)
        return -1;
    const char *type = json_string_value(json_object_get(v, "PolicyType"));
    const char *metric = json_string_value(json_object_get(v, "MetricName"));
    if (type == NULL || strcmp(type, "TargetBased") != 0)
        return fm_fail(err, "ScalingPolicy.PolicyType", "must be TargetBased");
    if (metric == NULL || strcmp(metric, "PercentAvailableGameSessions") != 0)
        return fm_fail(err, "ScalingPolicy.MetricName", "must be PercentAvailableGameSessions");
    json_t *target = json_object_get(json_object_get(v, "TargetConfiguration"), "TargetValue");
    if (!json_is_number(target) || json_number_value(target) <= 0 ||
        json_number_value(target) >= 100)
        return fm_fail(err, "ScalingPolicy.TargetConfiguration.TargetValue",
                       "must be a percentage above 0 and below 100");
    f->target_available_percent = json_number_value(target);
    return 0;
}

int fm_fleet_parse(json_t *body, const char *fallback_name, struct fm_fleet *f,
                   struct fm_error *err)
{
    static const char *const known[] = {"FleetId",
                                        "Name",
                                        "Description",
                                        "Locations",
                                        "RuntimeConfiguration",
                                        "PlayerSessionReservationTimeoutSeconds",
                                        "ProcessHeartbeatTimeoutSeconds",
                                        "ScalingPolicy",
                                        "Tags",
                                        NULL};
    memset(f, 0, sizeof(*f));
    memset(err, 0, sizeof(*err));
    if (!json_is_object(body))
        return fm_fail(err, "(fleet)", "must be a JSON object");
    if (fm_known_fields(body, known, "a rally fleet", err) < 0)
        return -1;
    f->fleet_id = fallback_name;
    f->activation_timeout_seconds = 300; /* GameLift's default */
    f->reservation_timeout_seconds = 60; /* GameLift's fixed value */
    f->heartbeat_timeout_seconds = 60;
    const char *ignored = NULL;
    if (fm_text_field(body, "FleetId", 1, 128, &f->fleet_id, err) < 0 ||
        fm_text_field(body, "Name", 1, 1024, &ignored, err) < 0 ||
        fm_text_field(body, "Description", 1, 1024, &ignored, err) < 0 ||
        fm_int_field(body, "PlayerSessionReservationTimeoutSeconds", 1, 3600,
                     &f->reservation_timeout_seconds, err) < 0 ||
        fm_int_field(body, "ProcessHeartbeatTimeoutSeconds", 1, 3600, &f->heartbeat_timeout_seconds,
                     err) < 0)
        return -1;
    if (!fm_token(f->fleet_id, 128, "-_."))
        return fm_fail(err, "FleetId", "must be 1-128 characters of [a-zA-Z0-9-_.]");
    struct fm_runtime runtime;
    if (fm_runtime_parse(json_object_get(body, "RuntimeConfiguration"), &runtime, err) < 0) {
        fm_field_prefix(err, "RuntimeConfiguration");
        return -1;
    }
    f->activation_timeout_seconds = runtime.activation_timeout_s;
    json_t *policy = json_object_get(body, "ScalingPolicy");
    if (policy != NULL && scaling_policy(policy, f, err) < 0)
        return -1;
    json_t *locs = json_object_get(body, "Locations");
    if (locs == NULL)
        return fm_fail(err, "Locations", "is required: where this fleet's processes run");
    return fleet_locations(locs, f, err);
}

int fm_queue_latency_cap(const struct fm_queue *q, double elapsed)
{
    double until = 0;
    for (size_t i = 0; i < q->npolicies; i++) {
        if (q->policies[i].duration_s == 0)
            return q->policies[i].max_ms;
        until += q->policies[i].duration_s;
        if (elapsed < until)
            return q->policies[i].max_ms;
    }
    return -1;
}

static size_t rank_in(const char *const *list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return i;
    return n;
}

int fm_queue_choose(const struct fm_queue *q, const char *const *locs, size_t n,
                    const struct fm_ticket *const *tickets, size_t ntickets, double elapsed,
                    int *avg_ms)
{
    int cap = fm_queue_latency_cap(q, elapsed);
    bool any_data = false;
    for (size_t t = 0; t < ntickets && !any_data; t++)
        for (int p = 0; p < tickets[t]->nplayers && !any_data; p++)
            for (int r = 0; r < fm_region_count() && !any_data; r++)
                any_data = tickets[t]->players[p].latency[r] >= 0;
    int best = -1;
    bool best_complete = false;
    double best_avg = 0;
    for (size_t i = 0; i < n; i++) {
        if (q->nallowed > 0 && rank_in(q->allowed, q->nallowed, locs[i]) == q->nallowed)
            continue;
        int region = fm_region_index(locs[i]);
        double sum = 0;
        int known = 0, players = 0;
        bool within = true;
        for (size_t t = 0; t < ntickets; t++)
            for (int p = 0; p < tickets[t]->nplayers; p++) {
                int ms = region >= 0 ? tickets[t]->players[p].latency[region] : -1;
                players++;
                if (ms >= 0) {
                    sum += ms;
                    known++;
                }
                within &= cap < 0 || (ms >= 0 && ms <= cap);
            }
        if (any_data && !within)
            continue;
        /* Nobody reported it: acceptable without a cap, after the rest. */
        bool complete = known == players;
        double avg = known > 0 ? sum / known : any_data ? 1e9 : 0;
        bool better;
        if (best < 0)
            better = true;
        else if (complete != best_complete)
            better = complete;
        else if (any_data && avg != best_avg)
            better = avg < best_avg;
        else
            better =
                rank_in(q->order, q->norder, locs[i]) < rank_in(q->order, q->norder, locs[best]);
        if (better) {
            best = (int)i;
            best_complete = complete;
            best_avg = avg;
        }
    }
    *avg_ms = best >= 0 && any_data ? (int)(best_avg + 0.5) : -1;
    return best;
}
