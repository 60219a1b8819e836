/* Small shared helpers: encodings, randomness, digests, time. */
#ifndef RALLY_COMMON_UTIL_H
#define RALLY_COMMON_UTIL_H

#include <openssl/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

/* Base64url without padding. Returns an arena string. */
char *util_b64url_encode(struct arena *a, const unsigned char *data, size_t len);
/* Decodes base64url (padding optional). Returns arena bytes and *out_len, or
 * NULL on a malformed input. */
unsigned char *util_b64url_decode(struct arena *a, const char *s, size_t len, size_t *out_len);
/* Standard base64 (with padding) decode; NULL on malformed input. */
unsigned char *util_b64_decode(struct arena *a, const char *s, size_t len, size_t *out_len);

/* Fills buf from the kernel CSPRNG; aborts if it cannot. */
void util_random(void *buf, size_t len);
/* Random UUID v4 into out (37 bytes including NUL). */
void util_uuid(char out[37]);
/* Random token: `nbytes` random bytes as base64url, in the arena. */
char *util_random_token(struct arena *a, size_t nbytes);

/* SHA-256, fetched from OpenSSL's providers once per process: EVP_sha256()
 * looks it up again on every use (locks, hash tables), which costs more
 * than hashing a token. Never freed. */
const EVP_MD *util_sha256(void);
/* SHA-256 of data as 64 lower-case hex chars into out (65 bytes). */
void util_sha256_hex(const void *data, size_t len, char out[65]);
/* len bytes as 2*len lower-case hex chars and a NUL into out. */
void util_hex(const unsigned char *data, size_t len, char *out);
/* A hex digit's value, or -1. */
int util_hex_value(char c);
/* Whether s is a UUID (8-4-4-4-12 hex digits, either case); its 16 bytes
 * into out unless out is NULL. */
bool util_uuid_parse(const char *s, unsigned char out[16]);
/* Constant-time equality of two equal-length buffers. */
bool util_ct_equal(const void *a, const void *b, size_t len);

/* Wall clock in seconds. */
int64_t util_now(void);
/* Wall clock in milliseconds, rounded up: never before the microsecond
 * timestamps PostgreSQL wrote earlier on the same clock. */
int64_t util_now_ms(void);
/* Monotonic clock in milliseconds (fractional). */
double util_mono_ms(void);

/* True if s is 1..max chars from [A-Za-z0-9] plus the characters in `extra`. */
bool util_is_token(const char *s, size_t max, const char *extra);

/* A PostgreSQL text[] literal of the n strings (each double-quoted, '"' and
 * '\\' escaped; a NULL item is SQL NULL), for a $n::text[] parameter.
 * Arena string. */
char *util_pg_text_array(struct arena *a, const char *const *items, size_t n);

#endif
