/* GameLift Player JSON to fm_ticket. */
#include "players.h"

#include <stdlib.h>
#include <string.h>

static char *region_names[FM_MAX_REGIONS];
static int nregions;

int fm_region_index(const char *name)
{
    int known = fm_region_find(name);
    if (known >= 0)
        return known;
    if (nregions == FM_MAX_REGIONS)
        return -1;
    region_names[nregions] = strdup(name);
    if (region_names[nregions] == NULL)
        abort();
    return nregions++;
}

int fm_region_find(const char *name)
{
    for (int i = 0; i < nregions; i++)
        if (strcmp(region_names[i], name) == 0)
            return i;
    return -1;
}

int fm_region_count(void)
{
    return nregions;
}

const char *fm_region_name(int index)
{
    return index >= 0 && index < nregions ? region_names[index] : NULL;
}

/* Reads one typed AttributeValue ({"N": 1}, {"S": ""}, {"SL": []},
 * {"SDM": {}}) as the declared type; false if it is not that type. */
static bool read_value(struct arena *a, enum fm_attr_type type, json_t *typed,
                       struct fm_attrval *out)
{
    json_t *v;
    size_t i;
    json_t *item;
    const char *k;
    switch (type) {
    case FM_NUMBER:
        v = json_object_get(typed, "N");
        if (!json_is_number(v))
            return false;
        out->kind = FM_A_NUMBER;
        out->num = json_number_value(v);
        return true;
    case FM_STRING:
        v = json_object_get(typed, "S");
        if (!json_is_string(v))
            return false;
        out->kind = FM_A_STRING;
        out->str = arena_strdup(a, json_string_value(v));
        return true;
    case FM_STRING_LIST:
        v = json_object_get(typed, "SL");
        if (!json_is_array(v))
            return false;
        out->kind = FM_A_LIST;
        out->strs = arena_alloc(a, (json_array_size(v) + 1) * sizeof(char *));
        json_array_foreach(v, i, item)
        {
            if (!json_is_string(item))
                return false;
            /* AWS: repeated values after the first are ignored. */
            bool dup = false;
            for (size_t j = 0; j < out->n && !dup; j++)
                dup = strcmp(out->strs[j], json_string_value(item)) == 0;
            if (!dup)
                out->strs[out->n++] = arena_strdup(a, json_string_value(item));
        }
        return true;
    case FM_STRING_NUMBER_MAP:
        v = json_object_get(typed, "SDM");
        if (!json_is_object(v))
            return false;
        out->kind = FM_A_MAP;
        out->strs = arena_alloc(a, (json_object_size(v) + 1) * sizeof(char *));
        out->nums = arena_alloc(a, (json_object_size(v) + 1) * sizeof(double));
        json_object_foreach(v, k, item)
        {
            if (!json_is_number(item))
                return false;
            out->strs[out->n] = arena_strdup(a, k);
            out->nums[out->n++] = json_number_value(item);
        }
        return true;
    }
    return false;
}

int fm_ticket_from_json(struct arena *a, const struct fm_ruleset *rs, json_t *players,
                        struct fm_ticket *t, const char **why)
{
    size_t n = json_array_size(players);
    /* A new ticket holds a party of up to 10 (the request path's limit); a
     * backfill ticket's team, up to a whole match. */
    if (n == 0 || n > FM_MAX_PLAYERS) {
        *why = "a ticket holds 1 to 200 players";
        return -1;
    }
    t->players = arena_alloc(a, n * sizeof(*t->players));
    t->nplayers = (int)n;
    t->pinned_team = -1;
    size_t i;
    json_t *pj;
    json_array_foreach(players, i, pj)
    {
        struct fm_player *p = &t->players[i];
        const char *id = json_string_value(json_object_get(pj, "PlayerId"));
        if (id == NULL) {
            *why = "a player has no PlayerId";
            return -1;
        }
        p->id = arena_strdup(a, id);
        p->attrs = arena_alloc(a, (rs->nattrs + 1) * sizeof(*p->attrs));
        json_t *attrs = json_object_get(pj, "PlayerAttributes");
        for (size_t k = 0; k < rs->nattrs; k++) {
            json_t *typed = json_object_get(attrs, rs->attrs[k].name);
            if (typed == NULL)
                typed = rs->attrs[k].def;
            if (typed == NULL) {
                *why = "a declared player attribute is missing and has no default";
                return -1;
            }
            if (!read_value(a, rs->attrs[k].type, typed, &p->attrs[k])) {
                *why = "a player attribute does not have its declared type";
                return -1;
            }
        }
        for (int r = 0; r < FM_MAX_REGIONS; r++)
            p->latency[r] = -1;
        const char *loc;
        json_t *ms;
        json_object_foreach(json_object_get(pj, "LatencyInMs"), loc, ms)
        {
            int r = fm_region_index(loc);
            if (r >= 0 && json_is_integer(ms) && json_integer_value(ms) >= 0)
                p->latency[r] = (int)json_integer_value(ms);
        }
    }
    return 0;
}
