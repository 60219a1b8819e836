#include "threadq.h"

#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

int queue_init(struct queue *q)
{
    q->head = NULL;
    q->tail = &q->head;
    q->closed = false;
    q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->efd < 0)
        return -1;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    return 0;
}

void queue_destroy(struct queue *q)
{
    close(q->efd);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
}

static void wake(struct queue *q)
{
    uint64_t one = 1;
    /* A full counter (2^64-2 wakeups unread) is still readable: enough. */
    if (write(q->efd, &one, sizeof(one)) < 0) {
    }
}

void queue_push(struct queue *q, struct qnode *n)
{
    n->next = NULL;
    pthread_mutex_lock(&q->mu);
    *q->tail = n;
    q->tail = &n->next;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    wake(q);
}

struct qnode *queue_pop_wait(struct queue *q)
{
    pthread_mutex_lock(&q->mu);
    while (q->head == NULL && !q->closed)
        pthread_cond_wait(&q->cv, &q->mu);
    struct qnode *n = q->head;
    if (n != NULL) {
        q->head = n->next;
        if (q->head == NULL)
            q->tail = &q->head;
    }
    pthread_mutex_unlock(&q->mu);
    return n;
}

struct qnode *queue_take_all(struct queue *q)
{
    uint64_t count;
    if (read(q->efd, &count, sizeof(count)) < 0) {
        /* EAGAIN: nothing was signalled since the last take */
    }
    pthread_mutex_lock(&q->mu);
    struct qnode *n = q->head;
    q->head = NULL;
    q->tail = &q->head;
    pthread_mutex_unlock(&q->mu);
    return n;
}

void queue_close(struct queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    wake(q);
}
