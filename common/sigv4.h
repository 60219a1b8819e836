/*
 * AWS Signature Version 4, checked as AWS checks it: the Authorization
 * header's credential scope, the canonical request rebuilt from what was
 * received (method, path, query, the signed headers, the SHA-256 of the
 * body actually read), the string to sign, and the signature compared in
 * constant time.
 *
 * This module is the algorithm only: no files, no configuration. Who owns
 * which secret, which regions and services are accepted, and how a failure
 * is answered are awsauth.h's.
 *
 * Ownership: every string handed out is in the caller's arena or struct.
 */
#ifndef RALLY_COMMON_SIGV4_H
#define RALLY_COMMON_SIGV4_H

#include <stddef.h>
#include <stdint.h>

struct arena;

/* The parts of "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/
 * aws4_request, SignedHeaders=a;b, Signature=hex". */
struct sigv4_auth {
    char access_key_id[129];
    char date[9]; /* YYYYMMDD */
    char region[64];
    char service[64];
    char signed_headers[1024]; /* as sent: lowercase names joined by ';' */
    char signature[65];        /* 64 lowercase hex digits */
};

/* Parses an Authorization header. 0, or -1 with *why saying what is
 * missing or malformed, in AWS's words (IncompleteSignatureException). */
int sigv4_parse(const char *header, struct sigv4_auth *out, const char **why);

/* What the signature covers. header() returns the value a request carried
 * for a lowercase header name, or NULL. */
struct sigv4_request {
    const char *method;
    const char *path;  /* as sent, percent-encoded, without the query */
    const char *query; /* as sent, "" for none */
    const void *body;
    size_t body_len;
    const char *(*header)(void *ctx, const char *name);
    void *ctx;
};

/* The key that signs for one access key, day, region and service:
 * HMAC-SHA256 chained over "AWS4"+secret, date, region, service,
 * "aws4_request". Callers may keep it for the day. */
void sigv4_signing_key(const char *secret, const char *date, const char *region,
                       const char *service, unsigned char key[32]);

/* The canonical request (AWS's text, for tests and for telling a caller
 * what was signed) as an arena string. */
char *sigv4_canonical_request(struct arena *a, const struct sigv4_request *r,
                              const struct sigv4_auth *auth);

/* Whether auth's signature is the one `key` makes over r, signed at
 * amz_date (the X-Amz-Date value, YYYYMMDDTHHMMSSZ). Constant time in the
 * signature. 1 match, 0 not. */
int sigv4_matches(struct arena *a, const struct sigv4_request *r, const struct sigv4_auth *auth,
                  const char *amz_date, const unsigned char key[32]);

/* Seconds since the epoch of an X-Amz-Date value, or -1 if malformed. */
int64_t sigv4_parse_amz_date(const char *s);

#endif
