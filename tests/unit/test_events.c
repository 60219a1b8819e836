/* Unit tests for matchmaker/events.c: every FlexMatch event type against
 * AWS's published example of it (tests/unit/fixtures/flexmatch-events/,
 * copied from reference/aws-flow.md §3), field for field and in order. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.h"

#define FIXTURES "tests/unit/fixtures/flexmatch-events/"

static int64_t parse_time(const char *s)
{
    struct tm tm = {0};
    int ms = 0;
    ck_assert_int_eq(sscanf(s, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms),
                     7);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static const char *str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static const struct {
    const char *file;
    enum fm_event_type type;
} examples[] = {
    {"MatchmakingSearching", FM_EV_SEARCHING},
    {"PotentialMatchCreated", FM_EV_POTENTIAL_MATCH_CREATED},
    {"AcceptMatch", FM_EV_ACCEPT_MATCH},
    {"AcceptMatchCompleted", FM_EV_ACCEPT_MATCH_COMPLETED},
    {"MatchmakingSucceeded", FM_EV_SUCCEEDED},
    {"MatchmakingTimedOut", FM_EV_TIMED_OUT},
    {"MatchmakingCancelled", FM_EV_CANCELLED},
    {"MatchmakingFailed", FM_EV_FAILED},
};

/* Builds the example's event from its facts alone (ids, times, players,
 * teams, metrics...) and checks that fm_event_json writes the example back
 * exactly, key order included. */
START_TEST(test_event_matches_aws_example)
{
    char path[256];
    snprintf(path, sizeof(path), FIXTURES "%s.json", examples[_i].file);
    json_error_t jerr;
    json_t *want = json_load_file(path, 0, &jerr);
    ck_assert_msg(want != NULL, "%s: %s", path, jerr.text);
    json_t *d = json_object_get(want, "detail");

    struct fm_event e = {0};
    e.type = examples[_i].type;
    e.id = str(want, "id");
    e.time_ms = parse_time(str(want, "time"));
    e.account = str(want, "account");
    e.region = str(want, "region");
    e.configuration_arn = json_string_value(json_array_get(json_object_get(want, "resources"), 0));
    e.match_id = str(d, "matchId");
    json_t *wait = json_object_get(d, "estimatedWaitMillis");
    e.estimated_wait_ms = json_is_integer(wait) ? (long)json_integer_value(wait) : -1;
    e.acceptance_required = json_is_true(json_object_get(d, "acceptanceRequired"));
    e.acceptance_timeout = (int)json_integer_value(json_object_get(d, "acceptanceTimeout"));
    e.acceptance = str(d, "acceptance");
    e.reason = str(d, "reason");
    e.message = str(d, "message");
    e.custom_event_data = str(d, "customEventData");
    json_t *gs = json_object_get(d, "gameSessionInfo");
    e.game_session_arn = str(gs, "gameSessionArn");
    e.ip_address = str(gs, "ipAddress");
    e.dns_name = str(gs, "dnsName");
    e.port = (int)json_integer_value(json_object_get(gs, "port"));

    json_t *tickets = json_object_get(d, "tickets");
    struct fm_event_ticket ts[8];
    struct fm_event_player ps[8][8];
    e.tickets = ts;
    e.ntickets = json_array_size(tickets);
    for (size_t i = 0; i < e.ntickets; i++) {
        json_t *t = json_array_get(tickets, i);
        json_t *players = json_object_get(t, "players");
        ts[i].ticket_id = str(t, "ticketId");
        ts[i].start_ms = parse_time(str(t, "startTime"));
        ts[i].players = ps[i];
        ts[i].nplayers = json_array_size(players);
        for (size_t k = 0; k < ts[i].nplayers; k++) {
            json_t *p = json_array_get(players, k);
            json_t *acc = json_object_get(p, "accepted");
            ps[i][k] = (struct fm_event_player){str(p, "playerId"), str(p, "team"),
                                                str(p, "playerSessionId"),
                                                acc == NULL ? -1 : json_is_true(acc)};
        }
    }
    json_t *metrics = json_object_get(d, "ruleEvaluationMetrics");
    struct fm_event_metric ms[8];
    e.metrics = ms;
    e.nmetrics = json_array_size(metrics);
    for (size_t i = 0; i < e.nmetrics; i++) {
        json_t *m = json_array_get(metrics, i);
        ms[i] = (struct fm_event_metric){
            str(m, "ruleName"),
            (unsigned long)json_integer_value(json_object_get(m, "passedCount")),
            (unsigned long)json_integer_value(json_object_get(m, "failedCount"))};
    }

    json_t *got = fm_event_json(&e);
    char *g = json_dumps(got, JSON_COMPACT);
    char *w = json_dumps(want, JSON_COMPACT);
    ck_assert_msg(strcmp(g, w) == 0, "%s:\n got  %s\n want %s", examples[_i].file, g, w);
    free(g);
    free(w);
    json_decref(got);
    json_decref(want);
}
END_TEST

START_TEST(test_dns_name_and_wait_time)
{
    /* rally adds dnsName (the AWS samples read it) and reports a known wait
     * in seconds, as the current docs say. */
    struct fm_event_player p = {"p1", "red", "psess-1", -1};
    struct fm_event_ticket t = {"t1", 1500000000123, &p, 1};
    struct fm_event e = {.type = FM_EV_SUCCEEDED,
                         .id = "id",
                         .time_ms = 1500000000999,
                         .account = "000000000000",
                         .region = "local",
                         .configuration_arn = "arn",
                         .tickets = &t,
                         .ntickets = 1,
                         .match_id = "m1",
                         .game_session_arn = "gs",
                         .ip_address = "127.0.0.1",
                         .dns_name = "localhost",
                         .port = 7777};
    json_t *j = fm_event_json(&e);
    json_t *gs = json_object_get(json_object_get(j, "detail"), "gameSessionInfo");
    ck_assert_str_eq(json_string_value(json_object_get(gs, "dnsName")), "localhost");
    ck_assert_int_eq(json_integer_value(json_object_get(gs, "port")), 7777);
    ck_assert_str_eq(json_string_value(json_object_get(j, "time")), "2017-07-14T02:40:00.999Z");
    json_decref(j);
    e.type = FM_EV_SEARCHING;
    e.estimated_wait_ms = 12;
    j = fm_event_json(&e);
    json_t *d = json_object_get(j, "detail");
    ck_assert_int_eq(json_integer_value(json_object_get(d, "estimatedWaitMillis")), 12);
    ck_assert_ptr_null(json_object_get(d, "matchId"));
    ck_assert_ptr_null(json_object_get(
        json_array_get(json_object_get(json_array_get(json_object_get(d, "tickets"), 0), "players"),
                       0),
        "team"));
    json_decref(j);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("events");
    TCase *tc = tcase_create("shapes");
    tcase_add_loop_test(tc, test_event_matches_aws_example, 0,
                        (int)(sizeof(examples) / sizeof(examples[0])));
    tcase_add_test(tc, test_dns_name_and_wait_time);
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
