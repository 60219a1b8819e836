/*
 * Metrics in Prometheus's text exposition format (version 0.0.4).
 *
 * A process declares its families and series (metric_family, metric_series)
 * and then moves them from any thread with lock-free atomic operations.
 * Values live in cells of one slice per writing process: a daemon has one;
 * a function's master makes one per worker, and one for itself, in a
 * shared mapping before it forks (metrics_init), each worker writes only
 * its own (metrics_enter), and a scrape answered by any worker sums them
 * all. So a function shows one view whichever worker answers, and a worker
 * restarted into a slot carries on that slot's counts.
 *
 * With more than one slice, every series is declared before the fork: a
 * worker's later declaration would have no place in the others' layout
 * (metric_series returns NULL and logs it once). A daemon declares at any
 * time, e.g. a configuration's series when the configuration appears.
 *
 * Metrics off (RALLY_METRICS=off, or no metrics_init): declarations return
 * NULL, and every operation on NULL does nothing, so callers never check.
 *
 * Ownership: families and series belong to the registry for the life of
 * the process (never freed); names, help and label values are copied.
 * metrics_render's text is the caller's to free().
 */
#ifndef RALLY_COMMON_METRICS_H
#define RALLY_COMMON_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metric_family;
struct metric;
struct metrics_text;

/* At most this many slices (a function's workers, and its master). */
#define METRICS_MAX_SLICES 66
/* Histogram bucket bounds at most. */
#define METRICS_MAX_BUCKETS 16

/* Turns metrics on with `slices` slices (1 for a daemon); the calling
 * process writes slice slices-1 until metrics_enter. Only once; 0, or -1
 * when the mapping could not be made (metrics stay off). */
int metrics_init(int slices);
bool metrics_enabled(void);
/* In a forked worker: write slice i from now on (its pid is recorded for
 * the process collector). */
void metrics_enter(int i);

/* A family: `name` follows Prometheus's conventions (rally_ prefix, base
 * units, _total on counters); help is one line. Declaring a name again
 * returns the family declared first. Histograms take their upper bounds
 * in the family's unit (seconds), ascending, +Inf implied. */
struct metric_family *metric_family(const char *name, enum metric_type type, const char *help);
struct metric_family *metric_histogram(const char *name, const char *help, const double *bounds,
                                       int nbounds);
/* Leave out the series that are still zero when rendering (a table of
 * route x status, say, of which a few combinations ever happen). */
void metric_family_sparse(struct metric_family *f);
/* Values are whole numbers of 1/scale of the family's unit: 1e6 for a
 * counter of seconds kept in microseconds. Default 1. */
void metric_family_scale(struct metric_family *f, double scale);

/* Ends the name, value pairs of metric_series and metrics_labels: a null
 * pointer of the arguments' type (a bare NULL may be an int). */
#define METRIC_END ((const char *)0)

/* The series of f with the given labels: name, value pairs ended by
 * METRIC_END (values escaped here). The same labels give the same series. */
struct metric *metric_series(struct metric_family *f, ...) __attribute__((sentinel));
/* A family of one series without labels. */
struct metric *metric_counter(const char *name, const char *help);
struct metric *metric_gauge(const char *name, const char *help);

void metric_add(struct metric *m, uint64_t n); /* counters, and gauges by delta */
static inline void metric_inc(struct metric *m)
{
    metric_add(m, 1);
}
void metric_sub(struct metric *m, uint64_t n); /* gauges */
void metric_set(struct metric *m, int64_t v);  /* gauges */
/* Histograms: v in the family's unit (seconds). */
void metric_observe(struct metric *m, double v);

/* A collector writes samples computed when scraped (a process's CPU from
 * /proc, counts from the database) after the declared families. It runs
 * with the registry locked, so it must not declare. */
typedef void (*metrics_collector_fn)(struct metrics_text *out, void *arg);
void metrics_add_collector(metrics_collector_fn fn, void *arg);

/* For collectors: a family's HELP and TYPE, then its samples. labels is
 * rendered label text (metrics_labels) or NULL. */
void metrics_write_family(struct metrics_text *out, const char *name, enum metric_type type,
                          const char *help);
void metrics_write_sample(struct metrics_text *out, const char *name, const char *labels,
                          double value);
/* Appends text as it is (lines already in the format, a collector's
 * pass-through of another process's). */
void metrics_write_text(struct metrics_text *out, const char *text, size_t len);

/* Renders name, value pairs (ended by METRIC_END) as label text into buf:
 * `a="x",b="y"`, escaped. Cut values end the text where they are cut. */
void metrics_labels(char *buf, size_t size, ...) __attribute__((sentinel));

/* Every family, summed over the slices, then the collectors: the body of a
 * scrape. NULL when out of memory. */
char *metrics_render(size_t *len);

/* The pids recorded by metrics_enter, and the initialising process's. */
int metrics_pids(pid_t *pids, int max);

/* A function's master reaped the worker of slice i, which had used
 * cpu_seconds: the slice has no process until the next metrics_enter,
 * and process_cpu_seconds_total keeps what it used (a counter never goes
 * back when a worker is replaced). */
void metrics_reaped(int i, double cpu_seconds);

/* The content type of metrics_render's text. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Histogram bounds for request and work latencies, in seconds. */
extern const double metrics_latency_bounds[];
extern const int metrics_latency_nbounds;

#endif
