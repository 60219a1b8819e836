/* Ticket push through nginx's nchan publisher (push.h). */
#include "push.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cfg.h"
#include "db.h"
#include "log.h"
#include "ticket.h"
#include "util.h"

/* Publishes of one call in flight at once: nchan takes them side by side
 * (each is one channel), and a tick publishes thousands. */
#define PUSH_PARALLEL 8
#define PUSH_TIMEOUT_MS 1000L
/* The most one round spends starting publishes: the matchmaker's loop
 * waits for them. */
#define PUSH_BUDGET_MS 3000.0
/* Rounds of publishing what changed while publishing (push.h). */
#define PUSH_ROUNDS 4

enum { VIEWS, CHANGED };

static const struct db_stmt stmts[] = {
    /* The committed views to publish, each with its row version; in no
     * particular order (a tick's many). */
    [VIEWS] = {"push_views",
               "SELECT " TICKET_COLUMNS_SQL ", NULL, r.xmin::text FROM backend.ticket_results r "
               "WHERE r.ticket_id = ANY ($1::text[]) AND r.expires_at > now()",
               1, false},
    /* Of the tickets published ($1) at versions ($2), those written since. */
    [CHANGED] = {"push_changed",
                 "SELECT r.ticket_id FROM unnest($1::text[], $2::text[]) AS p(id, version) "
                 "JOIN backend.ticket_results r ON r.ticket_id = p.id "
                 "WHERE r.xmin::text <> p.version AND r.expires_at > now()",
                 2, false},
};

void push_init(void)
{
    db_register(stmts, sizeof(stmts) / sizeof(stmts[0]));
}

static CURLM *multi;
static CURL *easies[PUSH_PARALLEL];
static struct curl_slist *headers;

bool push_enabled(void)
{
    return cfg->push_socket != NULL && *cfg->push_socket != '\0';
}

static size_t discard(char *data, size_t size, size_t n, void *ctx)
{
    (void)data;
    (void)ctx;
    return size * n;
}

/* The handles, made on first use and kept (each keeps its connection). */
static bool ready(void)
{
    if (multi != NULL)
        return true;
    headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Accept: text/json");
    multi = curl_multi_init();
    for (int i = 0; multi != NULL && i < PUSH_PARALLEL; i++)
        if ((easies[i] = curl_easy_init()) == NULL)
            break;
    if (multi == NULL || easies[PUSH_PARALLEL - 1] == NULL || headers == NULL) {
        log_warn("push: could not start libcurl");
        for (int i = 0; i < PUSH_PARALLEL; i++) {
            curl_easy_cleanup(easies[i]);
            easies[i] = NULL;
        }
        curl_multi_cleanup(multi);
        multi = NULL;
        curl_slist_free_all(headers);
        headers = NULL;
        return false;
    }
    return true;
}

/* One publish of a view (NUL-terminated JSON) to its ticket's channel. */
struct publish {
    const char *ticket_id;
    const char *json;
};

static void start(CURL *c, struct publish *p, char url[256])
{
    snprintf(url, 256, "http://rally-push/push/ticket/%s", p->ticket_id);
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, cfg->push_socket);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, p->json);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, PUSH_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_PRIVATE, p);
}

/* Attaches the next publish to easy handle `slot`; false if it could not. */
static bool launch(struct publish *ps, int *next, int slot, char urls[][256])
{
    start(easies[slot], &ps[*next], urls[slot]);
    (*next)++;
    return curl_multi_add_handle(multi, easies[slot]) == CURLM_OK;
}

/* Sends the publishes, PUSH_PARALLEL at a time. After a failure, or once
 * PUSH_BUDGET_MS have gone by, none more is started: a publisher that
 * failed once would likely fail each of the rest, each after its timeout,
 * and the caller holds its rows in an open transaction meanwhile. */
static bool send_all(struct publish *ps, int n)
{
    char urls[PUSH_PARALLEL][256];
    int next = 0, running = 0, failed = 0;
    double deadline = util_mono_ms() + PUSH_BUDGET_MS;
    for (int i = 0; i < PUSH_PARALLEL && next < n; i++)
        if (launch(ps, &next, i, urls))
            running++;
        else
            failed++;
    while (running > 0) {
        int still;
        if (curl_multi_perform(multi, &still) != CURLM_OK)
            break;
        if (still > 0)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left)) != NULL) {
            if (m->msg != CURLMSG_DONE)
                continue;
            CURL *c = m->easy_handle;
            char *priv = NULL;
            long status = 0;
            curl_easy_getinfo(c, CURLINFO_PRIVATE, &priv);
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
            const struct publish *p = (const struct publish *)(void *)priv;
            if (m->data.result != CURLE_OK || status < 200 || status > 299) {
                log_warn("push: ticket %s not published: %s", p->ticket_id,
                         m->data.result != CURLE_OK ? curl_easy_strerror(m->data.result)
                                                    : "nchan refused it");
                failed++;
            }
            curl_multi_remove_handle(multi, c);
            running--;
            if (failed == 0 && next < n && util_mono_ms() < deadline) {
                int slot = 0;
                while (easies[slot] != c)
                    slot++;
                if (launch(ps, &next, slot, urls))
                    running++;
                else
                    failed++;
            }
        }
    }
    /* A multi error leaves transfers attached: detach them for next time. */
    for (int i = 0; i < PUSH_PARALLEL; i++)
        curl_multi_remove_handle(multi, easies[i]);
    if (next < n)
        log_warn("push: %d more ticket(s) not published (%s)", n - next,
                 failed > 0 ? "after a failure" : "out of time");
    return failed == 0 && next == n;
}

/* Publishes the committed views of ids (a text[] literal); true when all
 * went out, with *published and *versions (text[] literals) naming them. */
static bool publish_views(struct arena *a, const char *ids, const char **published,
                          const char **versions)
{
    const char *p[] = {ids};
    PGresult *r;
    if (db_exec(a, &stmts[VIEWS], p, &r) != DB_OK) {
        log_warn("push: views not read: %s", db_message());
        return false;
    }
    int n = PQntuples(r), k = 0, version_col = PQnfields(r) - 1;
    struct publish *ps = arena_alloc(a, (size_t)(n + 1) * sizeof(*ps));
    const char **names = arena_alloc(a, (size_t)(n + 1) * sizeof(*names));
    const char **vs = arena_alloc(a, (size_t)(n + 1) * sizeof(*vs));
    for (int row = 0; row < n; row++) {
        json_t *view = ticket_render(a, r, row, &dialect_native);
        char *text = json_dumps(view, JSON_COMPACT);
        json_decref(view);
        if (text == NULL)
            continue;
        names[k] = PQgetvalue(r, row, TICKET_COL_ID);
        vs[k] = PQgetvalue(r, row, version_col);
        ps[k] = (struct publish){names[k], arena_strdup(a, text)};
        k++;
        free(text);
    }
    *published = util_pg_text_array(a, names, (size_t)k);
    *versions = util_pg_text_array(a, vs, (size_t)k);
    return k == 0 || send_all(ps, k);
}

void push_tickets(struct arena *a, const char *const *ids, size_t n)
{
    if (!push_enabled() || n == 0 || !ready())
        return;
    const char *todo = util_pg_text_array(a, ids, n);
    for (int round = 0; round < PUSH_ROUNDS; round++) {
        const char *published, *versions;
        if (!publish_views(a, todo, &published, &versions))
            return;
        const char *p[] = {published, versions};
        PGresult *r;
        if (db_exec(a, &stmts[CHANGED], p, &r) != DB_OK) {
            log_warn("push: versions not read: %s", db_message());
            return;
        }
        size_t changed = (size_t)PQntuples(r);
        if (changed == 0)
            return;
        const char **again = arena_alloc(a, changed * sizeof(*again));
        for (size_t i = 0; i < changed; i++)
            again[i] = PQgetvalue(r, (int)i, 0);
        todo = util_pg_text_array(a, again, changed);
    }
    log_warn("push: tickets still changing after %d rounds: a channel may keep an older view "
             "until their next change (polling answers with the truth)",
             PUSH_ROUNDS);
}
