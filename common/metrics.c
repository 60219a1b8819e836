/*
 * The metrics registry and its rendering (metrics.h). Declarations and
 * renders take the registry's lock; the operations on a series touch one
 * or a few atomic cells of the calling process's slice and nothing else.
 */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "procstat.h"

/* Cells in each slice: 256 KiB, of which only the pages of declared series
 * are ever touched. */
#define CELLS 32768
#define MAX_COLLECTORS 8

const double metrics_latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                         0.1,    0.25,  0.5,    1,     2.5,  5,     10};
const int metrics_latency_nbounds = sizeof(metrics_latency_bounds) / sizeof(double);

struct metric {
    struct metric_family *family;
    struct metric *next;
    char *labels;  /* rendered label text, "" for none */
    uint32_t cell; /* its first cell in every slice */
};

struct metric_family {
    char *name;
    char *help;
    enum metric_type type;
    bool sparse;
    double scale;
    double bounds[METRICS_MAX_BUCKETS];
    int nbounds;
    struct metric *series, **tail;
    struct metric_family *next;
};

/* The shared mapping: the writers' pids, then the slices. */
struct shared {
    _Atomic pid_t pids[METRICS_MAX_SLICES];
    _Atomic uint64_t cells[][CELLS];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct shared *shared;
static int nslices;
static pid_t owner; /* the process that made the mapping */
static _Atomic uint64_t *mine;
static uint32_t used;
static struct metric_family *families, **families_tail = &families;
static struct {
    metrics_collector_fn fn;
    void *arg;
} collectors[MAX_COLLECTORS];
static int ncollectors;

struct metrics_text {
    char *buf;
    size_t len, cap;
    bool failed;
};

static void process_collector(struct metrics_text *out, void *arg);

int metrics_init(int slices)
{
    if (shared != NULL || slices < 1 || slices > METRICS_MAX_SLICES)
        return -1;
    size_t size = sizeof(struct shared) + (size_t)slices * sizeof(shared->cells[0]);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        log_error("metrics: could not map %zu bytes; metrics are off", size);
        return -1;
    }
    shared = p;
    nslices = slices;
    owner = getpid();
    mine = shared->cells[slices - 1];
    atomic_store(&shared->pids[slices - 1], owner);
    used = 1; /* cell 0: the CPU of reaped workers, in microseconds */
    metrics_add_collector(process_collector, NULL);
    return 0;
}

bool metrics_enabled(void)
{
    return shared != NULL;
}

void metrics_enter(int i)
{
    if (shared == NULL || i < 0 || i >= nslices)
        return;
    mine = shared->cells[i];
    atomic_store(&shared->pids[i], getpid());
}

void metrics_reaped(int i, double cpu_seconds)
{
    if (shared == NULL || i < 0 || i >= nslices)
        return;
    atomic_store(&shared->pids[i], 0);
    if (cpu_seconds > 0)
        atomic_fetch_add_explicit(&mine[0], (uint64_t)llround(cpu_seconds * 1e6),
                                  memory_order_relaxed);
}

int metrics_pids(pid_t *pids, int max)
{
    int n = 0;
    for (int i = 0; shared != NULL && i < nslices && n < max; i++) {
        pid_t p = atomic_load(&shared->pids[i]);
        if (p > 0)
            pids[n++] = p;
    }
    return n;
}

/* ---- declarations ------------------------------------------------------- */

static char *dup_or_die(const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        log_fatal("metrics: out of memory");
    return d;
}

static struct metric_family *find_family(const char *name)
{
    for (struct metric_family *f = families; f != NULL; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

static struct metric_family *declare(const char *name, enum metric_type type, const char *help,
                                     const double *bounds, int nbounds)
{
    if (shared == NULL)
        return NULL;
    pthread_mutex_lock(&lock);
    struct metric_family *f = find_family(name);
    if (f == NULL) {
        f = calloc(1, sizeof(*f));
        if (f == NULL)
            log_fatal("metrics: out of memory");
        f->name = dup_or_die(name);
        f->help = dup_or_die(help);
        f->type = type;
        f->scale = 1;
        if (nbounds > METRICS_MAX_BUCKETS)
            nbounds = METRICS_MAX_BUCKETS;
        for (int i = 0; i < nbounds; i++)
            f->bounds[i] = bounds[i];
        f->nbounds = nbounds;
        f->tail = &f->series;
        *families_tail = f;
        families_tail = &f->next;
    }
    pthread_mutex_unlock(&lock);
    return f;
}

struct metric_family *metric_family(const char *name, enum metric_type type, const char *help)
{
    return declare(name, type, help, NULL, 0);
}

struct metric_family *metric_histogram(const char *name, const char *help, const double *bounds,
                                       int nbounds)
{
    return declare(name, METRIC_HISTOGRAM, help, bounds, nbounds);
}

void metric_family_sparse(struct metric_family *f)
{
    if (f != NULL)
        f->sparse = true;
}

void metric_family_scale(struct metric_family *f, double scale)
{
    if (f != NULL && scale > 0)
        f->scale = scale;
}

/* Cells a series of f takes: its buckets and the sum for a histogram. */
static uint32_t cells_of(const struct metric_family *f)
{
    return f->type == METRIC_HISTOGRAM ? (uint32_t)f->nbounds + 2 : 1;
}

/* Label text of name, value pairs into buf. A label that does not fit is
 * left out whole (the text stays well-formed), with the ones after it. */
static void render_labels(char *buf, size_t size, va_list ap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (const char *k; (k = va_arg(ap, const char *)) != NULL;) {
        const char *v = va_arg(ap, const char *);
        if (v == NULL)
            v = "";
        size_t start = n;
        int w = snprintf(buf + n, size - n, "%s%s=\"", n > 0 ? "," : "", k);
        if (w < 0 || (size_t)w >= size - n)
            goto cut;
        n += (size_t)w;
        for (; *v != '\0'; v++) {
            const char *esc = *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : *v == '\n' ? "\\n" : NULL;
            size_t len = esc != NULL ? 2 : 1;
            if (n + len + 2 > size) /* the closing quote and NUL must fit after it */
                goto cut;
            memcpy(buf + n, esc != NULL ? esc : v, len);
            n += len;
        }
        if (n + 2 > size)
            goto cut;
        buf[n++] = '"';
        buf[n] = '\0';
        continue;
    cut:
        buf[start] = '\0';
        return;
    }
}

void metrics_labels(char *buf, size_t size, ...)
{
    va_list ap;
    va_start(ap, size);
    render_labels(buf, size, ap);
    va_end(ap);
}

static struct metric *series_of(struct metric_family *f, const char *labels)
{
    if (f == NULL)
        return NULL;
    pthread_mutex_lock(&lock);
    struct metric *m = f->series;
    while (m != NULL && strcmp(m->labels, labels) != 0)
        m = m->next;
    if (m == NULL) {
        static bool told;
        uint32_t need = cells_of(f);
        if (nslices > 1 && getpid() != owner) {
            if (!told)
                log_error("metrics: %s{%s} declared after the fork: not counted", f->name, labels);
            told = true;
        } else if (used + need > CELLS) {
            if (!told)
                log_error("metrics: no room for %s{%s}: not counted", f->name, labels);
            told = true;
        } else {
            m = calloc(1, sizeof(*m));
            if (m == NULL)
                log_fatal("metrics: out of memory");
            m->family = f;
            m->labels = dup_or_die(labels);
            m->cell = used;
            used += need;
            *f->tail = m;
            f->tail = &m->next;
        }
    }
    pthread_mutex_unlock(&lock);
    return m;
}

struct metric *metric_series(struct metric_family *f, ...)
{
    if (f == NULL)
        return NULL;
    char labels[512];
    va_list ap;
    va_start(ap, f);
    render_labels(labels, sizeof(labels), ap);
    va_end(ap);
    return series_of(f, labels);
}

struct metric *metric_counter(const char *name, const char *help)
{
    return series_of(metric_family(name, METRIC_COUNTER, help), "");
}

struct metric *metric_gauge(const char *name, const char *help)
{
    return series_of(metric_family(name, METRIC_GAUGE, help), "");
}

/* ---- operations ------------------------------------------------------- */

void metric_add(struct metric *m, uint64_t n)
{
    if (m != NULL)
        atomic_fetch_add_explicit(&mine[m->cell], n, memory_order_relaxed);
}

void metric_sub(struct metric *m, uint64_t n)
{
    if (m != NULL)
        atomic_fetch_sub_explicit(&mine[m->cell], n, memory_order_relaxed);
}

void metric_set(struct metric *m, int64_t v)
{
    if (m != NULL)
        atomic_store_explicit(&mine[m->cell], (uint64_t)v, memory_order_relaxed);
}

void metric_observe(struct metric *m, double v)
{
    if (m == NULL)
        return;
    const struct metric_family *f = m->family;
    int b = 0;
    while (b < f->nbounds && v > f->bounds[b])
        b++;
    atomic_fetch_add_explicit(&mine[m->cell + (uint32_t)b], 1, memory_order_relaxed);
    /* The sum in millionths of the unit: microseconds for seconds. */
    double scaled = v * 1e6;
    uint64_t add = scaled > 0 && scaled < 1.8e19 ? (uint64_t)llround(scaled) : 0;
    atomic_fetch_add_explicit(&mine[m->cell + (uint32_t)f->nbounds + 1], add, memory_order_relaxed);
}

/* ---- rendering ---------------------------------------------------------- */

static void text_append(struct metrics_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void text_append(struct metrics_text *t, const char *fmt, ...)
{
    for (int tries = 0; tries < 2 && !t->failed; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n + 1;
        char *buf = realloc(t->buf, cap);
        if (buf == NULL) {
            t->failed = true;
            return;
        }
        t->buf = buf;
        t->cap = cap;
    }
}

static void write_help(struct metrics_text *out, const char *name, const char *type,
                       const char *help)
{
    text_append(out, "# HELP %s ", name);
    for (const char *p = help; *p != '\0'; p++) {
        if (*p == '\\')
            text_append(out, "\\\\");
        else if (*p == '\n')
            text_append(out, "\\n");
        else
            text_append(out, "%c", *p);
    }
    text_append(out, "\n# TYPE %s %s\n", name, type);
}

void metrics_write_family(struct metrics_text *out, const char *name, enum metric_type type,
                          const char *help)
{
    write_help(out, name,
               type == METRIC_COUNTER ? "counter"
               : type == METRIC_GAUGE ? "gauge"
                                      : "histogram",
               help);
}

void metrics_write_text(struct metrics_text *out, const char *text, size_t len)
{
    text_append(out, "%.*s", (int)len, text);
}

static void write_value(struct metrics_text *out, double v)
{
    if (v == floor(v) && fabs(v) < 9e15)
        text_append(out, "%.0f\n", v);
    else
        text_append(out, "%.15g\n", v);
}

void metrics_write_sample(struct metrics_text *out, const char *name, const char *labels,
                          double value)
{
    if (labels != NULL && labels[0] != '\0')
        text_append(out, "%s{%s} ", name, labels);
    else
        text_append(out, "%s ", name);
    write_value(out, value);
}

static uint64_t sum_cell(uint32_t cell)
{
    uint64_t v = 0;
    for (int s = 0; s < nslices; s++)
        v += atomic_load_explicit(&shared->cells[s][cell], memory_order_relaxed);
    return v;
}

static void render_histogram(struct metrics_text *out, const struct metric_family *f,
                             const struct metric *m)
{
    uint64_t cumulative = 0;
    const char *sep = m->labels[0] != '\0' ? "," : "";
    for (int b = 0; b <= f->nbounds; b++) {
        cumulative += sum_cell(m->cell + (uint32_t)b);
        if (b < f->nbounds)
            text_append(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", f->name, m->labels, sep,
                        f->bounds[b], (unsigned long long)cumulative);
        else
            text_append(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", f->name, m->labels, sep,
                        (unsigned long long)cumulative);
    }
    double sum = (double)sum_cell(m->cell + (uint32_t)f->nbounds + 1) / 1e6;
    char name[256];
    snprintf(name, sizeof(name), "%s_sum", f->name);
    metrics_write_sample(out, name, m->labels, sum);
    snprintf(name, sizeof(name), "%s_count", f->name);
    metrics_write_sample(out, name, m->labels, (double)cumulative);
}

static void render_family(struct metrics_text *out, const struct metric_family *f)
{
    bool header = false;
    for (const struct metric *m = f->series; m != NULL; m = m->next) {
        uint64_t raw = f->type == METRIC_HISTOGRAM ? 0 : sum_cell(m->cell);
        if (f->sparse && f->type != METRIC_HISTOGRAM && raw == 0)
            continue;
        if (!header)
            metrics_write_family(out, f->name, f->type, f->help);
        header = true;
        if (f->type == METRIC_HISTOGRAM) {
            render_histogram(out, f, m);
            continue;
        }
        /* Gauges are signed: a sum of two's complement cells. */
        double v = f->type == METRIC_GAUGE ? (double)(int64_t)raw : (double)raw;
        metrics_write_sample(out, f->name, m->labels, v / f->scale);
    }
}

/* The writers' CPU, memory and start, as Prometheus's clients name them:
 * every worker's and the master's together for a function. */
static void process_collector(struct metrics_text *out, void *arg)
{
    (void)arg;
    pid_t pids[METRICS_MAX_SLICES];
    int n = metrics_pids(pids, METRICS_MAX_SLICES);
    struct procstat sum = {0}, one;
    double start = 0;
    int alive = 0;
    for (int i = 0; i < n; i++) {
        if (procstat_read(pids[i], &one) != 0)
            continue;
        sum.cpu_seconds += one.cpu_seconds;
        sum.rss_bytes += one.rss_bytes;
        sum.open_fds += one.open_fds > 0 ? one.open_fds : 0;
        if (pids[i] == owner || start == 0)
            start = one.start_time;
        alive++;
    }
    if (alive == 0)
        return;
    sum.cpu_seconds += (double)sum_cell(0) / 1e6; /* workers that ended */
    metrics_write_family(out, "process_cpu_seconds_total", METRIC_COUNTER,
                         "CPU time of the process and its workers, user and system, in seconds.");
    metrics_write_sample(out, "process_cpu_seconds_total", NULL, sum.cpu_seconds);
    metrics_write_family(out, "process_resident_memory_bytes", METRIC_GAUGE,
                         "Resident memory of the process and its workers, in bytes.");
    metrics_write_sample(out, "process_resident_memory_bytes", NULL, sum.rss_bytes);
    metrics_write_family(out, "process_open_fds", METRIC_GAUGE,
                         "Open file descriptors of the process and its workers.");
    metrics_write_sample(out, "process_open_fds", NULL, sum.open_fds);
    metrics_write_family(out, "process_start_time_seconds", METRIC_GAUGE,
                         "Start time of the process since the epoch, in seconds.");
    metrics_write_sample(out, "process_start_time_seconds", NULL, start);
}

void metrics_add_collector(metrics_collector_fn fn, void *arg)
{
    pthread_mutex_lock(&lock);
    if (ncollectors < MAX_COLLECTORS) {
        collectors[ncollectors].fn = fn;
        collectors[ncollectors].arg = arg;
        ncollectors++;
    }
    pthread_mutex_unlock(&lock);
}

char *metrics_render(size_t *len)
{
    struct metrics_text out = {.cap = 16384};
    out.buf = malloc(out.cap);
    if (out.buf == NULL)
        return NULL;
    out.buf[0] = '\0';
    pthread_mutex_lock(&lock);
    for (const struct metric_family *f = families; shared != NULL && f != NULL; f = f->next)
        render_family(&out, f);
    for (int i = 0; i < ncollectors; i++)
        collectors[i].fn(&out, collectors[i].arg);
    pthread_mutex_unlock(&lock);
    if (out.failed) {
        free(out.buf);
        return NULL;
    }
    *len = out.len;
    return out.buf;
}
