/* SNS string-to-sign, verification and signing with OpenSSL. */
#include "sns.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "util.h"

/* Keys in byte order, as SNS signs them; optional ones only when present. */
static const char *const notification_keys[] = {"Message",  "MessageId", "Subject", "Timestamp",
                                                "TopicArn", "Type",      NULL};
static const char *const subscription_keys[] = {"Message", "MessageId", "SubscribeURL", "Timestamp",
                                                "Token",   "TopicArn",  "Type",         NULL};

char *sns_string_to_sign(struct arena *a, json_t *msg, const char **why)
{
    const char *type = json_string_value(json_object_get(msg, "Type"));
    const char *const *keys;
    if (type == NULL) {
        *why = "message has no Type";
        return NULL;
    }
    if (strcmp(type, "Notification") == 0)
        keys = notification_keys;
    else if (strcmp(type, "SubscriptionConfirmation") == 0 ||
             strcmp(type, "UnsubscribeConfirmation") == 0)
        keys = subscription_keys;
    else {
        *why = "message Type is not an SNS message type";
        return NULL;
    }

    size_t total = 1;
    for (const char *const *k = keys; *k != NULL; k++) {
        json_t *v = json_object_get(msg, *k);
        if (v == NULL && strcmp(*k, "Subject") == 0)
            continue;
        if (!json_is_string(v)) {
            *why = "message lacks a field that is signed";
            return NULL;
        }
        total += strlen(*k) + json_string_length(v) + 2;
    }
    char *out = arena_alloc(a, total);
    size_t o = 0;
    for (const char *const *k = keys; *k != NULL; k++) {
        json_t *v = json_object_get(msg, *k);
        if (v == NULL)
            continue;
        size_t kl = strlen(*k);
        size_t vl = json_string_length(v);
        memcpy(out + o, *k, kl);
        o += kl;
        out[o++] = '\n';
        memcpy(out + o, json_string_value(v), vl);
        o += vl;
        out[o++] = '\n';
    }
    out[o] = '\0';
    return out;
}

static const EVP_MD *digest_for(json_t *msg)
{
    const char *ver = json_string_value(json_object_get(msg, "SignatureVersion"));
    if (ver == NULL)
        return NULL;
    if (strcmp(ver, "1") == 0)
        return EVP_sha1();
    if (strcmp(ver, "2") == 0)
        return EVP_sha256();
    return NULL;
}

int sns_verify(struct arena *a, json_t *msg, EVP_PKEY *cert_key, const char **why)
{
    const EVP_MD *md = digest_for(msg);
    if (md == NULL) {
        *why = "SignatureVersion must be \"1\" or \"2\"";
        return -1;
    }
    const char *sig64 = json_string_value(json_object_get(msg, "Signature"));
    if (sig64 == NULL) {
        *why = "message has no Signature";
        return -1;
    }
    size_t siglen = 0;
    unsigned char *sig = util_b64_decode(a, sig64, strlen(sig64), &siglen);
    if (sig == NULL || siglen == 0) {
        *why = "Signature is not base64";
        return -1;
    }
    char *tosign = sns_string_to_sign(a, msg, why);
    if (tosign == NULL)
        return -1;

    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, md, NULL, cert_key) == 1 &&
             EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)tosign, strlen(tosign)) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        *why = "signature does not verify";
        return -1;
    }
    return 0;
}

char *sns_sign(struct arena *a, json_t *msg, EVP_PKEY *key)
{
    const char *why;
    const EVP_MD *md = digest_for(msg);
    char *tosign = md != NULL ? sns_string_to_sign(a, msg, &why) : NULL;
    if (tosign == NULL)
        return NULL;
    unsigned char sig[1024];
    size_t siglen = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestSignInit(ctx, NULL, md, NULL, key) == 1 &&
             EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)tosign, strlen(tosign)) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return NULL;
    char *out = arena_alloc(a, (siglen + 2) / 3 * 4 + 1);
    EVP_EncodeBlock((unsigned char *)out, sig, (int)siglen);
    return out;
}

EVP_PKEY *sns_load_cert_key(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    X509 *cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (cert == NULL)
        return NULL;
    EVP_PKEY *k = X509_get_pubkey(cert);
    X509_free(cert);
    return k;
}

EVP_PKEY *sns_load_private_key(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return k;
}

json_t *sns_notification(struct arena *a, const char *topic, const char *message_id,
                         const char *message, const char *timestamp, const char *version,
                         const char *cert_url, const char *unsubscribe_url, EVP_PKEY *key)
{
    json_t *msg =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Type", "Notification", "MessageId",
                  message_id, "TopicArn", topic, "Message", message, "Timestamp", timestamp,
                  "SignatureVersion", version, "SigningCertURL", cert_url);
    if (msg == NULL)
        return NULL;
    char *sig = sns_sign(a, msg, key);
    if (sig == NULL) {
        json_decref(msg);
        return NULL;
    }
    json_object_set_new(msg, "Signature", json_string(sig));
    if (unsubscribe_url != NULL)
        json_object_set_new(msg, "UnsubscribeURL", json_string(unsubscribe_url));
    return msg;
}
