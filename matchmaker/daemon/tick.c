/* What the parts of a tick share: its events, applied in place (tick.h). */
#include "tick.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "db.h"
#include "log.h"
#include "push.h"
#include "util.h"

enum { APPLY };

/* Events a flush applies at once: a statement of at most ~0.3 s. */
#define FLUSH_AT 500

static const struct db_stmt stmts[] = {
    /* The events to the outbox ($1 NULL: no NotificationTarget) and applied
     * to the client's view, as event-ingest applies a delivery; the ids of
     * the tickets they changed. */
    [APPLY] = {"mm_apply", "SELECT backend.apply_own_events($1, $2::text[], $3::integer)", 3,
               false},
};

void tick_init(void)
{
    db_register(stmts, sizeof(stmts) / sizeof(stmts[0]));
    push_init();
}

/* Appends s to a growing array of the tick's arena. */
static void append(struct arena *a, const char ***list, size_t *n, size_t *cap, const char *s)
{
    if (*n == *cap) {
        size_t grown_cap = *cap * 2 + 64;
        const char **grown = arena_alloc(a, grown_cap * sizeof(*grown));
        if (*n > 0)
            memcpy(grown, *list, *n * sizeof(*grown));
        *list = grown;
        *cap = grown_cap;
    }
    (*list)[(*n)++] = s;
}

int tick_publish(struct tick *t, const struct fm_event *e)
{
    json_t *j = fm_event_json(e);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (text == NULL)
        return -1;
    if ((int)e->type < MM_EVENT_TYPES)
        t->tally.events[e->type]++;
    append(t->a, &t->queued, &t->nqueued, &t->queued_cap, arena_strdup(t->a, text));
    free(text);
    return t->nqueued >= FLUSH_AT ? tick_flush(t) : 0;
}

int tick_flush(struct tick *t)
{
    if (t->nqueued == 0)
        return 0;
    const char *target = t->conf.notification_target;
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%ld", cfg->ticket_ttl);
    const char *p[] = {target != NULL && *target != '\0' ? target : NULL,
                       util_pg_text_array(t->a, t->queued, t->nqueued), ttl};
    t->nqueued = 0;
    PGresult *r;
    if (db_exec(t->a, &stmts[APPLY], p, &r) != DB_OK)
        return -1;
    for (int i = 0; i < PQntuples(r); i++)
        append(t->a, &t->changed, &t->nchanged, &t->changed_cap, db_get(r, i, 0));
    return 0;
}

void tick_push(struct tick *t)
{
    push_tickets(t->a, t->changed, t->nchanged);
    t->nchanged = 0;
}

struct fm_event tick_event(struct tick *t, enum fm_event_type type)
{
    char id[37];
    util_uuid(id);
    /* Stamped when written, in milliseconds: after the statement that read
     * its tickets, so never before a ticket's StartTime (the ticket was
     * committed before that statement began), and ticket EndTimes taken from
     * it keep their milliseconds. */
    return (struct fm_event){.type = type,
                             .id = arena_strdup(t->a, id),
                             .time_ms = util_now_ms(),
                             .account = cfg->account_id,
                             .region = cfg->region,
                             .configuration_arn = t->arn,
                             .custom_event_data = t->conf.custom_event_data,
                             .estimated_wait_ms = t->wait_estimate_ms};
}

struct fm_event_ticket *tick_row_tickets(struct tick *t, PGresult *r, json_t *teams,
                                         json_t *answers)
{
    int n = PQntuples(r);
    struct fm_event_ticket *ts = arena_alloc(t->a, (size_t)(n + 1) * sizeof(*ts));
    for (int i = 0; i < n; i++) {
        json_t *players = json_loads(db_get(r, i, 1), 0, NULL);
        size_t np = json_array_size(players);
        struct fm_event_player *ps = arena_alloc(t->a, (np + 1) * sizeof(*ps));
        for (size_t k = 0; k < np; k++) {
            const char *id =
                json_string_value(json_object_get(json_array_get(players, k), "PlayerId"));
            id = arena_strdup(t->a, id ? id : "");
            const char *team = json_string_value(json_object_get(teams, id));
            json_t *a = json_object_get(answers, id);
            ps[k] = (struct fm_event_player){id, team ? arena_strdup(t->a, team) : NULL, NULL,
                                             json_is_boolean(a) ? json_is_true(a) : -1};
        }
        json_decref(players);
        ts[i] =
            (struct fm_event_ticket){db_get(r, i, 0), strtoll(db_get(r, i, 2), NULL, 10), ps, np};
    }
    return ts;
}

struct fm_event_ticket tick_back_in_pool(struct tick *t, const struct fm_event_ticket *src)
{
    struct fm_event_player *ps = arena_alloc(t->a, (src->nplayers + 1) * sizeof(*ps));
    for (size_t k = 0; k < src->nplayers; k++)
        ps[k] = (struct fm_event_player){src->players[k].player_id, NULL, NULL, -1};
    return (struct fm_event_ticket){src->ticket_id, src->start_ms, ps, src->nplayers};
}

int tick_publish_each(struct tick *t, PGresult *r, enum fm_event_type type)
{
    struct fm_event_ticket *ts = tick_row_tickets(t, r, NULL, NULL);
    for (int i = 0; i < PQntuples(r); i++) {
        struct fm_event e = tick_event(t, type);
        e.tickets = &ts[i];
        e.ntickets = 1;
        if (type == FM_EV_TIMED_OUT) {
            e.reason = "TimedOut";
            e.message = "Removed from matchmaking due to timing out.";
        } else if (type == FM_EV_CANCELLED) {
            e.reason = "Cancelled";
            e.message = "Cancelled by request.";
        }
        if (tick_publish(t, &e) < 0)
            return -1;
    }
    return 0;
}
