/* Unit tests for matchmaker/config.c: CreateMatchmakingConfiguration fields
 * and their ranges. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ruleset.h"

/* The required fields; BASE adds the queue WITH_QUEUE (the default) needs. */
#define REQUIRED                                                                                   \
    "\"RuleSetName\": \"rs\", \"RequestTimeoutSeconds\": 60, \"AcceptanceRequired\": false"
#define BASE REQUIRED ", \"GameSessionQueueArns\": [\"q\"]"

static json_t *parse_json(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    ck_assert_msg(j != NULL, "%s: %s", text, jerr.text);
    return j;
}

START_TEST(test_full_configuration)
{
    json_t *body = parse_json(
        "{\"Name\": \"Arena.5v5\", \"Description\": \"ranked\", \"RuleSetName\": "
        "\"arn:aws:gamelift:us-west-2:111122223333:matchmakingruleset/FiveVsFive\", "
        "\"RequestTimeoutSeconds\": 120, \"AcceptanceRequired\": true, "
        "\"AcceptanceTimeoutSeconds\": 30, \"FlexMatchMode\": \"WITH_QUEUE\", "
        "\"GameSessionQueueArns\": "
        "[\"arn:aws:gamelift:us-west-2:111122223333:gamesessionqueue/main\"], "
        "\"NotificationTarget\": \"arn:aws:sns:us-west-2:111122223333:events.fifo\", "
        "\"AdditionalPlayerCount\": 2, \"CustomEventData\": \"season-4\", \"GameProperties\": "
        "[{\"Key\": \"mode\", \"Value\": \"ranked\"}], \"GameSessionData\": \"map=dust\", "
        "\"BackfillMode\": \"AUTOMATIC\", \"Tags\": [], \"ClientSettableAttributes\": "
        "[\"skill\"]}");
    struct fm_config c;
    struct fm_error err = {{0}, {0}};
    ck_assert_msg(fm_config_parse(body, "file", &c, &err) == 0, "%s: %s", err.field, err.message);
    ck_assert_str_eq(c.name, "Arena.5v5");
    ck_assert_str_eq(c.rule_set_name, "FiveVsFive");
    ck_assert_int_eq(c.request_timeout_seconds, 120);
    ck_assert(c.acceptance_required);
    ck_assert_int_eq(c.acceptance_timeout_seconds, 30);
    ck_assert(!c.standalone);
    ck_assert_int_eq(c.additional_player_count, 2);
    ck_assert_str_eq(c.custom_event_data, "season-4");
    ck_assert(c.backfill_automatic);
    json_decref(body);

    /* No Name: the file name; STANDALONE; defaults. */
    body = parse_json("{" REQUIRED ", \"FlexMatchMode\": \"STANDALONE\"}");
    ck_assert_int_eq(fm_config_parse(body, "from-file", &c, &err), 0);
    ck_assert_str_eq(c.name, "from-file");
    ck_assert(c.standalone);
    ck_assert(!c.backfill_automatic);
    ck_assert_ptr_null(c.notification_target);
    json_decref(body);
}
END_TEST

static const struct {
    const char *body;
    const char *field;
    const char *says;
} refused[] = {
    {"{\"RequestTimeoutSeconds\": 60, \"AcceptanceRequired\": false}", "RuleSetName", "required"},
    {"{\"RuleSetName\": \"rs\", \"AcceptanceRequired\": false}", "RequestTimeoutSeconds",
     "required"},
    {"{\"RuleSetName\": \"rs\", \"RequestTimeoutSeconds\": 43201, \"AcceptanceRequired\": false}",
     "RequestTimeoutSeconds", "43200"},
    {"{\"RuleSetName\": \"rs\", \"RequestTimeoutSeconds\": 60}", "AcceptanceRequired", "required"},
    {"{" BASE ", \"Nmae\": \"x\"}", "Nmae", "not a field"},
    {"{" BASE ", \"Name\": \"bad name\"}", "Name", "[a-zA-Z0-9-.]"},
    {"{\"RuleSetName\": \"rs\", \"RequestTimeoutSeconds\": 60, \"AcceptanceRequired\": true}",
     "AcceptanceTimeoutSeconds", "required"},
    {"{" BASE ", \"AcceptanceTimeoutSeconds\": 601}", "AcceptanceTimeoutSeconds", "600"},
    {"{" BASE ", \"FlexMatchMode\": \"MANAGED\"}", "FlexMatchMode", "STANDALONE or WITH_QUEUE"},
    {"{" BASE ", \"FlexMatchMode\": \"STANDALONE\"}", "GameSessionQueueArns", "STANDALONE"},
    {"{" REQUIRED ", \"FlexMatchMode\": \"WITH_QUEUE\"}", "GameSessionQueueArns",
     "required with FlexMatchMode WITH_QUEUE"},
    {"{" REQUIRED ", \"GameSessionQueueArns\": [\"arn:aws:gamelift:us-west-2:1:fleet/f\"]}",
     "GameSessionQueueArns", "entry 0 is not a game session queue"},
    {"{" REQUIRED ", \"FlexMatchMode\": \"STANDALONE\", \"BackfillMode\": \"AUTOMATIC\"}",
     "BackfillMode", "WITH_QUEUE"},
    {"{" BASE ", \"NotificationTarget\": \"https://example.com/hook\"}", "NotificationTarget",
     "SNS topic ARN"},
    {"{" BASE ", \"AdditionalPlayerCount\": -1}", "AdditionalPlayerCount", "from 0"},
    {"{" BASE ", \"GameProperties\": [{\"Key\": \"k\"}]}", "GameProperties", "entry 0"},
    {"{" BASE ", \"CustomEventData\": \"" /* 257 characters */
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
     "CustomEventData", "256"},
    {"{" BASE ", \"ClientSettableAttributes\": \"skill\"}", "ClientSettableAttributes", "array"},
};

START_TEST(test_refused_configurations)
{
    json_t *body = parse_json(refused[_i].body);
    struct fm_config c;
    struct fm_error err = {{0}, {0}};
    ck_assert_msg(fm_config_parse(body, "f", &c, &err) == -1, "case %d accepted", _i);
    ck_assert_msg(strcmp(err.field, refused[_i].field) == 0, "case %d: field %s (%s)", _i,
                  err.field, err.message);
    ck_assert_msg(strstr(err.message, refused[_i].says) != NULL, "case %d: %s", _i, err.message);
    json_decref(body);
}
END_TEST

START_TEST(test_configuration_against_its_rule_set)
{
    json_t *rs_body = parse_json(
        "{\"ruleLanguageVersion\": \"1.0\", \"playerAttributes\": [{\"name\": \"skill\", \"type\": "
        "\"number\"}], \"teams\": [{\"name\": \"t\", \"maxPlayers\": 2, \"minPlayers\": 2}], "
        "\"rules\": [{\"name\": \"l\", \"type\": \"latency\", \"maxLatency\": 50}], "
        "\"expansions\": "
        "[{\"target\": \"rules[l].maxLatency\", \"steps\": [{\"waitTimeSeconds\": 90, \"value\": "
        "100}]}]}");
    struct fm_error err = {{0}, {0}};
    struct fm_ruleset *rs = fm_ruleset_parse(rs_body, &err);
    ck_assert_ptr_nonnull(rs);
    json_t *body = parse_json("{" BASE ", \"ClientSettableAttributes\": [\"mode\"]}");
    struct fm_config c;
    ck_assert_int_eq(fm_config_parse(body, "f", &c, &err), 0);
    ck_assert_int_eq(fm_config_check_ruleset(&c, rs, &err), -1);
    ck_assert_str_eq(err.field, "ClientSettableAttributes");
    json_decref(body);
    body = parse_json("{" BASE ", \"ClientSettableAttributes\": [\"skill\"]}");
    ck_assert_int_eq(fm_config_parse(body, "f", &c, &err), 0);
    ck_assert_int_eq(fm_config_check_ruleset(&c, rs, &err), -1); /* 90 s step, 60 s timeout */
    ck_assert_str_eq(err.field, "RequestTimeoutSeconds");
    ck_assert_ptr_nonnull(strstr(err.message, "expansions[0].steps[0]"));
    c.request_timeout_seconds = 90;
    ck_assert_int_eq(fm_config_check_ruleset(&c, rs, &err), 0);
    json_decref(body);
    json_decref(rs_body);
    fm_ruleset_free(rs);
}
END_TEST

/* One grammar for the names of rule sets and configurations (GameLift's
 * MatchmakingIdStringModel), so that a rule set that loads can be named. */
START_TEST(test_names_of_rule_sets_and_configurations)
{
    char longest[130];
    memset(longest, 'n', 128);
    longest[128] = '\0';
    ck_assert(fm_name_is_valid("Arena.5v5-ranked"));
    ck_assert(fm_name_is_valid(longest));
    longest[128] = 'n';
    longest[129] = '\0';
    ck_assert(!fm_name_is_valid(longest));
    ck_assert(!fm_name_is_valid(""));
    ck_assert(!fm_name_is_valid("my_rules"));
    ck_assert(!fm_name_is_valid("a b"));

    /* A configuration naming a rule set with _ is refused at RuleSetName. */
    json_t *body = parse_json("{\"RuleSetName\": \"my_rules\", \"RequestTimeoutSeconds\": 60, "
                              "\"AcceptanceRequired\": false, \"FlexMatchMode\": \"STANDALONE\"}");
    struct fm_config c;
    struct fm_error err = {{0}, {0}};
    ck_assert_int_eq(fm_config_parse(body, "f", &c, &err), -1);
    ck_assert_str_eq(err.field, "RuleSetName");
    json_decref(body);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("fields");
    tcase_add_test(tc, test_full_configuration);
    tcase_add_loop_test(tc, test_refused_configurations, 0,
                        (int)(sizeof(refused) / sizeof(refused[0])));
    tcase_add_test(tc, test_configuration_against_its_rule_set);
    tcase_add_test(tc, test_names_of_rule_sets_and_configurations);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
