/* The scrape token, and whether metrics are on (metrics_auth.h). */
#include "metrics_auth.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cfg.h"
#include "log.h"
#include "metrics.h"

#define TOKEN_MIN 16
#define TOKEN_MAX 256

/* SHA-256 of the token: what a presented token's digest is compared with,
 * so the comparison takes the same time whatever the lengths. */
static unsigned char token_digest[32];
static bool have_token;
static char token_text[TOKEN_MAX + 1];

static void digest(const char *s, size_t len, unsigned char out[32])
{
    unsigned int n = 0;
    EVP_Digest(s, len, out, &n, EVP_sha256(), NULL);
}

static int load_token(const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        log_error("metrics: cannot read RALLY_METRICS_TOKEN_FILE %s: %s", path, strerror(errno));
        return -1;
    }
    char buf[TOKEN_MAX + 2];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    bool printable = n >= TOKEN_MIN && n <= TOKEN_MAX;
    for (size_t i = 0; printable && i < n; i++)
        printable = buf[i] > ' ' && buf[i] < 127;
    if (!printable) {
        OPENSSL_cleanse(buf, sizeof(buf));
        log_error("metrics: %s must hold %d to %d printable bytes", path, TOKEN_MIN, TOKEN_MAX);
        return -1;
    }
    digest(buf, n, token_digest);
    memcpy(token_text, buf, n);
    token_text[n] = '\0';
    OPENSSL_cleanse(buf, sizeof(buf));
    have_token = true;
    return 0;
}

int metrics_setup(int slices)
{
    const char *mode = cfg_env_str("RALLY_METRICS", "on");
    if (strcmp(mode, "off") == 0)
        return 0;
    if (strcmp(mode, "on") != 0) {
        log_error("metrics: RALLY_METRICS is on or off, not %s", mode);
        return -1;
    }
    const char *path = cfg_env_str("RALLY_METRICS_TOKEN_FILE", NULL);
    if (path != NULL && load_token(path) < 0)
        return -1;
    metrics_init(slices);
    return 0;
}

bool metrics_authorized(const char *authorization)
{
    if (!have_token || authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
        return false;
    const char *t = authorization + 7;
    unsigned char d[32];
    digest(t, strlen(t), d);
    return CRYPTO_memcmp(d, token_digest, sizeof(d)) == 0;
}

const char *metrics_token(void)
{
    return have_token ? token_text : NULL;
}
