/* CreateMatchmakingConfiguration fields, checked as GameLift checks them. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "fields.h"
#include "queue.h"

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

bool fm_name_is_valid(const char *s)
{
    return fm_token(s, 128, "-.");
}

static int game_properties(json_t *v, struct fm_error *err)
{
    if (!json_is_array(v) || json_array_size(v) > 16)
        return fm_fail(err, "GameProperties", "must be an array of at most 16 {Key, Value}");
    size_t i;
    json_t *p;
    json_array_foreach(v, i, p)
    {
        const char *key = json_string_value(json_object_get(p, "Key"));
        const char *val = json_string_value(json_object_get(p, "Value"));
        if (!json_is_object(p) || json_object_size(p) != 2 || key == NULL || val == NULL ||
            strlen(key) > 32 || strlen(val) > 96)
            return fm_fail(err, "GameProperties",
                           "entry %zu must be {\"Key\": up to 32 characters, \"Value\": up to 96}",
                           i);
    }
    return 0;
}

int fm_config_parse(json_t *body, const char *fallback_name, struct fm_config *c,
                    struct fm_error *err)
{
    memset(c, 0, sizeof(*c));
    memset(err, 0, sizeof(*err));
    if (!json_is_object(body))
        return fm_fail(err, "(configuration)", "must be a JSON object");
    if (fm_known_fields(body, fields, "CreateMatchmakingConfiguration", err) < 0)
        return -1;
    c->name = fallback_name;
    const char *description = NULL;
    if (fm_text_field(body, "Name", 1, 128, &c->name, err) < 0 ||
        fm_text_field(body, "Description", 1, 1024, &description, err) < 0)
        return -1;
    if (!fm_name_is_valid(c->name))
        return fm_fail(err, "Name", FM_NAME_RULE);

    c->rule_set_name = json_string_value(json_object_get(body, "RuleSetName"));
    if (c->rule_set_name == NULL || strlen(c->rule_set_name) > 256)
        return fm_fail(err, "RuleSetName", "is required: a rule set name or ARN");
    const char *slash = strstr(c->rule_set_name, ":matchmakingruleset/");
    if (strncmp(c->rule_set_name, "arn:", 4) == 0 && slash != NULL)
        c->rule_set_name = slash + strlen(":matchmakingruleset/");
    if (!fm_name_is_valid(c->rule_set_name))
        return fm_fail(err, "RuleSetName", "must name a rule set: " FM_NAME_RULE);

    if (json_object_get(body, "RequestTimeoutSeconds") == NULL)
        return fm_fail(err, "RequestTimeoutSeconds", "is required");
    if (fm_int_field(body, "RequestTimeoutSeconds", 1, 43200, &c->request_timeout_seconds, err) < 0)
        return -1;
    json_t *acc = json_object_get(body, "AcceptanceRequired");
    if (!json_is_boolean(acc))
        return fm_fail(err, "AcceptanceRequired", "is required: true or false");
    c->acceptance_required = json_is_true(acc);
    if (fm_int_field(body, "AcceptanceTimeoutSeconds", 1, 600, &c->acceptance_timeout_seconds,
                     err) < 0)
        return -1;
    /* decision: with acceptance on, its timeout must be given (the console
     * asks for it; an unbounded wait would hold the players forever). */
    if (c->acceptance_required && c->acceptance_timeout_seconds == 0)
        return fm_fail(err, "AcceptanceTimeoutSeconds",
                       "is required when AcceptanceRequired is true");

    const char *mode = "WITH_QUEUE";
    if (fm_text_field(body, "FlexMatchMode", 1, 32, &mode, err) < 0)
        return -1;
    if (strcmp(mode, "STANDALONE") != 0 && strcmp(mode, "WITH_QUEUE") != 0)
        return fm_fail(err, "FlexMatchMode", "must be STANDALONE or WITH_QUEUE");
    c->standalone = strcmp(mode, "STANDALONE") == 0;

    c->queue_arns = json_object_get(body, "GameSessionQueueArns");
    if (c->queue_arns != NULL) {
        size_t i;
        json_t *q;
        if (c->standalone)
            return fm_fail(err, "GameSessionQueueArns",
                           "must not be set with FlexMatchMode STANDALONE");
        if (!json_is_array(c->queue_arns) || json_array_size(c->queue_arns) == 0)
            return fm_fail(err, "GameSessionQueueArns", "must be an array of queue ARNs or names");
        json_array_foreach(c->queue_arns, i, q)
        {
            if (!json_is_string(q) || json_string_length(q) > 256 ||
                !fm_token(fm_arn_name(json_string_value(q), "gamesessionqueue"), 128, "-"))
                return fm_fail(err, "GameSessionQueueArns",
                               "entry %zu is not a game session queue ARN or name", i);
        }
    } else if (!c->standalone) {
        return fm_fail(err, "GameSessionQueueArns", "is required with FlexMatchMode WITH_QUEUE");
    }

    if (fm_text_field(body, "NotificationTarget", 0, 300, &c->notification_target, err) < 0)
        return -1;
    if (c->notification_target != NULL) {
        size_t n = strlen(c->notification_target);
        bool fifo = n > 5 && strcmp(c->notification_target + n - 5, ".fifo") == 0;
        char arn[301];
        snprintf(arn, sizeof(arn), "%.*s", (int)(fifo ? n - 5 : n), c->notification_target);
        if (n > 0 && (!fm_token(arn, 300, ":_/-") || strncmp(arn, "arn:", 4) != 0))
            return fm_fail(err, "NotificationTarget", "must be an SNS topic ARN");
    }
    if (fm_int_field(body, "AdditionalPlayerCount", 0, FM_MAX_PLAYERS, &c->additional_player_count,
                     err) < 0 ||
        fm_text_field(body, "CustomEventData", 0, 256, &c->custom_event_data, err) < 0 ||
        fm_text_field(body, "GameSessionData", 1, 4096, &c->game_session_data, err) < 0)
        return -1;
    c->game_properties = json_object_get(body, "GameProperties");
    if (c->game_properties != NULL && game_properties(c->game_properties, err) < 0)
        return -1;
    const char *backfill = "MANUAL";
    if (fm_text_field(body, "BackfillMode", 1, 16, &backfill, err) < 0)
        return -1;
    if (strcmp(backfill, "AUTOMATIC") != 0 && strcmp(backfill, "MANUAL") != 0)
        return fm_fail(err, "BackfillMode", "must be AUTOMATIC or MANUAL");
    c->backfill_automatic = strcmp(backfill, "AUTOMATIC") == 0;
    if (c->backfill_automatic && c->standalone)
        return fm_fail(err, "BackfillMode", "AUTOMATIC needs FlexMatchMode WITH_QUEUE");
    json_t *tags = json_object_get(body, "Tags");
    if (tags != NULL && (!json_is_array(tags) || json_array_size(tags) > 200))
        return fm_fail(err, "Tags", "must be an array of at most 200 tags");
    c->client_settable = json_object_get(body, "ClientSettableAttributes");
    if (c->client_settable != NULL && !json_is_array(c->client_settable))
        return fm_fail(err, "ClientSettableAttributes", "must be an array of attribute names");
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
            return fm_fail(err, "ClientSettableAttributes",
                           "entry %zu must name a playerAttribute of rule set %s", i,
                           c->rule_set_name);
    }
    struct fm_error inner = {{0}, {0}};
    if (fm_ruleset_check_timeout(rs, c->request_timeout_seconds, &inner) < 0)
        return fm_fail(err, "RequestTimeoutSeconds", "is shorter than the rule set's %s: %s",
                       inner.field, inner.message);
    return 0;
}
