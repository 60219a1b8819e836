/* CreateMatchmakingConfiguration fields, checked as GameLift checks them. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 3, 4))) static int fail(struct fm_error *err, const char *field,
                                                      const char *fmt, ...)
{
    snprintf(err->field, sizeof(err->field), "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -1;
}

/* s is 1..max characters, each alphanumeric or in extra. */
static bool token(const char *s, size_t max, const char *extra)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > max)
        return false;
    for (const char *p = s; *p; p++) {
        bool alnum =
            (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9');
        if (!alnum && strchr(extra, *p) == NULL)
            return false;
    }
    return true;
}

/* An optional integer field within [lo, hi]: 0 absent or fine, -1 not. */
static int integer(json_t *body, const char *key, long lo, long hi, int *out, struct fm_error *err)
{
    json_t *v = json_object_get(body, key);
    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return fail(err, key, "must be a whole number from %ld to %ld", lo, hi);
    *out = (int)json_integer_value(v);
    return 0;
}

static int text(json_t *body, const char *key, size_t lo, size_t hi, const char **out,
                struct fm_error *err)
{
    json_t *v = json_object_get(body, key);
    if (v == NULL)
        return 0;
    if (!json_is_string(v) || json_string_length(v) < lo || json_string_length(v) > hi)
        return fail(err, key, "must be a string of %zu to %zu characters", lo, hi);
    *out = json_string_value(v);
    return 0;
}

static const char *const fields[] = {"Name",
                                     "Description",
                                     "RuleSetName",
                                     "RequestTimeoutSeconds",
                                     "AcceptanceRequired",
                                     "AcceptanceTimeoutSeconds",
                                     "FlexMatchMode",
                                     "GameSessionQueueArns",
                                     "NotificationTarget",
                                     "AdditionalPlayerCount",
                                     "CustomEventData",
                                     "GameProperties",
                                     "GameSessionData",
                                     "BackfillMode",
                                     "Tags",
                                     "ClientSettableAttributes",
                                     NULL};

static int check_fields(json_t *body, struct fm_error *err)
{
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v)
    {
        bool known = false;
        for (size_t i = 0; fields[i] != NULL && !known; i++)
            known = strcmp(k, fields[i]) == 0;
        if (!known)
            return fail(err, k, "is not a field of CreateMatchmakingConfiguration");
    }
    return 0;
}

static int game_properties(json_t *v, struct fm_error *err)
{
    if (!json_is_array(v) || json_array_size(v) > 16)
        return fail(err, "GameProperties", "must be an array of at most 16 {Key, Value}");
    size_t i;
    json_t *p;
    json_array_foreach(v, i, p)
    {
        const char *key = json_string_value(json_object_get(p, "Key"));
        const char *val = json_string_value(json_object_get(p, "Value"));
        if (!json_is_object(p) || json_object_size(p) != 2 || key == NULL || val == NULL ||
            strlen(key) > 32 || strlen(val) > 96)
            return fail(err, "GameProperties",
                        "entry %zu must be {\"Key\": up to 32 characters, \"Value\": up to 96}", i);
    }
    return 0;
}

int fm_config_parse(json_t *body, const char *fallback_name, struct fm_config *c,
                    struct fm_error *err)
{
    memset(c, 0, sizeof(*c));
    memset(err, 0, sizeof(*err));
    if (!json_is_object(body))
        return fail(err, "(configuration)", "must be a JSON object");
    if (check_fields(body, err) < 0)
        return -1;
    c->name = fallback_name;
    const char *description = NULL;
    if (text(body, "Name", 1, 128, &c->name, err) < 0 ||
        text(body, "Description", 1, 1024, &description, err) < 0)
        return -1;
    if (!token(c->name, 128, "-."))
        return fail(err, "Name", "must be 1-128 characters of [a-zA-Z0-9-.]");

    c->rule_set_name = json_string_value(json_object_get(body, "RuleSetName"));
    if (c->rule_set_name == NULL || strlen(c->rule_set_name) > 256)
        return fail(err, "RuleSetName", "is required: a rule set name or ARN");
    const char *slash = strstr(c->rule_set_name, ":matchmakingruleset/");
    if (strncmp(c->rule_set_name, "arn:", 4) == 0 && slash != NULL)
        c->rule_set_name = slash + strlen(":matchmakingruleset/");
    if (!token(c->rule_set_name, 128, "-."))
        return fail(err, "RuleSetName", "must name a rule set: 1-128 characters of [a-zA-Z0-9-.]");

    if (json_object_get(body, "RequestTimeoutSeconds") == NULL)
        return fail(err, "RequestTimeoutSeconds", "is required");
    if (integer(body, "RequestTimeoutSeconds", 1, 43200, &c->request_timeout_seconds, err) < 0)
        return -1;
    json_t *acc = json_object_get(body, "AcceptanceRequired");
    if (!json_is_boolean(acc))
        return fail(err, "AcceptanceRequired", "is required: true or false");
    c->acceptance_required = json_is_true(acc);
    if (integer(body, "AcceptanceTimeoutSeconds", 1, 600, &c->acceptance_timeout_seconds, err) < 0)
        return -1;
    /* decision: with acceptance on, its timeout must be given (the console
     * asks for it; an unbounded wait would hold the players forever). */
    if (c->acceptance_required && c->acceptance_timeout_seconds == 0)
        return fail(err, "AcceptanceTimeoutSeconds", "is required when AcceptanceRequired is true");

    const char *mode = "WITH_QUEUE";
    if (text(body, "FlexMatchMode", 1, 32, &mode, err) < 0)
        return -1;
    if (strcmp(mode, "STANDALONE") != 0 && strcmp(mode, "WITH_QUEUE") != 0)
        return fail(err, "FlexMatchMode", "must be STANDALONE or WITH_QUEUE");
    c->standalone = strcmp(mode, "STANDALONE") == 0;

    c->queue_arns = json_object_get(body, "GameSessionQueueArns");
    if (c->queue_arns != NULL) {
        size_t i;
        json_t *q;
        if (c->standalone)
            return fail(err, "GameSessionQueueArns",
                        "must not be set with FlexMatchMode STANDALONE");
        if (!json_is_array(c->queue_arns) || json_array_size(c->queue_arns) == 0)
            return fail(err, "GameSessionQueueArns", "must be an array of queue ARNs or names");
        json_array_foreach(c->queue_arns, i, q)
        {
            if (!json_is_string(q) || json_string_length(q) == 0 || json_string_length(q) > 256)
                return fail(err, "GameSessionQueueArns", "entry %zu is not a queue ARN or name", i);
        }
    }

    if (text(body, "NotificationTarget", 0, 300, &c->notification_target, err) < 0)
        return -1;
    if (c->notification_target != NULL) {
        size_t n = strlen(c->notification_target);
        bool fifo = n > 5 && strcmp(c->notification_target + n - 5, ".fifo") == 0;
        char arn[301];
        snprintf(arn, sizeof(arn), "%.*s", (int)(fifo ? n - 5 : n), c->notification_target);
        if (n > 0 && (!token(arn, 300, ":_/-") || strncmp(arn, "arn:", 4) != 0))
            return fail(err, "NotificationTarget", "must be an SNS topic ARN");
    }
    if (integer(body, "AdditionalPlayerCount", 0, FM_MAX_PLAYERS, &c->additional_player_count,
                err) < 0 ||
        text(body, "CustomEventData", 0, 256, &c->custom_event_data, err) < 0 ||
        text(body, "GameSessionData", 1, 4096, &c->game_session_data, err) < 0)
        return -1;
    c->game_properties = json_object_get(body, "GameProperties");
    if (c->game_properties != NULL && game_properties(c->game_properties, err) < 0)
        return -1;
    const char *backfill = "MANUAL";
    if (text(body, "BackfillMode", 1, 16, &backfill, err) < 0)
        return -1;
    if (strcmp(backfill, "AUTOMATIC") != 0 && strcmp(backfill, "MANUAL") != 0)
        return fail(err, "BackfillMode", "must be AUTOMATIC or MANUAL");
    c->backfill_automatic = strcmp(backfill, "AUTOMATIC") == 0;
    if (c->backfill_automatic && c->standalone)
        return fail(err, "BackfillMode", "AUTOMATIC needs FlexMatchMode WITH_QUEUE");
    json_t *tags = json_object_get(body, "Tags");
    if (tags != NULL && (!json_is_array(tags) || json_array_size(tags) > 200))
        return fail(err, "Tags", "must be an array of at most 200 tags");
    c->client_settable = json_object_get(body, "ClientSettableAttributes");
    if (c->client_settable != NULL && !json_is_array(c->client_settable))
        return fail(err, "ClientSettableAttributes", "must be an array of attribute names");
    return 0;
}

int fm_config_check_ruleset(const struct fm_config *c, const struct fm_ruleset *rs,
                            struct fm_error *err)
{
    size_t i;
    json_t *v;
    json_array_foreach(c->client_settable, i, v)
    {
        if (!json_is_string(v) || fm_attr_index(rs, json_string_value(v)) < 0)
            return fail(err, "ClientSettableAttributes",
                        "entry %zu must name a playerAttribute of rule set %s", i,
                        c->rule_set_name);
    }
    struct fm_error inner = {{0}, {0}};
    if (fm_ruleset_check_timeout(rs, c->request_timeout_seconds, &inner) < 0)
        return fail(err, "RequestTimeoutSeconds", "is shorter than the rule set's %s: %s",
                    inner.field, inner.message);
    return 0;
}
