/*
 * Per-request bump arena with cleanup hooks.
 *
 * Every request-scoped allocation and every foreign resource (PGresult, json_t)
 * hangs off one arena; arena_reset() after the response is written releases all
 * of it, hooks first in reverse order of registration. Allocation failure
 * aborts the process (the worker supervisor restarts it): see R13.
 */
#ifndef RALLY_COMMON_ARENA_H
#define RALLY_COMMON_ARENA_H

#include <stddef.h>

struct arena_block;
struct arena_hook;

struct arena {
    struct arena_block *blocks;
    struct arena_hook *hooks;
};

/* Returns zeroed memory aligned for any type; valid until arena_reset(). */
void *arena_alloc(struct arena *a, size_t size);
/* Copies s (or its first n bytes) into the arena, NUL-terminated. */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
/* printf into the arena. */
char *arena_sprintf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Runs fn(p) at the next arena_reset(); fn is never called with p == NULL. */
void arena_defer(struct arena *a, void (*fn)(void *), void *p);
/* Runs hooks (newest first) and frees every block but the first. */
void arena_reset(struct arena *a);
/* arena_reset() and frees the first block too. */
void arena_destroy(struct arena *a);

#endif
