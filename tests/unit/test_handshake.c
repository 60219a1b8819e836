/* Unit tests for gateway/handshake.c: the WebSocket opening handshake and
 * the SDK 5 query, as hs_parse reads them, and RFC 6455's accept value. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "handshake.h"

static struct hs_request req;

#define HEADERS                                                                                    \
    "Host: rally.example:8080\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"        \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

static int parse(const char *text, const char **why)
{
    *why = NULL;
    return hs_parse(text, strlen(text), &req, why);
}

START_TEST(test_the_sdk_query_is_read_and_decoded)
{
    const char *why;
    int rc = parse("GET /v1/fleet/sdk5?Authorization=a.b-c_d&ComputeId=host-1&FleetId=fleet-x"
                   "&IdempotencyToken=5b0e&pID=process%2D1&sdkLanguage=Go&sdkVersion=5.6.0"
                   "&Other=ignored HTTP/1.1\r\n" HEADERS "X-Forwarded-Proto: https\r\n\r\n",
                   &why);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(req.path, "/v1/fleet/sdk5");
    ck_assert_str_eq(req.authorization, "a.b-c_d");
    ck_assert_str_eq(req.compute, "host-1");
    ck_assert_str_eq(req.fleet, "fleet-x");
    ck_assert_str_eq(req.process, "process-1");
    ck_assert_str_eq(req.sdk_language, "Go");
    ck_assert_str_eq(req.sdk_version, "5.6.0");
    ck_assert_str_eq(req.host, "rally.example:8080");
    ck_assert_str_eq(req.proto, "https");
    ck_assert_str_eq(req.key, "dGhlIHNhbXBsZSBub25jZQ==");
}
END_TEST

START_TEST(test_a_partial_request_asks_for_more)
{
    const char *why;
    ck_assert_int_eq(parse("GET /v1/fleet/sdk5?FleetId=f HTTP/1.1\r\nHost: x\r\n", &why), 1);
}
END_TEST

START_TEST(test_headers_that_never_end_are_refused)
{
    static char big[HS_MAX];
    memset(big, 'a', sizeof(big));
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    const char *why = NULL;
    ck_assert_int_eq(hs_parse(big, sizeof(big), &req, &why), 431);
    ck_assert_ptr_nonnull(why);
}
END_TEST

START_TEST(test_what_is_not_an_upgrade_is_refused)
{
    static const struct {
        const char *text;
        int status;
    } cases[] = {
        {"POST /v1/fleet/sdk5 HTTP/1.1\r\n" HEADERS "\r\n", 405},
        {"GET /v1/fleet/sdk5 HTTP/1.0\r\n" HEADERS "\r\n", 400},
        {"GET /v1/fleet/sdk5\r\n" HEADERS "\r\n", 400},
        {"GET /v1/fleet/sdk5 HTTP/1.1\r\nHost: x\r\n\r\n", 426},
        {"GET /v1/fleet/sdk5 HTTP/1.1\r\nUpgrade: websocket\r\nConnection: close\r\n"
         "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
         426},
        {"GET /v1/fleet/sdk5 HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
         426},
        {"GET /v1/fleet/sdk5 HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n",
         400},
        {"GET /v1/fleet/sdk5 HTTP/1.1\r\nno colon here\r\n" HEADERS "\r\n", 400},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *why;
        ck_assert_msg(parse(cases[i].text, &why) == cases[i].status, "case %zu", i);
        ck_assert_ptr_nonnull(why);
    }
}
END_TEST

START_TEST(test_a_malformed_or_oversized_parameter_is_refused)
{
    char text[8192];
    static const char *const queries[] = {"pID=%zz", "pID=%4", "pID=a%0Ab", "FleetId=%7F"};
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        snprintf(text, sizeof(text), "GET /v1/fleet/sdk5?%s HTTP/1.1\r\n" HEADERS "\r\n",
                 queries[i]);
        const char *why;
        ck_assert_msg(parse(text, &why) == 400, "%s", queries[i]);
    }
    char id[400];
    memset(id, 'p', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    snprintf(text, sizeof(text), "GET /v1/fleet/sdk5?pID=%s HTTP/1.1\r\n" HEADERS "\r\n", id);
    const char *why;
    ck_assert_int_eq(parse(text, &why), 400);
}
END_TEST

START_TEST(test_the_accept_value_of_rfc_6455)
{
    char out[29];
    wsh_accept_value("dGhlIHNhbXBsZSBub25jZQ==", out);
    ck_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("handshake");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_the_sdk_query_is_read_and_decoded);
    tcase_add_test(tc, test_a_partial_request_asks_for_more);
    tcase_add_test(tc, test_headers_that_never_end_are_refused);
    tcase_add_test(tc, test_what_is_not_an_upgrade_is_refused);
    tcase_add_test(tc, test_a_malformed_or_oversized_parameter_is_refused);
    tcase_add_test(tc, test_the_accept_value_of_rfc_6455);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
