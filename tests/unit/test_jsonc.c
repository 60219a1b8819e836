/* Unit tests for common/jsonc.c: comments and trailing commas to strict JSON. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonc.h"

/* Input as written in AWS's examples; the strict JSON it must mean. */
static const struct {
    const char *in;
    const char *want;
} cases[] = {
    {"{\"a\":1}", "{\"a\":1}"},
    /* // comments */
    {"// leading\n{\"a\":1}", "{\"a\":1}"},
    {"{\"a\":1 // after a value\n}", "{\"a\":1}"},
    {"{\n  // a whole line\n  \"a\": 1\n}", "{\"a\":1}"},
    {"{\"a\":1}// at the end, no newline", "{\"a\":1}"},
    {"{\"a\":1}//", "{\"a\":1}"},
    {"[1,//\n2]", "[1,2]"},
    /* block comments */
    {"/* leading */{\"a\":1}", "{\"a\":1}"},
    {"{\"a\":/* inside */1}", "{\"a\":1}"},
    {"{\"a\":1/*\n multi\n line\n*/}", "{\"a\":1}"},
    {"{\"a\":1/* has * and / and // and \" */}", "{\"a\":1}"},
    {"{\"a\":1/**/}", "{\"a\":1}"},
    {"{\"a\":1/***/}", "{\"a\":1}"},
    {"{\"a\":1 /* not // a line comment */, \"b\":2}", "{\"a\":1,\"b\":2}"},
    {"{\"a\":1 // not /* a block comment\n}", "{\"a\":1}"},
    /* trailing commas */
    {"{\"a\":1,}", "{\"a\":1}"},
    {"{\"a\":1 , }", "{\"a\":1}"},
    {"{\"a\":1,\n\t\r\n}", "{\"a\":1}"},
    {"[1,2,]", "[1,2]"},
    {"[1,[2,3,],{\"x\":[],},]", "[1,[2,3],{\"x\":[]}]"},
    {"{\"a\":[1,],\"b\":{\"c\":2,},}", "{\"a\":[1],\"b\":{\"c\":2}}"},
    {"{\"a\":1, // trailing, then a comment\n}", "{\"a\":1}"},
    {"{\"a\":1, /* block */ }", "{\"a\":1}"},
    {"[1, /* one */ // two\n /* three */ ]", "[1]"},
    {"{\"a\":1,/*,*/\"b\":2}", "{\"a\":1,\"b\":2}"}, /* not trailing */
    /* strings are untouched */
    {"{\"url\":\"http://example.com//path\"}", "{\"url\":\"http://example.com//path\"}"},
    {"{\"c\":\"/* not a comment */\"}", "{\"c\":\"/* not a comment */\"}"},
    {"{\"s\":\"a,}\",\"t\":\"b,]\"}", "{\"s\":\"a,}\",\"t\":\"b,]\"}"},
    {"[\",\",\"//\",]", "[\",\",\"//\"]"},
    {"{\"q\":\"say \\\"hi\\\" // still a string\"}",
     "{\"q\":\"say \\\"hi\\\" // still a string\"}"},
    {"{\"q\":\"\\\"\",\"r\":\"//,}\"}", "{\"q\":\"\\\"\",\"r\":\"//,}\"}"},
    {"{\"p\":\"C:\\\\\",\"x\":\"//\"} // ends in a backslash", "{\"p\":\"C:\\\\\",\"x\":\"//\"}"},
    {"{\"p\":\"\\\\\\\"//\",}", "{\"p\":\"\\\\\\\"//\"}"}, /* \\ then \" inside */
    {"{\"u\":\"\\u002f\\u002f\"}", "{\"u\":\"//\"}"},
    {"{\"key, with // stuff\":1,}", "{\"key, with // stuff\":1}"},
    /* a FlexMatch rule set as AWS writes them */
    {"{\n"
     "  \"name\": \"aliens_vs_cowboys\", // the name\n"
     "  \"ruleLanguageVersion\": \"1.0\",\n"
     "  /* teams */\n"
     "  \"teams\": [{\"name\": \"cowboys\", \"maxPlayers\": 8, \"minPlayers\": 4,},\n"
     "            {\"name\": \"aliens\", \"maxPlayers\": 8, \"minPlayers\": 4},],\n"
     "  \"rules\": [{\"name\": \"FairTeamSkill\", \"type\": \"distance\",\n"
     "             \"measurements\": [\"avg(teams[*].players.attributes[skill])\"],\n"
     "             \"referenceValue\": \"avg(flatten(teams[*].players.attributes[skill]))\",\n"
     "             \"maxDistance\": 10, // skill points\n"
     "  }],\n"
     "}\n",
     "{\"name\":\"aliens_vs_cowboys\",\"ruleLanguageVersion\":\"1.0\","
     "\"teams\":[{\"name\":\"cowboys\",\"maxPlayers\":8,\"minPlayers\":4},"
     "{\"name\":\"aliens\",\"maxPlayers\":8,\"minPlayers\":4}],"
     "\"rules\":[{\"name\":\"FairTeamSkill\",\"type\":\"distance\","
     "\"measurements\":[\"avg(teams[*].players.attributes[skill])\"],"
     "\"referenceValue\":\"avg(flatten(teams[*].players.attributes[skill]))\","
     "\"maxDistance\":10}]}"},
};
#define NCASES (int)(sizeof(cases) / sizeof(cases[0]))

static size_t count_char(const char *s, size_t len, char c)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += s[i] == c;
    return n;
}

START_TEST(test_normalise)
{
    size_t len = strlen(cases[_i].in);
    char *buf = malloc(len + 1);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, cases[_i].in, len + 1);
    jsonc_normalise(buf, len);

    /* In place: same length, NUL untouched, newlines kept (error lines). */
    ck_assert_uint_eq(strlen(buf), len);
    ck_assert_uint_eq(count_char(buf, len, '\n'), count_char(cases[_i].in, len, '\n'));

    json_error_t err;
    json_t *got = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
    ck_assert_msg(got != NULL, "case %d does not parse after normalising: %s\n%s", _i, err.text,
                  buf);
    json_t *want = json_loads(cases[_i].want, 0, NULL);
    ck_assert_ptr_nonnull(want);
    char *dump = json_dumps(got, JSON_COMPACT);
    ck_assert_msg(json_equal(got, want), "case %d: got %s, want %s", _i, dump, cases[_i].want);
    free(dump);
    json_decref(got);
    json_decref(want);
    free(buf);
}
END_TEST

/* Already-strict JSON comes out byte for byte. */
START_TEST(test_strict_unchanged)
{
    static const char in[] = "{\"a\": [1, 2, {\"b\": \"c,]//\\\"/*\"}], \"d\": null}";
    char buf[sizeof(in)];
    memcpy(buf, in, sizeof(in));
    jsonc_normalise(buf, sizeof(in) - 1);
    ck_assert_str_eq(buf, in);
}
END_TEST

/* Only the first len bytes are looked at and changed. */
START_TEST(test_length_bound)
{
    char buf[] = "[1,]// tail";
    jsonc_normalise(buf, 4);
    ck_assert_str_eq(buf, "[1 ]// tail");
}
END_TEST

/* Malformed input is left malformed (and read safely). */
static const char *const broken[] = {
    "{\"a\":\"unterminated", "{\"a\":1 /* unterminated comment", "{\"a\":\"ends in a backslash\\",
    "{\"a\":1,,}",           "{\"a\":1, /* unterminated",
};
#define NBROKEN (int)(sizeof(broken) / sizeof(broken[0]))

START_TEST(test_broken_stays_broken)
{
    size_t len = strlen(broken[_i]);
    char *buf = malloc(len); /* no NUL: the normaliser must stay within len */
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, broken[_i], len);
    jsonc_normalise(buf, len);
    json_t *j = json_loadb(buf, len, 0, NULL);
    ck_assert_msg(j == NULL, "broken case %d parsed", _i);
    free(buf);
}
END_TEST

static char *write_temp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/rally-jsonc-test-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    size_t len = strlen(text);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

START_TEST(test_load_file)
{
    char *path = write_temp("// rule set\n{\"a\": [1, 2,], /* x */ \"b\": \"//\",}\n");
    json_error_t err;
    json_t *j = jsonc_load_file(path, &err);
    unlink(path);
    ck_assert_msg(j != NULL, "%s", err.text);
    json_t *want = json_loads("{\"a\":[1,2],\"b\":\"//\"}", 0, NULL);
    ck_assert(json_equal(j, want));
    json_decref(want);
    json_decref(j);
}
END_TEST

/* Error line numbers still point at the right line after comments. */
START_TEST(test_load_file_error_line)
{
    char *path = write_temp("{\n/* one\n two\n three */\n\"a\": 1,\n\"b\": ?\n}\n");
    json_error_t err;
    json_t *j = jsonc_load_file(path, &err);
    unlink(path);
    ck_assert_ptr_null(j);
    ck_assert_int_eq(err.line, 6);
}
END_TEST

START_TEST(test_load_file_duplicates)
{
    char *path = write_temp("{\"a\": 1, // first\n \"a\": 2,}");
    json_error_t err;
    json_t *j = jsonc_load_file(path, &err);
    unlink(path);
    ck_assert_ptr_null(j);
}
END_TEST

/* Bigger than the loader's first 64 KiB buffer. */
START_TEST(test_load_file_large)
{
    enum { N = 20000 };
    size_t cap = (size_t)N * 16 + 16;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    size_t o = 0;
    o += (size_t)snprintf(text + o, cap - o, "[ // big\n");
    for (int i = 0; i < N; i++)
        o += (size_t)snprintf(text + o, cap - o, "%d, /*c*/\n", i);
    snprintf(text + o, cap - o, "]");
    char *path = write_temp(text);
    free(text);
    json_error_t err;
    json_t *j = jsonc_load_file(path, &err);
    unlink(path);
    ck_assert_msg(j != NULL, "%s (line %d)", err.text, err.line);
    ck_assert_uint_eq(json_array_size(j), N);
    ck_assert_int_eq(json_integer_value(json_array_get(j, N - 1)), N - 1);
    json_decref(j);
}
END_TEST

START_TEST(test_load_file_missing)
{
    json_error_t err;
    ck_assert_ptr_null(jsonc_load_file("/nonexistent/rally/rules.json", &err));
    ck_assert_uint_gt(strlen(err.text), 0);
}
END_TEST

static Suite *jsonc_suite(void)
{
    Suite *s = suite_create("jsonc");
    TCase *tc = tcase_create("jsonc");
    tcase_add_loop_test(tc, test_normalise, 0, NCASES);
    tcase_add_test(tc, test_strict_unchanged);
    tcase_add_test(tc, test_length_bound);
    tcase_add_loop_test(tc, test_broken_stays_broken, 0, NBROKEN);
    tcase_add_test(tc, test_load_file);
    tcase_add_test(tc, test_load_file_error_line);
    tcase_add_test(tc, test_load_file_duplicates);
    tcase_add_test(tc, test_load_file_large);
    tcase_add_test(tc, test_load_file_missing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(jsonc_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
