/* Operators' password digests (password.h). */
#include "password.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "util.h"

#define SALT_BYTES 16
#define DIGEST_BYTES 32
#define PREFIX "pbkdf2-sha256$"

static bool derive(const char *password, const unsigned char *salt, size_t salt_len, int iterations,
                   unsigned char out[DIGEST_BYTES])
{
    return PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len, iterations,
                             EVP_sha256(), DIGEST_BYTES, out) == 1;
}

char *password_hash(struct arena *a, const char *password, int iterations)
{
    unsigned char salt[SALT_BYTES], digest[DIGEST_BYTES];
    util_random(salt, sizeof(salt));
    if (!derive(password, salt, sizeof(salt), iterations, digest))
        return NULL;
    return arena_sprintf(a, PREFIX "%d$%s$%s", iterations,
                         util_b64url_encode(a, salt, sizeof(salt)),
                         util_b64url_encode(a, digest, sizeof(digest)));
}

bool password_check(struct arena *a, const char *password, const char *stored)
{
    /* A form that does not parse is checked against a fixed salt at the
     * default cost, so an unknown name costs what a known one does. */
    static const unsigned char dummy_salt[SALT_BYTES] = {0};
    int iterations = PASSWORD_ITERATIONS;
    const unsigned char *salt = dummy_salt;
    size_t salt_len = sizeof(dummy_salt), want_len = 0;
    unsigned char *want = NULL;
    bool parsed = false;
    if (stored != NULL && strncmp(stored, PREFIX, strlen(PREFIX)) == 0) {
        const char *p = stored + strlen(PREFIX);
        char *end = NULL;
        long n = strtol(p, &end, 10);
        const char *s1 = end != NULL && *end == '$' ? end + 1 : NULL;
        const char *s2 = s1 != NULL ? strchr(s1, '$') : NULL;
        if (n >= 1000 && n <= 10000000 && s2 != NULL) {
            size_t got = 0;
            unsigned char *s = util_b64url_decode(a, s1, (size_t)(s2 - s1), &got);
            want = util_b64url_decode(a, s2 + 1, strlen(s2 + 1), &want_len);
            if (s != NULL && got >= 8 && want != NULL && want_len == DIGEST_BYTES) {
                iterations = (int)n;
                salt = s;
                salt_len = got;
                parsed = true;
            }
        }
    }
    unsigned char digest[DIGEST_BYTES];
    bool derived = derive(password, salt, salt_len, iterations, digest);
    bool same = parsed && derived && CRYPTO_memcmp(digest, want, DIGEST_BYTES) == 0;
    OPENSSL_cleanse(digest, sizeof(digest));
    return same;
}
