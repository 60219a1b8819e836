/* Unit tests for common/arena.c: alignment, zeroing, big blocks, hooks. */
#include <check.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

#define ALIGN _Alignof(max_align_t)

static struct arena arena;

static void setup(void)
{
    memset(&arena, 0, sizeof(arena));
}

static void teardown(void)
{
    arena_destroy(&arena);
}

static int is_aligned(const void *p)
{
    return (uintptr_t)p % ALIGN == 0;
}

static int all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

/* Sizes around the rounding boundaries, the "big" threshold (4 KiB) and the
 * block size (16 KiB). */
static const size_t sizes[] = {1,    2,    3,    7,    8,    9,     15,    16,    17,   24,
                               31,   32,   33,   48,   63,   64,    100,   255,   1000, 4095,
                               4096, 4097, 4112, 5000, 8192, 16383, 16384, 16385, 65536};
#define NSIZES (int)(sizeof(sizes) / sizeof(sizes[0]))

/* Each size, interleaved with odd small allocations so every size starts at
 * a non-trivial offset: every pointer aligned, every byte writable. */
START_TEST(test_alignment)
{
    size_t size = sizes[_i];
    unsigned char *p[8];
    for (int k = 0; k < 8; k++) {
        unsigned char *odd = arena_alloc(&arena, (size_t)(2 * k + 1));
        ck_assert_msg(is_aligned(odd), "alloc(%d) = %p not aligned to %zu", 2 * k + 1, (void *)odd,
                      (size_t)ALIGN);
        p[k] = arena_alloc(&arena, size);
        ck_assert_msg(is_aligned(p[k]), "alloc(%zu) = %p not aligned to %zu", size, (void *)p[k],
                      (size_t)ALIGN);
        memset(p[k], 0xA0 + k, size);
    }
    /* No allocation overlaps another: each still holds its own pattern. */
    for (int k = 0; k < 8; k++)
        ck_assert_msg(all_bytes(p[k], size, (unsigned char)(0xA0 + k)),
                      "allocation %d of size %zu was overwritten", k, size);
}
END_TEST

/* Small allocations are packed at the alignment, not at sizeof(max_align_t)
 * and not unrounded. */
START_TEST(test_packing)
{
    static const struct {
        size_t size;
        size_t stride;
    } cases[] = {
        {1, ALIGN},
        {ALIGN - 1, ALIGN},
        {ALIGN, ALIGN},
        {ALIGN + 1, 2 * ALIGN},
        {100, (100 + ALIGN - 1) / ALIGN * ALIGN},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        arena_reset(&arena);
        char *a = arena_alloc(&arena, cases[c].size);
        char *b = arena_alloc(&arena, cases[c].size);
        ck_assert_msg((size_t)(b - a) == cases[c].stride, "alloc(%zu) twice: stride %td, want %zu",
                      cases[c].size, b - a, cases[c].stride);
    }
}
END_TEST

START_TEST(test_alloc_zero_size)
{
    void *a = arena_alloc(&arena, 0);
    void *b = arena_alloc(&arena, 0);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert(is_aligned(a) && is_aligned(b));
}
END_TEST

/* Memory is zeroed even when the block is reused dirty after a reset. */
START_TEST(test_zeroed_after_reuse)
{
    size_t size = sizes[_i];
    for (int round = 0; round < 3; round++) {
        unsigned char *p = arena_alloc(&arena, size);
        ck_assert_msg(all_bytes(p, size, 0), "round %d: alloc(%zu) not zeroed", round, size);
        memset(p, 0xFF, size);
        unsigned char *q = arena_alloc(&arena, 24);
        ck_assert(all_bytes(q, 24, 0));
        memset(q, 0xFF, 24);
        arena_reset(&arena);
    }
}
END_TEST

/* Big allocations get blocks of their own and survive later small ones,
 * including ones that open new blocks. */
START_TEST(test_big_allocations_survive)
{
    enum { NBIG = 6, NSMALL = 400 };
    static const size_t big_sizes[NBIG] = {4097, 5000, 16384, 16385, 40000, 1 << 20};
    unsigned char *big[NBIG];
    unsigned char *small[NSMALL];

    for (int i = 0; i < NBIG; i++) {
        big[i] = arena_alloc(&arena, big_sizes[i]);
        ck_assert(is_aligned(big[i]));
        ck_assert(all_bytes(big[i], big_sizes[i], 0));
        memset(big[i], 0x10 + i, big_sizes[i]);
        /* Small ones in between, about 400 KiB in all: many blocks. */
        for (int j = 0; j < NSMALL / NBIG; j++) {
            int k = i * (NSMALL / NBIG) + j;
            small[k] = arena_alloc(&arena, 1000);
            memset(small[k], k & 0xFF, 1000);
        }
    }
    for (int i = 0; i < NBIG; i++)
        ck_assert_msg(all_bytes(big[i], big_sizes[i], (unsigned char)(0x10 + i)),
                      "big allocation %d (%zu bytes) was overwritten", i, big_sizes[i]);
    for (int k = 0; k < NBIG * (NSMALL / NBIG); k++)
        ck_assert_msg(all_bytes(small[k], 1000, (unsigned char)(k & 0xFF)),
                      "small allocation %d was overwritten", k);

    /* After a reset the arena still works, and is zeroed. */
    arena_reset(&arena);
    unsigned char *p = arena_alloc(&arena, 100000);
    ck_assert(all_bytes(p, 100000, 0));
    unsigned char *s = arena_alloc(&arena, 10);
    ck_assert(all_bytes(s, 10, 0));
}
END_TEST

/* A first allocation that is big, then small ones. */
START_TEST(test_big_first)
{
    unsigned char *big = arena_alloc(&arena, 10000);
    memset(big, 0x5A, 10000);
    char *s = arena_strdup(&arena, "after big");
    ck_assert_str_eq(s, "after big");
    ck_assert(all_bytes(big, 10000, 0x5A));
}
END_TEST

/* A reset keeps one block for the next request and starts it over: the
 * same allocations after each reset land at the same address. */
START_TEST(test_reset_reuses_block)
{
    for (int i = 0; i < 20; i++) /* several blocks, all but one freed by the reset */
        (void)arena_alloc(&arena, 4000);
    arena_reset(&arena);
    char *q = arena_alloc(&arena, 100);
    arena_reset(&arena);
    char *r = arena_alloc(&arena, 100);
    ck_assert_ptr_eq(q, r);
}
END_TEST

static int hook_log[16];
static int hook_calls;

static void record_hook(void *p)
{
    ck_assert_int_lt(hook_calls, 16);
    hook_log[hook_calls++] = *(int *)p;
}

START_TEST(test_hooks_reverse_once)
{
    static int ids[5] = {0, 1, 2, 3, 4};
    hook_calls = 0;
    for (int i = 0; i < 5; i++) {
        arena_defer(&arena, record_hook, &ids[i]);
        /* Allocations in between, some opening new blocks. */
        (void)arena_alloc(&arena, i % 2 ? 9000 : 12000);
    }
    ck_assert_int_eq(hook_calls, 0);
    arena_reset(&arena);
    ck_assert_int_eq(hook_calls, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(hook_log[i], 4 - i);

    /* A second reset runs nothing again. */
    arena_reset(&arena);
    ck_assert_int_eq(hook_calls, 5);

    /* Hooks registered after a reset run on the next one, and on destroy. */
    arena_defer(&arena, record_hook, &ids[2]);
    arena_defer(&arena, record_hook, &ids[3]);
    arena_destroy(&arena);
    ck_assert_int_eq(hook_calls, 7);
    ck_assert_int_eq(hook_log[5], 3);
    ck_assert_int_eq(hook_log[6], 2);
}
END_TEST

START_TEST(test_defer_null_is_skipped)
{
    hook_calls = 0;
    arena_defer(&arena, record_hook, NULL);
    arena_reset(&arena);
    ck_assert_int_eq(hook_calls, 0);
}
END_TEST

/* Hooks release foreign memory: under ASan a missed hook is a leak. */
START_TEST(test_defer_frees)
{
    for (int i = 0; i < 100; i++)
        arena_defer(&arena, free, malloc(64));
    arena_reset(&arena);
}
END_TEST

START_TEST(test_strdup)
{
    char src[] = "hello, arena";
    char *d = arena_strdup(&arena, src);
    ck_assert_ptr_ne(d, src);
    ck_assert_str_eq(d, "hello, arena");
    src[0] = 'J';
    ck_assert_str_eq(d, "hello, arena");

    char *e = arena_strdup(&arena, "");
    ck_assert_str_eq(e, "");

    char *n = arena_strndup(&arena, "abcdef", 3);
    ck_assert_str_eq(n, "abc");
    /* The copy is NUL-terminated at n, even for n == 0. */
    char *z = arena_strndup(&arena, "xyz", 0);
    ck_assert_str_eq(z, "");
}
END_TEST

START_TEST(test_sprintf)
{
    char *s = arena_sprintf(&arena, "%s-%d-%05.1f-%c", "id", -42, 3.14159, 'x');
    ck_assert_str_eq(s, "id--42-003.1-x");
    ck_assert_str_eq(arena_sprintf(&arena, "%s", ""), "");

    /* Longer than a block: the big-allocation path. */
    char *big = malloc(20001);
    ck_assert_ptr_nonnull(big);
    memset(big, 'q', 20000);
    big[20000] = '\0';
    char *t = arena_sprintf(&arena, "<%s>", big);
    ck_assert_uint_eq(strlen(t), 20002);
    ck_assert_int_eq(t[0], '<');
    ck_assert_int_eq(t[20001], '>');
    ck_assert(memcmp(t + 1, big, 20000) == 0);
    free(big);
    ck_assert_str_eq(s, "id--42-003.1-x");
}
END_TEST

static Suite *arena_suite(void)
{
    Suite *s = suite_create("arena");
    TCase *tc = tcase_create("arena");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_alignment, 0, NSIZES);
    tcase_add_test(tc, test_packing);
    tcase_add_test(tc, test_alloc_zero_size);
    tcase_add_loop_test(tc, test_zeroed_after_reuse, 0, NSIZES);
    tcase_add_test(tc, test_big_allocations_survive);
    tcase_add_test(tc, test_big_first);
    tcase_add_test(tc, test_reset_reuses_block);
    tcase_add_test(tc, test_hooks_reverse_once);
    tcase_add_test(tc, test_defer_null_is_skipped);
    tcase_add_test(tc, test_defer_frees);
    tcase_add_test(tc, test_strdup);
    tcase_add_test(tc, test_sprintf);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(arena_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
