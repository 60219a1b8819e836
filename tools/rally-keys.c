/*
 * rally-keys: creates and rotates the token signing keys, writes the JWKS
 * and OpenID configuration that nginx serves, and mints tokens for tests and
 * benchmarks.
 *
 *   rally-keys init DIR [ALG]        first key (no-op if DIR/current exists)
 *   rally-keys rotate DIR [ALG]      new current key; old current -> previous;
 *                                    keys older than previous are deleted
 *                                    ALG: ES256 (EC P-256, the default: a
 *                                    tenth of RSA's signing cost) or RS256
 *                                    (RSA-2048, for verifiers that take
 *                                    nothing else). A rotation may change
 *                                    it: tokens of both keys verify.
 *   rally-keys jwks DIR OUTDIR       OUTDIR/jwks.json + openid-configuration
 *   rally-keys mint DIR SCOPE COUNT [TTL]
 *                                    COUNT lines "sub token" (random subs)
 *   rally-keys aws-key DIR PRINCIPAL backend|fleet:FLEET_ID
 *                                    a new AWS access key for the GameLift
 *                                    API (common/awsauth.h): DIR/<id>.json,
 *                                    mode 0600; prints "id secret". Delete
 *                                    the file to revoke the key.
 *   rally-keys admin-password FILE NAME
 *                                    an operator's password, read from stdin
 *                                    (its first line), into FILE (mode 0600)
 *                                    as NAME's PBKDF2 digest (common/password.h),
 *                                    replacing NAME's earlier one; auth-guest's
 *                                    admin login (RALLY_ADMIN_FILE) checks it
 *
 * After `rotate`, send SIGHUP to each function master (or restart) so workers
 * load the new kid set; tokens signed with the previous key stay valid until
 * they expire. The issuer comes from RALLY_JWT_ISSUER.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
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
#include "log.h"
#include "password.h"
#include "util.h"

static int usage(void)
{
    fprintf(stderr, "usage: rally-keys init DIR [ES256|RS256] | rotate DIR [ES256|RS256] | "
                    "jwks DIR OUTDIR | "
                    "mint DIR SCOPE COUNT [TTL] | aws-key DIR PRINCIPAL backend|fleet:ID | "
                    "admin-password FILE NAME\n");
    return 2;
}

static int write_text(const char *path, const char *text, mode_t mode)
{
    char tmp[1100];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    /* Made with its mode: a secret is never readable by others, even for
     * the moment before a chmod. */
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "rally-keys: could not write %s: %s\n", tmp, strerror(errno));
        if (f == NULL && fd >= 0)
            close(fd);
        return -1;
    }
    /* rename() makes the switch atomic for readers. */
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "rally-keys: could not rename %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    return 0;
}

static int read_kid(const char *dir, const char *name, char *out, size_t cap)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    int ok = fgets(out, (int)cap, f) != NULL;
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return ok && out[0] != '\0' ? 0 : -1;
}

/* Generates a key for alg (ES256: EC P-256, RS256: RSA-2048) under a new
 * kid; writes DIR/keys/<kid>.{key,pub}. */
static int new_key(const char *dir, const char *alg, char *kid, size_t cap)
{
    char path[1024];
    unsigned char rnd[3];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    util_random(rnd, sizeof(rnd));
    snprintf(kid, cap, "k%04d%02d%02d%02d%02d%02d-%02x%02x%02x", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, rnd[0], rnd[1], rnd[2]);

    snprintf(path, sizeof(path), "%s/keys", dir);
    mkdir(dir, 0700);
    mkdir(path, 0700);

    EVP_PKEY *pkey = strcmp(alg, "RS256") == 0 ? EVP_RSA_gen(2048) : EVP_EC_gen("prime256v1");
    if (pkey == NULL) {
        fprintf(stderr, "rally-keys: could not generate an %s key\n", alg);
        return -1;
    }
    int rc = -1;
    snprintf(path, sizeof(path), "%s/keys/%s.key", dir, kid);
    mode_t old = umask(077);
    FILE *f = fopen(path, "w");
    umask(old);
    if (f != NULL && PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) == 1 &&
        fclose(f) == 0) {
        f = NULL;
        snprintf(path, sizeof(path), "%s/keys/%s.pub", dir, kid);
        f = fopen(path, "w");
        if (f != NULL && PEM_write_PUBKEY(f, pkey) == 1 && fclose(f) == 0) {
            f = NULL;
            rc = 0;
        }
    }
    if (f != NULL)
        fclose(f);
    if (rc != 0)
        fprintf(stderr, "rally-keys: could not write %s\n", path);
    EVP_PKEY_free(pkey);
    return rc;
}

static int cmd_init(const char *dir, const char *alg)
{
    char kid[128];
    char path[1024];
    if (read_kid(dir, "current", kid, sizeof(kid)) == 0) {
        printf("%s\n", kid);
        return 0;
    }
    if (new_key(dir, alg, kid, sizeof(kid)) < 0)
        return 1;
    snprintf(path, sizeof(path), "%s/current", dir);
    if (write_text(path, kid, 0600) < 0)
        return 1;
    printf("%s\n", kid);
    return 0;
}

static int cmd_rotate(const char *dir, const char *alg)
{
    char cur[128], kid[128], path[1024], text[160];
    if (read_kid(dir, "current", cur, sizeof(cur)) < 0) {
        fprintf(stderr, "rally-keys: %s has no current key: run init first\n", dir);
        return 1;
    }
    if (new_key(dir, alg, kid, sizeof(kid)) < 0)
        return 1;
    snprintf(path, sizeof(path), "%s/previous", dir);
    snprintf(text, sizeof(text), "%s\n", cur);
    if (write_text(path, text, 0600) < 0)
        return 1;
    snprintf(path, sizeof(path), "%s/current", dir);
    snprintf(text, sizeof(text), "%s\n", kid);
    if (write_text(path, text, 0600) < 0)
        return 1;

    /* Keys older than the previous one verify nothing any more. */
    snprintf(path, sizeof(path), "%s/keys", dir);
    DIR *d = opendir(path);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        size_t cl = strlen(cur), kl = strlen(kid);
        if (e->d_name[0] == '.' || (strncmp(e->d_name, cur, cl) == 0 && e->d_name[cl] == '.') ||
            (strncmp(e->d_name, kid, kl) == 0 && e->d_name[kl] == '.'))
            continue;
        char old[1400];
        snprintf(old, sizeof(old), "%s/%s", path, e->d_name);
        unlink(old);
    }
    if (d != NULL)
        closedir(d);
    printf("%s\n", kid);
    return 0;
}

/* An EC P-256 public key's JWK (RFC 7518 §6.2): x and y, 32 bytes each. */
static json_t *ec_jwk(struct arena *a, EVP_PKEY *pkey, const char *kid)
{
    BIGNUM *x = NULL, *y = NULL;
    json_t *jwk = NULL;
    unsigned char xb[32], yb[32];
    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
        EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1 &&
        BN_bn2binpad(x, xb, sizeof(xb)) == sizeof(xb) &&
        BN_bn2binpad(y, yb, sizeof(yb)) == sizeof(yb))
        jwk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "use", "sig", "alg",
                        "ES256", "kid", kid, "crv", "P-256", "x",
                        util_b64url_encode(a, xb, sizeof(xb)), "y",
                        util_b64url_encode(a, yb, sizeof(yb)));
    BN_free(x);
    BN_free(y);
    return jwk;
}

/* An RSA public key's JWK (RFC 7518 §6.3): n and e. */
static json_t *rsa_jwk(struct arena *a, EVP_PKEY *pkey, const char *kid)
{
    BIGNUM *n = NULL, *e = NULL;
    json_t *jwk = NULL;
    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
        EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) == 1) {
        unsigned char nb[1024], eb[16];
        int nl = BN_bn2bin(n, nb);
        int el = BN_bn2bin(e, eb);
        jwk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "use", "sig", "alg",
                        "RS256", "kid", kid, "n", util_b64url_encode(a, nb, (size_t)nl), "e",
                        util_b64url_encode(a, eb, (size_t)el));
    }
    BN_free(n);
    BN_free(e);
    return jwk;
}

/* The JWK of DIR's key kid, by its type (common/auth.h); NULL if unreadable. */
static json_t *jwk_of(struct arena *a, const char *dir, const char *kid)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/keys/%s.pub", dir, kid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    EVP_PKEY *pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    json_t *jwk = NULL;
    if (pkey != NULL && EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC)
        jwk = ec_jwk(a, pkey, kid);
    else if (pkey != NULL && EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA)
        jwk = rsa_jwk(a, pkey, kid);
    EVP_PKEY_free(pkey);
    return jwk;
}

static int write_json(const char *path, json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2));
    int rc = s != NULL ? write_text(path, s, 0644) : -1;
    free(s);
    return rc;
}

static int cmd_jwks(const char *dir, const char *outdir)
{
    struct arena a = {0};
    char kid[128], prev[128], path[1024];
    int rc = 1;
    cfg_load("rally-keys");
    if (read_kid(dir, "current", kid, sizeof(kid)) < 0) {
        fprintf(stderr, "rally-keys: %s has no current key\n", dir);
        return 1;
    }
    json_t *keys = json_array();
    json_t *cur = jwk_of(&a, dir, kid);
    if (cur == NULL) {
        fprintf(stderr, "rally-keys: %s/keys/%s.pub is not a key\n", dir, kid);
        json_decref(keys);
        arena_destroy(&a);
        return 1;
    }
    json_array_append_new(keys, cur);
    /* The algorithms the set verifies, the current key's first. */
    json_t *algs = json_pack("[O]", json_object_get(cur, "alg"));
    if (read_kid(dir, "previous", prev, sizeof(prev)) == 0 && strcmp(prev, kid) != 0) {
        json_t *p = jwk_of(&a, dir, prev);
        if (p != NULL) {
            json_array_append_new(keys, p);
            if (!json_equal(json_object_get(p, "alg"), json_object_get(cur, "alg")))
                json_array_append(algs, json_object_get(p, "alg"));
        }
    }
    json_t *jwks = json_pack("{s:o}", "keys", keys);
    char jwks_uri[600];
    snprintf(jwks_uri, sizeof(jwks_uri), "%s/.well-known/jwks.json", cfg->jwt_issuer);
    json_t *oidc =
        json_pack("{s:s, s:s, s:o, s:[s], s:[s,s,s,s], s:[s]}", "issuer", cfg->jwt_issuer,
                  "jwks_uri", jwks_uri, "id_token_signing_alg_values_supported", algs,
                  "response_types_supported", "token", "scopes_supported", "guest", "authenticated",
                  "server", "admin", "subject_types_supported", "public");
    snprintf(path, sizeof(path), "%s/jwks.json", outdir);
    if (write_json(path, jwks) == 0) {
        snprintf(path, sizeof(path), "%s/openid-configuration", outdir);
        rc = write_json(path, oidc) == 0 ? 0 : 1;
    }
    json_decref(jwks);
    json_decref(oidc);
    arena_destroy(&a);
    return rc;
}

static int cmd_mint(const char *dir, const char *scope, long count, long ttl)
{
    struct arena a = {0};
    cfg_load("rally-keys");
    if (auth_keys_load(dir, true) < 0)
        return 1;
    int64_t now = util_now();
    for (long i = 0; i < count; i++) {
        char sub[37], sid[37];
        util_uuid(sub);
        util_uuid(sid);
        char *tok = auth_sign(&a, sub, scope, sid, now, ttl);
        if (tok == NULL)
            return 1;
        printf("%s %s\n", sub, tok);
        arena_reset(&a);
    }
    arena_destroy(&a);
    auth_keys_free();
    return 0;
}

/* An access key id as AWS makes them: AKIA and 16 of [A-Z2-7]. */
static void new_access_key_id(char out[21])
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned char r[16];
    util_random(r, sizeof(r));
    memcpy(out, "AKIA", 4);
    for (int i = 0; i < 16; i++)
        out[4 + i] = alphabet[r[i] & 31];
    out[20] = '\0';
}

static int cmd_aws_key(const char *dir, const char *principal, const char *scope)
{
    const char *fleet = strncmp(scope, "fleet:", 6) == 0 ? scope + 6 : NULL;
    if ((strcmp(scope, "backend") != 0 && (fleet == NULL || strncmp(fleet, "fleet-", 6) != 0 ||
                                           !util_is_token(fleet, 128, "-_."))) ||
        !util_is_token(principal, 128, "-_.@")) {
        fprintf(stderr, "rally-keys: aws-key takes a principal of [A-Za-z0-9-_.@] and backend "
                        "or fleet:fleet-<id>\n");
        return 2;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "rally-keys: could not make %s: %s\n", dir, strerror(errno));
        return 1;
    }
    char id[21], path[1100];
    unsigned char raw[30];
    new_access_key_id(id);
    util_random(raw, sizeof(raw));
    struct arena a = {0};
    /* 40 characters of base64, as AWS's secrets look. */
    char *secret = util_b64url_encode(&a, raw, sizeof(raw));
    json_t *key = json_pack("{s:s, s:s, s:s, s:s}", "AccessKeyId", id, "SecretAccessKey", secret,
                            "Principal", principal, "Scope", fleet != NULL ? "fleet" : "backend");
    if (fleet != NULL)
        json_object_set_new(key, "FleetId", json_string(fleet));
    char *text = json_dumps(key, JSON_INDENT(2));
    snprintf(path, sizeof(path), "%s/%s.json", dir, id);
    int rc = text != NULL && write_text(path, text, 0600) == 0 ? 0 : 1;
    if (rc == 0)
        printf("%s %s\n", id, secret);
    free(text);
    json_decref(key);
    arena_destroy(&a);
    return rc;
}

/* FILE's lines, NAME's replaced by "NAME:<digest of the password on stdin>". */
static int cmd_admin_password(const char *file, const char *name)
{
    if (!util_is_token(name, 64, "-_.@")) {
        fprintf(stderr, "rally-keys: an admin's name is 1 to 64 of [A-Za-z0-9-_.@]\n");
        return 2;
    }
    char password[1024];
    if (fgets(password, sizeof(password), stdin) == NULL) {
        fprintf(stderr, "rally-keys: admin-password reads the password from stdin\n");
        return 2;
    }
    password[strcspn(password, "\r\n")] = '\0';
    if (strlen(password) < 12) {
        fprintf(stderr, "rally-keys: an admin's password is at least 12 characters\n");
        return 2;
    }
    struct arena a = {0};
    char *digest = password_hash(&a, password, PASSWORD_ITERATIONS);
    OPENSSL_cleanse(password, sizeof(password));
    /* The other admins' lines, kept. */
    char *kept = arena_strdup(&a, "");
    FILE *f = fopen(file, "re");
    char line[1024];
    size_t nlen = strlen(name);
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, name, nlen) != 0 || line[nlen] != ':')
            kept = arena_sprintf(&a, "%s%s", kept, line);
    if (f != NULL)
        fclose(f);
    int rc = 1;
    if (digest != NULL &&
        write_text(file, arena_sprintf(&a, "%s%s:%s\n", kept, name, digest), 0600) == 0)
        rc = 0;
    arena_destroy(&a);
    return rc;
}

int main(int argc, char **argv)
{
    log_init("rally-keys");
    const char *alg = argc == 4 ? argv[3] : "ES256";
    bool alg_ok = strcmp(alg, "ES256") == 0 || strcmp(alg, "RS256") == 0;
    if ((argc == 3 || argc == 4) && alg_ok && strcmp(argv[1], "init") == 0)
        return cmd_init(argv[2], alg);
    if ((argc == 3 || argc == 4) && alg_ok && strcmp(argv[1], "rotate") == 0)
        return cmd_rotate(argv[2], alg);
    if (argc == 4 && strcmp(argv[1], "jwks") == 0)
        return cmd_jwks(argv[2], argv[3]);
    if ((argc == 5 || argc == 6) && strcmp(argv[1], "mint") == 0) {
        long count = strtol(argv[4], NULL, 10);
        long ttl = argc == 6 ? strtol(argv[5], NULL, 10) : 900;
        if (auth_scope_bit(argv[3]) == 0 || count < 1 || count > 10000000)
            return usage();
        return cmd_mint(argv[2], argv[3], count, ttl);
    }
    if (argc == 5 && strcmp(argv[1], "aws-key") == 0)
        return cmd_aws_key(argv[2], argv[3], argv[4]);
    if (argc == 4 && strcmp(argv[1], "admin-password") == 0)
        return cmd_admin_password(argv[2], argv[3]);
    return usage();
}
