/*
 * rally-sigv4-bench: what checking one GameLift API call's signature costs
 * (common/sigv4.c, as common/awsauth.c runs it for every request: parse the
 * Authorization header, rebuild the canonical request, hash the body and
 * the canonical request, one HMAC with the day's cached signing key, a
 * constant-time comparison), on one core, without the network.
 *
 *   rally-sigv4-bench [COUNT]     prints one JSON line: {"count", "us_per_check"}
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "sigv4.h"
#include "util.h"

static const char *const headers[] = {
    "content-type", "application/x-amz-json-1.1", "host",         "127.0.0.1:8080",
    "x-amz-date",   "20261128T120000Z",           "x-amz-target", "GameLift.DescribeGameSessions",
    NULL,
};

static const char *lookup(void *ctx, const char *name)
{
    for (const char *const *h = ctx; h[0] != NULL; h += 2)
        if (strcmp(h[0], name) == 0)
            return h[1];
    return NULL;
}

int main(int argc, char **argv)
{
    long count = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
    if (count < 1)
        count = 1;
    const char *body = "{\"FleetId\": \"fleet-bench\", \"Limit\": 100}";
    struct sigv4_request r = {.method = "POST",
                              .path = "/",
                              .query = "",
                              .body = body,
                              .body_len = strlen(body),
                              .header = lookup,
                              .ctx = (void *)(uintptr_t)headers};
    unsigned char key[32];
    sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20261128", "us-east-1",
                      "gamelift", key);
    /* A client's header. Its signature is all zeros, so every check is
     * refused; a refusal costs what an acceptance does (the whole
     * computation, then a constant-time comparison). */
    struct sigv4_auth auth;
    const char *why = NULL;
    char header[512];
    snprintf(header, sizeof(header),
             "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261128/us-east-1/gamelift/"
             "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
             "Signature=%064d",
             0);
    struct arena a = {0};
    if (sigv4_parse(header, &auth, &why) != 0) {
        fprintf(stderr, "rally-sigv4-bench: %s\n", why);
        return 1;
    }
    long ok = 0;
    double t0 = util_mono_ms();
    for (long i = 0; i < count; i++) {
        struct sigv4_auth parsed;
        if (sigv4_parse(header, &parsed, &why) == 0)
            ok += sigv4_matches(&a, &r, &parsed, "20261128T120000Z", key) == 0;
        arena_reset(&a);
    }
    double ms = util_mono_ms() - t0;
    arena_destroy(&a);
    printf("{\"count\": %ld, \"us_per_check\": %.3f, \"refused_as_expected\": %ld}\n", count,
           ms * 1000.0 / (double)count, ok);
    return ok == count ? 0 : 1;
}
