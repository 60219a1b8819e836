/* Unit tests for matchmaker/builder.c: matches formed from pools of tickets,
 * worked out by hand. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "builder.h"
#include "explain.h"
#include "jsonc.h"
#include "players.h"
#include "ruleset.h"

static struct arena arena;

static void setup(void)
{
    memset(&arena, 0, sizeof(arena));
}

static void teardown(void)
{
    arena_destroy(&arena);
}

static struct fm_ruleset *load(const char *text)
{
    char *copy = arena_strdup(&arena, text);
    jsonc_normalise(copy, strlen(copy));
    json_t *body = json_loads(copy, 0, NULL);
    ck_assert_ptr_nonnull(body);
    struct fm_error err = {{0}, {0}};
    struct fm_ruleset *rs = fm_ruleset_parse(body, &err);
    json_decref(body);
    ck_assert_msg(rs != NULL, "%s: %s", err.field, err.message);
    return rs;
}

/* A pool built from a compact description: one ticket per entry of specs,
 * "id skill[,skill...] [region=ms ...] [attribute:string ...]" (a party has
 * several skills; string attributes go to every player). */
struct pool {
    const struct fm_ticket *t[256];
    size_t n;
};

static struct fm_ticket *add(struct pool *p, const struct fm_ruleset *rs, const char *spec,
                             double created)
{
    char *copy = arena_strdup(&arena, spec);
    char *save = NULL;
    char *id = strtok_r(copy, " ", &save);
    char *skills = strtok_r(NULL, " ", &save);
    char lat[512] = "";
    char strings[512] = "";
    for (char *l = strtok_r(NULL, " ", &save); l != NULL; l = strtok_r(NULL, " ", &save)) {
        char *colon = strchr(l, ':');
        if (colon != NULL) {
            *colon = '\0';
            char one[128];
            snprintf(one, sizeof(one), ", \"%s\": {\"S\": \"%s\"}", l, colon + 1);
            strcat(strings, one);
            continue;
        }
        char *eq = strchr(l, '=');
        *eq = '\0';
        char one[64];
        snprintf(one, sizeof(one), "%s\"%s\": %s", *lat ? ", " : "", l, eq + 1);
        strcat(lat, one);
    }
    char players[4096] = "[";
    int k = 0;
    for (char *s2 = NULL, *sk = strtok_r(skills, ",", &s2); sk != NULL;
         sk = strtok_r(NULL, ",", &s2)) {
        char one[1300];
        snprintf(one, sizeof(one),
                 "%s{\"PlayerId\": \"%s-%d\", \"PlayerAttributes\": {\"skill\": {\"N\": %s}%s}, "
                 "\"LatencyInMs\": {%s}}",
                 k > 0 ? "," : "", id, k, sk, strings, lat);
        k++;
        strcat(players, one);
    }
    strcat(players, "]");
    struct fm_ticket *t = arena_alloc(&arena, sizeof(*t));
    t->id = arena_strdup(&arena, id);
    t->created = created;
    json_t *pj = json_loads(players, 0, NULL);
    ck_assert_ptr_nonnull(pj);
    const char *why = NULL;
    ck_assert_msg(fm_ticket_from_json(&arena, rs, pj, t, &why) == 0, "%s: %s", spec, why);
    json_decref(pj);
    p->t[p->n++] = t;
    return t;
}

/* Matches as text: "a,b|c" per match (teams separated by |), in order. */
struct outcome {
    const struct fm_ruleset *rs;
    char text[4096];
    int regions[64];
    size_t n;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Records a match as "a,b|c": each team's ticket ids sorted. */
static void record(void *ctx, const struct fm_match *m, const size_t *idx)
{
    (void)idx;
    struct outcome *o = ctx;
    if (o->n > 0)
        strcat(o->text, " ");
    for (size_t team = 0; team < o->rs->nteams; team++) {
        const char *ids[FM_MAX_PLAYERS];
        size_t n = 0;
        for (int k = 0; k < m->n; k++)
            if (m->team[k] == (int)team)
                ids[n++] = m->tickets[k]->id;
        qsort(ids, n, sizeof(ids[0]), cmp_str);
        if (team > 0)
            strcat(o->text, "|");
        for (size_t k = 0; k < n; k++) {
            if (k > 0)
                strcat(o->text, ",");
            strcat(o->text, ids[k]);
        }
    }
    o->regions[o->n++] = m->region;
}

static struct outcome run(const struct fm_ruleset *rs, struct pool *p, double now, int additional)
{
    struct outcome o = {.rs = rs};
    struct fm_build_opts opts = {.now = now, .additional_player_count = additional};
    size_t n = fm_build(rs, p->t, p->n, &opts, record, &o, NULL);
    ck_assert_uint_eq(n, o.n);
    return o;
}

#define SAMPLE                                                                                     \
    "{\"ruleLanguageVersion\": \"1.0\", \"playerAttributes\": [{\"name\": \"skill\", \"type\": "   \
    "\"number\", \"default\": 10}], \"teams\": [{\"name\": \"oneteam\", \"maxPlayers\": 5, "       \
    "\"minPlayers\": 1}], \"rules\": [{\"name\": \"FairSkill\", \"type\": \"distance\", "          \
    "\"measurements\": [\"teams[oneteam].players.attributes[skill]\"], \"referenceValue\": "       \
    "\"avg(teams[oneteam].players.attributes[skill])\", \"maxDistance\": 10}, {\"name\": "         \
    "\"FastConnection\", \"type\": \"latency\", \"maxLatency\": 80}], \"expansions\": "            \
    "[{\"target\": \"rules[FastConnection].maxLatency\", \"steps\": [{\"waitTimeSeconds\": 5, "    \
    "\"value\": 1000}]}]}"

START_TEST(test_fill_to_max_then_minimum)
{
    struct fm_ruleset *rs = load(SAMPLE);
    struct pool p = {0};
    for (int i = 0; i < 12; i++) {
        char spec[64];
        snprintf(spec, sizeof(spec), "t%02d 10 east=50", i);
        add(&p, rs, spec, 100 + i);
    }
    struct outcome o = run(rs, &p, 112, 0);
    /* Oldest first, five at a time; the last two make a match of two (the
     * minimum is 1, found after a full pass). */
    ck_assert_str_eq(o.text, "t00,t01,t02,t03,t04 t05,t06,t07,t08,t09 t10,t11");
    ck_assert_int_eq(o.regions[0], fm_region_index("east"));
    fm_ruleset_free(rs);
}
END_TEST

START_TEST(test_skill_and_latency_choose_partners)
{
    struct fm_ruleset *rs = load(SAMPLE);
    struct pool p = {0};
    add(&p, rs, "a 10 east=50 west=120", 100);
    add(&p, rs, "far 10 west=40", 101); /* east not reported: no common place */
    add(&p, rs, "pro 40 east=20", 102); /* 15 from the average of a and pro */
    add(&p, rs, "b 14 east=60", 103);
    add(&p, rs, "c 18 east=79", 104);
    struct outcome o = run(rs, &p, 104.5, 0); /* before the latency expansion */
    ck_assert_str_eq(o.text, "a,b,c far pro");
    fm_ruleset_free(rs);
}
END_TEST

START_TEST(test_expansion_relaxes_with_time)
{
    struct fm_ruleset *rs = load(SAMPLE);
    struct pool p = {0};
    add(&p, rs, "a 10 east=50", 100);
    add(&p, rs, "b 10 west=200", 100);
    struct outcome o = run(rs, &p, 104, 0);
    ck_assert_str_eq(o.text, "a"); /* b has no location under 80 ms yet */
    fm_ruleset_free(rs);

    /* Two players need each other: minimum 2. */
    rs = load("{\"ruleLanguageVersion\": \"1.0\", \"playerAttributes\": [{\"name\": \"skill\", "
              "\"type\": \"number\"}], \"teams\": [{\"name\": \"duo\", \"maxPlayers\": 2, "
              "\"minPlayers\": 2}], \"rules\": [{\"name\": \"Fast\", \"type\": \"latency\", "
              "\"maxLatency\": 80}], \"expansions\": [{\"target\": \"rules[Fast].maxLatency\", "
              "\"steps\": [{\"waitTimeSeconds\": 5, \"value\": 1000}]}]}");
    struct pool q = {0};
    add(&q, rs, "a 10 east=50 west=150", 100);
    add(&q, rs, "b 10 west=200", 100);
    o = run(rs, &q, 104, 0);
    ck_assert_str_eq(o.text, "");
    o = run(rs, &q, 105, 0);
    ck_assert_str_eq(o.text, "a,b");
    ck_assert_int_eq(o.regions[0], fm_region_index("west"));
    fm_ruleset_free(rs);
}
END_TEST

#define TWO_V_TWO                                                                                  \
    "{\"ruleLanguageVersion\": \"1.0\", \"playerAttributes\": [{\"name\": \"skill\", \"type\": "   \
    "\"number\", \"default\": 10}], \"teams\": [{\"name\": \"red\", \"maxPlayers\": 2, "           \
    "\"minPlayers\": 2}, {\"name\": \"blue\", \"maxPlayers\": 2, \"minPlayers\": 2}], "            \
    "\"rules\": [{\"name\": \"EqualTeamSizes\", \"type\": \"comparison\", \"measurements\": "      \
    "[\"count(teams[red].players)\"], \"referenceValue\": \"count(teams[blue].players)\", "        \
    "\"operation\": \"=\"}, {\"name\": \"FairTeamSkill\", \"type\": \"distance\", "                \
    "\"measurements\": [\"avg(teams[*].players.attributes[skill])\"], \"referenceValue\": "        \
    "\"avg(flatten(teams[*].players.attributes[skill]))\", \"maxDistance\": 5}]}"

START_TEST(test_parties_stay_together)
{
    struct fm_ruleset *rs = load(TWO_V_TWO);
    struct pool p = {0};
    add(&p, rs, "solo1 20", 100);
    add(&p, rs, "party 10,30", 101);   /* avg 20, both on one team */
    add(&p, rs, "trio 20,20,20", 102); /* never fits a team of 2 */
    add(&p, rs, "solo2 20", 103);
    struct outcome o = run(rs, &p, 110, 0);
    ck_assert_str_eq(o.text, "solo1,solo2|party");
    fm_ruleset_free(rs);
}
END_TEST

START_TEST(test_team_assignment_is_searched)
{
    /* In fill order a, c go to red and b to blue; d then fits only on blue,
     * where the team averages are 10 and 20 against 15: 5 off, over the 4
     * allowed. Dealt again, {a, d} and {b, c} are 15 and 15. */
    char *body = arena_strdup(&arena, TWO_V_TWO);
    *strstr(body, "\"maxDistance\": 5") = '\0';
    struct fm_ruleset *rs = load(arena_sprintf(&arena, "%s\"maxDistance\": 4}]}", body));
    struct pool p = {0};
    add(&p, rs, "a 0", 100);
    add(&p, rs, "b 10", 101);
    add(&p, rs, "c 20", 102);
    add(&p, rs, "d 30", 103);
    struct outcome o = run(rs, &p, 110, 0);
    ck_assert_uint_eq(o.n, 1);
    /* Any assignment whose team averages are 15 and 15: {0,30} vs {10,20}. */
    ck_assert_msg(strcmp(o.text, "a,d|b,c") == 0 || strcmp(o.text, "b,c|a,d") == 0, "%s", o.text);
    fm_ruleset_free(rs);
}
END_TEST

/* AWS's Example 1 ("two teams with evenly matched players"): two teams of
 * 4 to 8, each team's average skill within 10 of the match's, equal team
 * sizes, and the skill rule relaxed after 5 and 15 seconds. */
#define EXAMPLE_1                                                                                  \
    "{\"name\": \"aliens_vs_cowboys\", \"ruleLanguageVersion\": \"1.0\", \"playerAttributes\": "   \
    "[{\"name\": \"skill\", \"type\": \"number\", \"default\": 10}], \"teams\": [{\"name\": "      \
    "\"cowboys\", \"maxPlayers\": 8, \"minPlayers\": 4}, {\"name\": \"aliens\", \"maxPlayers\": "  \
    "8, \"minPlayers\": 4}], \"rules\": [{\"name\": \"FairTeamSkill\", \"type\": \"distance\", "   \
    "\"measurements\": [\"avg(teams[*].players.attributes[skill])\"], \"referenceValue\": "        \
    "\"avg(flatten(teams[*].players.attributes[skill]))\", \"maxDistance\": 10}, {\"name\": "      \
    "\"EqualTeamSizes\", \"type\": \"comparison\", \"measurements\": "                             \
    "[\"count(teams[cowboys].players)\"], \"referenceValue\": "                                    \
    "\"count(teams[aliens].players)\", \"operation\": \"=\"}], \"expansions\": [{\"target\": "     \
    "\"rules[FairTeamSkill].maxDistance\", \"steps\": [{\"waitTimeSeconds\": 5, \"value\": "       \
    "50}, {\"waitTimeSeconds\": 15, \"value\": 100}]}]}"

/* Eight solo players, four of skill 0 and four of skill 100, in the order
 * given, the oldest a second old: before any expansion the only match is
 * two of each on each team (averages 50 and 50). Dealt greedily, a team
 * that is short of its minimum holds everyone, or a 100 fits nowhere. */
static void even_split(const char *skills)
{
    struct fm_ruleset *rs = load(EXAMPLE_1);
    struct pool p = {0};
    for (int i = 0; i < 8; i++) {
        char spec[64];
        snprintf(spec, sizeof(spec), "%c%d %c00", skills[i] == '0' ? 'z' : 'h', i,
                 skills[i] == '0' ? '0' : '1');
        if (skills[i] == '0')
            spec[strlen(spec) - 2] = '\0'; /* "0", not "000" */
        add(&p, rs, spec, 107 + i / 10.0);
    }
    struct outcome o = run(rs, &p, 108, 0);
    ck_assert_msg(o.n == 1, "%s: matches \"%s\"", skills, o.text);
    /* Each team: two z (skill 0) and two h (skill 100). */
    const char *teams[2] = {o.text, strchr(o.text, '|') + 1};
    for (int t = 0; t < 2; t++) {
        int z = 0, h = 0;
        for (const char *c = teams[t]; *c != '\0' && *c != '|'; c++) {
            z += *c == 'z';
            h += *c == 'h';
        }
        ck_assert_msg(z == 2 && h == 2, "%s: teams \"%s\"", skills, o.text);
    }
    fm_ruleset_free(rs);
}

START_TEST(test_even_split_at_once)
{
    even_split("01010101");
    even_split("00001111");
}
END_TEST

START_TEST(test_additional_player_count)
{
    struct fm_ruleset *rs = load(SAMPLE);
    struct pool p = {0};
    for (int i = 0; i < 6; i++) {
        char spec[64];
        snprintf(spec, sizeof(spec), "t%d 10 east=10", i);
        add(&p, rs, spec, 100 + i);
    }
    struct outcome o = run(rs, &p, 106, 2); /* 5 slots, 2 kept open */
    ck_assert_str_eq(o.text, "t0,t1,t2 t3,t4,t5");
    fm_ruleset_free(rs);
}
END_TEST

START_TEST(test_backfill_tickets)
{
    struct fm_ruleset *rs = load(SAMPLE);
    struct pool p = {0};
    struct fm_ticket *b1 = add(&p, rs, "back1 10 east=10", 100);
    struct fm_ticket *b2 = add(&p, rs, "back2 10 east=10", 101);
    b1->backfill = b2->backfill = true;
    struct outcome o = run(rs, &p, 106, 0);
    ck_assert_str_eq(o.text, ""); /* alone, or together: never */
    add(&p, rs, "new 10 east=10", 102);
    o = run(rs, &p, 106, 0);
    ck_assert_str_eq(o.text, "back1,new");
    fm_ruleset_free(rs);
}
END_TEST

#define THREE_V_THREE                                                                              \
    "{\"ruleLanguageVersion\": \"1.0\", \"playerAttributes\": [{\"name\": \"skill\", \"type\": "   \
    "\"number\", \"default\": 10}], \"teams\": [{\"name\": \"red\", \"maxPlayers\": 3, "           \
    "\"minPlayers\": 3}, {\"name\": \"blue\", \"maxPlayers\": 3, \"minPlayers\": 3}], \"rules\": " \
    "[{\"name\": \"FairSkill\", \"type\": \"distance\", \"measurements\": "                        \
    "[\"avg(teams[*].players.attributes[skill])\"], \"referenceValue\": "                          \
    "\"avg(flatten(teams[*].players.attributes[skill]))\", \"maxDistance\": 10}]}"

/* A running 3v3 that lost a red and a blue player: the base tickets stay on
 * their teams, and two new players fill the two empty seats, one each. */
START_TEST(test_backfill_fills_the_empty_seats)
{
    struct fm_ruleset *rs = load(THREE_V_THREE);
    struct pool p = {0};
    struct fm_ticket *red = add(&p, rs, "red 10,12 east=10", 100);
    struct fm_ticket *blue = add(&p, rs, "blue 11,13 east=10", 100);
    red->backfill = blue->backfill = true;
    red->pinned_team = 0;
    blue->pinned_team = 1;
    add(&p, rs, "far 90", 101);     /* too far from the others' skill */
    add(&p, rs, "pair 10,10", 102); /* two players: no team has room for both */
    add(&p, rs, "other 11", 103);
    add(&p, rs, "young 12", 104);
    add(&p, rs, "spare 12", 105);
    struct outcome o = {.rs = rs};
    struct fm_build_opts opts = {.now = 110};
    ck_assert_uint_eq(fm_build_backfill(rs, p.t, p.n, 2, &opts, record, &o, NULL), 1);
    ck_assert_str_eq(o.text, "other,red|blue,young");

    /* Nobody new: no match, however full the teams already are. */
    struct pool alone = {.t = {red, blue}, .n = 2};
    o = (struct outcome){.rs = rs};
    ck_assert_uint_eq(fm_build_backfill(rs, alone.t, alone.n, 2, &opts, record, &o, NULL), 0);
    fm_ruleset_free(rs);
}
END_TEST

START_TEST(test_batch_distance_groups)
{
    struct fm_ruleset *rs =
        load("{\"ruleLanguageVersion\": \"1.0\", \"playerAttributes\": [{\"name\": \"skill\", "
             "\"type\": \"number\"}], \"teams\": [{\"name\": \"t\", \"maxPlayers\": 3, "
             "\"minPlayers\": 2}], \"rules\": [{\"name\": \"Near\", \"type\": \"batchDistance\", "
             "\"batchAttribute\": \"skill\", \"maxDistance\": 5}]}");
    struct pool p = {0};
    add(&p, rs, "a 10", 100);
    add(&p, rs, "x 50", 101);
    add(&p, rs, "b 12", 102);
    add(&p, rs, "y 52", 103);
    add(&p, rs, "c 15", 104);
    add(&p, rs, "d 16", 105);
    struct outcome o = run(rs, &p, 110, 0);
    ck_assert_str_eq(o.text, "a,b,c x,y");
    fm_ruleset_free(rs);
}
END_TEST

START_TEST(test_balanced_large_match)
{
    struct fm_ruleset *rs = load(
        "{\"ruleLanguageVersion\": \"1.0\", \"playerAttributes\": [{\"name\": \"skill\", "
        "\"type\": \"number\"}], \"algorithm\": {\"strategy\": \"balanced\", "
        "\"balancedAttribute\": \"skill\"}, \"teams\": [{\"name\": \"red\", \"maxPlayers\": "
        "25, \"minPlayers\": 20}, {\"name\": \"blue\", \"maxPlayers\": 25, \"minPlayers\": "
        "20}], \"rules\": [{\"name\": \"Fast\", \"type\": \"latency\", \"maxLatency\": 100}]}");
    ck_assert(rs->large);
    struct pool p = {0};
    for (int i = 1; i <= 56; i++) {
        char spec[64];
        snprintf(spec, sizeof(spec), "p%d %d %s", i, i, i % 8 == 0 ? "west=30" : "east=30");
        add(&p, rs, spec, 100 + i);
    }
    struct {
        double avg[2];
        int n[2];
    } teams = {{0, 0}, {0, 0}};
    struct outcome o = run(rs, &p, 200, 0);
    /* 49 players are in the east: one match of 49, 25 + 24 by the fill
     * order; the 7 in the west are too few for the minimums. */
    ck_assert_uint_eq(o.n, 1);
    char *s = o.text;
    for (int team = 0; team < 2; team++) {
        char *end = strchr(s, team == 0 ? '|' : '\0');
        for (char *q = s; q < end;) {
            int skill = atoi(q + 1);
            teams.avg[team] += skill;
            teams.n[team]++;
            q = strchr(q, ',');
            if (q == NULL || q > end)
                break;
            q++;
        }
        s = end + 1;
    }
    ck_assert_int_eq(teams.n[0] + teams.n[1], 49);
    ck_assert(abs(teams.n[0] - teams.n[1]) == 1);
    double diff = fabs(teams.avg[0] / teams.n[0] - teams.avg[1] / teams.n[1]);
    ck_assert_msg(diff < 1.0, "team averages differ by %g", diff);
    fm_ruleset_free(rs);
}
END_TEST

/* balanced, 100 v 100, one map per match (a string batchDistance rule):
 * an older ticket for another map at the head of the location group must
 * not keep the 200 players who want the same map from their match. */
START_TEST(test_balanced_misfit_does_not_block)
{
    struct fm_ruleset *rs = load(
        "{\"ruleLanguageVersion\": \"1.0\", \"playerAttributes\": [{\"name\": \"skill\", "
        "\"type\": \"number\"}, {\"name\": \"map\", \"type\": \"string\"}], \"algorithm\": "
        "{\"strategy\": \"balanced\", \"balancedAttribute\": \"skill\"}, \"teams\": [{\"name\": "
        "\"red\", \"maxPlayers\": 100, \"minPlayers\": 100}, {\"name\": \"blue\", "
        "\"maxPlayers\": 100, \"minPlayers\": 100}], \"rules\": [{\"name\": \"SameMap\", "
        "\"type\": \"batchDistance\", \"batchAttribute\": \"map\"}, {\"name\": \"Fast\", "
        "\"type\": \"latency\", \"maxLatency\": 100}]}");
    struct pool p = {0};
    add(&p, rs, "odd 10 east=30 map:desert", 100);
    for (int i = 0; i < 200; i++) {
        char spec[64];
        snprintf(spec, sizeof(spec), "p%d %d east=30 map:forest", i, i % 50);
        add(&p, rs, spec, 101 + i / 100.0);
    }
    struct outcome o = run(rs, &p, 110, 0);
    ck_assert_uint_eq(o.n, 1);
    ck_assert_ptr_null(strstr(o.text, "odd"));
    ck_assert_int_eq(o.regions[0], fm_region_index("east"));
    fm_ruleset_free(rs);

    /* Without a latency rule the whole pool is one group. */
    rs = load("{\"ruleLanguageVersion\": \"1.0\", \"playerAttributes\": [{\"name\": "
              "\"skill\", \"type\": \"number\"}, {\"name\": \"map\", \"type\": \"string\"}], "
              "\"algorithm\": {\"strategy\": \"balanced\", \"balancedAttribute\": \"skill\"}, "
              "\"teams\": [{\"name\": \"red\", \"maxPlayers\": 100, \"minPlayers\": 100}, "
              "{\"name\": \"blue\", \"maxPlayers\": 100, \"minPlayers\": 100}], \"rules\": "
              "[{\"name\": \"SameMap\", \"type\": \"batchDistance\", \"batchAttribute\": "
              "\"map\"}]}");
    struct pool q = {0};
    add(&q, rs, "odd 10 map:desert", 100);
    for (int i = 0; i < 200; i++) {
        char spec[64];
        snprintf(spec, sizeof(spec), "p%d %d map:forest", i, i % 50);
        add(&q, rs, spec, 101 + i / 100.0);
    }
    o = run(rs, &q, 110, 0);
    ck_assert_uint_eq(o.n, 1);
    ck_assert_ptr_null(strstr(o.text, "odd"));
    fm_ruleset_free(rs);

    /* A misfit on a number: skill within 100 of everyone's. */
    rs = load("{\"ruleLanguageVersion\": \"1.0\", \"playerAttributes\": [{\"name\": "
              "\"skill\", \"type\": \"number\"}], \"algorithm\": {\"strategy\": \"balanced\", "
              "\"balancedAttribute\": \"skill\"}, \"teams\": [{\"name\": \"red\", "
              "\"maxPlayers\": 100, \"minPlayers\": 100}, {\"name\": \"blue\", \"maxPlayers\": "
              "100, \"minPlayers\": 100}], \"rules\": [{\"name\": \"Close\", \"type\": "
              "\"batchDistance\", \"batchAttribute\": \"skill\", \"maxDistance\": 100}, "
              "{\"name\": \"Fast\", \"type\": \"latency\", \"maxLatency\": 100}]}");
    struct pool r = {0};
    add(&r, rs, "odd 1000 east=30", 100);
    for (int i = 0; i < 200; i++) {
        char spec[64];
        snprintf(spec, sizeof(spec), "p%d %d east=30", i, i % 50);
        add(&r, rs, spec, 101 + i / 100.0);
    }
    o = run(rs, &r, 110, 0);
    ck_assert_uint_eq(o.n, 1);
    ck_assert_ptr_null(strstr(o.text, "odd"));
    fm_ruleset_free(rs);

    /* The misfit's own tentative match takes players who fit others: 0
     * opens it, the 80s join (within 100 of 0), the 150s do not, and it
     * stays short. The 80s go on without 0: 20 of 80 + 30 of 150. */
    rs = load("{\"ruleLanguageVersion\": \"1.0\", \"playerAttributes\": [{\"name\": "
              "\"skill\", \"type\": \"number\"}], \"algorithm\": {\"strategy\": \"balanced\", "
              "\"balancedAttribute\": \"skill\"}, \"teams\": [{\"name\": \"red\", "
              "\"maxPlayers\": 25, \"minPlayers\": 25}, {\"name\": \"blue\", \"maxPlayers\": "
              "25, \"minPlayers\": 25}], \"rules\": [{\"name\": \"Close\", \"type\": "
              "\"batchDistance\", \"batchAttribute\": \"skill\", \"maxDistance\": 100}]}");
    struct pool s = {0};
    add(&s, rs, "odd 0", 100);
    for (int i = 0; i < 60; i++) {
        char spec[64];
        snprintf(spec, sizeof(spec), "p%d %d", i, i < 20 ? 80 : 150);
        add(&s, rs, spec, 101 + i / 100.0);
    }
    o = run(rs, &s, 110, 0);
    ck_assert_uint_eq(o.n, 1);
    ck_assert_ptr_null(strstr(o.text, "odd"));
    fm_ruleset_free(rs);
}
END_TEST

START_TEST(test_explain_names_the_failing_rule_and_the_gap)
{
    struct fm_ruleset *rs =
        load("{\"ruleLanguageVersion\": \"1.0\", \"playerAttributes\": [{\"name\": \"skill\", "
             "\"type\": \"number\"}], \"teams\": [{\"name\": \"red\", \"minPlayers\": 1, "
             "\"maxPlayers\": 1}, {\"name\": \"blue\", \"minPlayers\": 1, \"maxPlayers\": 1}], "
             "\"rules\": [{\"name\": \"Close\", \"type\": \"distance\", \"measurements\": "
             "[\"flatten(teams[*].players.attributes[skill])\"], \"maxDistance\": 10}], "
             "\"expansions\": [{\"target\": \"rules[Close].maxDistance\", \"steps\": "
             "[{\"waitTimeSeconds\": 30, \"value\": 50}]}]}");
    struct pool p = {0};
    const struct fm_ticket *me = add(&p, rs, "me 10", 1000);
    add(&p, rs, "near 15", 1000);
    add(&p, rs, "far 40", 1000);
    add(&p, rs, "farther 70", 1000);
    json_t *x = fm_explain(rs, me, p.t, p.n, 1005);
    ck_assert_int_eq(json_integer_value(json_object_get(x, "PoolSize")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(x, "CompatibleTickets")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(x, "MatchNeeds")), 2);
    json_t *close = json_array_get(json_object_get(x, "Rules"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(close, "Name")), "Close");
    ck_assert_int_eq(json_integer_value(json_object_get(close, "FailsWith")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(close, "PassesWith")), 1);
    json_t *limit = json_object_get(close, "Limit");
    ck_assert_str_eq(json_string_value(json_object_get(limit, "Property")), "maxDistance");
    ck_assert_double_eq(json_real_value(json_object_get(limit, "Now")), 10);
    ck_assert_double_eq(json_real_value(json_object_get(limit, "Eventually")), 50);
    /* The closest failing ticket (40) needs 30. */
    ck_assert_double_eq(json_real_value(json_object_get(limit, "ClosestNeeds")), 30);
    json_decref(x);

    /* 35 s later the expansion is in force: 40 passes, 70 still needs 60. */
    x = fm_explain(rs, me, p.t, p.n, 1035);
    close = json_array_get(json_object_get(x, "Rules"), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(close, "FailsWith")), 1);
    ck_assert_double_eq(
        json_real_value(json_object_get(json_object_get(close, "Limit"), "ClosestNeeds")), 60);
    json_decref(x);

    /* Alone in the pool. */
    x = fm_explain(rs, me, p.t, 1, 1005);
    ck_assert_int_eq(json_integer_value(json_object_get(x, "PoolSize")), 0);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(x, "Summary")), "No other"));
    json_decref(x);
    fm_ruleset_free(rs);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("builder");
    TCase *tc = tcase_create("exhaustive");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_fill_to_max_then_minimum);
    tcase_add_test(tc, test_skill_and_latency_choose_partners);
    tcase_add_test(tc, test_expansion_relaxes_with_time);
    tcase_add_test(tc, test_parties_stay_together);
    tcase_add_test(tc, test_team_assignment_is_searched);
    tcase_add_test(tc, test_even_split_at_once);
    tcase_add_test(tc, test_additional_player_count);
    tcase_add_test(tc, test_backfill_tickets);
    tcase_add_test(tc, test_backfill_fills_the_empty_seats);
    tcase_add_test(tc, test_batch_distance_groups);
    suite_add_tcase(s, tc);
    tc = tcase_create("balanced");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_balanced_large_match);
    tcase_add_test(tc, test_balanced_misfit_does_not_block);
    tcase_add_test(tc, test_explain_names_the_failing_rule_and_the_gap);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
