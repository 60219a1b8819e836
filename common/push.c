/* Ticket push through nginx's nchan publisher (push.h). */
#include "push.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "log.h"
#include "ticket.h"

static CURL *curl;

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

int push_ticket(const char *ticket_id, const char *json, size_t len)
{
    if (!push_enabled())
        return 0;
    if (curl == NULL && (curl = curl_easy_init()) == NULL) {
        log_warn("push: could not start libcurl");
        return -1;
    }
    char url[256];
    snprintf(url, sizeof(url), "http://rally-push/push/ticket/%s", ticket_id);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: text/json");
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, cfg->push_socket);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 1000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    if (rc != CURLE_OK || status < 200 || status > 299) {
        log_warn("push: ticket %s not published: %s", ticket_id,
                 rc != CURLE_OK ? curl_easy_strerror(rc) : "nchan refused it");
        return -1;
    }
    return 0;
}

void push_ticket_rows(struct arena *a, const struct pg_result *r)
{
    int n = PQntuples(r);
    for (int row = 0; row < n; row++) {
        json_t *view = ticket_render(a, r, row, &dialect_native);
        char *text = json_dumps(view, JSON_COMPACT);
        json_decref(view);
        int rc =
            text != NULL ? push_ticket(PQgetvalue(r, row, TICKET_COL_ID), text, strlen(text)) : 0;
        free(text);
        /* A publisher that failed once would likely fail each of the rest,
         * each after its timeout, while the caller holds its rows. */
        if (rc < 0 && row + 1 < n) {
            log_warn("push: %d more ticket(s) not published", n - row - 1);
            break;
        }
    }
}
