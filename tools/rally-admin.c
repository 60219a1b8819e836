/*
 * rally-admin: operator commands.
 *
 *   rally-admin load-config DIR   validate DIR/rulesets/ and
 *                                 DIR/configurations/ (JSON files) and load them
 *                                 into PostgreSQL in one transaction
 *   rally-admin check-config DIR  validate only
 *
 * A rule set is named by its file name (as CreateMatchmakingRuleSet's Name);
 * a configuration by its "Name" field, else its file name. Files may carry
 * comments and trailing commas. Errors name the file, the field and the
 * reason, and nothing is loaded when any file is wrong.
 */
#include <dirent.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "jsonc.h"
#include "log.h"
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
    if (!util_is_token(rs->name, 128, "-_."))
        fail(rs->path, "(name)", "file name must be 1-128 characters of [A-Za-z0-9-_.]");
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
    if (rc == 0)
        rc = exec_params(conn, "SELECT pg_notify('rally_config', 'reload')", 0, NULL);
    rc = exec_params(conn, rc == 0 ? "COMMIT" : "ROLLBACK", 0, NULL) == 0 ? rc : -1;
    PQfinish(conn);
    return rc;
}

int main(int argc, char **argv)
{
    log_init("rally-admin");
    if (argc != 3 ||
        (strcmp(argv[1], "load-config") != 0 && strcmp(argv[1], "check-config") != 0)) {
        fprintf(stderr, "usage: rally-admin load-config DIR | check-config DIR\n");
        return 2;
    }
    static struct config_set cs;
    int n = load_dir(argv[2], "rulesets", cs.rulesets);
    cs.nrulesets = (size_t)n;
    n = load_dir(argv[2], "configurations", cs.configurations);
    cs.nconfigurations = (size_t)n;
    for (size_t i = 0; i < cs.nrulesets; i++)
        check_ruleset(&cs.rulesets[i]);
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
        printf("%s %zu rule set(s) and %zu configuration(s) from %s\n",
               strcmp(argv[1], "load-config") == 0 ? "loaded" : "checked", cs.nrulesets,
               cs.nconfigurations, argv[2]);
    for (size_t i = 0; i < cs.nrulesets; i++)
        json_decref(cs.rulesets[i].body);
    for (size_t i = 0; i < cs.nconfigurations; i++)
        json_decref(cs.configurations[i].body);
    return rc;
}
