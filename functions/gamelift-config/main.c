/*
 * gamelift-config: the GameLift service API's describes of what config/
 * defines (fleets and queues, loaded by rally-admin) and of the processes
 * that registered with them. POST / with X-Amz-Target: GameLift.<op>.
 *
 *   ListFleets                 FleetIds, paged
 *   DescribeFleetAttributes    FleetAttributes by id, or paged
 *   DescribeFleetCapacity      FleetCapacity per fleet and location
 *   UpdateFleetCapacity        a location's DesiredInstances, MinSize, MaxSize
 *   DescribeGameSessionQueues  GameSessionQueues by name or ARN, or paged
 *   DescribeMatchmakingConfigurations  by name or ARN, or a rule set's, or paged
 *   DescribeMatchmakingRuleSets        by name or ARN, or paged
 *   ValidateMatchmakingRuleSet         a body checked by the matchmaker's own
 *                                      parser (matchmaker/engine/ruleset.h)
 *
 * A backend key sees every fleet; a fleet key its own only (another fleet
 * is as unknown to it as one that does not exist). Queues, configurations
 * and rule sets are a backend's.
 *
 * Capacity counts processes, since rally's unit of capacity is the
 * process that registered (one game session each): ACTIVE are those
 * heard from within the fleet's heartbeat timeout, IDLE those of them
 * without a game session. A sized location (config/fleets/ MinSize,
 * MaxSize, DesiredInstances; UpdateFleetCapacity; sql/019_capacity.sql)
 * has its DESIRED, MINIMUM and MAXIMUM, which its agents follow; one not
 * sized runs what its agents' configuration asks: DESIRED and MAXIMUM are
 * what is ACTIVE, MINIMUM 0. PENDING and TERMINATING are 0: processes an
 * agent started that are not ready yet are not rally's to count.
 */
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "db.h"
#include "gamelift.h"
#include "queue.h"
#include "ruleset.h"
#include "serve.h"
#include "util.h"

enum { FLEETS, CAPACITY, UPDATE_CAPACITY, QUEUES, CONFIGURATIONS, RULE_SETS };

/* Pages hold at most this many items (Limit lowers it). */
#define PAGE_CAP 100

static const struct db_stmt stmts[] = {
    /* $1 ids (NULL: all), $2 a fleet key's own fleet (NULL: any), $3 the
     * page starts after this id, $4 page size. */
    [FLEETS] = {"gl_fleets",
                "SELECT fleet_id, body::text FROM fleet.fleets "
                "WHERE ($1::text[] IS NULL OR fleet_id = ANY ($1::text[])) "
                "AND ($2::text IS NULL OR fleet_id = $2) AND fleet_id > $3 "
                "ORDER BY fleet_id LIMIT $4::integer",
                4, true},
    [CAPACITY] = {"gl_capacity",
                  "SELECT f.fleet_id, l.location, "
                  "count(p.process_id), count(p.process_id) FILTER (WHERE p.game_session_id IS "
                  "NULL), c.desired, c.minimum, c.maximum "
                  "FROM fleet.fleets f CROSS JOIN LATERAL unnest(f.locations) AS l(location) "
                  "LEFT JOIN fleet.location_capacity c ON c.fleet_id = f.fleet_id AND c.location "
                  "= l.location "
                  "LEFT JOIN fleet.processes p ON p.fleet_id = f.fleet_id AND p.location = "
                  "l.location AND p.status = 'ACTIVE' AND p.last_heartbeat > now() - "
                  "make_interval(secs => f.heartbeat_timeout_seconds) "
                  "WHERE f.fleet_id = ANY ($1::text[]) GROUP BY 1, 2, 5, 6, 7 ORDER BY 1, 2",
                  1, true},
    [UPDATE_CAPACITY] = {"gl_update_capacity",
                         "SELECT outcome, detail, location FROM fleet.update_capacity($1, $2, "
                         "$3::integer, $4::integer, $5::integer)",
                         5, false},
    [QUEUES] = {"gl_queues",
                "SELECT name, body::text FROM fleet.queues "
                "WHERE ($1::text[] IS NULL OR name = ANY ($1::text[])) AND name > $2 "
                "ORDER BY name LIMIT $3::integer",
                3, true},
    /* $1 names (NULL: all), $2 of this rule set (NULL: any), after $3, $4 at
     * most; with the time each was first loaded, if rally knows it. */
    [CONFIGURATIONS] = {"gl_configurations",
                        "SELECT name, body::text, rule_set_name FROM matchmaking.configurations "
                        "WHERE ($1::text[] IS NULL OR name = ANY ($1::text[])) "
                        "AND ($2::text IS NULL OR rule_set_name = $2) AND name > $3 "
                        "ORDER BY name LIMIT $4::integer",
                        4, true},
    [RULE_SETS] = {"gl_rule_sets",
                   "SELECT name, body::text FROM matchmaking.rule_sets "
                   "WHERE ($1::text[] IS NULL OR name = ANY ($1::text[])) AND name > $2 "
                   "ORDER BY name LIMIT $3::integer",
                   3, true},
};

static const struct gl_member list_fleets_input[] = {
    {"BuildId", GL_STRING, false, 1, 1024, 0, NULL, NULL, 0},
    {"ScriptId", GL_STRING, false, 1, 1024, 0, NULL, NULL, 0},
    GL_PAGING_MEMBERS,
};

static const struct gl_member fleet_ids_input[] = {
    {"FleetIds", GL_STRING_LIST, false, 1, PAGE_CAP, 512, gl_is_fleet_id, NULL, 0},
    GL_PAGING_MEMBERS,
};

static const struct gl_member queues_input[] = {
    {"Names", GL_STRING_LIST, false, 0, PAGE_CAP, 512, gl_is_queue_name, NULL, 0},
    GL_PAGING_MEMBERS,
};

static bool is_configuration_name(const char *s)
{
    const char *name = gl_name_of(s, "matchmakingconfiguration");
    return name != NULL && *name != '\0' && util_is_token(name, 256, "-.");
}

static bool is_rule_set_name(const char *s)
{
    const char *name = gl_name_of(s, "matchmakingruleset");
    return name != NULL && *name != '\0' && util_is_token(name, 256, "-.");
}

static const struct gl_member configurations_input[] = {
    {"Names", GL_STRING_LIST, false, 0, 10, 256, is_configuration_name, NULL, 0},
    {"RuleSetName", GL_STRING, false, 1, 256, 0, is_rule_set_name, NULL, 0},
    GL_PAGING_MEMBERS,
};

static const struct gl_member rule_sets_input[] = {
    {"Names", GL_STRING_LIST, false, 1, 10, 256, is_rule_set_name, NULL, 0},
    {"Limit", GL_INTEGER, false, 1, 10, 0, NULL, NULL, 0},
    {"NextToken", GL_STRING, false, 1, 1024, 0, NULL, NULL, 0},
};

static const struct gl_member update_capacity_input[] = {
    {"FleetId", GL_STRING, true, 1, 512, 0, gl_is_fleet_id, NULL, 0},
    {"DesiredInstances", GL_INTEGER, false, 0, FM_MAX_CAPACITY, 0, NULL, NULL, 0},
    {"MinSize", GL_INTEGER, false, 0, FM_MAX_CAPACITY, 0, NULL, NULL, 0},
    {"MaxSize", GL_INTEGER, false, 0, FM_MAX_CAPACITY, 0, NULL, NULL, 0},
    {"Location", GL_STRING, false, 1, 64, 0, gl_is_location, NULL, 0},
};

static const struct gl_member validate_input[] = {
    {"RuleSetBody", GL_STRING, true, 1, 65535, 0, NULL, NULL, 0},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The names of a list member (ARNs made names), as a text[] literal and
 * *n; NULL when the member is absent or empty. */
static const char *names_param(struct arena *a, json_t *list, const char *kind, size_t *n)
{
    *n = json_array_size(list);
    if (*n == 0)
        return NULL;
    const char **names = arena_alloc(a, *n * sizeof(*names));
    for (size_t i = 0; i < *n; i++)
        names[i] = gl_name_of(json_string_value(json_array_get(list, i)), kind);
    return util_pg_text_array(a, names, *n);
}

/* Runs a listing statement; NULL after answering a database failure. */
static PGresult *run(struct http_req *req, struct http_resp *resp, int stmt,
                     const char *const *params)
{
    return serve_exec(req, resp, &stmts[stmt], params);
}

/* The fleets a request names (FleetIds) or the page it asks for, within
 * the caller's reach. With FleetIds, each must be found. On success, *out
 * holds (fleet_id, body) rows and *next the NextToken or NULL. */
static bool fleets(struct http_req *req, struct http_resp *resp, json_t *in, PGresult **out,
                   const char **next)
{
    long limit;
    const char *after;
    size_t asked = 0;
    const char *ids = names_param(req->arena, json_object_get(in, "FleetIds"), "fleet", &asked);
    if (!gl_page(req, resp, in, PAGE_CAP, &limit, &after))
        return false;
    if (ids != NULL) { /* the fleets named, all of them: paging is for listings */
        limit = PAGE_CAP;
        after = "";
    }
    char lim[24];
    snprintf(lim, sizeof(lim), "%ld", limit + 1); /* one more: is there a next page? */
    const char *own = req->claims.scope_bit == AUTH_SCOPE_AWS_FLEET ? req->claims.sub : NULL;
    const char *p[] = {ids, own, after, lim};
    PGresult *r = run(req, resp, FLEETS, p);
    if (r == NULL)
        return false;
    size_t found = (size_t)PQntuples(r);
    if (ids != NULL && found < asked) {
        http_error(req, resp, 400, "NotFoundException", "One or more fleets were not found");
        return false;
    }
    *next = found > (size_t)limit ? gl_next_token(req->arena, db_get(r, (int)limit - 1, 0)) : NULL;
    *out = r;
    return true;
}

/* The number of rows of a page: one was read ahead to learn of the next. */
static int page_rows(PGresult *r, const char *next)
{
    return next != NULL ? PQntuples(r) - 1 : PQntuples(r);
}

static void reply_page(struct http_req *req, struct http_resp *resp, const char *key, json_t *list,
                       const char *next)
{
    json_t *out = json_pack("{s:o}", key, list);
    if (next != NULL)
        json_object_set_new(out, "NextToken", json_string(next));
    http_reply(req, resp, 200, out);
}

static void handle_list_fleets(struct http_req *req, struct http_resp *resp)
{
    json_t *in = gl_input(req, resp, list_fleets_input, N(list_fleets_input));
    if (in == NULL)
        return;
    json_t *ids = json_array();
    const char *next = NULL;
    /* rally's fleets run no GameLift builds or Realtime scripts. */
    if (json_object_get(in, "BuildId") == NULL && json_object_get(in, "ScriptId") == NULL) {
        PGresult *r;
        if (!fleets(req, resp, in, &r, &next)) {
            json_decref(ids);
            return;
        }
        for (int i = 0; i < page_rows(r, next); i++)
            json_array_append_new(ids, json_string(db_get(r, i, 0)));
    }
    reply_page(req, resp, "FleetIds", ids, next);
}

static json_t *fleet_attributes(struct arena *a, const char *id, json_t *body)
{
    const char *name = json_string_value(json_object_get(body, "Name"));
    const char *description = json_string_value(json_object_get(body, "Description"));
    json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "FleetId", id, "FleetArn",
                          gl_arn(a, arena_sprintf(a, "fleet/%s", id)), "FleetType", "ON_DEMAND",
                          "Name", name != NULL ? name : id, "Status", "ACTIVE", "ComputeType",
                          "ANYWHERE", "NewGameSessionProtectionPolicy", "NoProtection");
    if (description != NULL)
        json_object_set_new(f, "Description", json_string(description));
    return f;
}

static void handle_fleet_attributes(struct http_req *req, struct http_resp *resp)
{
    json_t *in = gl_input(req, resp, fleet_ids_input, N(fleet_ids_input));
    PGresult *r;
    const char *next;
    if (in == NULL || !fleets(req, resp, in, &r, &next))
        return;
    json_t *list = json_array();
    for (int i = 0; i < page_rows(r, next); i++) {
        json_t *body = json_loads(db_get(r, i, 1), 0, NULL);
        json_array_append_new(list, fleet_attributes(req->arena, db_get(r, i, 0), body));
        json_decref(body);
    }
    reply_page(req, resp, "FleetAttributes", list, next);
}

static void handle_fleet_capacity(struct http_req *req, struct http_resp *resp)
{
    json_t *in = gl_input(req, resp, fleet_ids_input, N(fleet_ids_input));
    PGresult *r;
    const char *next;
    if (in == NULL || !fleets(req, resp, in, &r, &next))
        return;
    int n = page_rows(r, next);
    const char **ids = arena_alloc(req->arena, (size_t)(n + 1) * sizeof(*ids));
    for (int i = 0; i < n; i++)
        ids[i] = db_get(r, i, 0);
    const char *p[] = {util_pg_text_array(req->arena, ids, (size_t)n)};
    PGresult *c = run(req, resp, CAPACITY, p);
    if (c == NULL)
        return;
    json_t *list = json_array();
    for (int i = 0; i < PQntuples(c); i++) {
        const char *id = db_get(c, i, 0);
        json_int_t active = strtoll(db_get(c, i, 2), NULL, 10);
        json_int_t idle = strtoll(db_get(c, i, 3), NULL, 10);
        bool sized = db_get(c, i, 4) != NULL;
        json_int_t desired = sized ? strtoll(db_get(c, i, 4), NULL, 10) : active;
        json_int_t minimum = sized ? strtoll(db_get(c, i, 5), NULL, 10) : 0;
        json_int_t maximum = sized ? strtoll(db_get(c, i, 6), NULL, 10) : active;
        json_array_append_new(
            list,
            json_pack("{s:s, s:s, s:s, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}}", "FleetId", id,
                      "FleetArn", gl_arn(req->arena, arena_sprintf(req->arena, "fleet/%s", id)),
                      "Location", db_get(c, i, 1), "InstanceCounts", "DESIRED", desired, "MINIMUM",
                      minimum, "MAXIMUM", maximum, "PENDING", (json_int_t)0, "ACTIVE", active,
                      "IDLE", idle, "TERMINATING", (json_int_t)0));
    }
    reply_page(req, resp, "FleetCapacity", list, next);
}

/* An integer member as text for SQL, or NULL when absent. */
static const char *int_text(struct arena *a, json_t *in, const char *name)
{
    json_t *v = json_object_get(in, name);
    return v != NULL ? arena_sprintf(a, "%lld", (long long)json_integer_value(v)) : NULL;
}

/* UpdateFleetCapacity: a location's capacity in processes (rally's unit),
 * which its agents then run. With the fleet's target-based ScalingPolicy,
 * the desired count is the policy's again on its next look, within the new
 * bounds, as GameLift's auto-scaling does. */
static void handle_update_capacity(struct http_req *req, struct http_resp *resp)
{
    json_t *in = gl_input(req, resp, update_capacity_input, N(update_capacity_input));
    if (in == NULL)
        return;
    const char *fleet = gl_name_of(json_string_value(json_object_get(in, "FleetId")), "fleet");
    const char *p[] = {fleet, json_string_value(json_object_get(in, "Location")),
                       int_text(req->arena, in, "DesiredInstances"),
                       int_text(req->arena, in, "MinSize"), int_text(req->arena, in, "MaxSize")};
    PGresult *r = run(req, resp, UPDATE_CAPACITY, p);
    if (r == NULL)
        return;
    const char *outcome = db_get(r, 0, 0), *detail = db_get(r, 0, 1);
    if (strcmp(outcome, "updated") == 0)
        http_reply(req, resp, 200,
                   json_pack("{s:s, s:s, s:s}", "FleetId", fleet, "FleetArn",
                             gl_arn(req->arena, arena_sprintf(req->arena, "fleet/%s", fleet)),
                             "Location", db_get(r, 0, 2)));
    else if (strcmp(outcome, "unknown_fleet") == 0)
        http_error(req, resp, 400, "NotFoundException", "Fleet %s not found", fleet);
    else if (strcmp(outcome, "unknown_location") == 0)
        http_error(req, resp, 400, "InvalidRequestException",
                   "Location must be one of the fleet's: %s", detail);
    else
        http_error(req, resp, 400, "InvalidRequestException",
                   "MinSize <= DesiredInstances <= MaxSize must hold; it would be %s", detail);
}

/* A queue as GameLift describes it: its CreateGameSessionQueue fields. */
static json_t *queue_json(struct arena *a, const char *name, json_t *body)
{
    static const char *const members[] = {
        "TimeoutInSeconds",    "PlayerLatencyPolicies", "Destinations",
        "FilterConfiguration", "PriorityConfiguration", "CustomEventData",
        "NotificationTarget",
    };
    json_t *q = json_pack("{s:s, s:s}", "Name", name, "GameSessionQueueArn",
                          gl_arn(a, arena_sprintf(a, "gamesessionqueue/%s", name)));
    for (size_t i = 0; i < N(members); i++) {
        json_t *v = json_object_get(body, members[i]);
        if (v != NULL)
            json_object_set(q, members[i], v);
    }
    return q;
}

/* A page of a name-keyed listing: rows (name first) of statement `stmt`
 * run with its leading parameters `lead` (n_lead of them), then the page's
 * start and size; NULL after answering. *next gets the NextToken or NULL. */
static PGresult *named_page(struct http_req *req, struct http_resp *resp, json_t *in, int stmt,
                            const char **lead, size_t n_lead, long cap, bool named,
                            const char **next)
{
    long limit;
    const char *after;
    if (!gl_page(req, resp, in, cap, &limit, &after))
        return NULL;
    if (named) { /* the ones named, all of them */
        limit = cap;
        after = "";
    }
    const char *p[6];
    for (size_t i = 0; i < n_lead; i++)
        p[i] = lead[i];
    p[n_lead] = after;
    p[n_lead + 1] = arena_sprintf(req->arena, "%ld", limit + 1);
    PGresult *r = run(req, resp, stmt, p);
    if (r == NULL)
        return NULL;
    *next = PQntuples(r) > limit ? gl_next_token(req->arena, db_get(r, (int)limit - 1, 0)) : NULL;
    return r;
}

static void handle_queues(struct http_req *req, struct http_resp *resp)
{
    json_t *in = gl_input(req, resp, queues_input, N(queues_input));
    if (in == NULL)
        return;
    size_t asked = 0;
    const char *names =
        names_param(req->arena, json_object_get(in, "Names"), "gamesessionqueue", &asked);
    const char *lead[] = {names};
    const char *next;
    PGresult *r = named_page(req, resp, in, QUEUES, lead, 1, PAGE_CAP, names != NULL, &next);
    if (r == NULL)
        return;
    if (names != NULL && (size_t)PQntuples(r) < asked) {
        http_error(req, resp, 400, "NotFoundException", "One or more queues were not found");
        return;
    }
    json_t *list = json_array();
    for (int i = 0; i < page_rows(r, next); i++) {
        json_t *body = json_loads(db_get(r, i, 1), 0, NULL);
        json_array_append_new(list, queue_json(req->arena, db_get(r, i, 0), body));
        json_decref(body);
    }
    reply_page(req, resp, "GameSessionQueues", list, next);
}

/* A configuration as GameLift describes it: its CreateMatchmakingConfiguration
 * fields (rally's own, ClientSettableAttributes, left out) and its ARNs. */
static json_t *configuration_json(struct arena *a, const char *name, json_t *body,
                                  const char *rule_set)
{
    static const char *const members[] = {
        "Description",           "GameSessionQueueArns",
        "RequestTimeoutSeconds", "AcceptanceTimeoutSeconds",
        "AcceptanceRequired",    "NotificationTarget",
        "AdditionalPlayerCount", "CustomEventData",
        "GameProperties",        "GameSessionData",
        "BackfillMode",          "FlexMatchMode",
    };
    json_t *c = json_pack("{s:s, s:s, s:s, s:s}", "Name", name, "ConfigurationArn",
                          gl_arn(a, arena_sprintf(a, "matchmakingconfiguration/%s", name)),
                          "RuleSetName", rule_set, "RuleSetArn",
                          gl_arn(a, arena_sprintf(a, "matchmakingruleset/%s", rule_set)));
    for (size_t i = 0; i < N(members); i++) {
        json_t *v = json_object_get(body, members[i]);
        if (v != NULL)
            json_object_set(c, members[i], v);
    }
    return c;
}

static void handle_configurations(struct http_req *req, struct http_resp *resp)
{
    json_t *in = gl_input(req, resp, configurations_input, N(configurations_input));
    if (in == NULL)
        return;
    size_t asked;
    const char *names =
        names_param(req->arena, json_object_get(in, "Names"), "matchmakingconfiguration", &asked);
    const char *rule_set = json_string_value(json_object_get(in, "RuleSetName"));
    const char *lead[] = {names,
                          rule_set != NULL ? gl_name_of(rule_set, "matchmakingruleset") : NULL};
    const char *next;
    PGresult *r =
        named_page(req, resp, in, CONFIGURATIONS, lead, 2, PAGE_CAP, names != NULL, &next);
    if (r == NULL)
        return;
    json_t *list = json_array();
    for (int i = 0; i < page_rows(r, next); i++) {
        json_t *body = json_loads(db_get(r, i, 1), 0, NULL);
        json_array_append_new(
            list, configuration_json(req->arena, db_get(r, i, 0), body, db_get(r, i, 2)));
        json_decref(body);
    }
    reply_page(req, resp, "Configurations", list, next);
}

static void handle_rule_sets(struct http_req *req, struct http_resp *resp)
{
    json_t *in = gl_input(req, resp, rule_sets_input, N(rule_sets_input));
    if (in == NULL)
        return;
    size_t asked;
    const char *names =
        names_param(req->arena, json_object_get(in, "Names"), "matchmakingruleset", &asked);
    const char *lead[] = {names};
    const char *next;
    PGresult *r = named_page(req, resp, in, RULE_SETS, lead, 1, 10, names != NULL, &next);
    if (r == NULL)
        return;
    if (names != NULL && (size_t)PQntuples(r) < asked) {
        http_error(req, resp, 400, "NotFoundException", "One or more rule sets were not found");
        return;
    }
    json_t *list = json_array();
    for (int i = 0; i < page_rows(r, next); i++) {
        const char *name = db_get(r, i, 0);
        json_array_append_new(
            list,
            json_pack("{s:s, s:s, s:s}", "RuleSetName", name, "RuleSetArn",
                      gl_arn(req->arena, arena_sprintf(req->arena, "matchmakingruleset/%s", name)),
                      "RuleSetBody", db_get(r, i, 1)));
    }
    reply_page(req, resp, "RuleSets", list, next);
}

/* Valid: {"Valid": true}; not: InvalidRequestException naming the field,
 * as GameLift answers. */
static void handle_validate(struct http_req *req, struct http_resp *resp)
{
    json_t *in = gl_input(req, resp, validate_input, N(validate_input));
    if (in == NULL)
        return;
    const char *text = json_string_value(json_object_get(in, "RuleSetBody"));
    json_error_t jerr;
    json_t *body = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (body == NULL || !json_is_object(body)) {
        http_error(req, resp, 400, "InvalidRequestException",
                   "RuleSetBody is not a JSON object: %s", body == NULL ? jerr.text : "");
        json_decref(body);
        return;
    }
    struct fm_error err = {{0}, {0}};
    struct fm_ruleset *rs = fm_ruleset_parse(body, &err);
    json_decref(body);
    if (rs == NULL) {
        http_error(req, resp, 400, "InvalidRequestException", "Rule set is invalid: %s: %s",
                   err.field, err.message);
        return;
    }
    fm_ruleset_free(rs);
    http_reply(req, resp, 200, json_pack("{s:b}", "Valid", 1));
}

/* An operator's admin token may do what a backend's key does (the console). */
#define BACKEND (AUTH_SCOPE_AWS_BACKEND | AUTH_SCOPE_ADMIN)
#define ANY_KEY (BACKEND | AUTH_SCOPE_AWS_FLEET)

static const struct http_route routes[] = {
    {"ListFleets", "POST", &dialect_gamelift, ANY_KEY, handle_list_fleets},
    {"DescribeFleetAttributes", "POST", &dialect_gamelift, ANY_KEY, handle_fleet_attributes},
    {"DescribeFleetCapacity", "POST", &dialect_gamelift, ANY_KEY, handle_fleet_capacity},
    {"UpdateFleetCapacity", "POST", &dialect_gamelift, BACKEND, handle_update_capacity},
    {"DescribeGameSessionQueues", "POST", &dialect_gamelift, BACKEND, handle_queues},
    {"DescribeMatchmakingConfigurations", "POST", &dialect_gamelift, BACKEND,
     handle_configurations},
    {"DescribeMatchmakingRuleSets", "POST", &dialect_gamelift, BACKEND, handle_rule_sets},
    {"ValidateMatchmakingRuleSet", "POST", &dialect_gamelift, BACKEND, handle_validate},
};

int main(void)
{
    static const struct service svc = {
        .name = "gamelift-config",
        .max_body = 160 * 1024, /* a rule set body of 64 KiB, escaped */
        .routes = routes,
        .nroutes = N(routes),
        .stmts = stmts,
        .nstmts = N(stmts),
        .verifies_tokens = true, /* operators' admin tokens */
    };
    serve_main(&svc);
}
