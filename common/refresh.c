/*
 * Refresh tokens (refresh.h): the layout, and the HMAC over it through
 * OpenSSL's EVP_MAC, fetched once per process.
 */
#include "refresh.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "auth.h"
#include "util.h"

enum {
    VERSION = 2,
    UUID_LEN = 16,
    NONCE_LEN = 16,
    MAC_LEN = 32,
    OFF_FAMILY = 1,
    OFF_USER = OFF_FAMILY + UUID_LEN,
    OFF_EXP = OFF_USER + UUID_LEN,
    OFF_NONCE = OFF_EXP + 8,
    OFF_MAC = OFF_NONCE + NONCE_LEN,
    TOKEN_LEN = OFF_MAC + MAC_LEN,
};

/* HMAC-SHA256 of data under secret (AUTH_SECRET_LEN bytes). A context keyed
 * with each secret is kept and copied for each use: keying one looks the
 * digest up by name again (OpenSSL 3), which costs more than the MAC. */
static bool mac(const unsigned char *secret, const unsigned char *data, size_t len,
                unsigned char out[MAC_LEN])
{
    static EVP_MAC *hmac; /* fetched once, never freed */
    static struct {
        unsigned char secret[AUTH_SECRET_LEN];
        EVP_MAC_CTX *keyed; /* owned */
    } keyed[2];
    static size_t next; /* the slot a new secret takes */

    if (hmac == NULL && (hmac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
        return false;
    EVP_MAC_CTX *base = NULL;
    for (size_t i = 0; i < 2 && base == NULL; i++)
        if (keyed[i].keyed != NULL && memcmp(keyed[i].secret, secret, AUTH_SECRET_LEN) == 0)
            base = keyed[i].keyed;
    if (base == NULL) { /* a secret not seen yet: a key reload */
        char digest[] = "SHA256";
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
            OSSL_PARAM_construct_end(),
        };
        EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac);
        if (ctx == NULL || EVP_MAC_init(ctx, secret, AUTH_SECRET_LEN, params) != 1) {
            EVP_MAC_CTX_free(ctx);
            return false;
        }
        EVP_MAC_CTX_free(keyed[next].keyed);
        OPENSSL_cleanse(keyed[next].secret, AUTH_SECRET_LEN);
        memcpy(keyed[next].secret, secret, AUTH_SECRET_LEN);
        keyed[next].keyed = base = ctx;
        next = (next + 1) % 2;
    }
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(base);
    size_t n = 0;
    bool ok = ctx != NULL && EVP_MAC_update(ctx, data, len) == 1 &&
              EVP_MAC_final(ctx, out, &n, MAC_LEN) == 1 && n == MAC_LEN;
    EVP_MAC_CTX_free(ctx);
    return ok;
}

static void uuid_text(const unsigned char b[UUID_LEN], char out[37])
{
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

char *refresh_issue(struct arena *a, const char *family, const char *user, int64_t exp)
{
    const unsigned char *secret = auth_refresh_secret(0);
    unsigned char t[TOKEN_LEN];
    if (secret == NULL || !util_uuid_parse(family, t + OFF_FAMILY) ||
        !util_uuid_parse(user, t + OFF_USER))
        return NULL;
    t[0] = VERSION;
    for (int i = 0; i < 8; i++)
        t[OFF_EXP + i] = (unsigned char)((uint64_t)exp >> (56 - 8 * i));
    util_random(t + OFF_NONCE, NONCE_LEN);
    if (!mac(secret, t, OFF_MAC, t + OFF_MAC))
        return NULL;
    return util_b64url_encode(a, t, sizeof(t));
}

int refresh_read(struct arena *a, const char *token, int64_t now, struct refresh_token *out)
{
    size_t n = 0;
    size_t len = strlen(token);
    /* 119 characters of base64url, nothing else. */
    unsigned char *t =
        len == (TOKEN_LEN * 4 + 2) / 3 ? util_b64url_decode(a, token, len, &n) : NULL;
    if (t == NULL || n != TOKEN_LEN || t[0] != VERSION)
        return -1;
    /* Only the one encoding of these bytes: base64url leaves the last
     * character's two low bits unused, and three other spellings of a token
     * would otherwise pass as new tokens, each with a digest of its own, past
     * reuse detection (which keys on the token's digest). */
    if (strcmp(util_b64url_encode(a, t, n), token) != 0)
        return -1;
    bool ours = false;
    unsigned char want[MAC_LEN];
    for (size_t i = 0; i < 2; i++) {
        const unsigned char *secret = auth_refresh_secret(i);
        if (secret != NULL && mac(secret, t, OFF_MAC, want) &&
            CRYPTO_memcmp(want, t + OFF_MAC, MAC_LEN) == 0)
            ours = true;
    }
    uint64_t exp = 0;
    for (int i = 0; i < 8; i++)
        exp = exp << 8 | t[OFF_EXP + i];
    if (!ours || exp > (uint64_t)INT64_MAX || (int64_t)exp <= now)
        return -1;
    uuid_text(t + OFF_FAMILY, out->family);
    uuid_text(t + OFF_USER, out->user);
    out->exp = (int64_t)exp;
    return 0;
}
