/* Unit tests for common/metrics.c: the text format, labels, histograms,
 * sparse families, and slices summed across processes. Each test runs in a
 * process of its own (check's fork mode), so each starts metrics afresh. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics.h"

static char *render(void)
{
    size_t len = 0;
    char *text = metrics_render(&len);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(strlen(text), len);
    return text;
}

static void assert_line(const char *text, const char *line)
{
    char *want = malloc(strlen(line) + 3);
    sprintf(want, "\n%s\n", line);
    /* The first line has no newline before it. */
    bool found = strstr(text, want) != NULL || strncmp(text, want + 1, strlen(want + 1)) == 0;
    ck_assert_msg(found, "no line \"%s\" in:\n%s", line, text);
    free(want);
}

START_TEST(test_counter_with_escaped_labels)
{
    ck_assert_int_eq(metrics_init(1), 0);
    struct metric_family *f = metric_family("rally_things_total", METRIC_COUNTER, "Things.\\done");
    struct metric *m = metric_series(f, "name", "a\"b\\c\nd", "kind", "x", METRIC_END);
    metric_add(m, 41);
    metric_inc(m);
    char *text = render();
    assert_line(text, "# HELP rally_things_total Things.\\\\done");
    assert_line(text, "# TYPE rally_things_total counter");
    assert_line(text, "rally_things_total{name=\"a\\\"b\\\\c\\nd\",kind=\"x\"} 42");
    free(text);
}
END_TEST

START_TEST(test_same_labels_same_series)
{
    ck_assert_int_eq(metrics_init(1), 0);
    struct metric_family *f = metric_family("rally_x_total", METRIC_COUNTER, "X.");
    struct metric *a = metric_series(f, "k", "v", METRIC_END);
    ck_assert_ptr_eq(a, metric_series(f, "k", "v", METRIC_END));
    ck_assert_ptr_ne(a, metric_series(f, "k", "w", METRIC_END));
    /* The family too, declared again by name. */
    ck_assert_ptr_eq(f, metric_family("rally_x_total", METRIC_COUNTER, "X again."));
}
END_TEST

START_TEST(test_gauge_is_signed)
{
    ck_assert_int_eq(metrics_init(1), 0);
    struct metric *g = metric_gauge("rally_level", "A level.");
    metric_set(g, 3);
    metric_sub(g, 8);
    char *text = render();
    assert_line(text, "# TYPE rally_level gauge");
    assert_line(text, "rally_level -5");
    free(text);
}
END_TEST

START_TEST(test_sparse_leaves_out_zeros)
{
    ck_assert_int_eq(metrics_init(1), 0);
    struct metric_family *f = metric_family("rally_req_total", METRIC_COUNTER, "Requests.");
    metric_family_sparse(f);
    struct metric *hit = metric_series(f, "code", "200", METRIC_END);
    metric_series(f, "code", "500", METRIC_END);
    char *text = render();
    ck_assert_ptr_null(strstr(text, "rally_req_total")); /* no sample, no HELP either */
    free(text);
    metric_inc(hit);
    text = render();
    assert_line(text, "rally_req_total{code=\"200\"} 1");
    ck_assert_ptr_null(strstr(text, "code=\"500\""));
    free(text);
}
END_TEST

START_TEST(test_histogram_is_cumulative)
{
    ck_assert_int_eq(metrics_init(1), 0);
    static const double bounds[] = {0.1, 1};
    struct metric_family *f = metric_histogram("rally_wait_seconds", "Waits.", bounds, 2);
    struct metric *h = metric_series(f, "q", "a", METRIC_END);
    metric_observe(h, 0.05);
    metric_observe(h, 0.1); /* on a bound: in it (le) */
    metric_observe(h, 0.5);
    metric_observe(h, 5);
    char *text = render();
    assert_line(text, "# TYPE rally_wait_seconds histogram");
    assert_line(text, "rally_wait_seconds_bucket{q=\"a\",le=\"0.1\"} 2");
    assert_line(text, "rally_wait_seconds_bucket{q=\"a\",le=\"1\"} 3");
    assert_line(text, "rally_wait_seconds_bucket{q=\"a\",le=\"+Inf\"} 4");
    assert_line(text, "rally_wait_seconds_sum{q=\"a\"} 5.65");
    assert_line(text, "rally_wait_seconds_count{q=\"a\"} 4");
    free(text);
}
END_TEST

START_TEST(test_scale)
{
    ck_assert_int_eq(metrics_init(1), 0);
    struct metric_family *f = metric_family("rally_busy_seconds_total", METRIC_COUNTER, "Busy.");
    metric_family_scale(f, 1e6);
    metric_add(metric_series(f, METRIC_END), 2500000);
    char *text = render();
    assert_line(text, "rally_busy_seconds_total 2.5");
    free(text);
}
END_TEST

/* Workers write their own slices; a render in any process sums them all. */
START_TEST(test_slices_are_summed)
{
    ck_assert_int_eq(metrics_init(3), 0);
    struct metric *c = metric_counter("rally_done_total", "Done.");
    for (int i = 0; i < 2; i++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            metrics_enter(i);
            metric_add(c, (uint64_t)(i + 1) * 100);
            /* A declaration after the fork has no place in the others'. */
            _exit(metric_counter("rally_late_total", "Late.") == NULL ? 0 : 1);
        }
        int status;
        waitpid(pid, &status, 0);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    metric_add(c, 7); /* the parent's own slice, the last */
    char *text = render();
    assert_line(text, "rally_done_total 307");
    ck_assert_ptr_null(strstr(text, "rally_late_total"));
    free(text);
    pid_t pids[8];
    ck_assert_int_eq(metrics_pids(pids, 8), 3);
}
END_TEST

START_TEST(test_off_does_nothing)
{
    ck_assert(!metrics_enabled());
    struct metric *c = metric_counter("rally_off_total", "Off.");
    ck_assert_ptr_null(c);
    metric_inc(c);
    metric_observe(NULL, 1);
    metric_set(NULL, 1);
    char *text = render();
    ck_assert_str_eq(text, "");
    free(text);
}
END_TEST

START_TEST(test_labels_helper_cuts_whole)
{
    char buf[16];
    metrics_labels(buf, sizeof(buf), "a", "1", "b", "22", METRIC_END);
    ck_assert_str_eq(buf, "a=\"1\",b=\"22\"");
    /* A label that does not fit is left out whole: the text stays valid. */
    metrics_labels(buf, sizeof(buf), "a", "1", "b", "0123456789abcdef", METRIC_END);
    ck_assert_str_eq(buf, "a=\"1\"");
    /* Exactly full: b="" needs its closing quote and the NUL. */
    metrics_labels(buf, 11, "a", "1", "b", "", METRIC_END);
    ck_assert_str_eq(buf, "a=\"1\",b=\"\"");
    metrics_labels(buf, 10, "a", "1", "b", "", METRIC_END);
    ck_assert_str_eq(buf, "a=\"1\"");
    metrics_labels(buf, 8, "k", "\"\"\"", METRIC_END); /* escaped: k="\"\"\"" is 11 */
    ck_assert_str_eq(buf, "");
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_counter_with_escaped_labels);
    tcase_add_test(tc, test_same_labels_same_series);
    tcase_add_test(tc, test_gauge_is_signed);
    tcase_add_test(tc, test_sparse_leaves_out_zeros);
    tcase_add_test(tc, test_histogram_is_cumulative);
    tcase_add_test(tc, test_scale);
    tcase_add_test(tc, test_slices_are_summed);
    tcase_add_test(tc, test_off_does_nothing);
    tcase_add_test(tc, test_labels_helper_cuts_whole);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(metrics_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
