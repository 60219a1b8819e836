/* AWS access keys and the SigV4 check of the GameLift service API (awsauth.h). */
#include "awsauth.h"

#include <ctype.h>
#include <dirent.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "arena.h"
#include "cfg.h"
#include "http.h"
#include "log.h"
#include "sigv4.h"
#include "util.h"

#define SERVICE "gamelift"
#define MAX_SKEW_SECONDS 300
#define MAX_KEYS 1024

struct key {
    char *id, *secret, *principal, *fleet_id;
    enum awsauth_scope scope;
    /* The signing key of the last day, region and service it signed for. */
    char cached_scope[160];
    unsigned char cached_key[32];
};

static struct key *keys;
static size_t nkeys;
static struct timespec dir_mtime, dir_ctime;
static int64_t last_look;
static bool loaded;

static void free_keys(void)
{
    for (size_t i = 0; i < nkeys; i++) {
        OPENSSL_cleanse(keys[i].secret, strlen(keys[i].secret));
        OPENSSL_cleanse(keys[i].cached_key, sizeof(keys[i].cached_key));
        free(keys[i].id);
        free(keys[i].secret);
        free(keys[i].principal);
        free(keys[i].fleet_id);
    }
    free(keys);
    keys = NULL;
    nkeys = 0;
}

/* One key file; false (logged) when it is not a usable key. */
static bool read_key(const char *path, const char *file_id, struct key *out)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return false;
    if ((st.st_mode & 0007) != 0) {
        log_warn("aws key %s: refused, other users may read it (chmod 600)", path);
        return false;
    }
    json_error_t err;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    const char *id = NULL, *secret = NULL, *principal = NULL, *scope = NULL, *fleet = NULL;
    if (j == NULL || json_unpack_ex(j, &err, JSON_STRICT, "{s:s, s:s, s:s, s:s, s?s}",
                                    "AccessKeyId", &id, "SecretAccessKey", &secret, "Principal",
                                    &principal, "Scope", &scope, "FleetId", &fleet) != 0) {
        log_warn("aws key %s: refused: %s", path, err.text);
        json_decref(j);
        return false;
    }
    bool backend = strcmp(scope, "backend") == 0, fleet_scope = strcmp(scope, "fleet") == 0;
    const char *why = strcmp(id, file_id) != 0 ? "AccessKeyId is not the file name"
                      : !util_is_token(id, 128, "") || strlen(id) < 16
                          ? "AccessKeyId must be 16-128 letters and digits"
                      : strlen(secret) < 16 || strlen(secret) > 128
                          ? "SecretAccessKey must be 16-128 characters"
                      : !backend && !fleet_scope     ? "Scope is backend or fleet"
                      : fleet_scope && fleet == NULL ? "a fleet key needs its FleetId"
                      : backend && fleet != NULL     ? "a backend key has no FleetId"
                                                     : NULL;
    if (why != NULL) {
        log_warn("aws key %s: refused: %s", path, why);
        json_decref(j);
        return false;
    }
    *out = (struct key){.id = strdup(id),
                        .secret = strdup(secret),
                        .principal = strdup(principal),
                        .fleet_id = fleet != NULL ? strdup(fleet) : NULL,
                        .scope = backend ? AWSAUTH_BACKEND : AWSAUTH_FLEET};
    json_decref(j);
    return true;
}

int awsauth_load(void)
{
    loaded = true;
    const char *dir = cfg->aws_key_dir;
    if (dir == NULL) {
        free_keys();
        return 0;
    }
    struct stat st;
    DIR *d = opendir(dir);
    if (d == NULL || stat(dir, &st) != 0) {
        log_warn("aws keys: cannot read %s", dir);
        if (d != NULL)
            closedir(d);
        return -1;
    }
    free_keys();
    dir_mtime = st.st_mtim;
    dir_ctime = st.st_ctim;
    keys = calloc(MAX_KEYS, sizeof(*keys));
    struct dirent *e;
    while (keys != NULL && nkeys < MAX_KEYS && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n <= 5 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        char id[256], path[4096];
        snprintf(id, sizeof(id), "%.*s", (int)(n - 5), e->d_name);
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (read_key(path, id, &keys[nkeys]))
            nkeys++;
    }
    closedir(d);
    return 0;
}

/* Reads the directory again if it changed: looked at once a second, and
 * whenever a key is not known (it may be new). */
static void refresh(int64_t now, bool force)
{
    if (loaded && now == last_look && !force)
        return;
    last_look = now;
    struct stat st;
    if (!loaded || cfg->aws_key_dir == NULL || stat(cfg->aws_key_dir, &st) != 0 ||
        st.st_mtim.tv_sec != dir_mtime.tv_sec || st.st_mtim.tv_nsec != dir_mtime.tv_nsec ||
        st.st_ctim.tv_sec != dir_ctime.tv_sec || st.st_ctim.tv_nsec != dir_ctime.tv_nsec)
        awsauth_load();
}

static struct key *find_key(const char *id)
{
    for (size_t i = 0; i < nkeys; i++)
        if (strcmp(keys[i].id, id) == 0)
            return &keys[i];
    return NULL;
}

/* A header as nginx passed it to FastCGI: HTTP_<NAME> with '-' as '_',
 * and the two CGI ones without the prefix. nginx drops headers whose names
 * hold '_' (underscores_in_headers off), so the mapping is one to one. */
static const char *header(void *ctx, const char *name)
{
    struct http_req *req = ctx;
    if (strcmp(name, "content-type") == 0)
        return http_param(req, "CONTENT_TYPE");
    if (strcmp(name, "content-length") == 0)
        return http_param(req, "CONTENT_LENGTH");
    char param[160] = "HTTP_";
    size_t n = strlen(name);
    if (n + 6 > sizeof(param))
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (c == '-')
            param[5 + i] = '_';
        else
            param[5 + i] = (char)toupper((unsigned char)c);
    }
    param[5 + n] = '\0';
    return http_param(req, param);
}

static bool signs(const char *signed_headers, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = signed_headers; p != NULL; p = strchr(p, ';'), p = p ? p + 1 : NULL)
        if (strncmp(p, name, n) == 0 && (p[n] == ';' || p[n] == '\0'))
            return true;
    return false;
}

static bool region_allowed(const char *region)
{
    for (size_t i = 0; i < cfg->aws_regions.n; i++)
        if (strcmp(cfg->aws_regions.items[i], region) == 0)
            return true;
    return false;
}

static int fail(struct awsauth_error *err, const char *type, const char *message)
{
    err->type = type;
    err->message = message;
    return -1;
}

static char *amz_time(struct arena *a, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    return arena_sprintf(a, "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The date checks: X-Amz-Date well formed and signed, its day the
 * credential's, within MAX_SKEW_SECONDS of now. */
static int check_date(struct http_req *req, const struct sigv4_auth *auth, int64_t now,
                      const char *amz_date, struct awsauth_error *err)
{
    struct arena *a = req->arena;
    if (amz_date == NULL)
        return fail(err, "IncompleteSignatureException",
                    "Authorization header requires existence of a 'X-Amz-Date' header.");
    if (!signs(auth->signed_headers, "x-amz-date") || !signs(auth->signed_headers, "host"))
        return fail(err, "IncompleteSignatureException",
                    "'Host' and 'X-Amz-Date' must be SignedHeaders in the AWS Authorization.");
    int64_t at = sigv4_parse_amz_date(amz_date);
    if (at < 0)
        return fail(err, "IncompleteSignatureException",
                    "X-Amz-Date must be in the ISO-8601 basic format YYYYMMDD'T'HHMMSS'Z'.");
    if (strncmp(amz_date, auth->date, 8) != 0)
        return fail(err, "InvalidSignatureException",
                    arena_sprintf(a,
                                  "Date in Credential scope does not match YYYYMMDD from "
                                  "ISO-8601 version of date from HTTP: '%s' != '%.8s', from '%s'.",
                                  auth->date, amz_date, amz_date));
    if (at < now - MAX_SKEW_SECONDS)
        return fail(err, "InvalidSignatureException",
                    arena_sprintf(a, "Signature expired: %s is now earlier than %s (%s - 5 min.)",
                                  amz_date, amz_time(a, now - MAX_SKEW_SECONDS), amz_time(a, now)));
    if (at > now + MAX_SKEW_SECONDS)
        return fail(err, "InvalidSignatureException",
                    arena_sprintf(a,
                                  "Signature not yet current: %s is still later than %s (%s + "
                                  "5 min.)",
                                  amz_date, amz_time(a, now + MAX_SKEW_SECONDS), amz_time(a, now)));
    return 0;
}

/* The request path as sent, without its query. */
static const char *raw_path(struct http_req *req)
{
    const char *uri = http_param(req, "REQUEST_URI");
    if (uri == NULL)
        return "/";
    const char *q = strchr(uri, '?');
    return q != NULL ? arena_strndup(req->arena, uri, (size_t)(q - uri)) : uri;
}

int awsauth_check(struct http_req *req, int64_t now, struct awsauth_caller *who,
                  struct awsauth_error *err)
{
    const char *authorization = http_param(req, "HTTP_AUTHORIZATION");
    if (authorization == NULL || *authorization == '\0')
        return fail(err, "MissingAuthenticationTokenException", "Missing Authentication Token");
    struct sigv4_auth auth;
    const char *why = NULL;
    if (sigv4_parse(authorization, &auth, &why) != 0)
        return fail(err, "IncompleteSignatureException", why);
    if (strcmp(auth.service, SERVICE) != 0)
        return fail(err, "InvalidSignatureException",
                    "Credential should be scoped to correct service: '" SERVICE "'.");
    if (!region_allowed(auth.region))
        return fail(err, "InvalidSignatureException",
                    "Credential should be scoped to a valid region.");
    refresh(now, false);
    struct key *k = find_key(auth.access_key_id);
    if (k == NULL) {
        refresh(now, true);
        k = find_key(auth.access_key_id);
    }
    if (k == NULL || http_param(req, "HTTP_X_AMZ_SECURITY_TOKEN") != NULL)
        return fail(err, "UnrecognizedClientException",
                    "The security token included in the request is invalid.");
    const char *amz_date = http_param(req, "HTTP_X_AMZ_DATE");
    if (check_date(req, &auth, now, amz_date, err) != 0)
        return -1;
    char scope[160];
    snprintf(scope, sizeof(scope), "%s/%s/%s", auth.date, auth.region, auth.service);
    if (strcmp(scope, k->cached_scope) != 0) {
        sigv4_signing_key(k->secret, auth.date, auth.region, auth.service, k->cached_key);
        snprintf(k->cached_scope, sizeof(k->cached_scope), "%s", scope);
    }
    struct sigv4_request r = {.method = req->method,
                              .path = raw_path(req),
                              .query = req->query,
                              .body = req->body,
                              .body_len = req->body_len,
                              .header = header,
                              .ctx = req};
    if (!sigv4_matches(req->arena, &r, &auth, amz_date, k->cached_key))
        return fail(err, "InvalidSignatureException",
                    "The request signature we calculated does not match the signature you "
                    "provided. Check your AWS Secret Access Key and signing method. Consult the "
                    "service documentation for details.");
    *who = (struct awsauth_caller){
        .access_key_id = arena_strdup(req->arena, k->id),
        .principal = arena_strdup(req->arena, k->principal),
        .scope = k->scope,
        .fleet_id = k->fleet_id != NULL ? arena_strdup(req->arena, k->fleet_id) : NULL};
    return 0;
}
