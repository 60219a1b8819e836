/*
 * rally-admin: operator commands.
 *
 *   rally-admin load-config DIR   validate DIR/rulesets/, DIR/configurations/,
 *                                 DIR/queues/ and DIR/fleets/ (JSON files) and
 *                                 load them into PostgreSQL in one transaction
 *   rally-admin check-config DIR  validate only
 *   rally-admin explain TICKET_ID  why a searching ticket has not matched:
 *                                 each rule against the rest of the pool,
 *                                 and by how much it fails (explain.h)
 *
 * A rule set is named by its file name (as CreateMatchmakingRuleSet's Name);
 * a configuration or queue by its "Name" field, a fleet by its "FleetId",
 * else by the file name. Files may carry
 * comments and trailing commas. Errors name the file, the field and the
 * reason, and nothing is loaded when any file is wrong.
 */
#include <dirent.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "config.h"
#include "explain_db.h"
#include "jsonc.h"
#include "log.h"
#include "queue.h"
#include "ruleset.h"
#include "util.h"

#define MAX_FILES 256

struct item {
    char name[256];
    char rule_set[256]; /* configurations: the rule set's name */
    char path[1024];
    json_t *body;
};

struct config_set {
    struct item rulesets[MAX_FILES];
    size_t nrulesets;
    struct item configurations[MAX_FILES];
    size_t nconfigurations;
    struct item queues[MAX_FILES];
    size_t nqueues;
    struct item fleets[MAX_FILES];
    size_t nfleets;
};

static int errors;

static void fail(const char *path, const char *field, const char *why)
{
    fprintf(stderr, "rally-admin: %s: %s: %s\n", path, field, why);
    errors++;
}

static int is_json_file(const char *name)
{
    size_t n = strlen(name);
    return n > 5 && strcmp(name + n - 5, ".json") == 0 && name[0] != '.';
}

static int cmp_items(const void *a, const void *b)
{
    return strcmp(((const struct item *)a)->name, ((const struct item *)b)->name);
}

/* Reads every *.json of dir/sub into items (sorted by name); count or -1. */
static int load_dir(const char *dir, const char *sub, struct item *items)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    DIR *d = opendir(path);
    if (d == NULL)
        return 0; /* an absent directory is an empty one */
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!is_json_file(e->d_name))
            continue;
        if (n == MAX_FILES) {
            fail(path, "-", "too many files");
            break;
        }
        struct item *it = &items[n];
        snprintf(it->path, sizeof(it->path), "%s/%s", path, e->d_name);
        snprintf(it->name, sizeof(it->name), "%.*s", (int)(strlen(e->d_name) - 5), e->d_name);
        json_error_t jerr;
        it->body = jsonc_load_file(it->path, &jerr);
        if (it->body == NULL) {
            char why[300];
            snprintf(why, sizeof(why), "line %d: %s", jerr.line, jerr.text);
            fail(it->path, "(file)", why);
            continue;
        }
        if (!json_is_object(it->body)) {
            fail(it->path, "(file)", "must be a JSON object");
            json_decref(it->body);
            continue;
        }
        n++;
    }
    closedir(d);
    qsort(items, (size_t)n, sizeof(items[0]), cmp_items);
    return n;
}

static void check_ruleset(const struct item *rs)
{
    /* The name configurations' RuleSetName will use: the same grammar. */
    if (!fm_name_is_valid(rs->name))
        fail(rs->path, "(name)", FM_NAME_RULE " (the file name, less .json)");
    struct fm_error err = {{0}, {0}};
    struct fm_ruleset *parsed = fm_ruleset_parse(rs->body, &err);
    if (parsed == NULL)
        fail(rs->path, err.field, err.message);
    fm_ruleset_free(parsed);
}

static const struct item *find(const struct item *items, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(items[i].name, name) == 0)
            return &items[i];
    return NULL;
}

static void check_configuration(struct config_set *cs, struct item *c)
{
    struct fm_config conf;
    struct fm_error err = {{0}, {0}};
    if (fm_config_parse(c->body, c->name, &conf, &err) < 0) {
        fail(c->path, err.field, err.message);
        return;
    }
    snprintf(c->name, sizeof(c->name), "%s", conf.name);
    snprintf(c->rule_set, sizeof(c->rule_set), "%s", conf.rule_set_name);
    const struct item *rs = find(cs->rulesets, cs->nrulesets, conf.rule_set_name);
    if (rs == NULL) {
        fail(c->path, "RuleSetName", "names no rule set in rulesets/");
        return;
    }
    struct fm_ruleset *parsed = fm_ruleset_parse(rs->body, &err);
    if (parsed == NULL)
        return; /* reported with the rule set */
    if (fm_config_check_ruleset(&conf, parsed, &err) < 0)
        fail(c->path, err.field, err.message);
    fm_ruleset_free(parsed);
    size_t i;
    json_t *q;
    json_array_foreach(conf.queue_arns, i, q)
    {
        const char *name = fm_arn_name(json_string_value(q), "gamesessionqueue");
        if (find(cs->queues, cs->nqueues, name) == NULL)
            fail(c->path, "GameSessionQueueArns", "names a queue not in queues/");
    }
}

static bool has(const char *const *list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

/* A queue: valid, its fleets in fleets/, its locations theirs. */
static void check_queue(struct config_set *cs, struct item *it)
{
    struct fm_queue q;
    struct fm_error err = {{0}, {0}};
    if (fm_queue_parse(it->body, it->name, &q, &err) < 0) {
        fail(it->path, err.field, err.message);
        return;
    }
    snprintf(it->name, sizeof(it->name), "%s", q.name);
    const char *locs[FM_MAX_DESTINATIONS * FM_MAX_LOCATIONS];
    size_t nlocs = 0;
    for (size_t i = 0; i < q.nfleets; i++) {
        const struct item *f = find(cs->fleets, cs->nfleets, q.fleets[i]);
        struct fm_fleet fleet;
        if (f == NULL) {
            fail(it->path, "Destinations", "names a fleet not in fleets/");
            return;
        }
        if (fm_fleet_parse(f->body, f->name, &fleet, &err) < 0)
            return; /* reported with the fleet */
        for (size_t k = 0; k < fleet.nlocations; k++)
            locs[nlocs++] = fleet.locations[k];
    }
    for (size_t i = 0; i < q.nallowed; i++)
        if (!has(locs, nlocs, q.allowed[i]))
            fail(it->path, "FilterConfiguration.AllowedLocations",
                 "names a location none of the queue's fleets has");
    for (size_t i = 0; i < q.norder; i++)
        if (!has(locs, nlocs, q.order[i]))
            fail(it->path, "PriorityConfiguration.LocationOrder",
                 "names a location none of the queue's fleets has");
}

static void check_fleet(struct item *it)
{
    struct fm_fleet f;
    struct fm_error err = {{0}, {0}};
    if (fm_fleet_parse(it->body, it->name, &f, &err) < 0)
        fail(it->path, err.field, err.message);
    else
        snprintf(it->name, sizeof(it->name), "%s", f.fleet_id);
}

static int exec_params(PGconn *conn, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "rally-admin: %s", PQerrorMessage(conn));
    PQclear(r);
    return ok ? 0 : -1;
}

/* Whether the database has been migrated to know capacity (sql/019): an
 * older one (rally-admin run before scripts/migrate.sh) still takes the
 * rest of config/, with a warning. */
static bool knows_capacity(PGconn *conn)
{
    PGresult *r = PQexec(conn, "SELECT to_regproc('fleet.configure_capacity') IS NOT NULL");
    bool yes = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
               strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return yes;
}

/* config/'s capacity of the fleet's locations (fleet.configure_capacity). */
static int configure_capacity(PGconn *conn, const struct fm_fleet *f)
{
    json_t *caps = json_array();
    for (size_t i = 0; i < f->nlocations; i++)
        if (f->capacity[i].set)
            json_array_append_new(
                caps, json_pack("{s:s, s:i, s:i, s:i}", "location", f->locations[i], "minimum",
                                f->capacity[i].minimum, "maximum", f->capacity[i].maximum,
                                "desired", f->capacity[i].desired));
    char *text = json_dumps(caps, JSON_COMPACT);
    json_decref(caps);
    const char *p[] = {f->fleet_id, text};
    int rc = text != NULL
                 ? exec_params(conn, "SELECT fleet.configure_capacity($1, $2::jsonb)", 2, p)
                 : -1;
    free(text);
    return rc;
}

static int store(struct config_set *cs)
{
    PGconn *conn = PQconnectdb(getenv("DATABASE_URL") != NULL ? getenv("DATABASE_URL") : "");
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "rally-admin: could not connect: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return -1;
    }
    int rc = exec_params(conn, "BEGIN", 0, NULL);
    for (size_t i = 0; rc == 0 && i < cs->nrulesets; i++) {
        char *body = json_dumps(cs->rulesets[i].body, JSON_COMPACT);
        const char *p[] = {cs->rulesets[i].name, body};
        rc =
            exec_params(conn,
                        "INSERT INTO matchmaking.rule_sets (name, body) VALUES ($1, $2::jsonb) "
                        "ON CONFLICT (name) DO UPDATE SET body = excluded.body, updated_at = now() "
                        "WHERE matchmaking.rule_sets.body IS DISTINCT FROM excluded.body",
                        2, p);
        free(body);
    }
    for (size_t i = 0; rc == 0 && i < cs->nconfigurations; i++) {
        struct item *c = &cs->configurations[i];
        char *body = json_dumps(c->body, JSON_COMPACT);
        const char *p[] = {c->name, c->rule_set, body};
        rc = exec_params(conn,
                         "INSERT INTO matchmaking.configurations (name, rule_set_name, body) "
                         "VALUES ($1, $2, $3::jsonb) ON CONFLICT (name) DO UPDATE SET "
                         "rule_set_name = excluded.rule_set_name, body = excluded.body, "
                         "updated_at = now() WHERE matchmaking.configurations.body IS DISTINCT "
                         "FROM excluded.body",
                         3, p);
        free(body);
    }
    for (size_t i = 0; rc == 0 && i < cs->nqueues; i++) {
        char *body = json_dumps(cs->queues[i].body, JSON_COMPACT);
        const char *p[] = {cs->queues[i].name, body};
        rc =
            exec_params(conn,
                        "INSERT INTO fleet.queues (name, body) VALUES ($1, $2::jsonb) "
                        "ON CONFLICT (name) DO UPDATE SET body = excluded.body, "
                        "updated_at = now() WHERE fleet.queues.body IS DISTINCT FROM excluded.body",
                        2, p);
        free(body);
    }
    bool capacity = knows_capacity(conn);
    if (!capacity && cs->nfleets > 0)
        fprintf(stderr, "rally-admin: warning: the database predates sql/019 (run "
                        "scripts/migrate.sh): fleets' capacity was not loaded\n");
    for (size_t i = 0; rc == 0 && i < cs->nfleets; i++) {
        struct fm_fleet f;
        struct fm_error err;
        fm_fleet_parse(cs->fleets[i].body, cs->fleets[i].name, &f, &err);
        char *body = json_dumps(cs->fleets[i].body, JSON_COMPACT);
        struct arena a = {0};
        const char *list = util_pg_text_array(&a, f.locations, f.nlocations);
        char act[16], res[16], hb[16];
        snprintf(act, sizeof(act), "%d", f.activation_timeout_seconds);
        snprintf(res, sizeof(res), "%d", f.reservation_timeout_seconds);
        snprintf(hb, sizeof(hb), "%d", f.heartbeat_timeout_seconds);
        const char *p[] = {f.fleet_id, list, act, res, hb, body};
        rc = exec_params(
            conn,
            "INSERT INTO fleet.fleets (fleet_id, locations, activation_timeout_seconds, "
            "reservation_timeout_seconds, heartbeat_timeout_seconds, body) "
            "VALUES ($1, $2::text[], $3, $4, $5, $6::jsonb) ON CONFLICT (fleet_id) DO UPDATE SET "
            "locations = excluded.locations, activation_timeout_seconds = "
            "excluded.activation_timeout_seconds, reservation_timeout_seconds = "
            "excluded.reservation_timeout_seconds, heartbeat_timeout_seconds = "
            "excluded.heartbeat_timeout_seconds, body = excluded.body, updated_at = now() "
            "WHERE fleet.fleets.body IS DISTINCT FROM excluded.body",
            6, p);
        free(body);
        arena_destroy(&a);
        if (rc == 0 && capacity)
            rc = configure_capacity(conn, &f);
    }
    if (rc == 0)
        rc = exec_params(conn, "SELECT pg_notify('rally_config', 'reload')", 0, NULL);
    rc = exec_params(conn, rc == 0 ? "COMMIT" : "ROLLBACK", 0, NULL) == 0 ? rc : -1;
    PQfinish(conn);
    return rc;
}

static PGresult *query(PGconn *conn, const char *sql, const char *param)
{
    const char *p[] = {param};
    PGresult *r = PQexecParams(conn, sql, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "rally-admin: %s", PQerrorMessage(conn));
        PQclear(r);
        return NULL;
    }
    return r;
}

static int explain(const char *ticket_id)
{
    PGconn *conn = PQconnectdb(getenv("DATABASE_URL") != NULL ? getenv("DATABASE_URL") : "");
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "rally-admin: could not connect: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return 1;
    }
    int rc = 1;
    PGresult *ticket = query(conn, EXPLAIN_TICKET_SQL, ticket_id);
    const char *configuration =
        ticket != NULL && PQntuples(ticket) == 1 ? PQgetvalue(ticket, 0, 0) : "";
    PGresult *ruleset = ticket != NULL ? query(conn, EXPLAIN_RULESET_SQL, configuration) : NULL;
    PGresult *pool = ruleset != NULL ? query(conn, EXPLAIN_POOL_SQL, configuration) : NULL;
    if (pool != NULL) {
        const char *why = NULL;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
        json_t *report = fm_explain_ticket(ticket_id, ticket, ruleset, pool, now, &why);
        if (report == NULL) {
            fprintf(stderr, "rally-admin: %s: %s\n", ticket_id, why);
        } else {
            printf("%s\n", json_string_value(json_object_get(report, "Summary")));
            json_dumpf(report, stdout, JSON_INDENT(2));
            printf("\n");
            json_decref(report);
            rc = 0;
        }
    }
    PQclear(pool);
    PQclear(ruleset);
    PQclear(ticket);
    PQfinish(conn);
    return rc;
}

int main(int argc, char **argv)
{
    log_init("rally-admin");
    if (argc == 3 && strcmp(argv[1], "explain") == 0)
        return explain(argv[2]);
    if (argc != 3 ||
        (strcmp(argv[1], "load-config") != 0 && strcmp(argv[1], "check-config") != 0)) {
        fprintf(stderr,
                "usage: rally-admin load-config DIR | check-config DIR | explain TICKET_ID\n");
        return 2;
    }
    static struct config_set cs;
    int n = load_dir(argv[2], "rulesets", cs.rulesets);
    cs.nrulesets = (size_t)n;
    n = load_dir(argv[2], "configurations", cs.configurations);
    cs.nconfigurations = (size_t)n;
    cs.nqueues = (size_t)load_dir(argv[2], "queues", cs.queues);
    cs.nfleets = (size_t)load_dir(argv[2], "fleets", cs.fleets);
    for (size_t i = 0; i < cs.nrulesets; i++)
        check_ruleset(&cs.rulesets[i]);
    for (size_t i = 0; i < cs.nfleets; i++)
        check_fleet(&cs.fleets[i]);
    for (size_t i = 0; i < cs.nqueues; i++)
        check_queue(&cs, &cs.queues[i]);
    for (size_t i = 0; i < cs.nconfigurations; i++)
        check_configuration(&cs, &cs.configurations[i]);
    if (errors > 0) {
        fprintf(stderr, "rally-admin: %d error(s); nothing loaded\n", errors);
        return 1;
    }
    int rc = 0;
    if (strcmp(argv[1], "load-config") == 0)
        rc = store(&cs) == 0 ? 0 : 1;
    if (rc == 0)
        printf("%s %zu rule set(s), %zu configuration(s), %zu queue(s) and %zu fleet(s) from "
               "%s\n",
               strcmp(argv[1], "load-config") == 0 ? "loaded" : "checked", cs.nrulesets,
               cs.nconfigurations, cs.nqueues, cs.nfleets, argv[2]);
    for (size_t i = 0; i < cs.nrulesets; i++)
        json_decref(cs.rulesets[i].body);
    for (size_t i = 0; i < cs.nconfigurations; i++)
        json_decref(cs.configurations[i].body);
    for (size_t i = 0; i < cs.nqueues; i++)
        json_decref(cs.queues[i].body);
    for (size_t i = 0; i < cs.nfleets; i++)
        json_decref(cs.fleets[i].body);
    return rc;
}
