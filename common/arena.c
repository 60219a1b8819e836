/*
 * Bump arena: a list of blocks, the newest first. Small allocations come from
 * the head block; a request larger than a block gets a block of its own.
 */
#include "arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define ARENA_BLOCK_SIZE 16384
#define ARENA_ALIGN _Alignof(max_align_t)

struct arena_block {
    struct arena_block *next;
    size_t used;
    size_t size;
    _Alignas(max_align_t) unsigned char data[];
};

struct arena_hook {
    struct arena_hook *next;
    void (*fn)(void *);
    void *p;
};

static struct arena_block *block_new(size_t size, struct arena_block *next)
{
    struct arena_block *b = malloc(sizeof(*b) + size);
    if (b == NULL)
        log_fatal("out of memory allocating %zu bytes", size);
    b->next = next;
    b->used = 0;
    b->size = size;
    return b;
}

void *arena_alloc(struct arena *a, size_t size)
{
    size_t rounded = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    struct arena_block *b = a->blocks;

    if (rounded < size)
        log_fatal("arena allocation size overflow");
    if (b == NULL || b->size - b->used < rounded) {
        if (rounded > ARENA_BLOCK_SIZE / 4) {
            /* A big allocation gets its own block behind the head, so the
             * head keeps serving small ones. */
            struct arena_block *big = block_new(rounded, NULL);
            if (b == NULL) {
                a->blocks = big;
            } else {
                big->next = b->next;
                b->next = big;
            }
            big->used = rounded;
            memset(big->data, 0, size);
            return big->data;
        }
        b = block_new(ARENA_BLOCK_SIZE, a->blocks);
        a->blocks = b;
    }
    void *p = b->data + b->used;
    b->used += rounded;
    memset(p, 0, size);
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_sprintf(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        log_fatal("arena_sprintf: bad format");
    char *p = arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void arena_defer(struct arena *a, void (*fn)(void *), void *p)
{
    if (p == NULL)
        return;
    struct arena_hook *h = arena_alloc(a, sizeof(*h));
    h->fn = fn;
    h->p = p;
    h->next = a->hooks;
    a->hooks = h;
}

void arena_reset(struct arena *a)
{
    /* Hooks live inside the blocks, so run them all before freeing any. */
    for (struct arena_hook *h = a->hooks; h != NULL; h = h->next)
        h->fn(h->p);
    a->hooks = NULL;

    struct arena_block *keep = NULL;
    struct arena_block *b = a->blocks;
    while (b != NULL) {
        struct arena_block *next = b->next;
        if (keep == NULL && b->size == ARENA_BLOCK_SIZE) {
            keep = b;
            keep->used = 0;
            keep->next = NULL;
        } else {
            free(b);
        }
        b = next;
    }
    a->blocks = keep;
}

void arena_destroy(struct arena *a)
{
    arena_reset(a);
    free(a->blocks);
    a->blocks = NULL;
}
