/*
 * rally-mm-bench: the FlexMatch engine alone on a synthetic pool.
 *
 *   rally-mm-bench RULESET.json TICKETS [SEED]
 *
 * Fills a pool with TICKETS tickets (9 in 10 solo, the rest parties of two;
 * skill ~ N(1500, 250); four locations, each player near one of them), then
 * runs matchmaking passes as the daemon's ticks would until a pass forms no
 * match. Prints one JSON object: tickets, matched, matches, seconds, matches
 * per second and peak memory. Used by `make bench` (scripts/bench.sh).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "arena.h"
#include "builder.h"
#include "jsonc.h"
#include "players.h"
#include "ruleset.h"

static const char *const locations[] = {"us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1"};

/* xorshift64*: a fixed, seedable sequence. */
static unsigned long long rng_state;

static double uniform(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static double normal(double mean, double sd)
{
    double u = uniform(), v = uniform();
    return mean + sd * sqrt(-2 * log(u + 1e-12)) * cos(2 * M_PI * v);
}

static void make_pool(struct arena *a, const struct fm_ruleset *rs, struct fm_ticket *pool,
                      size_t n, double now)
{
    int skill_attr = fm_attr_index(rs, "skill");
    int regions[4];
    for (int g = 0; g < 4; g++)
        regions[g] = fm_region_index(locations[g]);
    for (size_t i = 0; i < n; i++) {
        struct fm_ticket *t = &pool[i];
        t->id = arena_sprintf(a, "ticket-%zu", i);
        t->created = now - uniform() * 5;
        t->pinned_team = -1;
        t->nplayers = uniform() < 0.9 ? 1 : 2;
        t->players = arena_alloc(a, (size_t)t->nplayers * sizeof(*t->players));
        int home = (int)(uniform() * 4) % 4;
        for (int p = 0; p < t->nplayers; p++) {
            struct fm_player *pl = &t->players[p];
            pl->id = arena_sprintf(a, "player-%zu-%d", i, p);
            pl->attrs = arena_alloc(a, (rs->nattrs + 1) * sizeof(*pl->attrs));
            if (skill_attr >= 0) {
                pl->attrs[skill_attr].kind = FM_A_NUMBER;
                pl->attrs[skill_attr].num = round(normal(1500, 250));
            }
            for (int g = 0; g < FM_MAX_REGIONS; g++)
                pl->latency[g] = -1;
            for (int g = 0; g < 4; g++)
                pl->latency[regions[g]] =
                    g == home ? 20 + (int)(uniform() * 40) : 80 + (int)(uniform() * 170);
        }
    }
}

struct tally {
    bool *matched;
    const struct fm_ticket *base;
    const struct fm_ticket *const *pass_pool;
    size_t matches, tickets;
};

static void on_match(void *ctx, const struct fm_match *m, const size_t *idx)
{
    struct tally *t = ctx;
    for (int k = 0; k < m->n; k++)
        t->matched[t->pass_pool[idx[k]] - t->base] = true;
    t->matches++;
    t->tickets += (size_t)m->n;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: rally-mm-bench RULESET.json TICKETS [SEED]\n");
        return 2;
    }
    json_error_t jerr;
    json_t *body = jsonc_load_file(argv[1], &jerr);
    struct fm_error err = {{0}, {0}};
    struct fm_ruleset *rs = body != NULL ? fm_ruleset_parse(body, &err) : NULL;
    json_decref(body);
    if (rs == NULL) {
        fprintf(stderr, "rally-mm-bench: %s: %s %s\n", argv[1], body ? err.field : jerr.text,
                err.message);
        return 1;
    }
    size_t n = strtoul(argv[2], NULL, 10);
    rng_state = argc > 3 ? strtoull(argv[3], NULL, 10) | 1 : 88172645463325252ULL;
    struct arena a = {0};
    struct fm_ticket *pool = calloc(n + 1, sizeof(*pool));
    const struct fm_ticket **open = calloc(n + 1, sizeof(const struct fm_ticket *));
    struct tally tally = {.matched = calloc(n + 1, sizeof(bool)), .base = pool};
    if (pool == NULL || open == NULL || tally.matched == NULL) {
        fprintf(stderr, "rally-mm-bench: out of memory\n");
        abort();
    }
    double now = (double)time(NULL);
    make_pool(&a, rs, pool, n, now);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t passes = 0;
    for (;;) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (!tally.matched[i])
                open[k++] = &pool[i];
        tally.pass_pool = open;
        struct fm_build_opts opts = {.now = now};
        size_t made = fm_build(rs, open, k, &opts, on_match, &tally, NULL);
        passes++;
        if (made == 0)
            break;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"tickets\": %zu, \"matched\": %zu, \"matches\": %zu, \"passes\": %zu, "
           "\"seconds\": %.3f, \"matches_per_second\": %.0f, \"maxrss_kb\": %ld}\n",
           n, tally.tickets, tally.matches, passes, secs,
           secs > 0 ? (double)tally.matches / secs : 0, ru.ru_maxrss);
    free(tally.matched);
    free(open);
    free(pool);
    arena_destroy(&a);
    fm_ruleset_free(rs);
    return 0;
}
