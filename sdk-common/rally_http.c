/* rally_http: one HTTP exchange with rally over libcurl (rally_http.h). */
#include "rally_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rally_http_init(struct rally_http *h)
{
    *h = (struct rally_http){.curl = curl_easy_init()};
    return h->curl != NULL ? 0 : -1;
}

void rally_http_cleanup(struct rally_http *h)
{
    if (h->curl != NULL)
        curl_easy_cleanup(h->curl);
    free(h->buf);
    *h = (struct rally_http){0};
}

void rally_http_consume(struct rally_http *h, size_t n)
{
    memmove(h->buf, h->buf + n, h->len - n + 1);
    h->len -= n;
}

/* Holds what on_body needs during one exchange. */
struct transfer {
    struct rally_http *h;
    const struct rally_http_request *r;
};

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    struct transfer *t = ctx;
    struct rally_http *h = t->h;
    size_t more = size * n;
    char *grown = realloc(h->buf, h->len + more + 1);
    if (grown == NULL)
        return 0;
    memcpy(grown + h->len, data, more);
    h->buf = grown;
    h->len += more;
    h->buf[h->len] = '\0';
    if (t->r->on_data != NULL && !t->r->on_data(h, t->r->ctx))
        return 0; /* ends the transfer */
    return more;
}

/* libcurl's progress callback: a cancelled exchange ends. */
static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    const struct transfer *t = ctx;
    return atomic_load(t->r->cancel) ? 1 : 0;
}

/* Appends the header line head followed by value; NULL (the list freed)
 * when it does not fit or memory ran out. */
static struct curl_slist *add_header(struct curl_slist *list, const char *head, const char *value)
{
    char line[4096];
    int n = snprintf(line, sizeof(line), "%s%s", head, value);
    struct curl_slist *more =
        n > 0 && (size_t)n < sizeof(line) ? curl_slist_append(list, line) : NULL;
    if (more == NULL)
        curl_slist_free_all(list);
    return more;
}

CURLcode rally_http_exchange(struct rally_http *h, const struct rally_http_request *r, long *status)
{
    char url[8192];
    struct transfer t = {.h = h, .r = r};

    *status = 0;
    h->len = 0;
    if (h->buf != NULL)
        h->buf[0] = '\0';
    int n = snprintf(url, sizeof(url), "%s%s", r->base, r->path);
    if (n < 0 || (size_t)n >= sizeof(url))
        return CURLE_URL_MALFORMAT;
    h->content_type[0] = '\0';
    struct curl_slist *headers = add_header(
        NULL, "Content-Type: ", r->content_type != NULL ? r->content_type : "application/json");
    if (headers != NULL && r->token != NULL)
        headers = add_header(headers, "Authorization: Bearer ", r->token);
    if (headers != NULL && r->accept != NULL)
        headers = add_header(headers, "Accept: ", r->accept);
    if (headers != NULL && r->header != NULL)
        headers = add_header(headers, "", r->header);
    if (headers == NULL)
        return CURLE_OUT_OF_MEMORY;

    curl_easy_reset(h->curl);
    curl_easy_setopt(h->curl, CURLOPT_URL, url);
    curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, r->method);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, headers);
    if (r->body != NULL) {
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(r->body_len > 0 ? r->body_len : strlen(r->body)));
    }
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, r->connect_timeout_ms);
    curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    if (r->cancel != NULL) {
        curl_easy_setopt(h->curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h->curl, CURLOPT_XFERINFODATA, &t);
    }
    CURLcode rc = curl_easy_perform(h->curl);
    const char *type = NULL;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, status);
        curl_easy_getinfo(h->curl, CURLINFO_CONTENT_TYPE, &type);
    }
    if (type != NULL)
        snprintf(h->content_type, sizeof(h->content_type), "%s", type);
    curl_slist_free_all(headers);
    return rc;
}

CURLcode rally_http_json(struct rally_http *h, const struct rally_http_request *r, json_t *body,
                         json_t **answer, long *status)
{
    struct rally_http_request with = *r;
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    *status = 0;
    if (body != NULL && text == NULL)
        return CURLE_OUT_OF_MEMORY;
    if (text != NULL) {
        with.body = text;
        with.body_len = 0;
    }
    CURLcode rc = rally_http_exchange(h, &with, status);
    free(text);
    if (rc == CURLE_OK) {
        json_decref(*answer);
        *answer = h->len > 0 ? json_loadb(h->buf, h->len, 0, NULL) : NULL;
    }
    return rc;
}
