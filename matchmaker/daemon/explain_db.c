/* Explain from the database (explain_db.h). */
#include "explain_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "explain.h"
#include "players.h"
#include "ruleset.h"

/* A ticket from a row (id, players JSON, created ms) at columns c0.. of r;
 * false when it cannot be matched under rs. */
static bool row_ticket(struct arena *a, const struct fm_ruleset *rs, const PGresult *r, int row,
                       int id_col, int players_col, int created_col, struct fm_ticket *t)
{
    json_t *players = json_loads(PQgetvalue(r, row, players_col), 0, NULL);
    const char *why = NULL;
    t->id = id_col >= 0 ? PQgetvalue(r, row, id_col) : NULL;
    t->created = strtod(PQgetvalue(r, row, created_col), NULL) / 1000.0;
    bool ok = players != NULL && fm_ticket_from_json(a, rs, players, t, &why) == 0;
    json_decref(players);
    return ok;
}

json_t *fm_explain_ticket(const char *ticket_id, const PGresult *ticket, const PGresult *ruleset,
                          const PGresult *pool, double now, const char **why)
{
    if (PQntuples(ticket) != 1) {
        *why = "no such ticket in the pool";
        return NULL;
    }
    const char *configuration = PQgetvalue(ticket, 0, 0), *status = PQgetvalue(ticket, 0, 1);
    json_t *head = json_pack("{s:s, s:s, s:s}", "TicketId", ticket_id, "ConfigurationName",
                             configuration, "Status", status);
    if (strcmp(status, "SEARCHING") != 0 && strcmp(status, "QUEUED") != 0) {
        char text[160];
        snprintf(text, sizeof(text), "The ticket is %s: only a searching ticket is explained.",
                 status);
        json_object_set_new(head, "Summary", json_string(text));
        return head;
    }
    json_t *body = PQntuples(ruleset) == 1 ? json_loads(PQgetvalue(ruleset, 0, 0), 0, NULL) : NULL;
    struct fm_error err = {{0}, {0}};
    struct fm_ruleset *rs = body != NULL ? fm_ruleset_parse(body, &err) : NULL;
    json_decref(body);
    if (rs == NULL) {
        json_decref(head);
        *why = "the configuration's rule set cannot be read";
        return NULL;
    }
    struct arena a = {0};
    struct fm_ticket me;
    const struct fm_ticket **others =
        arena_alloc(&a, (size_t)(PQntuples(pool) + 1) * sizeof(const struct fm_ticket *));
    size_t n = 0;
    json_t *out = NULL;
    if (!row_ticket(&a, rs, ticket, 0, -1, 2, 3, &me)) {
        *why = "the ticket's players do not fit its rule set";
    } else {
        me.id = ticket_id;
        for (int i = 0; i < PQntuples(pool); i++) {
            struct fm_ticket *t = arena_alloc(&a, sizeof(*t));
            if (row_ticket(&a, rs, pool, i, 0, 1, 2, t) && strcmp(t->id, ticket_id) != 0)
                others[n++] = t;
        }
        json_t *report = fm_explain(rs, &me, others, n, now);
        json_object_update(head, report); /* TicketId and the rest first */
        json_decref(report);
        out = json_incref(head);
    }
    json_decref(head);
    arena_destroy(&a);
    fm_ruleset_free(rs);
    return out;
}
