/* Unit tests for common/refresh.c: self-contained refresh tokens, their MAC
 * under the current and previous signing keys, and their expiry. */
#include <check.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "auth.h"
#include "cfg.h"
#include "refresh.h"
#include "util.h"

#define FAMILY "0f8e7d6c-5b4a-4938-8271-605f4e3d2c1b"
#define USER "a1b2c3d4-e5f6-4789-9abc-def012345678"

static struct arena arena;
static int64_t now;
/* one: current k1. two: current k2, previous k1 with its private half.
 * pub: current k2, previous k1 as its public half only. other: current k1,
 * another key of that name. */
static char one[64], two[64], pub[64], other[64];

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void put_key(const char *dir, const char *kid, EVP_PKEY *k, int with_private)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/keys/%s.pub", dir, kid);
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL && PEM_write_PUBKEY(f, k) == 1);
    fclose(f);
    if (!with_private)
        return;
    snprintf(path, sizeof(path), "%s/keys/%s.key", dir, kid);
    f = fopen(path, "w");
    ck_assert(f != NULL && PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1);
    fclose(f);
}

static void make_dir(char *dir, const char *current, const char *previous)
{
    snprintf(dir, 64, "/tmp/rally-refresh-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char keys[80];
    snprintf(keys, sizeof(keys), "%s/keys", dir);
    ck_assert_int_eq(mkdir(keys, 0700), 0);
    write_file(dir, "current", current);
    if (previous != NULL)
        write_file(dir, "previous", previous);
}

static void remove_dir(const char *dir)
{
    static const char *const names[] = {"current",     "previous",    "keys/k1.pub",
                                        "keys/k1.key", "keys/k2.pub", "keys/k2.key"};
    char path[256];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/keys", dir);
    rmdir(path);
    rmdir(dir);
}

static void keys_setup(void)
{
    EVP_PKEY *k1 = EVP_EC_gen("prime256v1"), *k2 = EVP_RSA_gen(2048);
    EVP_PKEY *k3 = EVP_EC_gen("prime256v1");
    ck_assert(k1 != NULL && k2 != NULL && k3 != NULL);
    make_dir(one, "k1\n", NULL);
    put_key(one, "k1", k1, 1);
    make_dir(two, "k2\n", "k1\n");
    put_key(two, "k2", k2, 1);
    put_key(two, "k1", k1, 1);
    make_dir(pub, "k2\n", "k1\n");
    put_key(pub, "k2", k2, 1);
    put_key(pub, "k1", k1, 0);
    make_dir(other, "k1\n", NULL);
    put_key(other, "k1", k3, 1);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    EVP_PKEY_free(k3);
    setenv("RALLY_JWT_ISSUER", "https://rally.test", 1);
    cfg_load("test");
}

static void keys_teardown(void)
{
    remove_dir(one);
    remove_dir(two);
    remove_dir(pub);
    remove_dir(other);
}

static void setup(void)
{
    memset(&arena, 0, sizeof(arena));
    now = (int64_t)time(NULL);
    ck_assert_int_eq(auth_keys_load(one, true), 0);
}

static void teardown(void)
{
    arena_destroy(&arena);
    auth_keys_free();
}

START_TEST(test_issue_and_read)
{
    char *t = refresh_issue(&arena, FAMILY, USER, now + 600);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(strlen(t), 119);
    ck_assert_uint_eq(strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                      119);
    struct refresh_token r;
    ck_assert_int_eq(refresh_read(&arena, t, now, &r), 0);
    ck_assert_str_eq(r.family, FAMILY);
    ck_assert_str_eq(r.user, USER);
    ck_assert_int_eq(r.exp, now + 600);
    /* Each token is new, even for the same family and expiry. */
    ck_assert_str_ne(t, refresh_issue(&arena, FAMILY, USER, now + 600));
    /* Upper-case ids read back in lower case. */
    t = refresh_issue(&arena, "0F8E7D6C-5B4A-4938-8271-605F4E3D2C1B", USER, now + 600);
    ck_assert_int_eq(refresh_read(&arena, t, now, &r), 0);
    ck_assert_str_eq(r.family, FAMILY);
}
END_TEST

START_TEST(test_expiry)
{
    char *t = refresh_issue(&arena, FAMILY, USER, now + 10);
    struct refresh_token r;
    ck_assert_int_eq(refresh_read(&arena, t, now + 9, &r), 0);
    ck_assert_int_eq(refresh_read(&arena, t, now + 10, &r), -1);
    ck_assert_int_eq(refresh_read(&arena, refresh_issue(&arena, FAMILY, USER, now - 1), now, &r),
                     -1);
}
END_TEST

/* Every byte counts: one changed anywhere (version, ids, expiry, nonce or
 * MAC) and the token is not ours. */
START_TEST(test_tampered)
{
    char *t = refresh_issue(&arena, FAMILY, USER, now + 600);
    size_t n = 0;
    unsigned char *raw = util_b64url_decode(&arena, t, strlen(t), &n);
    ck_assert_uint_eq(n, 89);
    struct refresh_token r;
    for (size_t i = 0; i < n; i++) {
        raw[i] ^= 0x01;
        char *forged = util_b64url_encode(&arena, raw, n);
        ck_assert_msg(refresh_read(&arena, forged, now, &r) == -1, "byte %zu", i);
        raw[i] ^= 0x01;
    }
    ck_assert_int_eq(refresh_read(&arena, util_b64url_encode(&arena, raw, n), now, &r), 0);
}
END_TEST

/* Base64url leaves the last character's two low bits unused: the three
 * other spellings of a token decode to the same bytes, and must not pass as
 * new tokens (reuse detection keys on the token's digest). */
START_TEST(test_one_spelling)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *t = refresh_issue(&arena, FAMILY, USER, now + 600);
    struct refresh_token r;
    ck_assert_int_eq(refresh_read(&arena, t, now, &r), 0);
    int v = (int)(strchr(alphabet, t[118]) - alphabet);
    ck_assert_int_eq(v & 3, 0);
    for (int low = 1; low < 4; low++) {
        char *respelt = arena_strdup(&arena, t);
        respelt[118] = alphabet[v | low];
        size_t n = 0;
        unsigned char *a = util_b64url_decode(&arena, t, 119, &n);
        unsigned char *b = util_b64url_decode(&arena, respelt, 119, &n);
        ck_assert_mem_eq(a, b, n);                                    /* the same bytes ... */
        ck_assert_int_eq(refresh_read(&arena, respelt, now, &r), -1); /* ... refused */
    }
}
END_TEST

static const char *const malformed[] = {
    "",
    "x",
    "not a token at all",
    "r2.abc.def",
    /* 119 characters, not base64url */
    "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    "!!!!!!!!!!!!!!!!!!!!!!!!!!!",
    /* 119 characters of base64url: garbage */
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAA",
};

START_TEST(test_malformed)
{
    struct refresh_token r;
    ck_assert_int_eq(refresh_read(&arena, malformed[_i], now, &r), -1);
    /* A valid token with a character more or fewer. */
    char *t = refresh_issue(&arena, FAMILY, USER, now + 600);
    ck_assert_int_eq(refresh_read(&arena, arena_sprintf(&arena, "%sA", t), now, &r), -1);
    t[118] = '\0';
    ck_assert_int_eq(refresh_read(&arena, t, now, &r), -1);
}
END_TEST

START_TEST(test_ids_must_be_uuids)
{
    ck_assert_ptr_null(refresh_issue(&arena, "family-1", USER, now + 600));
    ck_assert_ptr_null(refresh_issue(&arena, FAMILY, "player-1", now + 600));
    ck_assert_ptr_null(refresh_issue(&arena, FAMILY, "a1b2c3d4-e5f6-4789-9abc-def01234567g", now));
}
END_TEST

/* Another key of the same kid: its tokens are not ours. */
START_TEST(test_other_key)
{
    char *t = refresh_issue(&arena, FAMILY, USER, now + 600);
    ck_assert_int_eq(auth_keys_load(other, true), 0);
    struct refresh_token r;
    ck_assert_int_eq(refresh_read(&arena, t, now, &r), -1);
}
END_TEST

/* After a rotation the previous key's tokens read while its private half is
 * there; new ones are the new key's. Once it is gone (or only its public
 * half is left), its tokens are refused. */
START_TEST(test_rotation)
{
    char *old = refresh_issue(&arena, FAMILY, USER, now + 600);
    ck_assert_int_eq(auth_keys_load(two, true), 0);
    struct refresh_token r;
    ck_assert_int_eq(refresh_read(&arena, old, now, &r), 0);
    char *fresh = refresh_issue(&arena, FAMILY, USER, now + 600);
    ck_assert_int_eq(refresh_read(&arena, fresh, now, &r), 0);
    ck_assert_int_eq(auth_keys_load(pub, true), 0);
    ck_assert_int_eq(refresh_read(&arena, old, now, &r), -1);
    ck_assert_int_eq(refresh_read(&arena, fresh, now, &r), 0); /* same current key k2 */
    ck_assert_int_eq(auth_keys_load(one, true), 0);
    ck_assert_int_eq(refresh_read(&arena, fresh, now, &r), -1);
}
END_TEST

/* Without the signing key (a verifying function) there is nothing to MAC with. */
START_TEST(test_no_signing_key)
{
    char *t = refresh_issue(&arena, FAMILY, USER, now + 600);
    ck_assert_int_eq(auth_keys_load(one, false), 0);
    ck_assert_ptr_null(refresh_issue(&arena, FAMILY, USER, now + 600));
    struct refresh_token r;
    ck_assert_int_eq(refresh_read(&arena, t, now, &r), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("refresh");
    TCase *tc = tcase_create("refresh");
    tcase_add_unchecked_fixture(tc, keys_setup, keys_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_issue_and_read);
    tcase_add_test(tc, test_expiry);
    tcase_add_test(tc, test_tampered);
    tcase_add_test(tc, test_one_spelling);
    tcase_add_loop_test(tc, test_malformed, 0, (int)(sizeof(malformed) / sizeof(malformed[0])));
    tcase_add_test(tc, test_ids_must_be_uuids);
    tcase_add_test(tc, test_other_key);
    tcase_add_test(tc, test_rotation);
    tcase_add_test(tc, test_no_signing_key);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
