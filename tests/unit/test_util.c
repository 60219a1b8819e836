/* Unit tests for common/util.c: base64, digests, tokens, ids. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "util.h"

static struct arena arena;

static void setup(void)
{
    memset(&arena, 0, sizeof(arena));
}

static void teardown(void)
{
    arena_destroy(&arena);
}

/* ---- base64url --------------------------------------------------------- */

/* Every length 0..40, every byte value: encode, check shape, decode back. */
START_TEST(test_b64url_round_trip)
{
    size_t len = (size_t)_i;
    unsigned char in[40];
    for (size_t i = 0; i < len; i++)
        in[i] = (unsigned char)(i * 37 + len * 11 + 0xF0); /* all high bits too */
    char *enc = util_b64url_encode(&arena, in, len);
    ck_assert_ptr_nonnull(enc);
    /* No padding: ceil(4n/3) characters from the URL-safe alphabet. */
    ck_assert_uint_eq(strlen(enc), (len * 4 + 2) / 3);
    ck_assert_uint_eq(strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                  "0123456789-_"),
                      strlen(enc));
    size_t out_len = 999;
    unsigned char *out = util_b64url_decode(&arena, enc, strlen(enc), &out_len);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(out_len, len);
    ck_assert(memcmp(out, in, len) == 0);

    /* With the padding a standard encoder would add, it decodes the same. */
    char *padded = arena_sprintf(&arena, "%s%.*s", enc, (int)((4 - strlen(enc) % 4) % 4), "==");
    ck_assert_uint_eq(strlen(padded) % 4, 0);
    out = util_b64url_decode(&arena, padded, strlen(padded), &out_len);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(out_len, len);
    ck_assert(memcmp(out, in, len) == 0);
}
END_TEST

/* RFC 4648 §10 vectors, and the two URL-safe characters. */
static const struct {
    const char *raw;
    size_t len;
    const char *enc;
} vectors[] = {
    {"", 0, ""},
    {"f", 1, "Zg"},
    {"fo", 2, "Zm8"},
    {"foo", 3, "Zm9v"},
    {"foob", 4, "Zm9vYg"},
    {"fooba", 5, "Zm9vYmE"},
    {"foobar", 6, "Zm9vYmFy"},
    {"\xfb\xff", 2, "-_8"},
    {"\xff\xff\xff", 3, "____"},
    {"\xf8\x3e\x0f", 3, "-D4P"},
    {"\x00", 1, "AA"},
    {"\x00\x00\x00", 3, "AAAA"},
    {"{\"alg\":\"none\"}", 14, "eyJhbGciOiJub25lIn0"},
};
#define NVECTORS (int)(sizeof(vectors) / sizeof(vectors[0]))

START_TEST(test_b64url_vectors)
{
    const unsigned char *raw = (const unsigned char *)vectors[_i].raw;
    ck_assert_str_eq(util_b64url_encode(&arena, raw, vectors[_i].len), vectors[_i].enc);
    size_t n = 0;
    unsigned char *dec = util_b64url_decode(&arena, vectors[_i].enc, strlen(vectors[_i].enc), &n);
    ck_assert_ptr_nonnull(dec);
    ck_assert_uint_eq(n, vectors[_i].len);
    ck_assert(memcmp(dec, raw, n) == 0);
}
END_TEST

/* Standard base64 (SNS signatures): '+' and '/', padding. */
static const struct {
    const char *enc;
    const char *raw;
    size_t len;
} std_vectors[] = {
    {"Zm9vYmFy", "foobar", 6},
    {"Zm9vYg==", "foob", 4},
    {"Zm9vYmE=", "fooba", 5},
    {"Zg==", "f", 1},
    {"+/8=", "\xfb\xff", 2},
    {"////", "\xff\xff\xff", 3},
    {"", "", 0},
};
#define NSTD (int)(sizeof(std_vectors) / sizeof(std_vectors[0]))

START_TEST(test_b64_standard)
{
    size_t n = 0;
    unsigned char *dec =
        util_b64_decode(&arena, std_vectors[_i].enc, strlen(std_vectors[_i].enc), &n);
    ck_assert_ptr_nonnull(dec);
    ck_assert_uint_eq(n, std_vectors[_i].len);
    ck_assert(memcmp(dec, std_vectors[_i].raw, n) == 0);
}
END_TEST

/* Malformed input: NULL, for either alphabet where it applies. */
static const struct {
    const char *enc;
    int url; /* 1: base64url decoder, 0: standard */
} bad_b64[] = {
    {"Z", 1}, /* a length no encoding produces */
    {"Zm9vY", 1},  {"Zm9v!", 1}, {"Zm 9v", 1},
    {"Zm9v\n", 1}, {"+/8", 1}, /* standard characters in base64url */
    {"Zg==Zg", 1},             /* padding in the middle */
    {"-_8=", 0},               /* URL-safe characters in standard */
    {"Zg=a", 0},   {"Z===", 0},  {"\xc3\xa9\xc3\xa9", 0},
};
#define NBAD (int)(sizeof(bad_b64) / sizeof(bad_b64[0]))

START_TEST(test_b64_malformed)
{
    size_t n = 0;
    const char *s = bad_b64[_i].enc;
    unsigned char *dec = bad_b64[_i].url ? util_b64url_decode(&arena, s, strlen(s), &n)
                                         : util_b64_decode(&arena, s, strlen(s), &n);
    ck_assert_msg(dec == NULL, "\"%s\" decoded to %zu bytes", s, n);
}
END_TEST

/* The decoder reads only len bytes. */
START_TEST(test_b64_length_bound)
{
    size_t n = 0;
    unsigned char *dec = util_b64url_decode(&arena, "Zm9v!!!!", 4, &n);
    ck_assert_ptr_nonnull(dec);
    ck_assert_uint_eq(n, 3);
    ck_assert(memcmp(dec, "foo", 3) == 0);
}
END_TEST

/* ---- digests and comparison -------------------------------------------- */

static const struct {
    const char *in;
    const char *hex;
} sha_vectors[] = {
    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
};
#define NSHA (int)(sizeof(sha_vectors) / sizeof(sha_vectors[0]))

START_TEST(test_sha256_hex)
{
    char out[65];
    memset(out, 'Z', sizeof(out));
    util_sha256_hex(sha_vectors[_i].in, strlen(sha_vectors[_i].in), out);
    ck_assert_int_eq(out[64], '\0');
    ck_assert_str_eq(out, sha_vectors[_i].hex);
}
END_TEST

START_TEST(test_sha256_binary)
{
    /* Length-driven, not NUL-terminated: embedded NULs count. */
    char a[65], b[65];
    util_sha256_hex("a\0b", 3, a);
    util_sha256_hex("a", 1, b);
    ck_assert_str_ne(a, b);
    ck_assert_str_eq(b, "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb");
}
END_TEST

START_TEST(test_ct_equal)
{
    ck_assert(util_ct_equal("secret", "secret", 6));
    ck_assert(!util_ct_equal("secret", "secreT", 6));
    ck_assert(!util_ct_equal("Secret", "secret", 6));
    ck_assert(util_ct_equal("secret", "secreT", 5)); /* only len bytes */
    ck_assert(util_ct_equal("a", "b", 0));
    ck_assert(!util_ct_equal("a\0x", "a\0y", 3));
}
END_TEST

/* ---- tokens ------------------------------------------------------------ */

static const struct {
    const char *s;
    size_t max;
    const char *extra;
    int ok;
} token_cases[] = {
    {"abc", 10, "", 1},
    {"ABCxyz019", 9, "", 1},
    {"abc", 3, "", 1},  /* exactly max */
    {"abcd", 3, "", 0}, /* one over */
    {"a", 1, "", 1},
    {"", 10, "", 0}, /* empty */
    {"", 10, "-", 0},
    {"a-b", 10, "-", 1},
    {"a-b", 10, "", 0},
    {"a.b-c", 10, "-.", 1},
    {"a_b", 10, "-.", 0},
    {"a_b", 10, "-_.", 1},
    {"-", 10, "-", 1},
    {"a b", 10, "", 0},
    {"a\tb", 10, "", 0},
    {"a/b", 10, "-.", 0},
    {"caf\xc3\xa9", 10, "", 0}, /* non-ASCII */
    {"abc\n", 10, "", 0},
    {"a+b", 10, "-", 0},
    {"a=b", 10, "=", 1},
};
#define NTOKEN (int)(sizeof(token_cases) / sizeof(token_cases[0]))

START_TEST(test_is_token)
{
    ck_assert_msg(util_is_token(token_cases[_i].s, token_cases[_i].max, token_cases[_i].extra) ==
                      (token_cases[_i].ok != 0),
                  "\"%s\" max %zu extra \"%s\": want %d", token_cases[_i].s, token_cases[_i].max,
                  token_cases[_i].extra, token_cases[_i].ok);
}
END_TEST

START_TEST(test_is_token_long)
{
    char s[201];
    memset(s, 'k', 200);
    s[200] = '\0';
    ck_assert(util_is_token(s, 200, ""));
    ck_assert(!util_is_token(s, 199, ""));
    s[150] = '!';
    ck_assert(!util_is_token(s, 200, ""));
}
END_TEST

/* ---- randomness -------------------------------------------------------- */

START_TEST(test_uuid)
{
    char a[37], b[37];
    util_uuid(a);
    util_uuid(b);
    ck_assert_str_ne(a, b);
    ck_assert_uint_eq(strlen(a), 36);
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            ck_assert_int_eq(a[i], '-');
        else
            ck_assert_msg(strchr("0123456789abcdef", a[i]) != NULL, "%s: bad char at %d", a, i);
    }
    ck_assert_int_eq(a[14], '4');                 /* version 4 */
    ck_assert_ptr_nonnull(strchr("89ab", a[19])); /* RFC 4122 variant */
}
END_TEST

START_TEST(test_random_token)
{
    char *t1 = util_random_token(&arena, 32);
    char *t2 = util_random_token(&arena, 32);
    ck_assert_uint_eq(strlen(t1), 43);
    ck_assert_str_ne(t1, t2);
    ck_assert(util_is_token(t1, 43, "-_"));
    ck_assert_uint_eq(strlen(util_random_token(&arena, 1)), 2);
    ck_assert_uint_eq(strlen(util_random_token(&arena, 1000)), 86); /* capped at 64 bytes */
}
END_TEST

START_TEST(test_random_fills)
{
    unsigned char buf[4096];
    memset(buf, 0, sizeof(buf));
    util_random(buf, sizeof(buf));
    size_t zeros = 0;
    for (size_t i = 0; i < sizeof(buf); i++)
        zeros += buf[i] == 0;
    ck_assert_uint_lt(zeros, 64); /* ~16 expected */
}
END_TEST

START_TEST(test_clocks)
{
    int64_t t = util_now();
    ck_assert_int_gt(t, 1700000000);
    /* The same wall clock in milliseconds (a second may tick between, and
     * time() reads the kernel's coarse clock, a tick behind the precise
     * one util_now_ms reads). */
    int64_t ms = util_now_ms();
    ck_assert_int_ge(ms, t * 1000);
    ck_assert_int_le(ms, (util_now() + 1) * 1000 + 50);
    double a = util_mono_ms();
    double b = util_mono_ms();
    ck_assert(b >= a);
}
END_TEST

static Suite *util_suite(void)
{
    Suite *s = suite_create("util");

    TCase *tb = tcase_create("base64");
    tcase_add_checked_fixture(tb, setup, teardown);
    tcase_add_loop_test(tb, test_b64url_round_trip, 0, 41);
    tcase_add_loop_test(tb, test_b64url_vectors, 0, NVECTORS);
    tcase_add_loop_test(tb, test_b64_standard, 0, NSTD);
    tcase_add_loop_test(tb, test_b64_malformed, 0, NBAD);
    tcase_add_test(tb, test_b64_length_bound);
    suite_add_tcase(s, tb);

    TCase *tm = tcase_create("misc");
    tcase_add_checked_fixture(tm, setup, teardown);
    tcase_add_loop_test(tm, test_sha256_hex, 0, NSHA);
    tcase_add_test(tm, test_sha256_binary);
    tcase_add_test(tm, test_ct_equal);
    tcase_add_loop_test(tm, test_is_token, 0, NTOKEN);
    tcase_add_test(tm, test_is_token_long);
    tcase_add_test(tm, test_uuid);
    tcase_add_test(tm, test_random_token);
    tcase_add_test(tm, test_random_fills);
    tcase_add_test(tm, test_clocks);
    suite_add_tcase(s, tm);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(util_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
