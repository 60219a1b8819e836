/* RS256 access tokens on libjwt 1.10.2, with every check it omits done here. */
#include "auth.h"

#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arena.h"
#include "cfg.h"
#include "log.h"
#include "util.h"

#define AUTH_MAX_KEYS 2
#define AUTH_MAX_TOKEN 8192

struct auth_key {
    char kid[128];
    char *pub_pem; /* owned */
    int pub_len;
};

static struct auth_key keys[AUTH_MAX_KEYS];
static size_t nkeys;
static char *signing_pem; /* owned; private key of keys[0] */
static int signing_len;

static const struct {
    const char *name;
    unsigned bit;
} scope_names[] = {
    {"guest", AUTH_SCOPE_GUEST},
    {"authenticated", AUTH_SCOPE_AUTHENTICATED},
    {"server", AUTH_SCOPE_SERVER},
    {"admin", AUTH_SCOPE_ADMIN},
};

unsigned auth_scope_bit(const char *scope)
{
    for (size_t i = 0; i < sizeof(scope_names) / sizeof(scope_names[0]); i++)
        if (strcmp(scope, scope_names[i].name) == 0)
            return scope_names[i].bit;
    return 0;
}

/* Reads a whole small file into a new malloc'd NUL-terminated buffer. */
static char *read_file(const char *path, int *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = malloc(16384);
    size_t n = buf != NULL ? fread(buf, 1, 16383, f) : 0;
    fclose(f);
    if (buf == NULL || n == 0 || n == 16383) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = (int)n;
    return buf;
}

/* Reads a kid file (one token on one line) into out; 0 or -1. */
static int read_kid(const char *dir, const char *name, char *out, size_t cap)
{
    char path[1024];
    int len = 0;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    char *s = read_file(path, &len);
    if (s == NULL)
        return -1;
    s[strcspn(s, " \t\r\n")] = '\0';
    int rc = util_is_token(s, cap - 1, "-_.") ? 0 : -1;
    if (rc == 0)
        snprintf(out, cap, "%s", s);
    free(s);
    return rc;
}

void auth_keys_free(void)
{
    for (size_t i = 0; i < nkeys; i++) {
        free(keys[i].pub_pem);
        keys[i].pub_pem = NULL;
    }
    nkeys = 0;
    free(signing_pem);
    signing_pem = NULL;
}

int auth_keys_load(const char *dir, bool with_signing_key)
{
    char kids[AUTH_MAX_KEYS][128];
    size_t n = 0;
    char path[1024];

    if (dir == NULL) {
        log_error("could not load keys: RALLY_JWT_KEY_DIR is not set");
        return -1;
    }
    if (read_kid(dir, "current", kids[0], sizeof(kids[0])) < 0) {
        log_error("could not read current kid from %s/current", dir);
        return -1;
    }
    n = 1;
    if (read_kid(dir, "previous", kids[1], sizeof(kids[1])) == 0 && strcmp(kids[0], kids[1]) != 0)
        n = 2;

    auth_keys_free();
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/keys/%s.pub", dir, kids[i]);
        keys[nkeys].pub_pem = read_file(path, &keys[nkeys].pub_len);
        if (keys[nkeys].pub_pem == NULL) {
            if (i == 0) {
                log_error("could not read public key %s: %s", path, strerror(errno));
                return -1;
            }
            log_warn("previous key %s is missing; only the current key verifies", path);
            continue;
        }
        snprintf(keys[nkeys].kid, sizeof(keys[nkeys].kid), "%s", kids[i]);
        nkeys++;
    }
    if (with_signing_key) {
        snprintf(path, sizeof(path), "%s/keys/%s.key", dir, kids[0]);
        signing_pem = read_file(path, &signing_len);
        if (signing_pem == NULL) {
            log_error("could not read signing key %s: %s", path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

const char *auth_current_kid(void)
{
    return nkeys > 0 ? keys[0].kid : NULL;
}

static const struct auth_key *find_key(const char *kid)
{
    for (size_t i = 0; i < nkeys; i++)
        if (strcmp(keys[i].kid, kid) == 0)
            return &keys[i];
    return NULL;
}

/* Checks the JOSE header by hand: exactly alg RS256, a known kid, no crit. */
static const struct auth_key *check_header(struct arena *a, const char *token, const char **why)
{
    const char *dot = strchr(token, '.');
    size_t hlen = 0;
    if (dot == NULL) {
        *why = "token is not a JWS";
        return NULL;
    }
    unsigned char *raw = util_b64url_decode(a, token, (size_t)(dot - token), &hlen);
    if (raw == NULL) {
        *why = "token header is not base64url";
        return NULL;
    }
    json_t *h = json_loadb((const char *)raw, hlen, JSON_REJECT_DUPLICATES, NULL);
    const struct auth_key *key = NULL;
    const char *alg = json_string_value(json_object_get(h, "alg"));
    const char *kid = json_string_value(json_object_get(h, "kid"));
    if (!json_is_object(h))
        *why = "token header is not a JSON object";
    else if (alg == NULL || strcmp(alg, "RS256") != 0)
        *why = "token algorithm must be RS256";
    else if (json_object_get(h, "crit") != NULL)
        *why = "token header has unsupported crit";
    else if (kid == NULL || (key = find_key(kid)) == NULL)
        *why = "token key id is unknown";
    json_decref(h);
    return key;
}

static bool audience_matches(jwt_t *jwt)
{
    const char *aud = jwt_get_grant(jwt, "aud");
    if (aud != NULL)
        return strcmp(aud, cfg->jwt_audience) == 0;
    /* aud may also be an array of strings. */
    char *arr = jwt_get_grants_json(jwt, "aud");
    bool ok = false;
    json_t *j = arr != NULL ? json_loads(arr, 0, NULL) : NULL;
    size_t i;
    json_t *v;
    json_array_foreach(j, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), cfg->jwt_audience) == 0)
            ok = true;
    }
    json_decref(j);
    free(arr);
    return ok;
}

static void jwt_free_hook(void *p)
{
    jwt_free(p);
}

enum auth_result auth_verify(struct arena *a, const char *authorization, unsigned scopes,
                             int64_t now, struct auth_claims *out, const char **why)
{
    *why = "missing bearer token";
    if (authorization == NULL)
        return AUTH_MISSING;
    while (*authorization == ' ')
        authorization++;
    if (strncasecmp(authorization, "Bearer ", 7) == 0)
        authorization += 7;
    while (*authorization == ' ')
        authorization++;
    size_t len = strcspn(authorization, " \t\r\n");
    if (len == 0)
        return AUTH_MISSING;
    if (len > AUTH_MAX_TOKEN || authorization[len] != '\0') {
        *why = "malformed bearer token";
        return AUTH_INVALID;
    }
    const char *token = authorization;

    const struct auth_key *key = check_header(a, token, why);
    if (key == NULL)
        return AUTH_INVALID;

    jwt_t *jwt = NULL;
    if (jwt_decode(&jwt, token, (const unsigned char *)key->pub_pem, key->pub_len) != 0 ||
        jwt == NULL) {
        *why = "token signature is invalid";
        return AUTH_INVALID;
    }
    arena_defer(a, jwt_free_hook, jwt);
    if (jwt_get_alg(jwt) != JWT_ALG_RS256) {
        *why = "token algorithm must be RS256";
        return AUTH_INVALID;
    }

    const char *iss = jwt_get_grant(jwt, "iss");
    const char *sub = jwt_get_grant(jwt, "sub");
    const char *scope = jwt_get_grant(jwt, "scope");
    errno = 0;
    long exp = jwt_get_grant_int(jwt, "exp");
    int exp_missing = errno;
    errno = 0;
    long nbf = jwt_get_grant_int(jwt, "nbf");
    int nbf_missing = errno;

    if (iss == NULL || strcmp(iss, cfg->jwt_issuer) != 0) {
        *why = "token issuer is not accepted";
        return AUTH_INVALID;
    }
    if (!audience_matches(jwt)) {
        *why = "token audience is not accepted";
        return AUTH_INVALID;
    }
    if (sub == NULL || *sub == '\0' || strlen(sub) > 128) {
        *why = "token has no subject";
        return AUTH_INVALID;
    }
    if (exp_missing != 0) {
        *why = "token has no expiry";
        return AUTH_INVALID;
    }
    if (now > exp + cfg->jwt_leeway) {
        *why = "token has expired";
        return AUTH_EXPIRED;
    }
    if (nbf_missing == 0 && now + cfg->jwt_leeway < nbf) {
        *why = "token is not valid yet";
        return AUTH_EXPIRED;
    }
    unsigned bit = scope != NULL ? auth_scope_bit(scope) : 0;
    if (bit == 0) {
        *why = "token has no known scope";
        return AUTH_INVALID;
    }

    out->sub = arena_strdup(a, sub);
    out->scope = arena_strdup(a, scope);
    const char *sid = jwt_get_grant(jwt, "sid");
    const char *jti = jwt_get_grant(jwt, "jti");
    out->sid = sid != NULL ? arena_strdup(a, sid) : NULL;
    out->jti = jti != NULL ? arena_strdup(a, jti) : NULL;
    out->kid = key->kid;
    out->scope_bit = bit;
    out->exp = exp;
    if ((bit & scopes) == 0) {
        *why = "token scope is not allowed on this route";
        return AUTH_FORBIDDEN;
    }
    return AUTH_OK;
}

char *auth_sign(struct arena *a, const char *sub, const char *scope, const char *sid,
                int64_t now, int64_t ttl)
{
    if (signing_pem == NULL || nkeys == 0)
        return NULL;
    jwt_t *jwt = NULL;
    char jti[37];
    char *out = NULL;

    util_uuid(jti);
    if (jwt_new(&jwt) != 0)
        log_fatal("could not allocate jwt");
    int rc = jwt_add_header(jwt, "kid", keys[0].kid);
    rc |= jwt_add_grant(jwt, "iss", cfg->jwt_issuer);
    rc |= jwt_add_grant(jwt, "sub", sub);
    rc |= jwt_add_grant(jwt, "aud", cfg->jwt_audience);
    rc |= jwt_add_grant(jwt, "scope", scope);
    rc |= jwt_add_grant(jwt, "jti", jti);
    if (sid != NULL)
        rc |= jwt_add_grant(jwt, "sid", sid);
    rc |= jwt_add_grant_int(jwt, "iat", (long)now);
    rc |= jwt_add_grant_int(jwt, "nbf", (long)now);
    rc |= jwt_add_grant_int(jwt, "exp", (long)(now + ttl));
    rc |= jwt_set_alg(jwt, JWT_ALG_RS256, (const unsigned char *)signing_pem, signing_len);
    if (rc == 0) {
        char *s = jwt_encode_str(jwt);
        if (s != NULL) {
            out = arena_strdup(a, s);
            free(s);
        }
    }
    jwt_free(jwt);
    if (out == NULL)
        log_error("could not sign token");
    return out;
}
