/*
 * Amazon SNS HTTP message signatures (SignatureVersion 1: SHA1withRSA,
 * 2: SHA256withRSA) over the canonical string-to-sign.
 *
 * Used by event-ingest to verify deliveries, and by the signing side (the
 * rally-sns-sign tool now, the matchmaker's outbox later).
 */
#ifndef RALLY_COMMON_SNS_H
#define RALLY_COMMON_SNS_H

#include <jansson.h>
#include <openssl/evp.h>

struct arena;

/* The string-to-sign of an SNS message (a parsed JSON object), or NULL with
 * *why set when a required field is missing or not a string. Arena-owned. */
char *sns_string_to_sign(struct arena *a, json_t *msg, const char **why);

/* Verifies msg's Signature with the public key of cert (an X.509 PEM
 * certificate). 0 when valid, -1 with *why set otherwise. */
int sns_verify(struct arena *a, json_t *msg, EVP_PKEY *cert_key, const char **why);

/* Signs msg with key under msg's SignatureVersion ("1" or "2"); returns the
 * base64 signature (arena-owned) or NULL. */
char *sns_sign(struct arena *a, json_t *msg, EVP_PKEY *key);

/* A Notification carrying message, signed with key under SignatureVersion
 * version ("1" or "2"), as SNS delivers it to an HTTP subscriber.
 * unsubscribe_url may be NULL. New reference, or NULL if it cannot sign. */
json_t *sns_notification(struct arena *a, const char *topic, const char *message_id,
                         const char *message, const char *timestamp, const char *version,
                         const char *cert_url, const char *unsubscribe_url, EVP_PKEY *key);

/* Loads the public key of a PEM certificate file; caller frees with
 * EVP_PKEY_free(). NULL if unreadable. */
EVP_PKEY *sns_load_cert_key(const char *path);
/* Loads a PEM private key file; caller frees with EVP_PKEY_free(). */
EVP_PKEY *sns_load_private_key(const char *path);

#endif
