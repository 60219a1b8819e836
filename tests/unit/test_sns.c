/* Unit tests for common/sns.c: the string-to-sign, signing and verifying. */
#include <check.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "sns.h"

static struct arena arena;
static EVP_PKEY *key;       /* signing key pair */
static EVP_PKEY *pub;       /* its public half alone, as a certificate gives it */
static EVP_PKEY *other_key; /* an unrelated key pair */

/* The public half of k as a key object holding no private part. */
static EVP_PKEY *public_only(EVP_PKEY *k)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    ck_assert_int_gt(n, 0);
    const unsigned char *p = der;
    EVP_PKEY *out = d2i_PUBKEY(NULL, &p, n);
    OPENSSL_free(der);
    ck_assert_ptr_nonnull(out);
    return out;
}

/* Keys are made once, in the runner (children inherit them). */
static void keys_setup(void)
{
    key = EVP_RSA_gen(2048);
    other_key = EVP_RSA_gen(2048);
    ck_assert_ptr_nonnull(key);
    ck_assert_ptr_nonnull(other_key);
    pub = public_only(key);
}

static void keys_teardown(void)
{
    EVP_PKEY_free(key);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(other_key);
    key = pub = other_key = NULL;
}

static void setup(void)
{
    memset(&arena, 0, sizeof(arena));
}

static void teardown(void)
{
    arena_destroy(&arena);
}

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    ck_assert_msg(j != NULL, "test JSON does not parse: %s", err.text);
    return j;
}

/* A notification as SNS delivers it: every field, signed or not. */
static json_t *notification(const char *version, int with_subject)
{
    json_t *m = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Type", "Notification", "MessageId",
        "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", "TopicArn",
        "arn:aws:sns:us-west-2:123456789012:MyTopic", "Message",
        "{\"detail-type\":\"GameLift Matchmaking "
        "Event\",\"detail\":{\"type\":\"MatchmakingSucceeded\"}}",
        "Timestamp", "2024-02-16T12:00:00.123Z", "SignatureVersion", version, "SigningCertURL",
        "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-abc.pem", "UnsubscribeURL",
        "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe");
    ck_assert_ptr_nonnull(m);
    if (with_subject)
        json_object_set_new(m, "Subject", json_string("My First Message"));
    return m;
}

/* ---- string to sign ---------------------------------------------------- */

START_TEST(test_string_to_sign_notification)
{
    json_t *m = notification("1", 0);
    const char *why = NULL;
    char *s = sns_string_to_sign(&arena, m, &why);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "Message\n"
                        "{\"detail-type\":\"GameLift Matchmaking Event\",\"detail\":{\"type\":"
                        "\"MatchmakingSucceeded\"}}\n"
                        "MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n"
                        "Timestamp\n2024-02-16T12:00:00.123Z\n"
                        "TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n"
                        "Type\nNotification\n");
    json_decref(m);
}
END_TEST

START_TEST(test_string_to_sign_notification_subject)
{
    json_t *m = notification("2", 1);
    const char *why = NULL;
    char *s = sns_string_to_sign(&arena, m, &why);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "Message\n"
                        "{\"detail-type\":\"GameLift Matchmaking Event\",\"detail\":{\"type\":"
                        "\"MatchmakingSucceeded\"}}\n"
                        "MessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n"
                        "Subject\nMy First Message\n"
                        "Timestamp\n2024-02-16T12:00:00.123Z\n"
                        "TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n"
                        "Type\nNotification\n");
    json_decref(m);
}
END_TEST

/* Values with newlines and non-ASCII are taken byte for byte. */
START_TEST(test_string_to_sign_raw_values)
{
    json_t *m = parse("{\"Type\":\"Notification\",\"MessageId\":\"id\",\"TopicArn\":\"arn\","
                      "\"Message\":\"line 1\\nline 2 \\u00e9\",\"Timestamp\":\"t\","
                      "\"Subject\":\"\"}");
    const char *why = NULL;
    char *s = sns_string_to_sign(&arena, m, &why);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "Message\nline 1\nline 2 \xc3\xa9\nMessageId\nid\nSubject\n\n"
                        "Timestamp\nt\nTopicArn\narn\nType\nNotification\n");
    json_decref(m);
}
END_TEST

static const char *const confirmation_types[] = {"SubscriptionConfirmation",
                                                 "UnsubscribeConfirmation"};

START_TEST(test_string_to_sign_confirmation)
{
    const char *type = confirmation_types[_i];
    json_t *m = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Type", type, "MessageId",
        "165545c9-2a5c-472c-8df2-7ff2be2b3b1b", "Token", "2336412f37fb687f5d51e6e241d09c8058",
        "TopicArn", "arn:aws:sns:us-west-2:123456789012:MyTopic", "Message",
        "You have chosen to subscribe to the topic.", "SubscribeURL",
        "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=2336", "Timestamp",
        "2012-04-26T20:45:04.751Z", "SignatureVersion", "1", "Subject",
        "ignored for confirmations");
    const char *why = NULL;
    char *s = sns_string_to_sign(&arena, m, &why);
    ck_assert_ptr_nonnull(s);
    char *want = arena_sprintf(
        &arena,
        "Message\nYou have chosen to subscribe to the topic.\n"
        "MessageId\n165545c9-2a5c-472c-8df2-7ff2be2b3b1b\n"
        "SubscribeURL\nhttps://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=2336\n"
        "Timestamp\n2012-04-26T20:45:04.751Z\n"
        "Token\n2336412f37fb687f5d51e6e241d09c8058\n"
        "TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\n"
        "Type\n%s\n",
        type);
    ck_assert_str_eq(s, want);
    json_decref(m);
}
END_TEST

/* Messages that cannot be signed: a required field missing or mistyped, or
 * an unknown Type. */
static const char *const unsignable[] = {
    "{\"MessageId\":\"i\",\"TopicArn\":\"a\",\"Message\":\"m\",\"Timestamp\":\"t\"}",
    "{\"Type\":\"Bogus\",\"MessageId\":\"i\",\"TopicArn\":\"a\",\"Message\":\"m\","
    "\"Timestamp\":\"t\"}",
    "{\"Type\":5,\"MessageId\":\"i\",\"TopicArn\":\"a\",\"Message\":\"m\",\"Timestamp\":\"t\"}",
    "{\"Type\":\"Notification\",\"TopicArn\":\"a\",\"Message\":\"m\",\"Timestamp\":\"t\"}",
    "{\"Type\":\"Notification\",\"MessageId\":\"i\",\"Message\":\"m\",\"Timestamp\":\"t\"}",
    "{\"Type\":\"Notification\",\"MessageId\":\"i\",\"TopicArn\":\"a\",\"Timestamp\":\"t\"}",
    "{\"Type\":\"Notification\",\"MessageId\":\"i\",\"TopicArn\":\"a\",\"Message\":\"m\"}",
    "{\"Type\":\"Notification\",\"MessageId\":\"i\",\"TopicArn\":\"a\",\"Message\":{},"
    "\"Timestamp\":\"t\"}",
    "{\"Type\":\"Notification\",\"MessageId\":\"i\",\"TopicArn\":\"a\",\"Message\":\"m\","
    "\"Timestamp\":\"t\",\"Subject\":null}",
    "{\"Type\":\"Notification\",\"MessageId\":\"i\",\"TopicArn\":\"a\",\"Message\":\"m\","
    "\"Timestamp\":\"t\",\"Subject\":7}",
    "{\"Type\":\"SubscriptionConfirmation\",\"MessageId\":\"i\",\"TopicArn\":\"a\","
    "\"Message\":\"m\",\"Timestamp\":\"t\",\"SubscribeURL\":\"u\"}",
    "{\"Type\":\"SubscriptionConfirmation\",\"MessageId\":\"i\",\"TopicArn\":\"a\","
    "\"Message\":\"m\",\"Timestamp\":\"t\",\"Token\":\"k\"}",
};
#define NUNSIGNABLE (int)(sizeof(unsignable) / sizeof(unsignable[0]))

START_TEST(test_string_to_sign_rejects)
{
    json_t *m = parse(unsignable[_i]);
    const char *why = NULL;
    ck_assert_ptr_null(sns_string_to_sign(&arena, m, &why));
    ck_assert_ptr_nonnull(why);
    json_object_set_new(m, "SignatureVersion", json_string("2"));
    ck_assert_ptr_null(sns_sign(&arena, m, key));
    json_decref(m);
}
END_TEST

/* ---- sign and verify --------------------------------------------------- */

static const char *const versions[] = {"1", "2"};

static void sign_into(json_t *m, EVP_PKEY *k)
{
    char *sig = sns_sign(&arena, m, k);
    ck_assert_ptr_nonnull(sig);
    json_object_set_new(m, "Signature", json_string(sig));
}

START_TEST(test_round_trip)
{
    for (int subject = 0; subject < 2; subject++) {
        json_t *m = notification(versions[_i], subject);
        sign_into(m, key);
        const char *why = NULL;
        ck_assert_msg(sns_verify(&arena, m, pub, &why) == 0, "version %s: %s", versions[_i], why);
        /* The signature is standard base64 of a 2048-bit RSA signature. */
        const char *sig = json_string_value(json_object_get(m, "Signature"));
        ck_assert_uint_eq(strlen(sig), 344);
        ck_assert_int_eq(sig[343], '=');
        /* The private key object verifies too. */
        ck_assert_int_eq(sns_verify(&arena, m, key, &why), 0);
        json_decref(m);
    }
}
END_TEST

START_TEST(test_round_trip_confirmation)
{
    json_t *m = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "Type", "SubscriptionConfirmation", "MessageId",
        "m-1", "Token", "tok", "TopicArn", "arn:t", "Message", "confirm", "SubscribeURL",
        "https://u", "Timestamp", "2024-02-16T12:00:00.000Z", "SignatureVersion", versions[_i]);
    sign_into(m, key);
    const char *why = NULL;
    ck_assert_msg(sns_verify(&arena, m, pub, &why) == 0, "%s", why);
    json_object_set_new(m, "Token", json_string("tok2"));
    ck_assert_int_eq(sns_verify(&arena, m, pub, &why), -1);
    json_decref(m);
}
END_TEST

/* Each signed field, changed after signing, breaks the signature; an
 * unsigned one does not. */
static const struct {
    const char *field;
    const char *value; /* NULL: remove the field */
    int still_valid;
} tamper_cases[] = {
    {"Message",
     "{\"detail-type\":\"GameLift Matchmaking "
     "Event\",\"detail\":{\"type\":\"MatchmakingCancelled\"}}",
     0},
    {"Message", "", 0},
    {"MessageId", "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf325", 0},
    {"Timestamp", "2024-02-16T12:00:00.124Z", 0},
    {"TopicArn", "arn:aws:sns:us-west-2:123456789012:OtherTopic", 0},
    {"Subject", "injected", 0},
    {"SigningCertURL", "https://example.com/cert.pem", 1},
    {"UnsubscribeURL", "https://example.com/unsub", 1},
    {"Type", "SubscriptionConfirmation", 0},
};
#define NTAMPER (int)(sizeof(tamper_cases) / sizeof(tamper_cases[0]))

START_TEST(test_tampered)
{
    for (int v = 0; v < 2; v++) {
        json_t *m = notification(versions[v], 0);
        sign_into(m, key);
        if (tamper_cases[_i].value != NULL)
            json_object_set_new(m, tamper_cases[_i].field, json_string(tamper_cases[_i].value));
        else
            json_object_del(m, tamper_cases[_i].field);
        const char *why = NULL;
        int rc = sns_verify(&arena, m, pub, &why);
        ck_assert_msg(rc == (tamper_cases[_i].still_valid ? 0 : -1),
                      "version %s, %s changed: verify %d", versions[v], tamper_cases[_i].field, rc);
        if (rc != 0)
            ck_assert_ptr_nonnull(why);
        json_decref(m);
    }
}
END_TEST

/* SignatureVersion must be "1" or "2": not signed, not verified otherwise. */
static const char *const bad_versions[] = {"3", "0", "", "1 ", "v1", "SHA256"};
#define NBADVERSION (int)(sizeof(bad_versions) / sizeof(bad_versions[0]))

START_TEST(test_bad_version)
{
    json_t *m = notification(bad_versions[_i], 0);
    ck_assert_ptr_null(sns_sign(&arena, m, key));

    /* A valid version-2 signature relabelled as the bad version. */
    json_object_set_new(m, "SignatureVersion", json_string("2"));
    sign_into(m, key);
    json_object_set_new(m, "SignatureVersion", json_string(bad_versions[_i]));
    const char *why = NULL;
    ck_assert_int_eq(sns_verify(&arena, m, pub, &why), -1);
    ck_assert_ptr_nonnull(why);

    /* A number is not a version string. */
    json_object_set_new(m, "SignatureVersion", json_integer(2));
    ck_assert_int_eq(sns_verify(&arena, m, pub, &why), -1);
    json_object_del(m, "SignatureVersion");
    ck_assert_int_eq(sns_verify(&arena, m, pub, &why), -1);
    json_decref(m);
}
END_TEST

/* A signature made under one version does not verify under the other. */
START_TEST(test_version_relabelled)
{
    json_t *m = notification(versions[_i], 0);
    sign_into(m, key);
    json_object_set_new(m, "SignatureVersion", json_string(versions[1 - _i]));
    const char *why = NULL;
    ck_assert_int_eq(sns_verify(&arena, m, pub, &why), -1);
    json_decref(m);
}
END_TEST

START_TEST(test_wrong_key)
{
    json_t *m = notification(versions[_i], 0);
    sign_into(m, other_key);
    const char *why = NULL;
    ck_assert_int_eq(sns_verify(&arena, m, pub, &why), -1);
    json_decref(m);
}
END_TEST

/* Signature field problems. */
static const char *const bad_signatures[] = {
    NULL,   /* missing */
    "",     /* empty */
    "!!!!", /* not base64 */
    "AAAA", /* base64, but not a signature */
    "A",    /* impossible length */
};
#define NBADSIG (int)(sizeof(bad_signatures) / sizeof(bad_signatures[0]))

START_TEST(test_bad_signature_field)
{
    json_t *m = notification("2", 0);
    if (bad_signatures[_i] != NULL)
        json_object_set_new(m, "Signature", json_string(bad_signatures[_i]));
    const char *why = NULL;
    ck_assert_int_eq(sns_verify(&arena, m, pub, &why), -1);
    ck_assert_ptr_nonnull(why);
    json_decref(m);
}
END_TEST

/* The signature with one bit flipped. */
START_TEST(test_flipped_signature)
{
    json_t *m = notification("2", 0);
    sign_into(m, key);
    char *sig = arena_strdup(&arena, json_string_value(json_object_get(m, "Signature")));
    sig[10] = sig[10] == 'A' ? 'B' : 'A';
    json_object_set_new(m, "Signature", json_string(sig));
    const char *why = NULL;
    ck_assert_int_eq(sns_verify(&arena, m, pub, &why), -1);
    json_decref(m);
}
END_TEST

/* ---- key files --------------------------------------------------------- */

START_TEST(test_key_files)
{
    char dir[] = "/tmp/rally-sns-test-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char *cert_path = arena_sprintf(&arena, "%s/cert.pem", dir);
    char *key_path = arena_sprintf(&arena, "%s/key.pem", dir);

    /* A self-signed certificate for the key, as SNS publishes one. */
    X509 *x = X509_new();
    ck_assert_ptr_nonnull(x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"sns.test", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);
    FILE *f = fopen(cert_path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(PEM_write_X509(f, x), 1);
    fclose(f);
    X509_free(x);
    f = fopen(key_path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);

    EVP_PKEY *cert_key = sns_load_cert_key(cert_path);
    EVP_PKEY *priv = sns_load_private_key(key_path);
    ck_assert_ptr_nonnull(cert_key);
    ck_assert_ptr_nonnull(priv);

    json_t *m = notification("2", 1);
    sign_into(m, priv);
    const char *why = NULL;
    ck_assert_msg(sns_verify(&arena, m, cert_key, &why) == 0, "%s", why);
    json_decref(m);

    /* A key file is not a certificate, and missing files are NULL. */
    ck_assert_ptr_null(sns_load_cert_key(key_path));
    char *missing = arena_sprintf(&arena, "%s/missing.pem", dir);
    ck_assert_ptr_null(sns_load_cert_key(missing));
    ck_assert_ptr_null(sns_load_private_key(missing));

    EVP_PKEY_free(cert_key);
    EVP_PKEY_free(priv);
    unlink(cert_path);
    unlink(key_path);
    rmdir(dir);
}
END_TEST

static Suite *sns_suite(void)
{
    Suite *s = suite_create("sns");

    TCase *tt = tcase_create("string_to_sign");
    tcase_add_unchecked_fixture(tt, keys_setup, keys_teardown);
    tcase_add_checked_fixture(tt, setup, teardown);
    tcase_add_test(tt, test_string_to_sign_notification);
    tcase_add_test(tt, test_string_to_sign_notification_subject);
    tcase_add_test(tt, test_string_to_sign_raw_values);
    tcase_add_loop_test(tt, test_string_to_sign_confirmation, 0, 2);
    tcase_add_loop_test(tt, test_string_to_sign_rejects, 0, NUNSIGNABLE);
    suite_add_tcase(s, tt);

    TCase *tv = tcase_create("sign_verify");
    tcase_add_unchecked_fixture(tv, keys_setup, keys_teardown);
    tcase_add_checked_fixture(tv, setup, teardown);
    tcase_set_timeout(tv, 30);
    tcase_add_loop_test(tv, test_round_trip, 0, 2);
    tcase_add_loop_test(tv, test_round_trip_confirmation, 0, 2);
    tcase_add_loop_test(tv, test_tampered, 0, NTAMPER);
    tcase_add_loop_test(tv, test_bad_version, 0, NBADVERSION);
    tcase_add_loop_test(tv, test_version_relabelled, 0, 2);
    tcase_add_loop_test(tv, test_wrong_key, 0, 2);
    tcase_add_loop_test(tv, test_bad_signature_field, 0, NBADSIG);
    tcase_add_test(tv, test_flipped_signature);
    tcase_add_test(tv, test_key_files);
    suite_add_tcase(s, tv);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sns_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
