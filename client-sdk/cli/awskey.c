/* An AWS access key and requests signed with it (awskey.h). */
#include "awskey.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Strips trailing whitespace; returns s. */
static char *trim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* The key of `profile` in an AWS CLI credentials file; false without one. */
static bool key_from_file(const char *path, const char *profile, struct aws_key *k)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    char line[1024], section[256] = "";
    while (fgets(line, sizeof(line), f) != NULL) {
        char *l = trim(line);
        while (*l == ' ' || *l == '\t')
            l++;
        if (*l == '[') {
            snprintf(section, sizeof(section), "%s", l + 1);
            char *end = strchr(section, ']');
            if (end != NULL)
                *end = '\0';
            continue;
        }
        char *eq = strchr(l, '=');
        if (eq == NULL || strcmp(section, profile) != 0)
            continue;
        *eq = '\0';
        char *value = eq + 1;
        while (*value == ' ')
            value++;
        if (strcmp(trim(l), "aws_access_key_id") == 0)
            snprintf(k->id, sizeof(k->id), "%s", value);
        else if (strcmp(trim(l), "aws_secret_access_key") == 0)
            snprintf(k->secret, sizeof(k->secret), "%s", value);
    }
    fclose(f);
    return k->id[0] != '\0' && k->secret[0] != '\0';
}

bool aws_find_key(struct aws_key *k)
{
    memset(k, 0, sizeof(*k));
    const char *region = getenv("AWS_REGION");
    if (region == NULL || *region == '\0')
        region = getenv("AWS_DEFAULT_REGION");
    snprintf(k->region, sizeof(k->region), "%s", region != NULL ? region : "us-east-1");
    const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    if (id != NULL && secret != NULL) {
        snprintf(k->id, sizeof(k->id), "%s", id);
        snprintf(k->secret, sizeof(k->secret), "%s", secret);
        return true;
    }
    const char *profile = getenv("AWS_PROFILE");
    if (profile == NULL || *profile == '\0')
        profile = "default";
    const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE"), *home = getenv("HOME");
    char path[4096];
    if (file != NULL)
        snprintf(path, sizeof(path), "%s", file);
    else if (home != NULL)
        snprintf(path, sizeof(path), "%s/.aws/credentials", home);
    else
        return false;
    return key_from_file(path, profile, k);
}

static size_t collect(char *data, size_t size, size_t n, void *ctx)
{
    struct {
        char *buf;
        size_t len;
    } *out = ctx;
    char *grown = realloc(out->buf, out->len + size * n + 1);
    if (grown == NULL)
        return 0;
    out->buf = grown;
    memcpy(out->buf + out->len, data, size * n);
    out->len += size * n;
    out->buf[out->len] = '\0';
    return size * n;
}

CURLcode aws_exchange(const char *url, const struct aws_key *k, const char *method,
                      const char *path, const char *target, const char *body, long *status,
                      json_t **out)
{
    struct {
        char *buf;
        size_t len;
    } answer = {NULL, 0};
    char header[128], sigv4[128], endpoint[2048];
    snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:gamelift", k->region);
    snprintf(endpoint, sizeof(endpoint), "%s%s", url, path);
    struct curl_slist *headers = NULL;
    if (target != NULL) {
        snprintf(header, sizeof(header), "X-Amz-Target: GameLift.%s", target);
        headers = curl_slist_append(headers, header);
        headers = curl_slist_append(headers, "Content-Type: application/x-amz-json-1.1");
    } else {
        headers = curl_slist_append(headers, "Content-Type: application/json");
    }
    CURL *h = curl_easy_init();
    CURLcode rc = CURLE_FAILED_INIT;
    *status = 0;
    if (h != NULL) {
        curl_easy_setopt(h, CURLOPT_URL, endpoint);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body != NULL ? body : "");
        curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4);
        curl_easy_setopt(h, CURLOPT_USERNAME, k->id);
        curl_easy_setopt(h, CURLOPT_PASSWORD, k->secret);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);
        rc = curl_easy_perform(h);
        if (rc == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    *out = answer.buf != NULL ? json_loads(answer.buf, 0, NULL) : NULL;
    free(answer.buf);
    return rc;
}
