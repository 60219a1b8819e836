/* Ticket push through nginx's nchan publisher (push.h). */
#include "push.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cfg.h"
#include "log.h"
#include "ticket.h"
#include "util.h"

/* Publishes of one call in flight at once: nchan takes them side by side
 * (each is one channel), and a tick publishes thousands. */
#define PUSH_PARALLEL 8
#define PUSH_TIMEOUT_MS 1000L
/* The most one call spends starting publishes: well inside the database's
 * idle_in_transaction_session_timeout (10 s) of a caller holding rows. */
#define PUSH_BUDGET_MS 3000.0

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
static void send_all(struct publish *ps, int n)
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
}

void push_ticket_rows(struct arena *a, const struct pg_result *r)
{
    int n = PQntuples(r);
    if (!push_enabled() || n == 0 || !ready())
        return;
    struct publish *ps = arena_alloc(a, (size_t)n * sizeof(*ps));
    int k = 0;
    for (int row = 0; row < n; row++) {
        json_t *view = ticket_render(a, r, row, &dialect_native);
        char *text = json_dumps(view, JSON_COMPACT);
        json_decref(view);
        if (text == NULL)
            continue;
        ps[k++] = (struct publish){PQgetvalue(r, row, TICKET_COL_ID), arena_strdup(a, text)};
        free(text);
    }
    send_all(ps, k);
}
