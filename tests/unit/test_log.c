/* Unit tests for common/log.c: the per-request line obeys the log level. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* What `fn` wrote to stderr (up to 4 KiB), through a temporary file. */
static const char *captured(void (*fn)(void))
{
    static char out[4096];
    FILE *tmp = tmpfile();
    ck_assert_ptr_nonnull(tmp);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(out, 1, sizeof(out) - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    return out;
}

static void ok_request(void)
{
    log_request("GET", "ticket", 200, 1.5);
}

static void failed_request(void)
{
    log_request("GET", "ticket", 503, 1.5);
}

START_TEST(test_request_lines_are_info)
{
    log_init("test");
    log_set_level(LOG_INFO);
    const char *line = captured(ok_request);
    ck_assert_ptr_nonnull(strstr(line, "\"level\":\"info\""));
    ck_assert_ptr_nonnull(strstr(line, "\"status\":200"));
}
END_TEST

START_TEST(test_warn_level_drops_ordinary_requests)
{
    log_init("test");
    log_set_level(LOG_WARN);
    ck_assert_str_eq(captured(ok_request), "");
    const char *line = captured(failed_request);
    ck_assert_ptr_nonnull(strstr(line, "\"level\":\"warn\""));
    ck_assert_ptr_nonnull(strstr(line, "\"status\":503"));
    log_set_level(LOG_ERROR);
    ck_assert_str_eq(captured(failed_request), "");
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("requests");
    tcase_add_test(tc, test_request_lines_are_info);
    tcase_add_test(tc, test_warn_level_drops_ordinary_requests);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(log_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
