/* Unit tests for common/ticket.c: latency and attribute validation, ticket
 * ids, time formats, and rendering of a ticket row. */
#include <check.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cfg.h"
#include "ticket.h"

static struct arena arena;

static void setup(void)
{
    memset(&arena, 0, sizeof(arena));
}

static void teardown(void)
{
    arena_destroy(&arena);
}

/* Expands "<N>" in a template into N 'x' characters (table readability for
 * long strings). Arena string. */
static char *expand(const char *tmpl)
{
    size_t cap = 1;
    for (const char *p = tmpl; *p != '\0'; p++) {
        if (*p == '<') {
            cap += strtoul(p + 1, NULL, 10);
            p = strchr(p, '>');
        } else {
            cap++;
        }
    }
    char *out = arena_alloc(&arena, cap);
    size_t o = 0;
    for (const char *p = tmpl; *p != '\0'; p++) {
        if (*p == '<') {
            size_t n = strtoul(p + 1, NULL, 10);
            memset(out + o, 'x', n);
            o += n;
            p = strchr(p, '>');
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
    return out;
}

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &err);
    ck_assert_msg(j != NULL, "test JSON %s does not parse: %s", text, err.text);
    return j;
}

/* ---- latencyInMs ------------------------------------------------------- */

static const struct {
    const char *in; /* JSON, with <N> expansion */
    int clamp;
    const char *want; /* the result, or NULL: rejected */
} latency_cases[] = {
    {"{\"us-east-1\":23,\"us-west-2\":81}", 0, "{\"us-east-1\":23,\"us-west-2\":81}"},
    {"{\"us-east-1\":23,\"us-west-2\":81}", 1, "{\"us-east-1\":23,\"us-west-2\":81}"},
    {"{\"r\":1}", 0, "{\"r\":1}"},
    {"{\"r\":999999}", 0, "{\"r\":999999}"},
    {"{\"r\":1000000}", 0, NULL},
    {"{\"r\":1000000}", 1, NULL},
    {"{\"r\":0}", 0, NULL},        /* 0 rejected natively */
    {"{\"r\":0}", 1, "{\"r\":1}"}, /* but clamped for the samples */
    {"{\"a\":0,\"b\":5}", 1, "{\"a\":1,\"b\":5}"},
    {"{\"r\":-1}", 0, NULL},
    {"{\"r\":-1}", 1, NULL},
    {"{\"r\":-999999}", 1, NULL},
    {"{\"r\":1.5}", 0, NULL}, /* non-integers */
    {"{\"r\":1.0}", 0, NULL},
    {"{\"r\":\"23\"}", 0, NULL},
    {"{\"r\":true}", 0, NULL},
    {"{\"r\":null}", 1, NULL},
    {"{\"r\":[23]}", 0, NULL},
    {"{}", 0, NULL}, /* no regions */
    {"{}", 1, NULL},
    {"[]", 0, NULL}, /* not an object */
    {"[{\"r\":1}]", 0, NULL},
    {"\"us-east-1_23\"", 1, NULL},
    {"23", 0, NULL},
    {"null", 0, NULL},
    {"{\"us east\":1}", 0, NULL}, /* bad region names */
    {"{\"us_east\":1}", 0, NULL},
    {"{\"us.east\":1}", 0, NULL},
    {"{\"us/east\":1}", 0, NULL},
    {"{\"\":1}", 0, NULL},
    {"{\"r\\u00e9gion\":1}", 0, NULL},
    {"{\"ok\":1,\"b@d\":2}", 0, NULL}, /* one bad entry spoils the lot */
    {"{\"<64>\":5}", 0, "{\"<64>\":5}"},
    {"{\"<65>\":5}", 0, NULL},
    {"{\"A-Z-0-9\":7}", 0, "{\"A-Z-0-9\":7}"},
};
#define NLATENCY (int)(sizeof(latency_cases) / sizeof(latency_cases[0]))

START_TEST(test_latency_from_json)
{
    const char *in_text = expand(latency_cases[_i].in);
    json_t *in = parse(in_text);
    const char *why = NULL;
    json_t *out = ticket_latency_from_json(in, latency_cases[_i].clamp != 0, &why);
    if (latency_cases[_i].want == NULL) {
        char *dump = json_dumps(out, JSON_COMPACT | JSON_ENCODE_ANY);
        ck_assert_msg(out == NULL, "%s (clamp %d) accepted as %s", in_text, latency_cases[_i].clamp,
                      dump);
        free(dump);
        ck_assert_ptr_nonnull(why);
        ck_assert_uint_gt(strlen(why), 0);
    } else {
        ck_assert_msg(out != NULL, "%s (clamp %d) rejected: %s", in_text, latency_cases[_i].clamp,
                      why);
        json_t *want = parse(expand(latency_cases[_i].want));
        ck_assert(json_equal(out, want));
        ck_assert_ptr_ne(out, in); /* a new object */
        json_decref(want);
    }
    json_decref(out);
    json_decref(in);
}
END_TEST

/* Exactly 32 regions pass; 33 do not. */
START_TEST(test_latency_region_count)
{
    int nregions = 30 + _i; /* 30..34 */
    json_t *in = json_object();
    for (int i = 0; i < nregions; i++)
        json_object_set_new(in, arena_sprintf(&arena, "region-%d", i), json_integer(10 + i));
    const char *why = NULL;
    json_t *out = ticket_latency_from_json(in, false, &why);
    if (nregions <= TICKET_MAX_REGIONS) {
        ck_assert_msg(out != NULL, "%d regions rejected: %s", nregions, why);
        ck_assert_uint_eq(json_object_size(out), (size_t)nregions);
    } else {
        ck_assert_msg(out == NULL, "%d regions accepted", nregions);
    }
    json_decref(out);
    json_decref(in);
}
END_TEST

/* The LEGACY sample's "region_ms_region_ms" string. */
static const struct {
    const char *in;
    const char *want; /* NULL: rejected */
} v1_cases[] = {
    {"us-east-1_23_us-west-2_81", "{\"us-east-1\":23,\"us-west-2\":81}"},
    {"us-east-1_23 us-west-2_81", "{\"us-east-1\":23,\"us-west-2\":81}"},
    {"us-east-1_23+us-west-2_81", "{\"us-east-1\":23,\"us-west-2\":81}"},
    {"us-east-1 23\tus-west-2 81", "{\"us-east-1\":23,\"us-west-2\":81}"},
    {"_us-east-1__23_", "{\"us-east-1\":23}"},
    {"us-east-1_23", "{\"us-east-1\":23}"},
    {"us-east-1_0", "{\"us-east-1\":1}"}, /* the samples send 0: clamped */
    {"us-east-1_999999", "{\"us-east-1\":999999}"},
    {"us-east-1_1000000", NULL},
    {"us-east-1_99999999999999999999999", NULL}, /* overflows long */
    {"us-east-1_-5", NULL},
    {"us-east-1_23_us-west-2", NULL}, /* odd item count */
    {"us-east-1", NULL},
    {"us-east-1_abc", NULL}, /* non-numeric */
    {"us-east-1_23ms", NULL},
    {"us-east-1_2.5", NULL},
    {"us-east-1_0x10", NULL},
    {"23_us-east-1", NULL}, /* swapped: "us-east-1" is no number */
    {"us.east_23", NULL},   /* bad region name */
    {"", NULL},             /* no regions */
    {"___", NULL},
};
#define NV1 (int)(sizeof(v1_cases) / sizeof(v1_cases[0]))

START_TEST(test_latency_from_v1)
{
    const char *why = NULL;
    json_t *out = ticket_latency_from_v1(&arena, v1_cases[_i].in, &why);
    if (v1_cases[_i].want == NULL) {
        ck_assert_msg(out == NULL, "\"%s\" accepted", v1_cases[_i].in);
        ck_assert_ptr_nonnull(why);
    } else {
        ck_assert_msg(out != NULL, "\"%s\" rejected: %s", v1_cases[_i].in, why);
        json_t *want = parse(v1_cases[_i].want);
        char *dump = json_dumps(out, JSON_COMPACT);
        ck_assert_msg(json_equal(out, want), "\"%s\": got %s, want %s", v1_cases[_i].in, dump,
                      v1_cases[_i].want);
        free(dump);
        json_decref(want);
    }
    json_decref(out);
}
END_TEST

START_TEST(test_latency_from_v1_region_count)
{
    int nregions = 31 + _i; /* 31..33 */
    size_t cap = (size_t)nregions * 16 + 1;
    char *s = arena_alloc(&arena, cap);
    size_t o = 0;
    for (int i = 0; i < nregions; i++)
        o += (size_t)snprintf(s + o, cap - o, "%sr%d_%d", i ? "_" : "", i, i + 1);
    const char *why = NULL;
    json_t *out = ticket_latency_from_v1(&arena, s, &why);
    if (nregions <= TICKET_MAX_REGIONS)
        ck_assert_msg(out != NULL && json_object_size(out) == (size_t)nregions,
                      "%d regions rejected: %s", nregions, why);
    else
        ck_assert_msg(out == NULL, "%d regions accepted", nregions);
    json_decref(out);
}
END_TEST

/* ---- player attributes ------------------------------------------------- */

static const struct {
    const char *in; /* JSON, with <N> expansion */
    int ok;
} attr_cases[] = {
    {"{}", 1},
    {"{\"skill\":{\"N\":10}}", 1},
    {"{\"skill\":{\"N\":-2.5}}", 1},
    {"{\"mode\":{\"S\":\"ranked\"}}", 1},
    {"{\"mode\":{\"S\":\"<100>\"}}", 1},
    {"{\"maps\":{\"SL\":[\"a\",\"b\"]}}", 1},
    {"{\"maps\":{\"SL\":[]}}", 1},
    {"{\"lat\":{\"SDM\":{\"a\":1,\"b\":2.5}}}", 1},
    {"{\"lat\":{\"SDM\":{}}}", 1},
    {"{\"lat\":{\"SDM\":{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,"
     "\"i\":9,\"j\":10}}}",
     1},
    {"{\"a\":{\"N\":1},\"b\":{\"S\":\"x\"},\"c\":{\"SL\":[\"y\"]},\"d\":{\"SDM\":{\"k\":1}}}", 1},
    {"{\"a\":{\"N\":1},\"b\":{\"N\":1},\"c\":{\"N\":1},\"d\":{\"N\":1},\"e\":{\"N\":1},"
     "\"f\":{\"N\":1},\"g\":{\"N\":1},\"h\":{\"N\":1},\"i\":{\"N\":1},\"j\":{\"N\":1}}",
     1},
    {"{\"<1024>\":{\"N\":1}}", 1},
    /* bad shapes */
    {"{\"a\":{\"N\":1},\"b\":{\"N\":1},\"c\":{\"N\":1},\"d\":{\"N\":1},\"e\":{\"N\":1},"
     "\"f\":{\"N\":1},\"g\":{\"N\":1},\"h\":{\"N\":1},\"i\":{\"N\":1},\"j\":{\"N\":1},"
     "\"k\":{\"N\":1}}",
     0}, /* 11 attributes */
    {"{\"<1025>\":{\"N\":1}}", 0},
    {"{\"\":{\"N\":1}}", 0},
    {"{\"mode\":{\"S\":\"ranked\",\"N\":1}}", 0}, /* two keys */
    {"{\"mode\":{\"S\":\"a\",\"S2\":\"b\"}}", 0},
    {"{\"mode\":{\"S\":\"\"}}", 0},      /* empty string */
    {"{\"mode\":{\"S\":\"<101>\"}}", 0}, /* 101 characters */
    {"{\"mode\":{\"S\":5}}", 0},
    {"{\"mode\":{\"S\":null}}", 0},
    {"{\"skill\":{\"N\":\"10\"}}", 0},
    {"{\"skill\":{\"N\":true}}", 0},
    {"{\"maps\":{\"SL\":5}}", 0}, /* SL with a number */
    {"{\"maps\":{\"SL\":\"a\"}}", 0},
    {"{\"maps\":{\"SL\":[1]}}", 0},
    {"{\"maps\":{\"SL\":[\"a\",\"\"]}}", 0},
    {"{\"maps\":{\"SL\":[\"<101>\"]}}", 0},
    {"{\"lat\":{\"SDM\":{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,"
     "\"i\":9,\"j\":10,\"k\":11}}}",
     0}, /* SDM with 11 entries */
    {"{\"lat\":{\"SDM\":{\"a\":\"1\"}}}", 0},
    {"{\"lat\":{\"SDM\":{\"\":1}}}", 0},
    {"{\"lat\":{\"SDM\":{\"<101>\":1}}}", 0},
    {"{\"lat\":{\"SDM\":[1,2]}}", 0},
    {"{\"x\":{\"X\":\"y\"}}", 0}, /* unknown key */
    {"{\"x\":{\"s\":\"y\"}}", 0},
    {"{\"x\":{}}", 0},
    {"{\"x\":\"y\"}", 0}, /* non-object value */
    {"{\"x\":5}", 0},
    {"{\"x\":[{\"N\":1}]}", 0},
    {"{\"x\":null}", 0},
    {"{\"ok\":{\"N\":1},\"bad\":{\"N\":\"1\"}}", 0},
    {"[]", 0}, /* non-object */
    {"\"attrs\"", 0},
    {"null", 0},
};
#define NATTR (int)(sizeof(attr_cases) / sizeof(attr_cases[0]))

START_TEST(test_check_attributes)
{
    const char *text = expand(attr_cases[_i].in);
    json_t *in = parse(text);
    const char *why = NULL;
    int rc = ticket_check_attributes(in, &why);
    if (attr_cases[_i].ok) {
        ck_assert_msg(rc == 0, "%.200s rejected: %s", text, why);
    } else {
        ck_assert_msg(rc == -1, "%.200s accepted", text);
        ck_assert_ptr_nonnull(why);
    }
    json_decref(in);
}
END_TEST

START_TEST(test_check_attributes_sl_size)
{
    int n = 99 + _i; /* 99..101 strings */
    json_t *sl = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(sl, json_string("m"));
    json_t *in = json_pack("{s:{s:o}}", "maps", "SL", sl);
    const char *why = NULL;
    int rc = ticket_check_attributes(in, &why);
    ck_assert_int_eq(rc, n <= 100 ? 0 : -1);
    json_decref(in);
}
END_TEST

START_TEST(test_check_attributes_nan)
{
    /* jansson refuses NaN and infinities as reals, so an N is always finite;
     * a huge exponent is still a finite double. */
    json_t *in = parse("{\"a\":{\"N\":1e308}}");
    const char *why = NULL;
    ck_assert_int_eq(ticket_check_attributes(in, &why), 0);
    json_decref(in);
}
END_TEST

/* ---- ticket ids -------------------------------------------------------- */

static const struct {
    const char *id;
    int ok;
} id_cases[] = {
    {"abc", 1},
    {"abc-123.x", 1},
    {"9f1c3c7e-8a54-4d6e-b0a7-6a3f1e8a2b11", 1},
    {"A", 1},
    {".", 1},
    {"<128>", 1},
    {"<129>", 0},
    {"", 0},
    {"a b", 0},
    {"a_b", 0},
    {"a/b", 0},
    {"a:b", 0},
    {"a%20b", 0},
    {"caf\xc3\xa9", 0},
    {"abc\n", 0},
};
#define NID (int)(sizeof(id_cases) / sizeof(id_cases[0]))

START_TEST(test_ticket_id)
{
    const char *id = expand(id_cases[_i].id);
    ck_assert_msg(ticket_id_is_valid(id) == (id_cases[_i].ok != 0), "\"%.40s\" (len %zu): want %s",
                  id, strlen(id), id_cases[_i].ok ? "valid" : "invalid");
}
END_TEST

START_TEST(test_ticket_id_null)
{
    ck_assert(!ticket_id_is_valid(NULL));
}
END_TEST

/* ---- times ------------------------------------------------------------- */

/* 2024-02-16T12:00:00Z is 1708084800. */
static const struct {
    long long us;
    const char *native;
    const char *v2;
} time_cases[] = {
    {1708084800123456LL, "2024-02-16T12:00:00.123Z", "2024-02-16 12:00:00.123456+00:00"},
    {1708084800123000LL, "2024-02-16T12:00:00.123Z", "2024-02-16 12:00:00.123000+00:00"},
    {1708084800999999LL, "2024-02-16T12:00:00.999Z", "2024-02-16 12:00:00.999999+00:00"},
    {1708084800000001LL, "2024-02-16T12:00:00.000Z", "2024-02-16 12:00:00.000001+00:00"},
    /* Python's str(datetime) leaves out a zero fraction. */
    {1708084800000000LL, "2024-02-16T12:00:00.000Z", "2024-02-16 12:00:00+00:00"},
    {1709251199500000LL, "2024-02-29T23:59:59.500Z", "2024-02-29 23:59:59.500000+00:00"},
    {0LL, "1970-01-01T00:00:00.000Z", "1970-01-01 00:00:00+00:00"},
    {4102444800000000LL, "2100-01-01T00:00:00.000Z", "2100-01-01 00:00:00+00:00"},
};
#define NTIME (int)(sizeof(time_cases) / sizeof(time_cases[0]))

/* A time as the dialect writes it, as a string for comparison. */
static const char *time_text(const struct dialect *d, int64_t us)
{
    json_t *v = d->time_value(us);
    const char *s = arena_strdup(&arena, json_string_value(v));
    json_decref(v);
    return s;
}

START_TEST(test_format_time)
{
    int64_t us = (int64_t)time_cases[_i].us;
    ck_assert_str_eq(time_text(&dialect_native, us), time_cases[_i].native);
    ck_assert_str_eq(time_text(&dialect_legacy, us), time_cases[_i].native);
    ck_assert_str_eq(time_text(&dialect_guidance, us), time_cases[_i].v2);
    /* GameLift's API: epoch seconds, a number. */
    json_t *v = dialect_gamelift.time_value(us);
    ck_assert(json_is_real(v));
    ck_assert(json_real_value(v) * 1e6 - (double)us < 1.0 &&
              (double)us - json_real_value(v) * 1e6 < 1.0);
    json_decref(v);
}
END_TEST

/* ---- configuration ARN and rendering ------------------------------------ */

static void cfg_setup(void)
{
    setup();
    setenv("RALLY_REGION", "eu-west-1", 1);
    setenv("RALLY_ACCOUNT_ID", "123456789012", 1);
    unsetenv("RALLY_SNS_CERT_URL_PREFIXES");
    unsetenv("RALLY_SNS_TOPICS");
    cfg_load("test");
}

START_TEST(test_configuration_arn)
{
    ck_assert_str_eq(ticket_configuration_arn(&arena, "SampleFlexMatchConfiguration"),
                     "arn:aws:gamelift:eu-west-1:123456789012:matchmakingconfiguration/"
                     "SampleFlexMatchConfiguration");
}
END_TEST

static void pg_clear_hook(void *p)
{
    PQclear(p);
}

/* A one-row result shaped like TICKET_VIEW_SQL's; NULL values are SQL NULL. */
static PGresult *make_row(const char *const values[TICKET_COL_MY_PLAYER_SESSION + 1])
{
    enum { NCOLS = TICKET_COL_MY_PLAYER_SESSION + 1 };
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    ck_assert_ptr_nonnull(r);
    arena_defer(&arena, pg_clear_hook, r);
    PGresAttDesc attrs[NCOLS];
    memset(attrs, 0, sizeof(attrs));
    for (int i = 0; i < NCOLS; i++) {
        attrs[i].name = arena_sprintf(&arena, "c%d", i);
        attrs[i].typid = 25; /* text */
        attrs[i].typlen = -1;
        attrs[i].atttypmod = -1;
    }
    ck_assert(PQsetResultAttrs(r, NCOLS, attrs));
    for (int i = 0; i < NCOLS; i++) {
        char *v = values[i] != NULL ? arena_strdup(&arena, values[i]) : NULL;
        ck_assert(PQsetvalue(r, 0, i, v, v != NULL ? (int)strlen(v) : -1));
    }
    return r;
}

START_TEST(test_render_searching)
{
    const char *values[TICKET_COL_MY_PLAYER_SESSION + 1] = {
        [TICKET_COL_ID] = "t-1",
        [TICKET_COL_CONFIGURATION] = "Conf",
        [TICKET_COL_STATUS] = "SEARCHING",
        [TICKET_COL_START_US] = "1708084800123456",
        [TICKET_COL_PLAYERS] = "[{\"PlayerId\":\"p1\",\"PlayerAttributes\":{\"skill\":{\"N\":1}},"
                               "\"LatencyInMs\":{\"r\":5},\"Team\":null,"
                               "\"PlayerSessionId\":null}]",
    };
    PGresult *r = make_row(values);
    json_t *t = ticket_render(&arena, r, 0, &dialect_native);
    json_t *want =
        parse("{\"TicketId\":\"t-1\",\"ConfigurationName\":\"Conf\","
              "\"ConfigurationArn\":\"arn:aws:gamelift:eu-west-1:123456789012:"
              "matchmakingconfiguration/Conf\",\"Status\":\"SEARCHING\","
              "\"StartTime\":\"2024-02-16T12:00:00.123Z\","
              "\"Players\":[{\"PlayerId\":\"p1\",\"PlayerAttributes\":{\"skill\":{\"N\":1}},"
              "\"LatencyInMs\":{\"r\":5}}]}");
    char *dump = json_dumps(t, JSON_COMPACT);
    ck_assert_msg(json_equal(t, want), "got %s", dump);
    free(dump);
    json_decref(want);
    json_decref(t);
}
END_TEST

START_TEST(test_render_completed)
{
    const char *values[TICKET_COL_MY_PLAYER_SESSION + 1] = {
        [TICKET_COL_ID] = "t-2",
        [TICKET_COL_CONFIGURATION] = "Conf",
        [TICKET_COL_STATUS] = "COMPLETED",
        [TICKET_COL_STATUS_REASON] = "r",
        [TICKET_COL_STATUS_MESSAGE] = "m",
        [TICKET_COL_START_US] = "1708084800000000",
        [TICKET_COL_END_US] = "1708084801500000",
        [TICKET_COL_WAIT] = "11200", /* estimatedWaitMillis: 12 s rounded up */
        [TICKET_COL_GAME_SESSION_ARN] = "arn:gs",
        [TICKET_COL_IP] = "10.0.0.1",
        [TICKET_COL_DNS] = "gs.example",
        [TICKET_COL_PORT] = "7777",
        [TICKET_COL_PLAYERS] =
            "[{\"PlayerId\":\"p1\",\"Team\":\"red\",\"PlayerSessionId\":\"ps-1\"},"
            "{\"PlayerId\":\"p2\",\"Team\":null,\"PlayerSessionId\":\"ps-2\"}]",
        [TICKET_COL_MY_PLAYER_SESSION] = "ps-1",
    };
    PGresult *r = make_row(values);
    json_t *t = ticket_render(&arena, r, 0, &dialect_guidance);
    json_t *want = parse(
        "{\"TicketId\":\"t-2\",\"ConfigurationName\":\"Conf\","
        "\"ConfigurationArn\":\"arn:aws:gamelift:eu-west-1:123456789012:"
        "matchmakingconfiguration/Conf\",\"Status\":\"COMPLETED\",\"StatusReason\":\"r\","
        "\"StatusMessage\":\"m\",\"StartTime\":\"2024-02-16 12:00:00+00:00\","
        "\"EndTime\":\"2024-02-16 12:00:01.500000+00:00\",\"EstimatedWaitTime\":12,"
        "\"Players\":[{\"PlayerId\":\"p1\",\"Team\":\"red\"},{\"PlayerId\":\"p2\"}],"
        "\"GameSessionConnectionInfo\":{\"GameSessionArn\":\"arn:gs\",\"IpAddress\":\"10.0.0.1\","
        "\"DnsName\":\"gs.example\",\"Port\":7777,\"MatchedPlayerSessions\":["
        "{\"PlayerId\":\"p1\",\"PlayerSessionId\":\"ps-1\"},"
        "{\"PlayerId\":\"p2\",\"PlayerSessionId\":\"ps-2\"}]}}");
    char *dump = json_dumps(t, JSON_COMPACT);
    ck_assert_msg(json_equal(t, want), "got %s", dump);
    free(dump);
    json_decref(want);
    json_decref(t);
}
END_TEST

static Suite *ticket_suite(void)
{
    Suite *s = suite_create("ticket");

    TCase *tl = tcase_create("latency");
    tcase_add_checked_fixture(tl, setup, teardown);
    tcase_add_loop_test(tl, test_latency_from_json, 0, NLATENCY);
    tcase_add_loop_test(tl, test_latency_region_count, 0, 5);
    tcase_add_loop_test(tl, test_latency_from_v1, 0, NV1);
    tcase_add_loop_test(tl, test_latency_from_v1_region_count, 0, 3);
    suite_add_tcase(s, tl);

    TCase *ta = tcase_create("attributes");
    tcase_add_checked_fixture(ta, setup, teardown);
    tcase_add_loop_test(ta, test_check_attributes, 0, NATTR);
    tcase_add_loop_test(ta, test_check_attributes_sl_size, 0, 3);
    tcase_add_test(ta, test_check_attributes_nan);
    suite_add_tcase(s, ta);

    TCase *ti = tcase_create("ids_times");
    tcase_add_checked_fixture(ti, setup, teardown);
    tcase_add_loop_test(ti, test_ticket_id, 0, NID);
    tcase_add_test(ti, test_ticket_id_null);
    tcase_add_loop_test(ti, test_format_time, 0, NTIME);
    suite_add_tcase(s, ti);

    TCase *tr = tcase_create("render");
    tcase_add_checked_fixture(tr, cfg_setup, teardown);
    tcase_add_test(tr, test_configuration_arn);
    tcase_add_test(tr, test_render_searching);
    tcase_add_test(tr, test_render_completed);
    suite_add_tcase(s, tr);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ticket_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
