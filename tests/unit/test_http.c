/* Unit tests for common/http.c: query parsing, decoding, errors, rendering. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "http.h"

static struct arena arena;

static void setup(void)
{
    memset(&arena, 0, sizeof(arena));
}

static void teardown(void)
{
    arena_destroy(&arena);
}

static void no_handler(struct http_req *req, struct http_resp *resp)
{
    (void)req;
    (void)resp;
}

static const struct http_route route_native = {"r", "GET", &dialect_native, 0, no_handler};
static const struct http_route route_v2 = {"r", "GET", &dialect_guidance, 0, no_handler};
static const struct http_route route_v1 = {"r", "GET", &dialect_legacy, 0, no_handler};

static struct http_req make_req(const struct http_route *route, const char *query)
{
    struct http_req req;
    memset(&req, 0, sizeof(req));
    req.arena = &arena;
    req.route = route;
    req.method = route != NULL ? route->method : "GET";
    req.query = query;
    req.request_id = "req-1";
    req.body = "";
    return req;
}

/* ---- query strings ------------------------------------------------------ */

static const struct {
    const char *query;
    const char *key;
    const char *want; /* NULL: absent */
    size_t npairs;
} query_cases[] = {
    {"ticketId=abc", "ticketId", "abc", 1},
    {"&ticketId=abc", "ticketId", "abc", 1}, /* "?&ticketId=abc" */
    {"&&ticketId=abc&", "ticketId", "abc", 1},
    {"a=1&&b=2", "a", "1", 2},
    {"a=1&&b=2", "b", "2", 2},
    {"a=1&&b=2", "", NULL, 2},
    {"flag&x=1", "flag", "", 2}, /* key without '=' */
    {"x=1&flag", "flag", "", 2},
    {"empty=&x=1", "empty", "", 2},
    {"name=John+Smith", "name", "John Smith", 1}, /* '+' is a space */
    {"first+name=Jo", "first name", "Jo", 1},
    {"q=%41%62c", "q", "Abc", 1}, /* %xx, either case */
    {"q=%4a%4A", "q", "JJ", 1},
    {"q=a%2Bb", "q", "a+b", 1}, /* an encoded '+' stays '+' */
    {"q=a%26b%3Dc", "q", "a&b=c", 1},
    {"q=%e2%82%ac", "q", "\xe2\x82\xac", 1},
    {"k%20x=y", "k x", "y", 1},
    {"q=%zz", "q", "%zz", 1}, /* bad %xx stays literal */
    {"q=%g1", "q", "%g1", 1},
    {"q=%1g", "q", "%1g", 1},
    {"q=%4", "q", "%4", 1}, /* truncated */
    {"q=abc%", "q", "abc%", 1},
    {"q=%%41", "q", "%A", 1},
    {"q=%4&r=1", "q", "%4", 2}, /* truncated by the '&' */
    {"q=%4&r=1", "r", "1", 2},
    {"a=1=2", "a", "1=2", 1},
    {"=v&k=1", "k", "1", 1}, /* empty key is dropped */
    {"=v", "", NULL, 0},
    {"", "a", NULL, 0},
    {"&", "a", NULL, 0},
    {"&&&", "a", NULL, 0},
    {"a=1&a=2", "a", "1", 2}, /* first wins */
    {"A=1", "a", NULL, 1},    /* case-sensitive */
    {"ticketId=abc", "ticket", NULL, 1},
    {"ticketIdx=abc", "ticketId", NULL, 1},
};
#define NQUERY (int)(sizeof(query_cases) / sizeof(query_cases[0]))

START_TEST(test_query)
{
    struct http_req req = make_req(&route_native, query_cases[_i].query);
    const char *got = http_query(&req, query_cases[_i].key);
    if (query_cases[_i].want == NULL)
        ck_assert_msg(got == NULL, "query \"%s\" key \"%s\": got \"%s\", want absent",
                      query_cases[_i].query, query_cases[_i].key, got);
    else
        ck_assert_msg(got != NULL && strcmp(got, query_cases[_i].want) == 0,
                      "query \"%s\" key \"%s\": got \"%s\", want \"%s\"", query_cases[_i].query,
                      query_cases[_i].key, got != NULL ? got : "(null)", query_cases[_i].want);
    ck_assert_uint_eq(req.nqpairs, query_cases[_i].npairs);

    struct http_query_pair *pairs = NULL;
    size_t n = http_parse_query(&arena, query_cases[_i].query, &pairs);
    ck_assert_uint_eq(n, query_cases[_i].npairs);
    for (size_t i = 0; i < n; i++) {
        ck_assert_ptr_nonnull(pairs[i].key);
        ck_assert_ptr_nonnull(pairs[i].value);
        ck_assert_uint_gt(strlen(pairs[i].key), 0);
    }
}
END_TEST

START_TEST(test_parse_query_pairs_in_order)
{
    struct http_query_pair *p = NULL;
    size_t n = http_parse_query(&arena, "&b=2&&a&c=x+y%21&", &p);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(p[0].key, "b");
    ck_assert_str_eq(p[0].value, "2");
    ck_assert_str_eq(p[1].key, "a");
    ck_assert_str_eq(p[1].value, "");
    ck_assert_str_eq(p[2].key, "c");
    ck_assert_str_eq(p[2].value, "x y!");
}
END_TEST

START_TEST(test_query_parsed_once)
{
    struct http_req req = make_req(&route_native, "a=1&b=2");
    ck_assert_str_eq(http_query(&req, "a"), "1");
    struct http_query_pair *first = req.qpairs;
    ck_assert(req.query_parsed);
    ck_assert_str_eq(http_query(&req, "b"), "2");
    ck_assert_ptr_eq(req.qpairs, first);
}
END_TEST

static const struct {
    const char *in;
    size_t len; /* bytes of `in` to decode */
    int plus_is_space;
    const char *want;
} decode_cases[] = {
    {"a+b", 3, 1, "a b"},     {"a+b", 3, 0, "a+b"},   {"%41", 3, 0, "A"},
    {"%41BC", 2, 0, "%4"}, /* the length bounds the escape */
    {"%41BC", 3, 0, "A"},     {"%41BC", 5, 0, "ABC"}, {"%2b", 3, 1, "+"},
    {"%", 1, 0, "%"},         {"", 0, 0, ""},         {"abc", 0, 0, ""},
    {"%00x", 4, 0, ""}, /* decodes to a NUL byte: the C string ends there */
    {"%ZZ%41", 6, 0, "%ZZA"},
};
#define NDECODE (int)(sizeof(decode_cases) / sizeof(decode_cases[0]))

START_TEST(test_url_decode)
{
    char *got = http_url_decode(&arena, decode_cases[_i].in, decode_cases[_i].len,
                                decode_cases[_i].plus_is_space != 0);
    ck_assert_str_eq(got, decode_cases[_i].want);
}
END_TEST

START_TEST(test_param)
{
    char e0[] = "HTTP_X_AMZ_SNS_MESSAGE_TYPE=Notification";
    char e1[] = "HTTP_X=short";
    char e2[] = "EMPTY=";
    char *envp[] = {e0, e1, e2, NULL};
    struct http_req req = make_req(&route_native, "");
    req.envp = envp;
    ck_assert_str_eq(http_param(&req, "HTTP_X_AMZ_SNS_MESSAGE_TYPE"), "Notification");
    ck_assert_str_eq(http_param(&req, "HTTP_X"), "short");
    ck_assert_str_eq(http_param(&req, "EMPTY"), "");
    ck_assert_ptr_null(http_param(&req, "HTTP"));
    ck_assert_ptr_null(http_param(&req, "HTTP_X_AMZ"));
    ck_assert_ptr_null(http_param(&req, "MISSING"));
    req.envp = NULL;
    ck_assert_ptr_null(http_param(&req, "HTTP_X"));
}
END_TEST

/* ---- errors and rendering ---------------------------------------------- */

static const char *render(struct http_req *req, struct http_resp *resp)
{
    size_t len = 0;
    char *out = http_render(req, resp, &len);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(len, strlen(out));
    return out;
}

static const struct {
    const struct http_route *route;
    int status;
    const char *want;
} error_cases[] = {
    {&route_native, 404,
     "Status: 404 Not Found\r\nContent-Type: application/json\r\n\r\n"
     "{\"error\":\"not_found\",\"message\":\"ticket t-1 \\\"x\\\" not found\"}"},
    {NULL, 400,
     "Status: 400 Bad Request\r\nContent-Type: application/json\r\n\r\n"
     "{\"error\":\"not_found\",\"message\":\"ticket t-1 \\\"x\\\" not found\"}"},
    {&route_v2, 404,
     "Status: 404 Not Found\r\nContent-Type: application/json\r\n"
     "Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Credentials: True\r\n\r\n"
     "\"ticket t-1 \\\"x\\\" not found\""},
    {&route_v1, 409,
     "Status: 409 Conflict\r\nContent-Type: application/json\r\n\r\n"
     "{\"message\":\"ticket t-1 \\\"x\\\" not found\"}"},
    {&route_native, 503,
     "Status: 503 Service Unavailable\r\nContent-Type: application/json\r\n\r\n"
     "{\"error\":\"not_found\",\"message\":\"ticket t-1 \\\"x\\\" not found\"}"},
};
#define NERROR (int)(sizeof(error_cases) / sizeof(error_cases[0]))

START_TEST(test_error_render)
{
    struct http_req req = make_req(error_cases[_i].route, "");
    struct http_resp resp;
    memset(&resp, 0, sizeof(resp));
    http_error(&req, &resp, error_cases[_i].status, "not_found", "ticket %s \"%s\" not found",
               "t-1", "x");
    ck_assert_int_eq(resp.status, error_cases[_i].status);
    ck_assert_ptr_nonnull(resp.body);
    ck_assert_str_eq(render(&req, &resp), error_cases[_i].want);
    json_decref(resp.body);
}
END_TEST

/* A second error replaces the first (and releases it: ASan checks). */
START_TEST(test_error_replaces)
{
    struct http_req req = make_req(&route_native, "");
    struct http_resp resp;
    memset(&resp, 0, sizeof(resp));
    http_error(&req, &resp, 400, "first", "first");
    http_error(&req, &resp, 401, "second", "second %d", 2);
    ck_assert_int_eq(resp.status, 401);
    ck_assert_str_eq(render(&req, &resp),
                     "Status: 401 Unauthorized\r\nContent-Type: application/json\r\n\r\n"
                     "{\"error\":\"second\",\"message\":\"second 2\"}");
    json_decref(resp.body);
}
END_TEST

/* A message longer than the error buffer is cut at a character boundary:
 * cut inside a UTF-8 sequence, jansson refuses it and the body is lost. */
static const struct {
    const char *prefix;
    const char *ch;
} long_error_cases[] = {
    {"", "\xc3\xa9"},
    {"x", "\xc3\xa9"},
    {"", "\xe2\x82\xac"},
    {"x", "\xe2\x82\xac"},
    {"xx", "\xe2\x82\xac"},
    {"", "\xf0\x9f\x8e\xb2"},
    {"x", "\xf0\x9f\x8e\xb2"},
    {"xx", "\xf0\x9f\x8e\xb2"},
    {"xxx", "\xf0\x9f\x8e\xb2"},
    {"", "a"},
};
#define NLONGERROR (int)(sizeof(long_error_cases) / sizeof(long_error_cases[0]))

START_TEST(test_error_long_utf8)
{
    char full[2048];
    size_t n = strlen(long_error_cases[_i].prefix);
    memcpy(full, long_error_cases[_i].prefix, n);
    while (n + 4 < 1000) {
        size_t cl = strlen(long_error_cases[_i].ch);
        memcpy(full + n, long_error_cases[_i].ch, cl);
        n += cl;
    }
    full[n] = '\0';
    for (int d = 0; d < 3; d++) {
        static const struct http_route *const routes[] = {&route_native, &route_v1, &route_v2};
        struct http_req req = make_req(routes[d], "");
        struct http_resp resp;
        memset(&resp, 0, sizeof(resp));
        http_error(&req, &resp, 400, "too_long", "%s", full);
        json_t *m = d == 2 ? resp.body : json_object_get(resp.body, "message");
        ck_assert_msg(json_is_string(m), "dialect %d: no error message", d);
        const char *got = json_string_value(m);
        ck_assert_uint_ge(strlen(got), 500);
        ck_assert_uint_lt(strlen(got), 512);
        ck_assert(strncmp(got, full, strlen(got)) == 0);
        json_decref(resp.body);
    }
}
END_TEST

static json_t *sample_body(void)
{
    return json_pack("{s:s, s:i, s:[i, i], s:{s:b}, s:n}", "TicketId", "t-1", "Port", 7777, "List",
                     1, 2, "Nested", "ok", 1, "Null");
}

static const struct {
    const struct http_route *route;
    const char *want;
} body_cases[] = {
    {&route_native,
     "Status: 200 OK\r\nContent-Type: application/json\r\n\r\n"
     "{\"TicketId\":\"t-1\",\"Port\":7777,\"List\":[1,2],\"Nested\":{\"ok\":true},\"Null\":null}"},
    {&route_v1,
     "Status: 200 OK\r\nContent-Type: application/json\r\n\r\n"
     "{\"TicketId\":\"t-1\",\"Port\":7777,\"List\":[1,2],\"Nested\":{\"ok\":true},\"Null\":null}"},
    {&route_v2,
     "Status: 200 OK\r\nContent-Type: application/json\r\n"
     "Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Credentials: True\r\n\r\n"
     "{\"TicketId\": \"t-1\", \"Port\": 7777, \"List\": [1, 2], \"Nested\": {\"ok\": true}, "
     "\"Null\": null}"},
};
#define NBODY (int)(sizeof(body_cases) / sizeof(body_cases[0]))

START_TEST(test_body_render)
{
    struct http_req req = make_req(body_cases[_i].route, "");
    struct http_resp resp;
    memset(&resp, 0, sizeof(resp));
    http_reply(&req, &resp, 200, sample_body());
    ck_assert_str_eq(render(&req, &resp), body_cases[_i].want);
    json_decref(resp.body);
}
END_TEST

START_TEST(test_render_extra_headers)
{
    struct http_req req = make_req(&route_v2, "");
    struct http_resp resp;
    memset(&resp, 0, sizeof(resp));
    http_reply(&req, &resp, 201, json_pack("{s:s}", "a", "b"));
    http_add_header(&resp, "Location", "/tickets/t-1");
    http_add_header(&resp, "Cache-Control", "no-store");
    ck_assert_str_eq(render(&req, &resp),
                     "Status: 201 Created\r\nContent-Type: application/json\r\n"
                     "Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Credentials: True\r\n"
                     "Location: /tickets/t-1\r\nCache-Control: no-store\r\n\r\n"
                     "{\"a\": \"b\"}");
    json_decref(resp.body);
}
END_TEST

START_TEST(test_render_header_limit)
{
    struct http_req req = make_req(&route_native, "");
    struct http_resp resp;
    memset(&resp, 0, sizeof(resp));
    resp.status = 204;
    for (int i = 0; i < HTTP_MAX_HEADERS + 2; i++)
        http_add_header(&resp, "X-H", "v");
    ck_assert_uint_eq(resp.nheaders, HTTP_MAX_HEADERS);
    const char *out = render(&req, &resp);
    size_t n = 0;
    for (const char *p = out; (p = strstr(p, "X-H: v\r\n")) != NULL; p++)
        n++;
    ck_assert_uint_eq(n, HTTP_MAX_HEADERS);
    /* 204: no body at all. */
    ck_assert_str_eq(out + strlen(out) - 4, "\r\n\r\n");
    resp.status = 200; /* no body otherwise: an empty object */
    out = render(&req, &resp);
    ck_assert_str_eq(out + strlen(out) - 6, "\r\n\r\n{}");
}
END_TEST

/* A header too large for the renderer's buffer is left out whole: the
 * response still has its blank line before the body, and later headers. */
START_TEST(test_render_huge_header)
{
    static char huge[3000];
    memset(huge, 'h', sizeof(huge) - 1);
    struct http_req req = make_req(&route_native, "");
    struct http_resp resp;
    memset(&resp, 0, sizeof(resp));
    http_reply(&req, &resp, 200, json_pack("{s:i}", "n", 1));
    http_add_header(&resp, "X-Huge", huge);
    http_add_header(&resp, "X-After", "1");
    ck_assert_str_eq(render(&req, &resp), "Status: 200 OK\r\nContent-Type: application/json\r\n"
                                          "X-After: 1\r\n\r\n{\"n\":1}");
    json_decref(resp.body);
}
END_TEST

static const struct {
    int status;
    const char *reason;
} reason_cases[] = {
    {200, "OK"},
    {201, "Created"},
    {204, "No Content"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {409, "Conflict"},
    {413, "Payload Too Large"},
    {415, "Unsupported Media Type"},
    {429, "Too Many Requests"},
    {500, "Internal Server Error"},
    {503, "Service Unavailable"},
    {418, "Unknown"},
};
#define NREASON (int)(sizeof(reason_cases) / sizeof(reason_cases[0]))

START_TEST(test_reason)
{
    ck_assert_str_eq(http_reason(reason_cases[_i].status), reason_cases[_i].reason);
}
END_TEST

/* ---- JSON bodies ------------------------------------------------------- */

static const struct {
    const char *body;
    int ok;
    const char *code; /* the native error code on failure */
} json_body_cases[] = {
    {"{\"a\":1}", 1, NULL},
    {" {\"a\":[1,2]} ", 1, NULL},
    {"", 0, "invalid_body"},
    {"[1,2]", 0, "invalid_body"},
    {"\"s\"", 0, "invalid_json"}, /* jansson rejects a bare scalar at the top */
    {"{\"a\":1", 0, "invalid_json"},
    {"{\"a\":1,\"a\":2}", 0, "invalid_json"}, /* duplicate keys */
    {"{\"a\":1} x", 0, "invalid_json"},
};
#define NJSONBODY (int)(sizeof(json_body_cases) / sizeof(json_body_cases[0]))

START_TEST(test_json_body)
{
    struct http_req req = make_req(&route_native, "");
    struct http_resp resp;
    memset(&resp, 0, sizeof(resp));
    req.body = json_body_cases[_i].body;
    req.body_len = strlen(req.body);
    json_t *j = http_json_body(&req, &resp);
    if (json_body_cases[_i].ok) {
        ck_assert_msg(json_is_object(j), "body %s: not accepted", json_body_cases[_i].body);
        ck_assert_ptr_null(resp.body);
    } else {
        ck_assert_msg(j == NULL, "body %s: accepted", json_body_cases[_i].body);
        ck_assert_int_eq(resp.status, 400);
        ck_assert_str_eq(json_string_value(json_object_get(resp.body, "error")),
                         json_body_cases[_i].code);
        json_decref(resp.body);
    }
    /* The parsed body is released with the arena (teardown). */
}
END_TEST

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");

    TCase *tq = tcase_create("query");
    tcase_add_checked_fixture(tq, setup, teardown);
    tcase_add_loop_test(tq, test_query, 0, NQUERY);
    tcase_add_test(tq, test_parse_query_pairs_in_order);
    tcase_add_test(tq, test_query_parsed_once);
    tcase_add_loop_test(tq, test_url_decode, 0, NDECODE);
    tcase_add_test(tq, test_param);
    suite_add_tcase(s, tq);

    TCase *tr = tcase_create("render");
    tcase_add_checked_fixture(tr, setup, teardown);
    tcase_add_loop_test(tr, test_error_render, 0, NERROR);
    tcase_add_test(tr, test_error_replaces);
    tcase_add_loop_test(tr, test_error_long_utf8, 0, NLONGERROR);
    tcase_add_loop_test(tr, test_body_render, 0, NBODY);
    tcase_add_test(tr, test_render_extra_headers);
    tcase_add_test(tr, test_render_header_limit);
    tcase_add_test(tr, test_render_huge_header);
    tcase_add_loop_test(tr, test_reason, 0, NREASON);
    tcase_add_loop_test(tr, test_json_body, 0, NJSONBODY);
    suite_add_tcase(s, tr);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(http_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
