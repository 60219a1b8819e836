/* Unit tests for matchmaker/queue.c: queue and fleet files, latency
 * policies over time, and the queue's choice of location. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "players.h"
#include "queue.h"
#include "runtime.h"

static json_t *parse_json(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    ck_assert_msg(j != NULL, "%s: %s", text, jerr.text);
    return j;
}

#define DEST "\"Destinations\": [{\"DestinationArn\": \"arn:aws:gamelift:us-west-2:1:fleet/f-1\"}]"

START_TEST(test_queue_file)
{
    json_t *body = parse_json(
        "{\"Name\": \"main\", \"TimeoutInSeconds\": 90, " DEST ", \"PlayerLatencyPolicies\": ["
        "{\"MaximumIndividualPlayerLatencyMilliseconds\": 200},"
        "{\"MaximumIndividualPlayerLatencyMilliseconds\": 100, \"PolicyDurationSeconds\": 5},"
        "{\"MaximumIndividualPlayerLatencyMilliseconds\": 50, \"PolicyDurationSeconds\": 10}], "
        "\"FilterConfiguration\": {\"AllowedLocations\": [\"us-east-1\", \"eu-west-1\"]}, "
        "\"PriorityConfiguration\": {\"PriorityOrder\": [\"LATENCY\"], \"LocationOrder\": "
        "[\"eu-west-1\"]}}");
    struct fm_queue q;
    struct fm_error err;
    ck_assert_msg(fm_queue_parse(body, "file", &q, &err) == 0, "%s: %s", err.field, err.message);
    ck_assert_str_eq(q.name, "main");
    ck_assert_int_eq(q.timeout_seconds, 90);
    ck_assert_uint_eq(q.nfleets, 1);
    ck_assert_str_eq(q.fleets[0], "f-1");
    ck_assert_uint_eq(q.nallowed, 2);
    ck_assert_str_eq(q.order[0], "eu-west-1");
    /* Lowest cap first, the open-ended one last: 50 ms for 10 s, then 100
     * ms for 5 s, then 200 ms for good. */
    ck_assert_int_eq(fm_queue_latency_cap(&q, 0), 50);
    ck_assert_int_eq(fm_queue_latency_cap(&q, 9.9), 50);
    ck_assert_int_eq(fm_queue_latency_cap(&q, 10), 100);
    ck_assert_int_eq(fm_queue_latency_cap(&q, 14.9), 100);
    ck_assert_int_eq(fm_queue_latency_cap(&q, 15), 200);
    ck_assert_int_eq(fm_queue_latency_cap(&q, 1e6), 200);
    json_decref(body);

    /* Defaults, a bare fleet id, and no cap once timed policies are spent. */
    body = parse_json("{\"Destinations\": [{\"DestinationArn\": \"fleet-local\"}], "
                      "\"PlayerLatencyPolicies\": [{\"MaximumIndividualPlayerLatencyMilliseconds\":"
                      " 80, \"PolicyDurationSeconds\": 3}]}");
    ck_assert_int_eq(fm_queue_parse(body, "from-file", &q, &err), 0);
    ck_assert_str_eq(q.name, "from-file");
    ck_assert_int_eq(q.timeout_seconds, 600);
    ck_assert_str_eq(q.fleets[0], "fleet-local");
    ck_assert_int_eq(fm_queue_latency_cap(&q, 2), 80);
    ck_assert_int_eq(fm_queue_latency_cap(&q, 3), -1);
    json_decref(body);
}
END_TEST

static const struct {
    const char *body;
    const char *field;
    const char *says;
} bad_queues[] = {
    {"{}", "Destinations", "required"},
    {"{" DEST ", \"Name\": \"bad name\"}", "Name", "[a-zA-Z0-9-]"},
    {"{" DEST ", \"TimeoutInSeconds\": -1}", "TimeoutInSeconds", "from 0"},
    {"{" DEST ", \"Timeout\": 5}", "Timeout", "not a field of CreateGameSessionQueue"},
    {"{\"Destinations\": [{\"DestinationArn\": \"arn:aws:gamelift:r:1:alias/a\"}]}", "Destinations",
     "entry 0"},
    {"{" DEST ", \"PlayerLatencyPolicies\": [{\"PolicyDurationSeconds\": 5}]}",
     "PlayerLatencyPolicies[0].MaximumIndividualPlayerLatencyMilliseconds", "required"},
    {"{" DEST ", \"PlayerLatencyPolicies\": [{\"MaximumIndividualPlayerLatencyMilliseconds\": 5, "
     "\"Duration\": 1}]}",
     "PlayerLatencyPolicies[0].Duration", "not a field"},
    {"{" DEST ", \"PlayerLatencyPolicies\": [{\"MaximumIndividualPlayerLatencyMilliseconds\": 5}, "
     "{\"MaximumIndividualPlayerLatencyMilliseconds\": 9}]}",
     "PlayerLatencyPolicies", "only one policy"},
    {"{" DEST ", \"FilterConfiguration\": {\"AllowedLocations\": [\"us east\"]}}",
     "FilterConfiguration.AllowedLocations", "entry 0"},
    {"{" DEST ", \"PriorityConfiguration\": {\"LocationOrder\": [\"a\", \"a\"]}}",
     "PriorityConfiguration.LocationOrder", "repeats"},
};

START_TEST(test_refused_queues)
{
    json_t *body = parse_json(bad_queues[_i].body);
    struct fm_queue q;
    struct fm_error err;
    ck_assert_msg(fm_queue_parse(body, "f", &q, &err) == -1, "case %d accepted", _i);
    ck_assert_msg(strcmp(err.field, bad_queues[_i].field) == 0, "case %d: field %s (%s)", _i,
                  err.field, err.message);
    ck_assert_msg(strstr(err.message, bad_queues[_i].says) != NULL, "case %d: %s", _i, err.message);
    json_decref(body);
}
END_TEST

START_TEST(test_fleet_file)
{
    json_t *body =
        parse_json("{\"FleetId\": \"fleet-1\", \"Locations\": [{\"Location\": \"us-east-1\"}, "
                   "\"eu-west-1\"], \"RuntimeConfiguration\": "
                   "{\"GameSessionActivationTimeoutSeconds\": 30}, "
                   "\"PlayerSessionReservationTimeoutSeconds\": 20}");
    struct fm_fleet f;
    struct fm_error err;
    ck_assert_msg(fm_fleet_parse(body, "x", &f, &err) == 0, "%s: %s", err.field, err.message);
    ck_assert_str_eq(f.fleet_id, "fleet-1");
    ck_assert_uint_eq(f.nlocations, 2);
    ck_assert_str_eq(f.locations[1], "eu-west-1");
    ck_assert_int_eq(f.activation_timeout_seconds, 30);
    ck_assert_int_eq(f.reservation_timeout_seconds, 20);
    ck_assert_int_eq(f.heartbeat_timeout_seconds, 60);
    json_decref(body);

    body = parse_json("{\"Locations\": [\"a\"], \"RuntimeConfiguration\": "
                      "{\"GameSessionActivationTimeoutSeconds\": 601}}");
    ck_assert_int_eq(fm_fleet_parse(body, "x", &f, &err), -1);
    ck_assert_str_eq(err.field, "RuntimeConfiguration.GameSessionActivationTimeoutSeconds");
    json_decref(body);
    body = parse_json("{\"FleetId\": \"f\"}");
    ck_assert_int_eq(fm_fleet_parse(body, "x", &f, &err), -1);
    ck_assert_str_eq(err.field, "Locations");
    json_decref(body);
}
END_TEST

/* ServerProcesses: what an agent runs, and what rally-admin refuses. */
START_TEST(test_runtime_configuration)
{
    json_t *body = parse_json(
        "{\"ServerProcesses\": [{\"LaunchPath\": \"/local/game/server\", \"Parameters\": "
        "\"--port 0\", \"ConcurrentExecutions\": 3}, {\"LaunchPath\": \"relay\", "
        "\"ConcurrentExecutions\": 2}], \"MaxConcurrentGameSessionActivations\": 2}");
    struct fm_runtime rt;
    struct fm_error err;
    ck_assert_msg(fm_runtime_parse(body, &rt, &err) == 0, "%s: %s", err.field, err.message);
    ck_assert_uint_eq(rt.nprocs, 2);
    ck_assert_int_eq(rt.total, 5);
    ck_assert_str_eq(rt.procs[0].parameters, "--port 0");
    ck_assert_str_eq(rt.procs[1].parameters, "");
    ck_assert_int_eq(rt.max_activations, 2);
    ck_assert_int_eq(rt.activation_timeout_s, 300);
    json_decref(body);
    ck_assert_int_eq(fm_runtime_parse(NULL, &rt, &err), 0);
    ck_assert_uint_eq(rt.nprocs, 0);

    static const struct {
        const char *json, *field;
    } bad[] = {
        {"{\"ServerProcesses\": []}", "ServerProcesses"},
        {"{\"ServerProcesses\": [{\"ConcurrentExecutions\": 1}]}", "ServerProcesses[0].LaunchPath"},
        {"{\"ServerProcesses\": [{\"LaunchPath\": \"x\"}]}",
         "ServerProcesses[0].ConcurrentExecutions"},
        {"{\"ServerProcesses\": [{\"LaunchPath\": \"x\", \"ConcurrentExecutions\": 0}]}",
         "ServerProcesses[0].ConcurrentExecutions"},
        {"{\"ServerProcesses\": [{\"LaunchPath\": \"../x\", \"ConcurrentExecutions\": 1}]}",
         "ServerProcesses[0].LaunchPath"},
        {"{\"ServerProcesses\": [{\"LaunchPath\": \"x\", \"ConcurrentExecutions\": 1, "
         "\"Shell\": true}]}",
         "ServerProcesses[0].Shell"},
        {"{\"ServerProcesses\": [{\"LaunchPath\": \"x\", \"ConcurrentExecutions\": 600}, "
         "{\"LaunchPath\": \"y\", \"ConcurrentExecutions\": 600}]}",
         "ServerProcesses"},
        {"{\"MaxConcurrentGameSessionActivations\": 0}", "MaxConcurrentGameSessionActivations"},
        {"{\"ServerProcesses\": [{\"LaunchPath\": \"x\", \"Parameters\": \"a\\tb\", "
         "\"ConcurrentExecutions\": 1}]}",
         "ServerProcesses[0].Parameters"},
        {"{\"ServerProcesses\": [{\"LaunchPath\": \"x\\ny\", \"ConcurrentExecutions\": 1}]}",
         "ServerProcesses[0].LaunchPath"},
        {"{\"ServerProcesses\": [{\"LaunchPath\": \"x\", \"ConcurrentExecutions\": 2}, "
         "{\"LaunchPath\": \"x\", \"ConcurrentExecutions\": 3}]}",
         "ServerProcesses"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        body = parse_json(bad[i].json);
        ck_assert_int_eq(fm_runtime_parse(body, &rt, &err), -1);
        ck_assert_msg(strcmp(err.field, bad[i].field) == 0, "case %zu: %s (%s)", i, err.field,
                      err.message);
        json_decref(body);
    }
}
END_TEST

START_TEST(test_arn_names)
{
    ck_assert_str_eq(fm_arn_name("arn:aws:gamelift:r:1:gamesessionqueue/q-1", "gamesessionqueue"),
                     "q-1");
    ck_assert_str_eq(fm_arn_name("plain", "fleet"), "plain");
    ck_assert_ptr_null(fm_arn_name("arn:aws:gamelift:r:1:alias/a", "fleet"));
    ck_assert_ptr_null(fm_arn_name("arn:aws:gamelift:r:1:xfleet/a", "fleet"));
}
END_TEST

/* Tickets of one player each with the given latencies (-1: not reported)
 * to us-east-1, eu-west-1, ap-south-1. */
static struct fm_player players[4];
static struct fm_ticket tickets[4];
static const struct fm_ticket *ptrs[4];
static const char *const locs[] = {"us-east-1", "eu-west-1", "ap-south-1"};

static void with_latencies(int n, const int (*ms)[3])
{
    for (int i = 0; i < n; i++) {
        for (int r = 0; r < FM_MAX_REGIONS; r++)
            players[i].latency[r] = -1;
        for (int k = 0; k < 3; k++)
            players[i].latency[fm_region_index(locs[k])] = ms[i][k];
        tickets[i] = (struct fm_ticket){.id = "t", .players = &players[i], .nplayers = 1};
        ptrs[i] = &tickets[i];
    }
}

START_TEST(test_choice_of_location)
{
    struct fm_queue q = {.name = "q", .timeout_seconds = 60, .npolicies = 1};
    q.policies[0] = (struct fm_latency_policy){.max_ms = 100, .duration_s = 5};
    int avg;

    /* Lowest average where everyone is within the cap. */
    const int a[][3] = {{40, 30, 200}, {60, 90, 10}};
    with_latencies(2, a);
    ck_assert_int_eq(fm_queue_choose(&q, locs, 3, ptrs, 2, 0, &avg), 0); /* 50 vs 60; ap over */
    ck_assert_int_eq(avg, 50);

    /* Nobody within the cap: nothing at first, the best average after. */
    const int b[][3] = {{140, 150, 300}, {160, 120, 300}};
    with_latencies(2, b);
    ck_assert_int_eq(fm_queue_choose(&q, locs, 3, ptrs, 2, 4.9, &avg), -1);
    ck_assert_int_eq(fm_queue_choose(&q, locs, 3, ptrs, 2, 5, &avg), 1);
    ck_assert_int_eq(avg, 135);

    /* Only locations with an idle process count. */
    ck_assert_int_eq(fm_queue_choose(&q, locs + 2, 1, ptrs, 2, 5, &avg), 0);

    /* A location one player did not report: not under a cap; after the
     * complete ones otherwise. */
    const int c[][3] = {{20, 30, -1}, {20, -1, 5}};
    with_latencies(2, c);
    ck_assert_int_eq(fm_queue_choose(&q, locs + 1, 2, ptrs, 2, 0, &avg), -1);
    ck_assert_int_eq(fm_queue_choose(&q, locs + 1, 2, ptrs, 2, 9, &avg), 1); /* 5 known < 30 */
    ck_assert_int_eq(fm_queue_choose(&q, locs, 3, ptrs, 2, 9, &avg), 0);     /* complete first */

    /* Nobody reported the only idle location: not under a cap; without one,
     * better than waiting for ever. */
    const int e[][3] = {{20, -1, -1}, {30, -1, -1}};
    with_latencies(2, e);
    ck_assert_int_eq(fm_queue_choose(&q, locs + 1, 1, ptrs, 2, 0, &avg), -1);
    ck_assert_int_eq(fm_queue_choose(&q, locs + 1, 1, ptrs, 2, 9, &avg), 0);
    ck_assert_int_eq(fm_queue_choose(&q, locs, 2, ptrs, 2, 9, &avg), 0); /* reported first */

    /* No latency at all: LocationOrder, then the order given. */
    const int d[][3] = {{-1, -1, -1}};
    with_latencies(1, d);
    ck_assert_int_eq(fm_queue_choose(&q, locs, 3, ptrs, 1, 0, &avg), 0);
    ck_assert_int_eq(avg, -1);
    q.order[0] = "ap-south-1";
    q.norder = 1;
    ck_assert_int_eq(fm_queue_choose(&q, locs, 3, ptrs, 1, 0, &avg), 2);

    /* AllowedLocations filters. */
    q.allowed[0] = "eu-west-1";
    q.nallowed = 1;
    ck_assert_int_eq(fm_queue_choose(&q, locs, 3, ptrs, 1, 0, &avg), 1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("queue");
    TCase *tc = tcase_create("queues and fleets");
    tcase_add_test(tc, test_queue_file);
    tcase_add_loop_test(tc, test_refused_queues, 0,
                        (int)(sizeof(bad_queues) / sizeof(bad_queues[0])));
    tcase_add_test(tc, test_fleet_file);
    tcase_add_test(tc, test_runtime_configuration);
    tcase_add_test(tc, test_arn_names);
    tcase_add_test(tc, test_choice_of_location);
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
