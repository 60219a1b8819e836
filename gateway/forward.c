#include "forward.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rally_http.h"

#define MAX_THREADS 64

static struct {
    const char *base;
    struct queue jobs, *done;
    pthread_t threads[MAX_THREADS];
    int nthreads;
} fw;

static void *worker(void *arg)
{
    (void)arg;
    struct rally_http h;
    if (rally_http_init(&h) < 0) {
        log_error("forward: no libcurl handle");
        return NULL;
    }
    struct qnode *n;
    while ((n = queue_pop_wait(&fw.jobs)) != NULL) {
        struct fwd_job *j = (struct fwd_job *)n;
        struct rally_http_request r = {.method = j->method,
                                       .base = fw.base,
                                       .path = j->path,
                                       .token = j->token,
                                       .body = j->body,
                                       .connect_timeout_ms = 2000,
                                       /* under the SDK's own 20 s */
                                       .timeout_ms = 15000};
        if (rally_http_exchange(&h, &r, &j->status) != CURLE_OK)
            j->status = 0;
        j->response = j->status != 0 && h.buf != NULL ? strdup(h.buf) : NULL;
        queue_push(fw.done, &j->node);
    }
    rally_http_cleanup(&h);
    return NULL;
}

int forward_start(const char *base_url, int nthreads, struct queue *done)
{
    fw.base = base_url;
    fw.done = done;
    if (queue_init(&fw.jobs) < 0) {
        log_error("forward: no eventfd");
        return -1;
    }
    for (fw.nthreads = 0; fw.nthreads < nthreads && fw.nthreads < MAX_THREADS; fw.nthreads++)
        if (pthread_create(&fw.threads[fw.nthreads], NULL, worker, NULL) != 0) {
            log_error("forward: cannot start a thread");
            return -1;
        }
    return 0;
}

void forward_submit(struct fwd_job *j)
{
    queue_push(&fw.jobs, &j->node);
}

void forward_stop(void)
{
    queue_close(&fw.jobs);
    for (int i = 0; i < fw.nthreads; i++)
        pthread_join(fw.threads[i], NULL);
    queue_destroy(&fw.jobs);
}

void fwd_job_free(struct fwd_job *j)
{
    if (j == NULL)
        return;
    free(j->path);
    free(j->body);
    free(j->token);
    free(j->response);
    free(j);
}
