/* What the parts of a tick share: its events (tick.h). */
#include "tick.h"

#include <stdio.h>
#include <stdlib.h>

#include "cfg.h"
#include "db.h"
#include "util.h"

enum { PUBLISH };

static const struct db_stmt stmts[] = {
    [PUBLISH] = {"mm_publish", "SELECT events.publish($1, $2)", 2, false},
};

void tick_init(void)
{
    db_register(stmts, sizeof(stmts) / sizeof(stmts[0]));
}

int tick_publish(struct tick *t, const struct fm_event *e)
{
    if (t->conf.notification_target == NULL || *t->conf.notification_target == '\0')
        return 0;
    json_t *j = fm_event_json(e);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    const char *p[] = {t->conf.notification_target, text};
    PGresult *r;
    int rc = db_exec(t->a, &stmts[PUBLISH], p, &r);
    free(text);
    return rc == DB_OK ? 0 : -1;
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
