/* Unit tests for common/glsearch.c: SearchGameSessions' filter grammar
 * (operands, comparators, values, precedence, parentheses, errors) and
 * its sort. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "glsearch.h"

static struct arena arena;
static json_t *props_a, *props_b, *props_c;
static struct gls_session sessions[3];

static void setup(void)
{
    memset(&arena, 0, sizeof(arena));
    props_a = json_loads("[{\"Key\":\"difficulty\",\"Value\":\"novice\"},"
                         "{\"Key\":\"map\",\"Value\":\"isle\"}]",
                         0, NULL);
    props_b = json_loads("[{\"Key\":\"difficulty\",\"Value\":\"expert\"}]", 0, NULL);
    props_c = json_array();
    sessions[0] =
        (struct gls_session){"arn:a", "Matt's Awesome Game 1", props_a, 10, 1000, 3, NULL};
    sessions[1] = (struct gls_session){"arn:b", "beta", props_b, 20, 3000, 20, NULL};
    sessions[2] = (struct gls_session){"arn:c", NULL, props_c, 5, 2000, 0, NULL};
}

static void teardown(void)
{
    json_decref(props_a);
    json_decref(props_b);
    json_decref(props_c);
    arena_destroy(&arena);
}

/* Which of the three sessions a filter keeps, as "abc" letters. */
static const char *kept(const char *filter)
{
    const char *why = NULL;
    struct gls_query *q = gls_compile(&arena, filter, NULL, &why);
    ck_assert_msg(q != NULL, "%s: %s", filter, why);
    static char out[4];
    size_t n = 0;
    for (int i = 0; i < 3; i++)
        if (gls_matches(q, &sessions[i]))
            out[n++] = (char)('a' + i);
    out[n] = '\0';
    return out;
}

static const struct {
    const char *filter;
    const char *kept;
} cases[] = {
    {"maximumSessions>=10 AND hasAvailablePlayerSessions=true", "a"},
    {"gameSessionName = 'Matt\\'s Awesome Game 1'", "a"},
    {"gameSessionName <> 'beta'", "ac"},
    {"gameSessionProperties.difficulty = \"novice\"", "a"},
    {"gameSessionProperties.difficulty <> 'novice'", "bc"},
    {"gameSessionProperties.map = 'isle' OR gameSessionId = 'arn:c'", "ac"},
    {"playerSessionCount > 0", "ab"},
    {"playerSessionCount<=3", "ac"},
    {"creationTimeMillis < 2500 AND NOT gameSessionId = 'arn:a'", "c"},
    {"hasAvailablePlayerSessions = false", "b"},
    /* AND binds tighter than OR; NOT tighter than AND; parentheses first */
    {"maximumSessions = 5 OR maximumSessions = 10 AND playerSessionCount = 20", "c"},
    {"(maximumSessions = 5 OR maximumSessions = 10) AND playerSessionCount = 3", "a"},
    {"NOT maximumSessions = 5 AND NOT maximumSessions = 20", "a"},
    {"NOT (maximumSessions = 5 OR maximumSessions = 20)", "a"},
};

START_TEST(test_filters)
{
    ck_assert_str_eq(kept(cases[_i].filter), cases[_i].kept);
}
END_TEST

START_TEST(test_refused)
{
    static const char *const bad[] = {
        "",
        "maximumSessions",
        "maximumSessions >",
        "maximumSessions > 'ten'",
        "gameSessionName > 'b'",
        "hasAvailablePlayerSessions < true",
        "hasAvailablePlayerSessions = 1",
        "gameSessionName = beta",
        "gameSessionName = 'unclosed",
        "(maximumSessions = 5",
        "maximumSessions = 5)",
        "maximumSessions = 5 AND",
        "NOT",
        "noSuchOperand = 1",
        "gameSessionProperties. = 'x'",
        "gameSessionProperties.a.b = 'x'",
        "maximumSessions = 5 maximumSessions = 6",
        "maximumSessions == 5",
        "maximumSessions = 5 ; DROP TABLE x",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *why = NULL;
        ck_assert_msg(gls_compile(&arena, bad[i], NULL, &why) == NULL, "accepted: %s", bad[i]);
        ck_assert_ptr_nonnull(why);
    }
}
END_TEST

static const char *order(const char *sort)
{
    const char *why = NULL;
    struct gls_query *q = gls_compile(&arena, NULL, sort, &why);
    ck_assert_msg(q != NULL, "%s: %s", sort, why);
    struct gls_session s[3] = {sessions[0], sessions[1], sessions[2]};
    gls_sort(q, s, 3);
    static char out[4];
    for (int i = 0; i < 3; i++)
        out[i] = s[i].id[4];
    out[3] = '\0';
    return out;
}

START_TEST(test_sort)
{
    ck_assert_str_eq(order("creationTimeMillis ASC"), "acb");
    ck_assert_str_eq(order("creationTimeMillis DESC"), "bca");
    ck_assert_str_eq(order("playerSessionCount DESC"), "bac");
    /* A session without the value comes last, in either order. */
    ck_assert_str_eq(order("gameSessionName ASC"), "abc");
    ck_assert_str_eq(order("gameSessionName DESC"), "bac");
    ck_assert_str_eq(order("gameSessionProperties.map DESC"), "abc");
    const char *why = NULL;
    ck_assert_ptr_null(gls_compile(&arena, NULL, "creationTimeMillis", &why));
    ck_assert_ptr_null(gls_compile(&arena, NULL, "creationTimeMillis UP", &why));
    ck_assert_ptr_null(gls_compile(&arena, NULL, "nothing ASC", &why));
    ck_assert_ptr_null(gls_compile(&arena, NULL, "creationTimeMillis ASC x", &why));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("glsearch");
    TCase *tc = tcase_create("glsearch");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_filters, 0, (int)(sizeof(cases) / sizeof(cases[0])));
    tcase_add_test(tc, test_refused);
    tcase_add_test(tc, test_sort);
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
