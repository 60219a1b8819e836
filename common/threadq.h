/*
 * A queue between a daemon's threads (the gateway's, the relay's): any thread pushes, a worker waits
 * for one item (queue_pop_wait), or the event loop takes all at once
 * (queue_take_all) when the queue's eventfd, which it polls, is readable.
 *
 * Ownership: a pushed node belongs to the queue until it is taken; nodes
 * are the first member of the caller's structs.
 */
#ifndef RALLY_THREADQ_H
#define RALLY_THREADQ_H

#include <pthread.h>
#include <stdbool.h>

struct qnode {
    struct qnode *next;
};

struct queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct qnode *head, **tail;
    bool closed;
    int efd; /* readable while items wait: for epoll and poll */
};

/* 0, or -1 with errno set. */
int queue_init(struct queue *q);
void queue_destroy(struct queue *q);

void queue_push(struct queue *q, struct qnode *n);

/* The oldest item, waiting for one; NULL once the queue is closed and
 * empty. */
struct qnode *queue_pop_wait(struct queue *q);

/* Every waiting item, oldest first, linked by next; NULL when none. */
struct qnode *queue_take_all(struct queue *q);

/* Wakes every waiter: pop_wait returns NULL once the queue is empty. */
void queue_close(struct queue *q);

#endif
