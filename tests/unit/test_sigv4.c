/* Unit tests for common/sigv4.c against signatures made by others: AWS's
 * documented example (IAM ListUsers, 2015-08-30) and botocore's SigV4Auth
 * signing a GameLift call. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "sigv4.h"
#include "util.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

static struct arena arena;

static void setup(void)
{
    memset(&arena, 0, sizeof(arena));
}

static void teardown(void)
{
    arena_destroy(&arena);
}

/* Headers of a test request: NULL-ended name/value pairs. */
static const char *lookup(void *ctx, const char *name)
{
    for (const char *const *h = ctx; h[0] != NULL; h += 2)
        if (strcmp(h[0], name) == 0)
            return h[1];
    return NULL;
}

static const char *iam_headers[] = {
    "content-type", "application/x-www-form-urlencoded; charset=utf-8",
    "host",         "iam.amazonaws.com",
    "x-amz-date",   "20150830T123600Z",
    NULL,
};

static const char *const iam_auth =
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date, "
    "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";

static struct sigv4_request iam_request(void)
{
    return (struct sigv4_request){.method = "GET",
                                  .path = "/",
                                  .query = "Version=2010-05-08&Action=ListUsers",
                                  .body = "",
                                  .body_len = 0,
                                  .header = lookup,
                                  .ctx = iam_headers};
}

START_TEST(test_aws_documented_example)
{
    struct sigv4_auth auth;
    const char *why = NULL;
    ck_assert_int_eq(sigv4_parse(iam_auth, &auth, &why), 0);
    ck_assert_str_eq(auth.access_key_id, "AKIDEXAMPLE");
    ck_assert_str_eq(auth.date, "20150830");
    ck_assert_str_eq(auth.region, "us-east-1");
    ck_assert_str_eq(auth.service, "iam");
    struct sigv4_request r = iam_request();
    /* The query is sorted into AWS's canonical order. */
    ck_assert_str_eq(sigv4_canonical_request(&arena, &r, &auth),
                     "GET\n/\nAction=ListUsers&Version=2010-05-08\n"
                     "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
                     "host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                     "content-type;host;x-amz-date\n"
                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    unsigned char key[32];
    sigv4_signing_key(SECRET, auth.date, auth.region, auth.service, key);
    char hex[65];
    util_hex(key, 32, hex);
    ck_assert_str_eq(hex, "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
    ck_assert_int_eq(sigv4_matches(&arena, &r, &auth, "20150830T123600Z", key), 1);
}
END_TEST

/* Any change to what was signed fails the signature. */
START_TEST(test_any_change_fails)
{
    struct sigv4_auth auth;
    const char *why = NULL;
    ck_assert_int_eq(sigv4_parse(iam_auth, &auth, &why), 0);
    unsigned char key[32];
    sigv4_signing_key(SECRET, auth.date, auth.region, auth.service, key);
    struct sigv4_request r = iam_request();
    r.method = "POST";
    ck_assert_int_eq(sigv4_matches(&arena, &r, &auth, "20150830T123600Z", key), 0);
    r = iam_request();
    r.query = "Action=ListUsers&Version=2010-05-09";
    ck_assert_int_eq(sigv4_matches(&arena, &r, &auth, "20150830T123600Z", key), 0);
    r = iam_request();
    r.body = "x";
    r.body_len = 1;
    ck_assert_int_eq(sigv4_matches(&arena, &r, &auth, "20150830T123600Z", key), 0);
    r = iam_request();
    ck_assert_int_eq(sigv4_matches(&arena, &r, &auth, "20150830T123601Z", key), 0);
    sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEX", auth.date, auth.region,
                      auth.service, key);
    ck_assert_int_eq(sigv4_matches(&arena, &r, &auth, "20150830T123600Z", key), 0);
}
END_TEST

/* botocore 1.29's SigV4Auth signing POST / for GameLift.ListFleets at
 * 2026-11-28 12:00:00 UTC. */
START_TEST(test_botocore_gamelift_call)
{
    static const char *headers[] = {
        "content-type", "application/x-amz-json-1.1", "host",         "127.0.0.1:8080",
        "x-amz-date",   "20261128T120000Z",           "x-amz-target", "GameLift.ListFleets",
        NULL,
    };
    const char *header =
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261128/us-east-1/gamelift/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
        "Signature=44c8b74d4692eb2d809859f86e29aaf2d8d17ba40f030a3f8bde900d864cc9a4";
    struct sigv4_auth auth;
    const char *why = NULL;
    ck_assert_int_eq(sigv4_parse(header, &auth, &why), 0);
    const char *body = "{\"Limit\": 5}";
    struct sigv4_request r = {.method = "POST",
                              .path = "/",
                              .query = "",
                              .body = body,
                              .body_len = strlen(body),
                              .header = lookup,
                              .ctx = headers};
    unsigned char key[32];
    sigv4_signing_key(SECRET, auth.date, auth.region, auth.service, key);
    ck_assert_int_eq(sigv4_matches(&arena, &r, &auth, "20261128T120000Z", key), 1);
    /* Header values are signed trimmed, inner runs of spaces made one. */
    static const char *spaced[] = {
        "content-type", "  application/x-amz-json-1.1 ",
        "host",         "127.0.0.1:8080",
        "x-amz-date",   "20261128T120000Z",
        "x-amz-target", "GameLift.ListFleets",
        NULL,
    };
    r.ctx = spaced;
    ck_assert_int_eq(sigv4_matches(&arena, &r, &auth, "20261128T120000Z", key), 1);
}
END_TEST

START_TEST(test_parse_refuses_malformed_headers)
{
    static const char *const bad[] = {
        NULL,
        "",
        "Bearer abc",
        "AWS4-HMAC-SHA512 Credential=A/20150830/us-east-1/iam/aws4_request, SignedHeaders=host, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        "AWS4-HMAC-SHA256 SignedHeaders=host, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/iam/aws4_request, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/iam/aws4_request, SignedHeaders=host",
        /* a short, an upper-case and a non-hex signature */
        "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/iam/aws4_request, SignedHeaders=host, "
        "Signature=5d672d79",
        "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/iam/aws4_request, SignedHeaders=host, "
        "Signature=5D672D79C15B13162D9279B0855CFBA6789A8EDB4C82C400E06B5924A6F2B5D7",
        "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/iam/aws4_request, SignedHeaders=host, "
        "Signature=zz672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        /* credential scopes: a bad date, a missing part, a wrong terminator, an extra part */
        "AWS4-HMAC-SHA256 Credential=A/2015083/us-east-1/iam/aws4_request, SignedHeaders=host, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/aws4_request, SignedHeaders=host, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/iam/aws5_request, SignedHeaders=host, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/iam/aws4_request/x, SignedHeaders=host, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        /* upper-case signed headers, a repeated component */
        "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/iam/aws4_request, SignedHeaders=Host, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/iam/aws4_request, SignedHeaders=host, "
        "SignedHeaders=host, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sigv4_auth auth;
        const char *why = NULL;
        ck_assert_msg(sigv4_parse(bad[i], &auth, &why) == -1, "accepted %s", bad[i]);
        ck_assert_ptr_nonnull(why);
    }
}
END_TEST

START_TEST(test_amz_date)
{
    ck_assert_int_eq(sigv4_parse_amz_date("20150830T123600Z"), 1440938160);
    ck_assert_int_eq(sigv4_parse_amz_date("20150830T123600"), -1);
    ck_assert_int_eq(sigv4_parse_amz_date("2015-08-30T12:36:00Z"), -1);
    ck_assert_int_eq(sigv4_parse_amz_date("20151330T123600Z"), -1);
    ck_assert_int_eq(sigv4_parse_amz_date("2015083aT123600Z"), -1);
    ck_assert_int_eq(sigv4_parse_amz_date(NULL), -1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sigv4");
    TCase *tc = tcase_create("sigv4");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_aws_documented_example);
    tcase_add_test(tc, test_any_change_fails);
    tcase_add_test(tc, test_botocore_gamelift_call);
    tcase_add_test(tc, test_parse_refuses_malformed_headers);
    tcase_add_test(tc, test_amz_date);
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
