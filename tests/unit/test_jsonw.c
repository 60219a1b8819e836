/* Unit tests for common/jsonw.c: commas, escaping, epoch times, growth;
 * every text it writes is checked to parse with jansson. */
#include <check.h>
#include <jansson.h>
#include <string.h>

#include "arena.h"
#include "jsonw.h"

static struct arena arena;

static void setup(void)
{
    memset(&arena, 0, sizeof(arena));
}

static void teardown(void)
{
    arena_destroy(&arena);
}

/* The text parses, and is exactly `want`. */
static void check_text(const struct jsonw *w, const char *want)
{
    ck_assert_str_eq(w->text, want);
    ck_assert_uint_eq(w->len, strlen(want));
    json_error_t err;
    json_t *j = json_loads(w->text, JSON_DECODE_ANY, &err);
    ck_assert_msg(j != NULL, "%s: %s", w->text, err.text);
    json_decref(j);
}

START_TEST(test_commas_between_members_and_items)
{
    struct jsonw *w = jsonw_new(&arena, 0);
    jsonw_open(w, '{');
    jsonw_key_string(w, "a", "x");
    jsonw_key(w, "b");
    jsonw_open(w, '[');
    jsonw_raw(w, "1");
    jsonw_open(w, '{');
    jsonw_close(w, '}');
    jsonw_open(w, '[');
    jsonw_close(w, ']');
    jsonw_string(w, NULL);
    jsonw_close(w, ']');
    jsonw_key_raw(w, "c", "[{\"Key\": \"k\"}]");
    jsonw_close(w, '}');
    check_text(w, "{\"a\":\"x\",\"b\":[1,{},[],null],\"c\":[{\"Key\": \"k\"}]}");
}
END_TEST

START_TEST(test_strings_are_escaped)
{
    struct jsonw *w = jsonw_new(&arena, 0);
    jsonw_open(w, '[');
    jsonw_string(w, "quote \" backslash \\ slash / tab \t line \n cr \r bell \a del \x7f");
    jsonw_string(w, "caf\xc3\xa9 \xe2\x82\xac");
    jsonw_string(w, "");
    jsonw_close(w, ']');
    check_text(w, "[\"quote \\\" backslash \\\\ slash / tab \\t line \\n cr \\r bell \\u0007 del "
                  "\x7f\",\"caf\xc3\xa9 \xe2\x82\xac\",\"\"]");
    json_t *j = json_loads(w->text, 0, NULL);
    ck_assert_str_eq(json_string_value(json_array_get(j, 0)),
                     "quote \" backslash \\ slash / tab \t line \n cr \r bell \a del \x7f");
    json_decref(j);
}
END_TEST

START_TEST(test_epoch_milliseconds_become_seconds)
{
    static const char *const in[] = {"1795926964459", "1000", "999", "5", "0"};
    static const char *const out[] = {"1795926964.459", "1.000", "0.999", "0.005", "0.000"};
    struct jsonw *w = jsonw_new(&arena, 0);
    jsonw_epoch_ms(w, in[_i]);
    check_text(w, out[_i]);
}
END_TEST

/* From a 64-byte start to some 600 KB: every byte kept through the
 * reallocations. */
START_TEST(test_grows_without_losing_text)
{
    struct jsonw *w = jsonw_new(&arena, 0);
    char chunk[257];
    memset(chunk, 'q', 256);
    chunk[256] = '\0';
    jsonw_open(w, '[');
    for (int i = 0; i < 2000; i++)
        jsonw_string(w, chunk);
    jsonw_close(w, ']');
    ck_assert_uint_eq(w->len, 2 + 2000 * 258 + 1999);
    json_t *j = json_loads(w->text, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_uint_eq(json_array_size(j), 2000);
    ck_assert_str_eq(json_string_value(json_array_get(j, 1999)), chunk);
    json_decref(j);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jsonw");
    TCase *tc = tcase_create("writer");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_commas_between_members_and_items);
    tcase_add_test(tc, test_strings_are_escaped);
    tcase_add_loop_test(tc, test_epoch_milliseconds_become_seconds, 0, 5);
    tcase_add_test(tc, test_grows_without_losing_text);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
