/*
 * ES256 and RS256 access tokens on OpenSSL's EVP API, with every JWT check
 * done here.
 *
 * A key's algorithm is its type: an EC P-256 key signs ES256, an RSA key of
 * 2048 bits or more RS256. A token's header must name its key's algorithm
 * exactly, so a kid set that spans a rotation from one algorithm to the
 * other verifies both kinds, and neither key ever verifies the other's.
 * ES256 is what rally-keys makes by default: on this kind of machine an
 * ECDSA P-256 signature takes ~20 us against RSA-2048's ~250 us (and its
 * verify ~60 us, against RSA's ~20 us, is paid once per token and worker:
 * the cache below).
 *
 * Why not libjwt 1.10.2 on this path: it re-parses the PEM key on every
 * jwt_decode() and jwt_encode_str() (OpenSSL 3 takes ~330 us per public key
 * parse, more than the RSA verify itself), and it checks nothing beyond the
 * signature. So each worker parses its keys once into EVP_PKEYs, and the
 * header, signature and claims are checked below. libjwt stays in the unit
 * tests as an independent implementation that our tokens must interoperate
 * with in both directions.
 *
 * Verified tokens are remembered per worker (keyed by their SHA-256, so no
 * comparison ever runs on token bytes), which turns the signature check of a
 * client polling every second into a hash lookup. Time and scope are checked
 * on every use; a key reload forgets everything.
 *
 * The key set also gives refresh tokens their MAC secrets (refresh.h): one
 * derived from each private key it holds, so they rotate with the keys.
 */
#include "auth.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arena.h"
#include "cfg.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#define AUTH_MAX_KEYS 2
#define AUTH_MAX_TOKEN 8192
#define AUTH_MAX_SUB 128
#define AUTH_CACHE_SLOTS 4096 /* direct-mapped; ~1 MiB per worker at most */

enum token_alg { ALG_RS256, ALG_ES256 };

static const char *const alg_names[] = {[ALG_RS256] = "RS256", [ALG_ES256] = "ES256"};

/* ES256's JWS signature is R || S, 32 bytes each (RFC 7518 §3.4), not the
 * DER that OpenSSL makes and takes. */
#define ES256_HALF 32

struct auth_key {
    char kid[128];
    enum token_alg alg;
    EVP_PKEY *pub;       /* owned */
    EVP_PKEY_CTX *check; /* owned; pub's verify operation, set up once */
};

static struct auth_key keys[AUTH_MAX_KEYS];
static size_t nkeys;
static EVP_PKEY *signing_key;    /* owned; private half of keys[0] */
static EVP_PKEY_CTX *signer;     /* owned; signing_key's sign operation, set up once */
static char signing_header[512]; /* base64url of its JOSE header, made at its first token */

/* Secrets derived from the private keys, for refresh tokens (refresh.h):
 * [0] from the current key, [1] from the previous one where its private
 * half is still in the directory. */
static unsigned char refresh_secrets[AUTH_MAX_KEYS][AUTH_SECRET_LEN];
static size_t nrefresh_secrets;

/* A verified token's claims. Strings are owned by the entry (one malloc). */
struct cached_token {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    bool used;
    const struct auth_key *key;
    int64_t exp, nbf;
    bool has_nbf;
    unsigned scope_bit;
    char *strings; /* sub \0 scope \0 sid \0 jti \0; owned */
    const char *sub, *scope, *sid, *jti;
};

static struct cached_token *cache; /* AUTH_CACHE_SLOTS entries, owned */
static struct metric *m_signature_checks, *m_cache_hits;

void auth_declare_metrics(void)
{
    m_signature_checks =
        metric_counter("rally_token_signature_checks_total",
                       "Bearer tokens verified in full (signature and claims): not in the cache.");
    m_cache_hits = metric_counter("rally_token_cache_hits_total",
                                  "Bearer tokens found in the verification cache.");
}

/* SHA-256 for cache keys and signing inputs, through one context kept per
 * process and util_util_sha256()'s fetched algorithm. */
static EVP_MD_CTX *sha256_ctx; /* owned */

static void sha256_of(const char *data, size_t len, unsigned char out[SHA256_DIGEST_LENGTH])
{
    if (sha256_ctx == NULL)
        sha256_ctx = EVP_MD_CTX_new();
    if (sha256_ctx == NULL || EVP_DigestInit_ex(sha256_ctx, util_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(sha256_ctx, data, len) != 1 ||
        EVP_DigestFinal_ex(sha256_ctx, out, NULL) != 1)
        SHA256((const unsigned char *)data, len, out);
}

static const struct {
    const char *name;
    unsigned bit;
} scope_names[] = {
    {"guest", AUTH_SCOPE_GUEST},         {"authenticated", AUTH_SCOPE_AUTHENTICATED},
    {"server", AUTH_SCOPE_SERVER},       {"admin", AUTH_SCOPE_ADMIN},
    {"gamesession-log", AUTH_SCOPE_LOG},
};

unsigned auth_scope_bit(const char *scope)
{
    for (size_t i = 0; i < sizeof(scope_names) / sizeof(scope_names[0]); i++)
        if (strcmp(scope, scope_names[i].name) == 0)
            return scope_names[i].bit;
    return 0;
}

/* Reads a whole small file into a new malloc'd NUL-terminated buffer. */
static char *read_file(const char *path)
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
    return buf;
}

/* The algorithm a key signs with, or -1 for a key rally does not take. */
static int key_alg(EVP_PKEY *k)
{
    char group[32];
    if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA && EVP_PKEY_get_bits(k) >= 2048)
        return ALG_RS256;
    if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC &&
        EVP_PKEY_get_group_name(k, group, sizeof(group), NULL) == 1 &&
        strcmp(group, "prime256v1") == 0)
        return ALG_ES256;
    return -1;
}

/* Reads a PEM public or private key and its algorithm; NULL after logging why. */
static EVP_PKEY *read_pem_key(const char *path, bool private, enum token_alg *alg)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        log_error("could not read key %s: %s", path, strerror(errno));
        return NULL;
    }
    EVP_PKEY *k =
        private ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    int a = k != NULL ? key_alg(k) : -1;
    if (a < 0) {
        log_error("key %s is neither EC P-256 nor RSA of 2048 bits or more, in PEM", path);
        EVP_PKEY_free(k);
        return NULL;
    }
    *alg = (enum token_alg)a;
    return k;
}

/* Reads a kid file (one token on one line) into out; 0 or -1. */
static int read_kid(const char *dir, const char *name, char *out, size_t cap)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    char *s = read_file(path);
    if (s == NULL)
        return -1;
    s[strcspn(s, " \t\r\n")] = '\0';
    int rc = util_is_token(s, cap - 1, "-_.") ? 0 : -1;
    if (rc == 0)
        snprintf(out, cap, "%s", s);
    free(s);
    return rc;
}

static void cache_clear(void)
{
    if (cache == NULL)
        return;
    for (size_t i = 0; i < AUTH_CACHE_SLOTS; i++)
        free(cache[i].strings);
    memset(cache, 0, AUTH_CACHE_SLOTS * sizeof(*cache));
}

void auth_keys_free(void)
{
    cache_clear();
    free(cache);
    cache = NULL;
    for (size_t i = 0; i < nkeys; i++) {
        EVP_PKEY_CTX_free(keys[i].check);
        EVP_PKEY_free(keys[i].pub);
        keys[i].pub = NULL;
        keys[i].check = NULL;
    }
    nkeys = 0;
    EVP_PKEY_CTX_free(signer);
    signer = NULL;
    signing_header[0] = '\0';
    OPENSSL_cleanse(refresh_secrets, sizeof(refresh_secrets));
    nrefresh_secrets = 0;
    EVP_PKEY_free(signing_key);
    signing_key = NULL;
    EVP_MD_CTX_free(sha256_ctx);
    sha256_ctx = NULL;
}

/* key's sign (or verify) operation over a SHA-256 digest, set up once:
 * OpenSSL 3 looks up providers and algorithms on every EVP_DigestSignInit,
 * which cost a third of an ES256 signature; a set-up EVP_PKEY_CTX can sign
 * or verify again and again (EVP_PKEY_sign(3)). NULL on failure. */
static EVP_PKEY_CTX *digest_operation(EVP_PKEY *key, enum token_alg alg, bool sign)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    bool ok = ctx != NULL && (sign ? EVP_PKEY_sign_init(ctx) : EVP_PKEY_verify_init(ctx)) == 1 &&
              EVP_PKEY_CTX_set_signature_md(ctx, util_sha256()) == 1 &&
              (alg != ALG_RS256 || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1);
    if (!ok) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* A secret of key's for refresh tokens: SHA-256 of a label and the key's
 * private number (the EC scalar, or RSA's d), which no encoding of the key
 * can change. The label keeps it apart from anything else the key does. */
static bool derive_refresh_secret(EVP_PKEY *key, unsigned char out[AUTH_SECRET_LEN])
{
    static const char label[] = "rally refresh-token mac v2";
    BIGNUM *d = NULL;
    const char *param =
        EVP_PKEY_get_base_id(key) == EVP_PKEY_EC ? OSSL_PKEY_PARAM_PRIV_KEY : OSSL_PKEY_PARAM_RSA_D;
    if (EVP_PKEY_get_bn_param(key, param, &d) != 1)
        return false;
    unsigned char raw[1024];
    int n = BN_num_bytes(d) <= (int)sizeof(raw) ? BN_bn2bin(d, raw) : -1;
    BN_clear_free(d);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = n > 0 && ctx != NULL && EVP_DigestInit_ex(ctx, util_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(ctx, label, sizeof(label)) == 1 &&
              EVP_DigestUpdate(ctx, raw, (size_t)n) == 1 && EVP_DigestFinal_ex(ctx, out, NULL) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_cleanse(raw, sizeof(raw));
    return ok;
}

/* The previous key's refresh secret, if its private half is still there
 * (rally-keys keeps it until the next rotation); quietly none otherwise. */
static void load_previous_refresh_secret(const char *dir, const char *kid)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/keys/%s.key", dir, kid);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return;
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (k != NULL && key_alg(k) >= 0 && derive_refresh_secret(k, refresh_secrets[1]))
        nrefresh_secrets = 2;
    EVP_PKEY_free(k);
}

const unsigned char *auth_refresh_secret(size_t i)
{
    return i < nrefresh_secrets ? refresh_secrets[i] : NULL;
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
        enum token_alg alg;
        EVP_PKEY *k = read_pem_key(path, false, &alg);
        if (k == NULL) {
            if (i == 0)
                return -1;
            log_warn("previous key %s is unusable; only the current key verifies", path);
            continue;
        }
        EVP_PKEY_CTX *check = digest_operation(k, alg, false);
        if (check == NULL)
            log_fatal("could not set up verification with key %s", path);
        snprintf(keys[nkeys].kid, sizeof(keys[nkeys].kid), "%s", kids[i]);
        keys[nkeys].alg = alg;
        keys[nkeys].check = check;
        keys[nkeys++].pub = k;
    }
    if (with_signing_key) {
        snprintf(path, sizeof(path), "%s/keys/%s.key", dir, kids[0]);
        enum token_alg alg;
        signing_key = read_pem_key(path, true, &alg);
        if (signing_key == NULL || EVP_PKEY_eq(signing_key, keys[0].pub) != 1) {
            log_error("signing key %s does not match the current public key", path);
            auth_keys_free();
            return -1;
        }
        signer = digest_operation(signing_key, alg, true);
        if (signer == NULL || !derive_refresh_secret(signing_key, refresh_secrets[0]))
            log_fatal("could not set up signing with key %s", path);
        nrefresh_secrets = 1;
        if (n == 2)
            load_previous_refresh_secret(dir, kids[1]);
    }
    cache = calloc(AUTH_CACHE_SLOTS, sizeof(*cache));
    if (cache == NULL)
        log_fatal("out of memory");
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

/* Decodes one base64url JWS segment as a JSON object; NULL if it is not. */
static json_t *decode_segment(struct arena *a, const char *s, size_t len)
{
    size_t n = 0;
    unsigned char *raw = util_b64url_decode(a, s, len, &n);
    if (raw == NULL)
        return NULL;
    json_t *j = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Checks the JOSE header: a known kid, exactly that key's alg, no crit. */
static const struct auth_key *check_header(struct arena *a, const char *token, size_t len,
                                           const char **why)
{
    json_t *h = decode_segment(a, token, len);
    const struct auth_key *key = NULL;
    const char *alg = json_string_value(json_object_get(h, "alg"));
    const char *kid = json_string_value(json_object_get(h, "kid"));
    if (h == NULL)
        *why = "token header is not a JSON object";
    else if (alg == NULL || (strcmp(alg, "ES256") != 0 && strcmp(alg, "RS256") != 0))
        *why = "token algorithm must be ES256 or RS256";
    else if (json_object_get(h, "crit") != NULL)
        *why = "token header has unsupported crit";
    else if (kid == NULL || (key = find_key(kid)) == NULL)
        *why = "token key id is unknown";
    else if (strcmp(alg, alg_names[key->alg]) != 0) {
        *why = "token algorithm is not its key's";
        key = NULL;
    }
    json_decref(h);
    return key;
}

/* DER of the ECDSA signature R || S; its length, or 0. *der is OpenSSL's. */
static int es256_der(const unsigned char *raw, unsigned char **der)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, ES256_HALF, NULL);
    BIGNUM *s = BN_bin2bn(raw + ES256_HALF, ES256_HALF, NULL);
    int n = 0;
    if (sig != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(sig, r, s) == 1) {
        r = s = NULL; /* now sig's */
        n = i2d_ECDSA_SIG(sig, der);
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return n > 0 ? n : 0;
}

static bool signature_verifies(const struct auth_key *key, const char *signed_part, size_t len,
                               const unsigned char *sig, size_t siglen)
{
    unsigned char *der = NULL;
    if (key->alg == ALG_ES256) {
        /* Exactly R || S: a DER signature, or one of any other length, is
         * not a JWS ES256 signature even where OpenSSL would take it. */
        int n = siglen == 2 * ES256_HALF ? es256_der(sig, &der) : 0;
        if (n == 0)
            return false;
        sig = der;
        siglen = (size_t)n;
    }
    unsigned char digest[SHA256_DIGEST_LENGTH];
    sha256_of(signed_part, len, digest);
    bool ok = EVP_PKEY_verify(key->check, sig, siglen, digest, sizeof(digest)) == 1;
    OPENSSL_free(der);
    return ok;
}

static bool audience_matches(json_t *aud)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), cfg->jwt_audience) == 0;
    size_t i;
    json_t *v;
    json_array_foreach(aud, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), cfg->jwt_audience) == 0)
            return true;
    }
    return false;
}

/* A NumericDate claim: a JSON number of seconds, fractions truncated. */
static bool numeric_date(json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    double d = json_real_value(v);
    if (!json_is_real(v) || !isfinite(d) || fabs(d) > 1e15)
        return false;
    *out = (int64_t)d;
    return true;
}

static const char *optional_string(json_t *claims, const char *name)
{
    return json_string_value(json_object_get(claims, name));
}

/* Checks the time-independent claims and fills *c (strings owned by *c).
 * Returns NULL, or why the claims are refused. */
static const char *check_claims(json_t *claims, struct cached_token *c)
{
    const char *iss = optional_string(claims, "iss");
    const char *sub = optional_string(claims, "sub");
    const char *scope = optional_string(claims, "scope");
    const char *sid = optional_string(claims, "sid");
    const char *jti = optional_string(claims, "jti");
    json_t *nbf = json_object_get(claims, "nbf");

    if (iss == NULL || strcmp(iss, cfg->jwt_issuer) != 0)
        return "token issuer is not accepted";
    if (!audience_matches(json_object_get(claims, "aud")))
        return "token audience is not accepted";
    if (sub == NULL || *sub == '\0' || strlen(sub) > AUTH_MAX_SUB)
        return "token has no subject";
    if (!numeric_date(json_object_get(claims, "exp"), &c->exp))
        return "token has no expiry";
    c->has_nbf = nbf != NULL;
    if (c->has_nbf && !numeric_date(nbf, &c->nbf))
        return "token has a malformed nbf";
    c->scope_bit = scope != NULL ? auth_scope_bit(scope) : 0;
    if (c->scope_bit == 0)
        return "token has no known scope";

    /* One allocation for the four strings, owned by the cache entry. */
    const char *src[4] = {sub, scope, sid, jti};
    size_t total = 0;
    for (size_t i = 0; i < 4; i++)
        total += src[i] != NULL ? strlen(src[i]) + 1 : 0;
    char *p = malloc(total);
    if (p == NULL)
        log_fatal("out of memory");
    c->strings = p;
    const char **dst[4] = {&c->sub, &c->scope, &c->sid, &c->jti};
    for (size_t i = 0; i < 4; i++) {
        *dst[i] = NULL;
        if (src[i] == NULL)
            continue;
        size_t n = strlen(src[i]) + 1;
        *dst[i] = memcpy(p, src[i], n);
        p += n;
    }
    return NULL;
}

/* Full verification of a token not in the cache: header, signature, claims.
 * On success fills *c; otherwise returns AUTH_INVALID with *why. */
static enum auth_result verify_uncached(struct arena *a, const char *token, size_t len,
                                        struct cached_token *c, const char **why)
{
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 =
        dot1 != NULL ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL) {
        *why = "token is not a JWS";
        return AUTH_INVALID;
    }
    const struct auth_key *key = check_header(a, token, (size_t)(dot1 - token), why);
    if (key == NULL)
        return AUTH_INVALID;

    size_t siglen = 0;
    const char *sig_b64 = dot2 + 1;
    unsigned char *sig = util_b64url_decode(a, sig_b64, len - (size_t)(sig_b64 - token), &siglen);
    if (sig == NULL || !signature_verifies(key, token, (size_t)(dot2 - token), sig, siglen)) {
        *why = "token signature is invalid";
        return AUTH_INVALID;
    }

    json_t *claims = decode_segment(a, dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (claims == NULL) {
        *why = "token payload is not a JSON object";
        return AUTH_INVALID;
    }
    const char *refused = check_claims(claims, c);
    json_decref(claims);
    if (refused != NULL) {
        *why = refused;
        return AUTH_INVALID;
    }
    c->key = key;
    return AUTH_OK;
}

/* Strips "Bearer " and blanks; NULL if nothing is left. */
static const char *bearer_token(const char *authorization, size_t *len)
{
    if (authorization == NULL)
        return NULL;
    while (*authorization == ' ')
        authorization++;
    if (strncasecmp(authorization, "Bearer ", 7) == 0)
        authorization += 7;
    while (*authorization == ' ')
        authorization++;
    *len = strcspn(authorization, " \t\r\n");
    return *len > 0 ? authorization : NULL;
}

enum auth_result auth_verify(struct arena *a, const char *authorization, unsigned scopes,
                             int64_t now, struct auth_claims *out, const char **why)
{
    size_t len = 0;
    const char *token = bearer_token(authorization, &len);
    *why = "missing bearer token";
    if (token == NULL)
        return AUTH_MISSING;
    if (len > AUTH_MAX_TOKEN || token[len] != '\0') {
        *why = "malformed bearer token";
        return AUTH_INVALID;
    }
    if (nkeys == 0) {
        *why = "no verification key is loaded";
        return AUTH_INVALID;
    }

    unsigned char digest[SHA256_DIGEST_LENGTH];
    sha256_of(token, len, digest);
    size_t slot = ((size_t)digest[0] | (size_t)digest[1] << 8) % AUTH_CACHE_SLOTS;
    struct cached_token *c = &cache[slot];
    if (!c->used || !util_ct_equal(c->digest, digest, sizeof(digest))) {
        metric_inc(m_signature_checks);
        struct cached_token fresh = {0};
        enum auth_result rc = verify_uncached(a, token, len, &fresh, why);
        if (rc != AUTH_OK) {
            free(fresh.strings);
            return rc;
        }
        free(c->strings);
        *c = fresh;
        memcpy(c->digest, digest, sizeof(digest));
        c->used = true;
    } else {
        metric_inc(m_cache_hits);
    }

    if (now > c->exp + cfg->jwt_leeway) {
        *why = "token has expired";
        return AUTH_EXPIRED;
    }
    if (c->has_nbf && now + cfg->jwt_leeway < c->nbf) {
        *why = "token is not valid yet";
        return AUTH_EXPIRED;
    }
    out->sub = arena_strdup(a, c->sub);
    out->scope = arena_strdup(a, c->scope);
    out->sid = c->sid != NULL ? arena_strdup(a, c->sid) : NULL;
    out->jti = c->jti != NULL ? arena_strdup(a, c->jti) : NULL;
    out->kid = c->key->kid;
    out->scope_bit = c->scope_bit;
    out->exp = c->exp;
    if ((c->scope_bit & scopes) == 0) {
        *why = "token scope is not allowed on this route";
        return AUTH_FORBIDDEN;
    }
    return AUTH_OK;
}

/* base64url(JSON of j), consuming j. */
static char *encode_segment(struct arena *a, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (s == NULL)
        log_fatal("out of memory");
    char *out = util_b64url_encode(a, (const unsigned char *)s, strlen(s));
    free(s);
    return out;
}

/* The JWS signature of input with the signing key (R || S for ES256), in
 * the arena; NULL on failure. */
static unsigned char *sign_input(struct arena *a, const char *input, size_t len, size_t *siglen)
{
    *siglen = (size_t)EVP_PKEY_get_size(signing_key);
    unsigned char *sig = arena_alloc(a, *siglen);
    unsigned char digest[SHA256_DIGEST_LENGTH];
    sha256_of(input, len, digest);
    bool ok = EVP_PKEY_sign(signer, sig, siglen, digest, sizeof(digest)) == 1;
    if (!ok || keys[0].alg != ALG_ES256)
        return ok ? sig : NULL;

    const unsigned char *p = sig;
    ECDSA_SIG *der = d2i_ECDSA_SIG(NULL, &p, (long)*siglen);
    unsigned char *raw = arena_alloc(a, 2 * ES256_HALF);
    ok = der != NULL && BN_bn2binpad(ECDSA_SIG_get0_r(der), raw, ES256_HALF) == ES256_HALF &&
         BN_bn2binpad(ECDSA_SIG_get0_s(der), raw + ES256_HALF, ES256_HALF) == ES256_HALF;
    ECDSA_SIG_free(der);
    *siglen = 2 * ES256_HALF;
    return ok ? raw : NULL;
}

char *auth_sign(struct arena *a, const char *sub, const char *scope, const char *sid, int64_t now,
                int64_t ttl)
{
    if (signing_key == NULL || nkeys == 0)
        return NULL;
    char jti[37];
    util_uuid(jti);

    /* The JOSE header is the signing key's: encoded once per key load. */
    if (signing_header[0] == '\0') {
        json_t *header = json_pack("{s:s, s:s, s:s}", "alg", alg_names[keys[0].alg], "typ", "JWT",
                                   "kid", keys[0].kid);
        if (header == NULL)
            log_fatal("could not build a token header");
        snprintf(signing_header, sizeof(signing_header), "%s", encode_segment(a, header));
    }
    json_t *claims =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "iss", cfg->jwt_issuer, "sub", sub,
                  "aud", cfg->jwt_audience, "scope", scope, "jti", jti, "iat", (json_int_t)now,
                  "nbf", (json_int_t)now, "exp", (json_int_t)(now + ttl));
    if (claims == NULL)
        log_fatal("could not build token for %s", sub);
    if (sid != NULL)
        json_object_set_new(claims, "sid", json_string(sid));

    const char *h = signing_header;
    char *p = encode_segment(a, claims);
    size_t hlen = strlen(h), plen = strlen(p);
    char *signing_input = arena_alloc(a, hlen + 1 + plen + 1);
    memcpy(signing_input, h, hlen);
    signing_input[hlen] = '.';
    memcpy(signing_input + hlen + 1, p, plen + 1);

    size_t siglen = 0;
    unsigned char *sig = sign_input(a, signing_input, hlen + 1 + plen, &siglen);
    if (sig == NULL) {
        log_error("could not sign token");
        return NULL;
    }
    char *s = util_b64url_encode(a, sig, siglen);
    return arena_sprintf(a, "%s.%s", signing_input, s);
}
