/* Unit tests for common/auth.c: RS256 and ES256 access tokens, rotations
 * between them, and every check that libjwt 1.10.2 leaves to us. */
#include <check.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "auth.h"
#include "cfg.h"
#include "util.h"

#define ISSUER "https://rally.test"
#define AUDIENCE "rally-test"
#define LEEWAY 60

static struct arena arena;
static int64_t now;

/* Key directories:
 *   main:  current k1 (key 1, RSA)
 *   rot:   current k2 (key 2, RSA), previous k1 (public half of key 1 only)
 *   evil:  current k1, but holding key 3: same kid, different key
 *   ec:    current e1 (EC P-256), previous k1: a rotation RS256 -> ES256
 *   back:  current k1, previous e1: a rotation ES256 -> RS256
 *   p384:  current e1, an EC P-384 key (not ES256's curve) */
static char main_dir[64], rot_dir[64], evil_dir[64], ec_dir[64], back_dir[64], p384_dir[64];
static char *key1_priv_pem, *key1_pub_pem, *ec_priv_pem, *ec_pub_pem;

static char *pem_of(EVP_PKEY *k, int private)
{
    BIO *b = BIO_new(BIO_s_mem());
    ck_assert_ptr_nonnull(b);
    int ok = private ? PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)
                     : PEM_write_bio_PUBKEY(b, k);
    ck_assert_int_eq(ok, 1);
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *out = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(out);
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    BIO_free(b);
    return out;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "could not write %s", path);
    fputs(text, f);
    fclose(f);
}

static void remove_file(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    unlink(path);
}

static void make_dir(char *dir)
{
    snprintf(dir, 64, "/tmp/rally-auth-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char keys[80];
    snprintf(keys, sizeof(keys), "%s/keys", dir);
    ck_assert_int_eq(mkdir(keys, 0700), 0);
}

/* Writes keys/<kid>.pub, and keys/<kid>.key when with_private. */
static void put_key(const char *dir, const char *kid, EVP_PKEY *k, int with_private)
{
    char name[64];
    char *pem = pem_of(k, 0);
    snprintf(name, sizeof(name), "keys/%s.pub", kid);
    write_file(dir, name, pem);
    free(pem);
    if (with_private) {
        pem = pem_of(k, 1);
        snprintf(name, sizeof(name), "keys/%s.key", kid);
        write_file(dir, name, pem);
        free(pem);
    }
}

static void remove_dir(const char *dir)
{
    static const char *const names[] = {"current",     "previous",    "keys/k1.pub", "keys/k1.key",
                                        "keys/k2.pub", "keys/k2.key", "keys/e1.pub", "keys/e1.key"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        remove_file(dir, names[i]);
    char keys[80];
    snprintf(keys, sizeof(keys), "%s/keys", dir);
    rmdir(keys);
    rmdir(dir);
}

static void load_cfg(const char *issuer, const char *audience)
{
    setenv("RALLY_JWT_ISSUER", issuer, 1);
    setenv("RALLY_JWT_AUDIENCE", audience, 1);
    setenv("RALLY_JWT_LEEWAY", "60", 1);
    unsetenv("RALLY_SNS_CERT_URL_PREFIXES");
    unsetenv("RALLY_SNS_TOPICS");
    cfg_load("test");
}

/* Once per run (tests are forked from this state). */
static void keys_setup(void)
{
    EVP_PKEY *k1 = EVP_RSA_gen(2048);
    EVP_PKEY *k2 = EVP_RSA_gen(2048);
    EVP_PKEY *k3 = EVP_RSA_gen(2048);
    ck_assert(k1 != NULL && k2 != NULL && k3 != NULL);
    key1_priv_pem = pem_of(k1, 1);
    key1_pub_pem = pem_of(k1, 0);

    make_dir(main_dir);
    write_file(main_dir, "current", "k1\n");
    put_key(main_dir, "k1", k1, 1);

    make_dir(rot_dir);
    write_file(rot_dir, "current", "k2\n");
    write_file(rot_dir, "previous", "k1\n");
    put_key(rot_dir, "k1", k1, 0);
    put_key(rot_dir, "k2", k2, 1);

    make_dir(evil_dir);
    write_file(evil_dir, "current", "k1");
    put_key(evil_dir, "k1", k3, 1);

    EVP_PKEY *e1 = EVP_EC_gen("prime256v1");
    EVP_PKEY *e384 = EVP_EC_gen("secp384r1");
    ck_assert(e1 != NULL && e384 != NULL);
    ec_priv_pem = pem_of(e1, 1);
    ec_pub_pem = pem_of(e1, 0);

    make_dir(ec_dir);
    write_file(ec_dir, "current", "e1\n");
    write_file(ec_dir, "previous", "k1\n");
    put_key(ec_dir, "e1", e1, 1);
    put_key(ec_dir, "k1", k1, 0);

    make_dir(back_dir);
    write_file(back_dir, "current", "k1\n");
    write_file(back_dir, "previous", "e1\n");
    put_key(back_dir, "k1", k1, 1);
    put_key(back_dir, "e1", e1, 0);

    make_dir(p384_dir);
    write_file(p384_dir, "current", "e1\n");
    put_key(p384_dir, "e1", e384, 1);

    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    EVP_PKEY_free(k3);
    EVP_PKEY_free(e1);
    EVP_PKEY_free(e384);
    load_cfg(ISSUER, AUDIENCE);
}

static void keys_teardown(void)
{
    remove_dir(main_dir);
    remove_dir(rot_dir);
    remove_dir(evil_dir);
    remove_dir(ec_dir);
    remove_dir(back_dir);
    remove_dir(p384_dir);
    free(key1_priv_pem);
    free(key1_pub_pem);
    free(ec_priv_pem);
    free(ec_pub_pem);
    key1_priv_pem = key1_pub_pem = ec_priv_pem = ec_pub_pem = NULL;
    auth_keys_free();
}

static void setup(void)
{
    memset(&arena, 0, sizeof(arena));
    now = (int64_t)time(NULL);
    ck_assert_int_eq(auth_keys_load(main_dir, true), 0);
}

static void teardown(void)
{
    arena_destroy(&arena);
    auth_keys_free();
}

static char *sign(const char *sub, const char *scope, int64_t at, int64_t ttl)
{
    char *t = auth_sign(&arena, sub, scope, NULL, at, ttl);
    ck_assert_ptr_nonnull(t);
    return t;
}

static enum auth_result verify(const char *authorization, unsigned scopes,
                               struct auth_claims *claims)
{
    struct auth_claims scratch;
    const char *why = NULL;
    if (claims == NULL)
        claims = &scratch;
    memset(claims, 0, sizeof(*claims));
    enum auth_result rc = auth_verify(&arena, authorization, scopes, now, claims, &why);
    ck_assert_ptr_nonnull(why);
    return rc;
}

/* The three dot-separated parts of a token, as arena strings. */
static void split(const char *token, char **header, char **payload, char **sig)
{
    const char *d1 = strchr(token, '.');
    ck_assert_ptr_nonnull(d1);
    const char *d2 = strchr(d1 + 1, '.');
    ck_assert_ptr_nonnull(d2);
    *header = arena_strndup(&arena, token, (size_t)(d1 - token));
    *payload = arena_strndup(&arena, d1 + 1, (size_t)(d2 - d1 - 1));
    *sig = arena_strdup(&arena, d2 + 1);
}

static char *b64url_json(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    ck_assert_ptr_nonnull(s);
    char *out = util_b64url_encode(&arena, (const unsigned char *)s, strlen(s));
    free(s);
    return out;
}

static json_t *decode_part(const char *part)
{
    size_t n = 0;
    unsigned char *raw = util_b64url_decode(&arena, part, strlen(part), &n);
    ck_assert_ptr_nonnull(raw);
    json_t *j = json_loadb((const char *)raw, n, 0, NULL);
    ck_assert_ptr_nonnull(j);
    return j;
}

/* A token signed by libjwt directly with alg and a private PEM, with any
 * claims and header fields: for shapes auth_sign never makes. */
static char *sign_with(jwt_alg_t alg, const char *pem, const char *kid, json_t *grants,
                       const char *hkey, const char *hval)
{
    jwt_t *jwt = NULL;
    ck_assert_int_eq(jwt_new(&jwt), 0);
    if (kid != NULL)
        ck_assert_int_eq(jwt_add_header(jwt, "kid", kid), 0);
    if (hkey != NULL)
        ck_assert_int_eq(jwt_add_header(jwt, hkey, hval), 0);
    char *g = json_dumps(grants, JSON_COMPACT);
    ck_assert_int_eq(jwt_add_grants_json(jwt, g), 0);
    free(g);
    ck_assert_int_eq(jwt_set_alg(jwt, alg, (const unsigned char *)pem, (int)strlen(pem)), 0);
    char *s = jwt_encode_str(jwt);
    ck_assert_ptr_nonnull(s);
    char *out = arena_strdup(&arena, s);
    free(s);
    jwt_free(jwt);
    return out;
}

/* sign_with key 1 (RS256). */
static char *sign_custom(const char *kid, json_t *grants, const char *hkey, const char *hval)
{
    return sign_with(JWT_ALG_RS256, key1_priv_pem, kid, grants, hkey, hval);
}

/* The claims auth_sign writes, for sign_custom. */
static json_t *good_grants(void)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "iss", ISSUER, "aud", AUDIENCE, "sub",
                     "player-1", "scope", "guest", "iat", (json_int_t)now, "nbf", (json_int_t)now,
                     "exp", (json_int_t)(now + 900));
}

/* ---- valid tokens ------------------------------------------------------ */

START_TEST(test_valid_token)
{
    char *t = auth_sign(&arena, "player-1", "guest", "family-1", now, 900);
    ck_assert_ptr_nonnull(t);
    struct auth_claims c;
    ck_assert_int_eq(verify(t, AUTH_SCOPE_PLAYER, &c), AUTH_OK);
    ck_assert_str_eq(c.sub, "player-1");
    ck_assert_str_eq(c.scope, "guest");
    ck_assert_pstr_eq(c.sid, "family-1");
    ck_assert_ptr_nonnull(c.jti);
    ck_assert_uint_eq(strlen(c.jti), 36);
    ck_assert_str_eq(c.kid, "k1");
    ck_assert_uint_eq(c.scope_bit, AUTH_SCOPE_GUEST);
    ck_assert_int_eq(c.exp, now + 900);
    ck_assert_str_eq(auth_current_kid(), "k1");

    /* The header is exactly RS256 with our kid; the payload has our claims. */
    char *h, *p, *s;
    split(t, &h, &p, &s);
    json_t *hj = decode_part(h);
    ck_assert_str_eq(json_string_value(json_object_get(hj, "alg")), "RS256");
    ck_assert_str_eq(json_string_value(json_object_get(hj, "kid")), "k1");
    json_decref(hj);
    json_t *pj = decode_part(p);
    ck_assert_str_eq(json_string_value(json_object_get(pj, "iss")), ISSUER);
    ck_assert_str_eq(json_string_value(json_object_get(pj, "aud")), AUDIENCE);
    ck_assert_int_eq(json_integer_value(json_object_get(pj, "nbf")), now);
    json_decref(pj);
}
END_TEST

START_TEST(test_no_sid_and_unique_jti)
{
    char *t1 = sign("player-1", "authenticated", now, 900);
    char *t2 = sign("player-1", "authenticated", now, 900);
    ck_assert_str_ne(t1, t2);
    struct auth_claims c1, c2;
    ck_assert_int_eq(verify(t1, AUTH_SCOPE_PLAYER, &c1), AUTH_OK);
    ck_assert_int_eq(verify(t2, AUTH_SCOPE_PLAYER, &c2), AUTH_OK);
    ck_assert_ptr_null(c1.sid);
    ck_assert_str_ne(c1.jti, c2.jti);
    ck_assert_uint_eq(c1.scope_bit, AUTH_SCOPE_AUTHENTICATED);
}
END_TEST

/* ---- the Authorization header ------------------------------------------ */

static const struct {
    const char *prefix;
    const char *suffix;
    int with_token;
    enum auth_result want;
} header_cases[] = {
    {"Bearer ", "", 1, AUTH_OK},
    {"", "", 1, AUTH_OK}, /* the bare token */
    {"bearer ", "", 1, AUTH_OK},
    {"BEARER ", "", 1, AUTH_OK},
    {"  Bearer   ", "", 1, AUTH_OK},
    {"Bearer ", " ", 1, AUTH_INVALID},
    {"Bearer ", " extra", 1, AUTH_INVALID},
    {"Bearer ", "\n", 1, AUTH_INVALID},
    {"Basic ", "", 1, AUTH_INVALID},
    {"Bearer ", "x", 1, AUTH_INVALID}, /* signature changed */
    {"Bearer ", ".x", 1, AUTH_INVALID},
    {"", "", 0, AUTH_MISSING},
    {"Bearer ", "", 0, AUTH_MISSING},
    {"   ", "", 0, AUTH_MISSING},
    {"Bearer", "", 0, AUTH_INVALID},
    {"not-a-jwt", "", 0, AUTH_INVALID},
    {"a.b.c", "", 0, AUTH_INVALID},
    {"..", "", 0, AUTH_INVALID},
    {"!!!.e30.", "", 0, AUTH_INVALID},
    {"e30.e30.", "", 0, AUTH_INVALID}, /* {} header */
    {"W10.e30.", "", 0, AUTH_INVALID}, /* [] header */
};
#define NHEADER (int)(sizeof(header_cases) / sizeof(header_cases[0]))

START_TEST(test_authorization_header)
{
    char *t = sign("player-1", "guest", now, 900);
    char *value = arena_sprintf(&arena, "%s%s%s", header_cases[_i].prefix,
                                header_cases[_i].with_token ? t : "", header_cases[_i].suffix);
    ck_assert_msg(verify(value, AUTH_SCOPE_PLAYER, NULL) == header_cases[_i].want,
                  "\"%s<token>%s\": want %d", header_cases[_i].prefix, header_cases[_i].suffix,
                  header_cases[_i].want);
}
END_TEST

START_TEST(test_null_header)
{
    ck_assert_int_eq(verify(NULL, AUTH_SCOPE_PLAYER, NULL), AUTH_MISSING);
}
END_TEST

START_TEST(test_oversized_token)
{
    char *big = arena_alloc(&arena, 9000);
    memset(big, 'a', 8999);
    ck_assert_int_eq(verify(big, AUTH_SCOPE_PLAYER, NULL), AUTH_INVALID);
}
END_TEST

/* ---- scopes ------------------------------------------------------------ */

static const struct {
    const char *scope;
    unsigned route;
    enum auth_result want;
} scope_cases[] = {
    {"guest", AUTH_SCOPE_PLAYER, AUTH_OK},
    {"authenticated", AUTH_SCOPE_PLAYER, AUTH_OK},
    {"guest", AUTH_SCOPE_AUTHENTICATED, AUTH_FORBIDDEN},
    {"guest", AUTH_SCOPE_SERVER, AUTH_FORBIDDEN},
    {"guest", AUTH_SCOPE_ADMIN, AUTH_FORBIDDEN},
    {"server", AUTH_SCOPE_SERVER, AUTH_OK},
    {"server", AUTH_SCOPE_PLAYER, AUTH_FORBIDDEN},
    {"server", AUTH_SCOPE_SERVER | AUTH_SCOPE_ADMIN, AUTH_OK},
    {"admin", AUTH_SCOPE_ADMIN, AUTH_OK},
    {"admin", AUTH_SCOPE_PLAYER, AUTH_FORBIDDEN},
    {"superuser", AUTH_SCOPE_PLAYER, AUTH_INVALID},
    {"Guest", AUTH_SCOPE_PLAYER, AUTH_INVALID},
    {"", AUTH_SCOPE_PLAYER, AUTH_INVALID},
    {"guest admin", AUTH_SCOPE_ADMIN, AUTH_INVALID},
};
#define NSCOPE (int)(sizeof(scope_cases) / sizeof(scope_cases[0]))

START_TEST(test_scopes)
{
    char *t = sign("player-1", scope_cases[_i].scope, now, 900);
    struct auth_claims c;
    enum auth_result rc = verify(t, scope_cases[_i].route, &c);
    ck_assert_msg(rc == scope_cases[_i].want, "scope \"%s\" on route %#x: got %d, want %d",
                  scope_cases[_i].scope, scope_cases[_i].route, rc, scope_cases[_i].want);
    if (rc == AUTH_FORBIDDEN) {
        /* Still identifies the caller, for the log line. */
        ck_assert_str_eq(c.sub, "player-1");
        ck_assert_str_eq(c.scope, scope_cases[_i].scope);
    }
}
END_TEST

START_TEST(test_scope_bits)
{
    ck_assert_uint_eq(auth_scope_bit("guest"), AUTH_SCOPE_GUEST);
    ck_assert_uint_eq(auth_scope_bit("authenticated"), AUTH_SCOPE_AUTHENTICATED);
    ck_assert_uint_eq(auth_scope_bit("server"), AUTH_SCOPE_SERVER);
    ck_assert_uint_eq(auth_scope_bit("admin"), AUTH_SCOPE_ADMIN);
    ck_assert_uint_eq(auth_scope_bit("root"), 0);
}
END_TEST

/* ---- time -------------------------------------------------------------- */

/* Signed at now + at with ttl, verified at now; leeway is 60 s. */
static const struct {
    int64_t at;
    int64_t ttl;
    enum auth_result want;
} time_cases[] = {
    {0, 900, AUTH_OK},          {-899, 900, AUTH_OK},
    {-1000, 900, AUTH_EXPIRED}, /* expired 100 s ago */
    {-930, 900, AUTH_OK},       /* expired 30 s ago: within leeway */
    {-960, 900, AUTH_OK},       /* exactly the leeway */
    {-961, 900, AUTH_EXPIRED},  {-100000, 900, AUTH_EXPIRED},
    {1000, 900, AUTH_EXPIRED}, /* nbf in the future */
    {60, 900, AUTH_OK},        /* nbf within leeway */
    {61, 900, AUTH_EXPIRED},    {100000, 900, AUTH_EXPIRED},
};
#define NTIME (int)(sizeof(time_cases) / sizeof(time_cases[0]))

START_TEST(test_time)
{
    char *t = sign("player-1", "guest", now + time_cases[_i].at, time_cases[_i].ttl);
    enum auth_result rc = verify(t, AUTH_SCOPE_PLAYER, NULL);
    ck_assert_msg(rc == time_cases[_i].want, "signed at now%+lld: got %d, want %d",
                  (long long)time_cases[_i].at, rc, time_cases[_i].want);
}
END_TEST

/* ---- forgeries --------------------------------------------------------- */

/* The payload re-encoded with a claim changed and one added, the signature
 * kept. */
static const struct {
    const char *claim;
    const char *value; /* NULL: exp pushed a day later */
} tamper_cases[] = {
    {"sub", "player-2"},
    {"scope", "admin"},
    {"exp", NULL},
    {"aud", AUDIENCE}, /* unchanged: only the added claim differs */
};

START_TEST(test_tampered_payload)
{
    char *t = sign("player-1", "guest", now, 900);
    char *h, *p, *s;
    split(t, &h, &p, &s);
    json_t *claims = decode_part(p);
    if (tamper_cases[_i].value != NULL)
        json_object_set_new(claims, tamper_cases[_i].claim, json_string(tamper_cases[_i].value));
    else
        json_object_set_new(claims, "exp", json_integer(now + 86400));
    json_object_set_new(claims, "zz", json_true());
    char *forged = arena_sprintf(&arena, "%s.%s.%s", h, b64url_json(claims), s);
    json_decref(claims);
    ck_assert_int_eq(verify(forged, AUTH_SCOPE_PLAYER | AUTH_SCOPE_ADMIN, NULL), AUTH_INVALID);
}
END_TEST

START_TEST(test_tampered_signature)
{
    char *t = sign("player-1", "guest", now, 900);
    char *h, *p, *s;
    split(t, &h, &p, &s);
    s[5] = s[5] == 'A' ? 'B' : 'A';
    char *forged = arena_sprintf(&arena, "%s.%s.%s", h, p, s);
    ck_assert_int_eq(verify(forged, AUTH_SCOPE_PLAYER, NULL), AUTH_INVALID);
    /* No signature at all. */
    forged = arena_sprintf(&arena, "%s.%s.", h, p);
    ck_assert_int_eq(verify(forged, AUTH_SCOPE_PLAYER, NULL), AUTH_INVALID);
    forged = arena_sprintf(&arena, "%s.%s", h, p);
    ck_assert_int_eq(verify(forged, AUTH_SCOPE_PLAYER, NULL), AUTH_INVALID);
}
END_TEST

/* alg "none" (libjwt would skip the signature), with and without a kid. */
static const char *const none_headers[] = {
    "{\"alg\":\"none\"}",
    "{\"alg\":\"none\",\"kid\":\"k1\"}",
    "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"k1\"}",
    "{\"alg\":\"None\",\"kid\":\"k1\"}",
    "{\"alg\":\"\",\"kid\":\"k1\"}",
    "{\"kid\":\"k1\"}",
    "{\"alg\":null,\"kid\":\"k1\"}",
    "{\"alg\":\"RS512\",\"kid\":\"k1\"}",
    "{\"alg\":\"rs256\",\"kid\":\"k1\"}",
    "{\"alg\":\"RS256\",\"kid\":\"k1\",\"crit\":[\"exp\"]}",
    "{\"alg\":\"RS256\",\"alg\":\"none\",\"kid\":\"k1\"}", /* duplicate keys */
};
#define NNONE (int)(sizeof(none_headers) / sizeof(none_headers[0]))

START_TEST(test_alg_none)
{
    char *t = sign("player-1", "guest", now, 900);
    char *h, *p, *s;
    split(t, &h, &p, &s);
    const char *hdr = none_headers[_i];
    char *h64 = util_b64url_encode(&arena, (const unsigned char *)hdr, strlen(hdr));
    if (_i == 0)
        ck_assert_str_eq(h64, "eyJhbGciOiJub25lIn0");
    /* With an empty signature, and with the real one. */
    char *forged = arena_sprintf(&arena, "%s.%s.", h64, p);
    ck_assert_msg(verify(forged, AUTH_SCOPE_PLAYER, NULL) == AUTH_INVALID, "%s accepted", hdr);
    forged = arena_sprintf(&arena, "%s.%s.%s", h64, p, s);
    ck_assert_msg(verify(forged, AUTH_SCOPE_PLAYER, NULL) == AUTH_INVALID, "%s accepted", hdr);
}
END_TEST

/* HS256 with the public key PEM as the HMAC secret: the classic confusion
 * libjwt 1.10.2 falls for when given the RSA public key. */
START_TEST(test_hs256_with_public_key)
{
    char *t = sign("player-1", "guest", now, 900);
    char *h, *p, *s;
    split(t, &h, &p, &s);
    static const char *const headers[] = {"{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}",
                                          "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"};
    for (size_t i = 0; i < 2; i++) {
        char *h64 =
            util_b64url_encode(&arena, (const unsigned char *)headers[i], strlen(headers[i]));
        char *input = arena_sprintf(&arena, "%s.%s", h64, p);
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int maclen = 0;
        ck_assert_ptr_nonnull(HMAC(EVP_sha256(), key1_pub_pem, (int)strlen(key1_pub_pem),
                                   (const unsigned char *)input, strlen(input), mac, &maclen));
        char *forged =
            arena_sprintf(&arena, "%s.%s", input, util_b64url_encode(&arena, mac, maclen));
        ck_assert_int_eq(verify(forged, AUTH_SCOPE_PLAYER, NULL), AUTH_INVALID);
    }
}
END_TEST

/* A kid we do not have, with a genuine signature by key 1. */
START_TEST(test_unknown_kid)
{
    json_t *g = good_grants();
    char *t = sign_custom("k9", g, NULL, NULL);
    ck_assert_int_eq(verify(t, AUTH_SCOPE_PLAYER, NULL), AUTH_INVALID);
    t = sign_custom(NULL, g, NULL, NULL); /* no kid at all */
    ck_assert_int_eq(verify(t, AUTH_SCOPE_PLAYER, NULL), AUTH_INVALID);
    /* The same claims under k1 pass: only the kid was wrong. */
    t = sign_custom("k1", g, NULL, NULL);
    ck_assert_int_eq(verify(t, AUTH_SCOPE_PLAYER, NULL), AUTH_OK);
    json_decref(g);
}
END_TEST

/* A token from a different key that claims kid k1. */
START_TEST(test_other_key_same_kid)
{
    ck_assert_int_eq(auth_keys_load(evil_dir, true), 0);
    ck_assert_str_eq(auth_current_kid(), "k1");
    char *t = sign("player-1", "guest", now, 900);
    ck_assert_int_eq(verify(t, AUTH_SCOPE_PLAYER, NULL), AUTH_OK); /* its own key set */
    ck_assert_int_eq(auth_keys_load(main_dir, true), 0);
    ck_assert_int_eq(verify(t, AUTH_SCOPE_PLAYER, NULL), AUTH_INVALID);
}
END_TEST

/* Rotation: previous-key tokens verify after rotation; new ones use k2. */
START_TEST(test_rotation)
{
    char *old = sign("player-1", "guest", now, 900);
    ck_assert_int_eq(auth_keys_load(rot_dir, true), 0);
    ck_assert_str_eq(auth_current_kid(), "k2");
    struct auth_claims c;
    ck_assert_int_eq(verify(old, AUTH_SCOPE_PLAYER, &c), AUTH_OK);
    ck_assert_str_eq(c.kid, "k1");
    char *fresh = sign("player-2", "guest", now, 900);
    ck_assert_int_eq(verify(fresh, AUTH_SCOPE_PLAYER, &c), AUTH_OK);
    ck_assert_str_eq(c.kid, "k2");
    /* Back on the old set, k2 is unknown. */
    ck_assert_int_eq(auth_keys_load(main_dir, true), 0);
    ck_assert_int_eq(verify(fresh, AUTH_SCOPE_PLAYER, NULL), AUTH_INVALID);
}
END_TEST

START_TEST(test_keys_load_errors)
{
    char *missing = arena_sprintf(&arena, "%s/nowhere", main_dir);
    ck_assert_int_eq(auth_keys_load(missing, false), -1);
    ck_assert_int_eq(auth_keys_load(NULL, false), -1);
    /* Verification-only load: no signing. */
    ck_assert_int_eq(auth_keys_load(main_dir, false), 0);
    ck_assert_ptr_null(auth_sign(&arena, "p", "guest", NULL, now, 900));
    /* rot holds only the public half of its previous key k1: fine. */
    ck_assert_int_eq(auth_keys_load(rot_dir, false), 0);
    ck_assert_str_eq(auth_current_kid(), "k2");
}
END_TEST

/* A verified token is remembered, but time and scope are checked on every
 * use, and a token the cache has seen is no more valid than it was. */
START_TEST(test_cached_token_rechecked)
{
    char *t = sign("player-1", "guest", now, 900);
    struct auth_claims c;
    ck_assert_int_eq(verify(t, AUTH_SCOPE_PLAYER, &c), AUTH_OK);
    ck_assert_int_eq(verify(t, AUTH_SCOPE_PLAYER, &c), AUTH_OK);
    ck_assert_str_eq(c.sub, "player-1");
    ck_assert_ptr_null(c.sid);
    ck_assert_str_eq(c.kid, "k1");
    ck_assert_int_eq(verify(t, AUTH_SCOPE_SERVER, NULL), AUTH_FORBIDDEN);
    int64_t saved = now;
    now += 900 + LEEWAY + 1;
    ck_assert_int_eq(verify(t, AUTH_SCOPE_PLAYER, NULL), AUTH_EXPIRED);
    now = saved - LEEWAY - 1;
    ck_assert_int_eq(verify(t, AUTH_SCOPE_PLAYER, NULL), AUTH_EXPIRED); /* before nbf */
    now = saved;
    ck_assert_int_eq(verify(t, AUTH_SCOPE_PLAYER, NULL), AUTH_OK);
    /* One byte off in the signature: a different token, verified afresh. */
    char *bad = arena_strdup(&arena, t);
    size_t n = strlen(bad);
    bad[n - 2] = bad[n - 2] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(verify(bad, AUTH_SCOPE_PLAYER, NULL), AUTH_INVALID);
    ck_assert_int_eq(verify(t, AUTH_SCOPE_PLAYER, NULL), AUTH_OK);
}
END_TEST

/* Our tokens verify under libjwt (a second implementation) with the public
 * PEM, and carry the claims we put in. */
START_TEST(test_libjwt_reads_our_tokens)
{
    char *t = auth_sign(&arena, "player-9", "authenticated", "family-9", now, 600);
    jwt_t *jwt = NULL;
    ck_assert_int_eq(
        jwt_decode(&jwt, t, (const unsigned char *)key1_pub_pem, (int)strlen(key1_pub_pem)), 0);
    ck_assert_int_eq(jwt_get_alg(jwt), JWT_ALG_RS256);
    ck_assert_str_eq(jwt_get_header(jwt, "kid"), "k1");
    ck_assert_str_eq(jwt_get_grant(jwt, "sub"), "player-9");
    ck_assert_str_eq(jwt_get_grant(jwt, "scope"), "authenticated");
    ck_assert_str_eq(jwt_get_grant(jwt, "sid"), "family-9");
    ck_assert_int_eq(jwt_get_grant_int(jwt, "exp"), now + 600);
    jwt_free(jwt);
}
END_TEST

/* A private key that is not the current public key's other half is refused
 * at load, rather than signing tokens nobody can verify. */
START_TEST(test_mismatched_signing_key)
{
    char dir[64];
    make_dir(dir);
    write_file(dir, "current", "k1\n");
    write_file(dir, "keys/k1.pub", key1_pub_pem);
    char path[128];
    snprintf(path, sizeof(path), "%s/keys/k1.key", evil_dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char pem[8192];
    size_t n = fread(pem, 1, sizeof(pem) - 1, f);
    fclose(f);
    pem[n] = '\0';
    write_file(dir, "keys/k1.key", pem);
    ck_assert_int_eq(auth_keys_load(dir, true), -1);
    ck_assert_ptr_null(auth_current_kid());
    ck_assert_int_eq(auth_keys_load(dir, false), 0); /* verifying alone is fine */
    remove_dir(dir);
}
END_TEST

/* ---- issuer, audience and required claims ------------------------------ */

START_TEST(test_wrong_issuer)
{
    load_cfg("https://other.test", AUDIENCE);
    char *t = sign("player-1", "guest", now, 900);
    load_cfg(ISSUER, AUDIENCE);
    ck_assert_int_eq(verify(t, AUTH_SCOPE_PLAYER, NULL), AUTH_INVALID);
}
END_TEST

START_TEST(test_wrong_audience)
{
    load_cfg(ISSUER, "other-audience");
    char *t = sign("player-1", "guest", now, 900);
    load_cfg(ISSUER, AUDIENCE);
    ck_assert_int_eq(verify(t, AUTH_SCOPE_PLAYER, NULL), AUTH_INVALID);
}
END_TEST

/* Claims auth_sign never writes, signed by key 1 under kid k1. */
static const struct {
    const char *claim;
    const char *json; /* new value, or NULL: remove the claim */
    enum auth_result want;
} claim_cases[] = {
    {"iss", NULL, AUTH_INVALID},
    {"iss", "\"https://rally.test/\"", AUTH_INVALID},
    {"iss", "5", AUTH_INVALID},
    {"aud", NULL, AUTH_INVALID},
    {"aud", "[\"x\",\"rally-test\"]", AUTH_OK}, /* an array holding ours */
    {"aud", "[\"x\",\"y\"]", AUTH_INVALID},
    {"aud", "[]", AUTH_INVALID},
    {"aud", "\"rally-test2\"", AUTH_INVALID},
    {"sub", NULL, AUTH_INVALID},
    {"sub", "\"\"", AUTH_INVALID},
    {"sub", "\"<129>\"", AUTH_INVALID},
    {"sub", "\"<128>\"", AUTH_OK},
    {"exp", NULL, AUTH_INVALID},
    {"nbf", NULL, AUTH_OK}, /* nbf is optional */
    {"scope", NULL, AUTH_INVALID},
};
#define NCLAIM (int)(sizeof(claim_cases) / sizeof(claim_cases[0]))

START_TEST(test_claims)
{
    json_t *g = good_grants();
    const char *text = claim_cases[_i].json;
    if (text == NULL) {
        json_object_del(g, claim_cases[_i].claim);
    } else if (strncmp(text, "\"<", 2) == 0) {
        size_t n = strtoul(text + 2, NULL, 10);
        char *v = arena_alloc(&arena, n + 1);
        memset(v, 's', n);
        json_object_set_new(g, claim_cases[_i].claim, json_string(v));
    } else {
        json_object_set_new(g, claim_cases[_i].claim, json_loads(text, JSON_DECODE_ANY, NULL));
    }
    char *t = sign_custom("k1", g, NULL, NULL);
    json_decref(g);
    enum auth_result rc = verify(t, AUTH_SCOPE_PLAYER, NULL);
    ck_assert_msg(rc == claim_cases[_i].want, "%s = %s: got %d, want %d", claim_cases[_i].claim,
                  text != NULL ? text : "(removed)", rc, claim_cases[_i].want);
}
END_TEST

START_TEST(test_crit_header)
{
    json_t *g = good_grants();
    char *t = sign_custom("k1", g, "crit", "exp");
    json_decref(g);
    ck_assert_int_eq(verify(t, AUTH_SCOPE_PLAYER, NULL), AUTH_INVALID);
}
END_TEST

/* ---- ES256, and rotations between the two algorithms --------------------- */

static void ec_setup(void)
{
    memset(&arena, 0, sizeof(arena));
    now = (int64_t)time(NULL);
    ck_assert_int_eq(auth_keys_load(ec_dir, true), 0);
}

/* verify(), keeping why. */
static enum auth_result verify_why(const char *token, const char **why)
{
    struct auth_claims c;
    return auth_verify(&arena, token, AUTH_SCOPE_PLAYER, now, &c, why);
}

/* An EC key signs ES256: header alg ES256, a signature of exactly R || S. */
START_TEST(test_es256_token)
{
    ck_assert_str_eq(auth_current_kid(), "e1");
    char *t = auth_sign(&arena, "player-1", "guest", "family-1", now, 900);
    ck_assert_ptr_nonnull(t);
    char *h, *p, *s;
    split(t, &h, &p, &s);
    json_t *hj = decode_part(h);
    ck_assert_str_eq(json_string_value(json_object_get(hj, "alg")), "ES256");
    ck_assert_str_eq(json_string_value(json_object_get(hj, "kid")), "e1");
    json_decref(hj);
    size_t n = 0;
    ck_assert_ptr_nonnull(util_b64url_decode(&arena, s, strlen(s), &n));
    ck_assert_uint_eq(n, 64);
    struct auth_claims c;
    ck_assert_int_eq(verify(t, AUTH_SCOPE_PLAYER, &c), AUTH_OK);
    ck_assert_str_eq(c.sub, "player-1");
    ck_assert_str_eq(c.kid, "e1");
    ck_assert_pstr_eq(c.sid, "family-1");
    /* ECDSA signs with a fresh nonce: the same claims, another signature. */
    ck_assert_str_ne(t, auth_sign(&arena, "player-1", "guest", "family-1", now, 900));
}
END_TEST

/* RS256 -> ES256: the RS256 tokens issued before the rotation verify until
 * they expire; the new key signs ES256; and back again. */
START_TEST(test_rotation_across_algorithms)
{
    ck_assert_int_eq(auth_keys_load(main_dir, true), 0);
    char *rs = sign("player-1", "guest", now, 900);
    ck_assert_int_eq(auth_keys_load(ec_dir, true), 0);
    char *es = sign("player-2", "guest", now, 900);
    struct auth_claims c;
    ck_assert_int_eq(verify(rs, AUTH_SCOPE_PLAYER, &c), AUTH_OK);
    ck_assert_str_eq(c.kid, "k1");
    ck_assert_int_eq(verify(es, AUTH_SCOPE_PLAYER, &c), AUTH_OK);
    ck_assert_str_eq(c.kid, "e1");

    ck_assert_int_eq(auth_keys_load(back_dir, true), 0);
    ck_assert_str_eq(auth_current_kid(), "k1");
    ck_assert_int_eq(verify(es, AUTH_SCOPE_PLAYER, &c), AUTH_OK);
    ck_assert_str_eq(c.kid, "e1");
    ck_assert_int_eq(verify(sign("player-3", "guest", now, 900), AUTH_SCOPE_PLAYER, &c), AUTH_OK);
    ck_assert_str_eq(c.kid, "k1");
    /* Once e1 is retired, its tokens stop. */
    ck_assert_int_eq(auth_keys_load(main_dir, true), 0);
    ck_assert_int_eq(verify(es, AUTH_SCOPE_PLAYER, NULL), AUTH_INVALID);
}
END_TEST

/* A header must name its own key's algorithm: RS256 under the EC kid, or
 * ES256 under the RSA kid, is refused before any signature is checked. */
START_TEST(test_alg_must_match_key)
{
    json_t *g = good_grants();
    const char *why = NULL;
    /* Genuine RSA signatures by k1, claiming kid e1. */
    char *t = sign_with(JWT_ALG_RS256, key1_priv_pem, "e1", g, NULL, NULL);
    ck_assert_int_eq(verify_why(t, &why), AUTH_INVALID);
    ck_assert_str_eq(why, "token algorithm is not its key's");
    /* Genuine ECDSA signatures by e1, claiming kid k1. */
    t = sign_with(JWT_ALG_ES256, ec_priv_pem, "k1", g, NULL, NULL);
    ck_assert_int_eq(verify_why(t, &why), AUTH_INVALID);
    ck_assert_str_eq(why, "token algorithm is not its key's");
    /* An ES256 token whose header is rewritten to RS256, kid kept. */
    char *h, *p, *s;
    split(auth_sign(&arena, "player-1", "guest", NULL, now, 900), &h, &p, &s);
    json_t *hdr = json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT", "kid", "e1");
    t = arena_sprintf(&arena, "%s.%s.%s", b64url_json(hdr), p, s);
    json_decref(hdr);
    ck_assert_int_eq(verify_why(t, &why), AUTH_INVALID);
    /* ES384 and ES512 are not ES256. */
    hdr = json_pack("{s:s, s:s}", "alg", "ES384", "kid", "e1");
    t = arena_sprintf(&arena, "%s.%s.%s", b64url_json(hdr), p, s);
    json_decref(hdr);
    ck_assert_int_eq(verify_why(t, &why), AUTH_INVALID);
    ck_assert_str_eq(why, "token algorithm must be ES256 or RS256");
    /* The right pairs pass: only the headers were wrong. */
    ck_assert_int_eq(verify_why(sign_with(JWT_ALG_ES256, ec_priv_pem, "e1", g, NULL, NULL), &why),
                     AUTH_OK);
    ck_assert_int_eq(verify_why(sign_with(JWT_ALG_RS256, key1_priv_pem, "k1", g, NULL, NULL), &why),
                     AUTH_OK);
    json_decref(g);
}
END_TEST

/* JWS's ES256 signature is R || S. The same signature in DER (which
 * OpenSSL itself would take), or R || S one byte short or long, is refused. */
START_TEST(test_es256_signature_form)
{
    char *h, *p, *s;
    split(auth_sign(&arena, "player-1", "guest", NULL, now, 900), &h, &p, &s);
    size_t n = 0;
    unsigned char *raw = util_b64url_decode(&arena, s, strlen(s), &n);
    ck_assert_uint_eq(n, 64);

    ECDSA_SIG *sig = ECDSA_SIG_new();
    ck_assert_int_eq(ECDSA_SIG_set0(sig, BN_bin2bn(raw, 32, NULL), BN_bin2bn(raw + 32, 32, NULL)),
                     1);
    unsigned char *der = NULL;
    int dn = i2d_ECDSA_SIG(sig, &der);
    ck_assert_int_gt(dn, 0);
    const char *why = NULL;
    char *t = arena_sprintf(&arena, "%s.%s.%s", h, p, util_b64url_encode(&arena, der, (size_t)dn));
    ck_assert_int_eq(verify_why(t, &why), AUTH_INVALID);
    ck_assert_str_eq(why, "token signature is invalid");
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);

    t = arena_sprintf(&arena, "%s.%s.%s", h, p, util_b64url_encode(&arena, raw, 63));
    ck_assert_int_eq(verify_why(t, &why), AUTH_INVALID);
    unsigned char longer[65];
    memcpy(longer, raw, 64);
    longer[64] = 0;
    t = arena_sprintf(&arena, "%s.%s.%s", h, p, util_b64url_encode(&arena, longer, 65));
    ck_assert_int_eq(verify_why(t, &why), AUTH_INVALID);
    /* R || S with S changed: a wrong signature. */
    raw[40] ^= 1;
    t = arena_sprintf(&arena, "%s.%s.%s", h, p, util_b64url_encode(&arena, raw, 64));
    ck_assert_int_eq(verify_why(t, &why), AUTH_INVALID);
    ck_assert_str_eq(why, "token signature is invalid");
}
END_TEST

/* libjwt (a second implementation) verifies our ES256 tokens, and we
 * verify its. */
START_TEST(test_libjwt_es256_both_ways)
{
    char *t = auth_sign(&arena, "player-9", "authenticated", "family-9", now, 600);
    jwt_t *jwt = NULL;
    ck_assert_int_eq(
        jwt_decode(&jwt, t, (const unsigned char *)ec_pub_pem, (int)strlen(ec_pub_pem)), 0);
    ck_assert_int_eq(jwt_get_alg(jwt), JWT_ALG_ES256);
    ck_assert_str_eq(jwt_get_header(jwt, "kid"), "e1");
    ck_assert_str_eq(jwt_get_grant(jwt, "sub"), "player-9");
    ck_assert_str_eq(jwt_get_grant(jwt, "sid"), "family-9");
    jwt_free(jwt);

    json_t *g = good_grants();
    struct auth_claims c;
    ck_assert_int_eq(
        verify(sign_with(JWT_ALG_ES256, ec_priv_pem, "e1", g, NULL, NULL), AUTH_SCOPE_PLAYER, &c),
        AUTH_OK);
    ck_assert_str_eq(c.sub, "player-1");
    json_decref(g);
}
END_TEST

/* Only P-256 is ES256: a P-384 key is refused at load. */
START_TEST(test_other_curve_refused)
{
    ck_assert_int_eq(auth_keys_load(p384_dir, false), -1);
    ck_assert_ptr_null(auth_current_kid());
}
END_TEST

static Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("auth");
    tcase_add_unchecked_fixture(tc, keys_setup, keys_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_valid_token);
    tcase_add_test(tc, test_no_sid_and_unique_jti);
    tcase_add_loop_test(tc, test_authorization_header, 0, NHEADER);
    tcase_add_test(tc, test_null_header);
    tcase_add_test(tc, test_oversized_token);
    tcase_add_loop_test(tc, test_scopes, 0, NSCOPE);
    tcase_add_test(tc, test_scope_bits);
    tcase_add_loop_test(tc, test_time, 0, NTIME);
    tcase_add_loop_test(tc, test_tampered_payload, 0,
                        (int)(sizeof(tamper_cases) / sizeof(tamper_cases[0])));
    tcase_add_test(tc, test_tampered_signature);
    tcase_add_loop_test(tc, test_alg_none, 0, NNONE);
    tcase_add_test(tc, test_hs256_with_public_key);
    tcase_add_test(tc, test_unknown_kid);
    tcase_add_test(tc, test_other_key_same_kid);
    tcase_add_test(tc, test_rotation);
    tcase_add_test(tc, test_keys_load_errors);
    tcase_add_test(tc, test_cached_token_rechecked);
    tcase_add_test(tc, test_libjwt_reads_our_tokens);
    tcase_add_test(tc, test_mismatched_signing_key);
    tcase_add_test(tc, test_wrong_issuer);
    tcase_add_test(tc, test_wrong_audience);
    tcase_add_loop_test(tc, test_claims, 0, NCLAIM);
    tcase_add_test(tc, test_crit_header);
    suite_add_tcase(s, tc);

    TCase *ec = tcase_create("es256");
    tcase_add_unchecked_fixture(ec, keys_setup, keys_teardown);
    tcase_add_checked_fixture(ec, ec_setup, teardown);
    tcase_set_timeout(ec, 30);
    tcase_add_test(ec, test_es256_token);
    tcase_add_test(ec, test_rotation_across_algorithms);
    tcase_add_test(ec, test_alg_must_match_key);
    tcase_add_test(ec, test_es256_signature_form);
    tcase_add_test(ec, test_libjwt_es256_both_ways);
    tcase_add_test(ec, test_other_curve_refused);
    suite_add_tcase(s, ec);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(auth_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
