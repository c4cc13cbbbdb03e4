/*
 * test_digest.c - digest grammar, known hash vectors, streaming vs one-shot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "image/digest.h"
#include "image/base/err.h"

#include <stdlib.h>
#include <string.h>

#define HEX64_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HEX64_ABC   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define HEX128_EMPTY                                                                               \
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877"  \
    "eec2f63b931bd47417a81a538327af927da3e"
#define HEX128_ABC                                                                                 \
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3f"  \
    "eebbd454d4423643ce80e2a9ac94fa54ca49f"

static int parse(const char *s)
{
    struct digest d;
    return digest_parse_cstr(&d, s);
}

static void test_parse_good(void **state)
{
    (void)state;
    struct digest d;
    assert_int_equal(digest_parse_cstr(&d, "sha256:" HEX64_ABC), 0);
    assert_int_equal(d.alg, DIGEST_SHA256);
    assert_string_equal(d.str, "sha256:" HEX64_ABC);
    assert_string_equal(d.hex, HEX64_ABC);
    assert_ptr_equal(d.hex, d.str + 7);

    assert_int_equal(digest_parse_cstr(&d, "sha512:" HEX128_ABC), 0);
    assert_int_equal(d.alg, DIGEST_SHA512);
    assert_string_equal(d.hex, HEX128_ABC);
    assert_string_equal(digest_alg_name(d.alg), "sha512");
    assert_string_equal(digest_alg_name(DIGEST_SHA256), "sha256");
}

static void test_parse_len_not_nul(void **state)
{
    (void)state;
    /* digest_parse honours len: trailing bytes beyond len are not read */
    const char *s = "sha256:" HEX64_ABC "/blobs";
    struct digest d;
    assert_int_equal(digest_parse(&d, s, 7 + 64), 0);
    assert_string_equal(d.str, "sha256:" HEX64_ABC);
    assert_int_equal(digest_parse(&d, s, 7 + 63), BERR_DIGEST_INVALID);
    assert_int_equal(digest_parse(&d, s, strlen(s)), BERR_DIGEST_INVALID);
    /* embedded NUL inside len */
    char buf[7 + 64];
    memcpy(buf, "sha256:" HEX64_ABC, sizeof(buf));
    buf[20] = '\0';
    assert_int_equal(digest_parse(&d, buf, sizeof(buf)), BERR_DIGEST_INVALID);
}

static void test_parse_bad_known_alg(void **state)
{
    (void)state;
    /* wrong length */
    assert_int_equal(parse("sha256:" HEX64_ABC "0"), BERR_DIGEST_INVALID);
    assert_int_equal(parse("sha256:" HEX128_ABC), BERR_DIGEST_INVALID);
    assert_int_equal(parse("sha512:" HEX64_ABC), BERR_DIGEST_INVALID);
    assert_int_equal(parse("sha256:abc"), BERR_DIGEST_INVALID);
    /* uppercase hex */
    assert_int_equal(
        parse("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"),
        BERR_DIGEST_INVALID);
    assert_int_equal(
        parse("sha256:Ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        BERR_DIGEST_INVALID);
    /* in the encoded grammar but not hex */
    assert_int_equal(
        parse("sha256:ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        BERR_DIGEST_INVALID);
    assert_int_equal(
        parse("sha256:=a7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        BERR_DIGEST_INVALID);
    /* outside the grammar */
    assert_int_equal(parse("sha256:" HEX64_EMPTY " "), BERR_DIGEST_INVALID);
    assert_int_equal(parse("sha256:../../../../etc/passwd"), BERR_DIGEST_INVALID);
    assert_int_equal(
        parse("sha256:/a7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        BERR_DIGEST_INVALID);
    assert_int_equal(parse("SHA256:" HEX64_ABC), BERR_DIGEST_INVALID);
}

static void test_parse_grammar(void **state)
{
    (void)state;
    assert_int_equal(parse(""), BERR_DIGEST_INVALID);
    assert_int_equal(parse(HEX64_ABC), BERR_DIGEST_INVALID);
    assert_int_equal(parse(":" HEX64_ABC), BERR_DIGEST_INVALID);
    assert_int_equal(parse("sha256:"), BERR_DIGEST_INVALID);
    assert_int_equal(parse("sha256"), BERR_DIGEST_INVALID);
    assert_int_equal(parse(" sha256:" HEX64_ABC), BERR_DIGEST_INVALID);
    /* separators: no leading, trailing or doubled */
    assert_int_equal(parse("+sha256:abc"), BERR_DIGEST_INVALID);
    assert_int_equal(parse("sha256+:abc"), BERR_DIGEST_INVALID);
    assert_int_equal(parse("multi..hash:abc"), BERR_DIGEST_INVALID);
    assert_int_equal(parse("multi+-hash:abc"), BERR_DIGEST_INVALID);
    assert_int_equal(parse("Sha256:abc"), BERR_DIGEST_INVALID);
    assert_int_equal(parse("sha 256:abc"), BERR_DIGEST_INVALID);
    /* encoded may not contain ':' , '/', '+', '.' */
    assert_int_equal(parse("foo:a:b"), BERR_DIGEST_INVALID);
    assert_int_equal(parse("foo:a/b"), BERR_DIGEST_INVALID);
    assert_int_equal(parse("foo:a+b"), BERR_DIGEST_INVALID);
    assert_int_equal(parse("foo:a.b"), BERR_DIGEST_INVALID);
    assert_int_equal(digest_parse_cstr(NULL, NULL), BERR_DIGEST_INVALID);
}

static void test_parse_unsupported(void **state)
{
    (void)state;
    assert_int_equal(parse("sha384:abcdef"), BERR_UNSUPPORTED);
    assert_int_equal(parse("md5:d41d8cd98f00b204e9800998ecf8427e"), BERR_UNSUPPORTED);
    assert_int_equal(parse("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8"),
                     BERR_UNSUPPORTED);
    assert_int_equal(parse("sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564"),
                     BERR_UNSUPPORTED);
    assert_int_equal(parse("a.b_c-d+e:A-Za-z0-9=_"), BERR_UNSUPPORTED);
    assert_true(strstr(berr_message(), "not supported") != NULL);
}

static void test_equal_copy(void **state)
{
    (void)state;
    struct digest a, b, c;
    assert_int_equal(digest_parse_cstr(&a, "sha256:" HEX64_ABC), 0);
    assert_int_equal(digest_parse_cstr(&b, "sha256:" HEX64_ABC), 0);
    assert_int_equal(digest_parse_cstr(&c, "sha256:" HEX64_EMPTY), 0);
    assert_true(digest_equal(&a, &b));
    assert_false(digest_equal(&a, &c));
    struct digest *heap = malloc(sizeof(*heap));
    assert_non_null(heap);
    digest_copy(heap, &c);
    assert_true(digest_equal(heap, &c));
    assert_ptr_equal(heap->hex, heap->str + 7);
    assert_string_equal(heap->hex, HEX64_EMPTY);
    free(heap);
}

static void test_vectors(void **state)
{
    (void)state;
    struct digest d;
    digest_of(&d, DIGEST_SHA256, "", 0);
    assert_string_equal(d.str, "sha256:" HEX64_EMPTY);
    digest_of(&d, DIGEST_SHA256, "abc", 3);
    assert_string_equal(d.str, "sha256:" HEX64_ABC);
    assert_ptr_equal(d.hex, d.str + 7);
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    digest_of(&d, DIGEST_SHA256, two, strlen(two));
    assert_string_equal(d.str,
                        "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    digest_of(&d, DIGEST_SHA512, "", 0);
    assert_string_equal(d.str, "sha512:" HEX128_EMPTY);
    digest_of(&d, DIGEST_SHA512, "abc", 3);
    assert_string_equal(d.str, "sha512:" HEX128_ABC);
    /* the output parses back */
    struct digest back;
    assert_int_equal(digest_parse_cstr(&back, d.str), 0);
    assert_true(digest_equal(&back, &d));
}

static void test_million_a_streaming(void **state)
{
    (void)state;
    size_t n = 1000000;
    char *a = malloc(n);
    assert_non_null(a);
    memset(a, 'a', n);

    struct digester *h256 = NULL, *h512 = NULL;
    assert_int_equal(digester_new(&h256, DIGEST_SHA256), 0);
    assert_int_equal(digester_new(&h512, DIGEST_SHA512), 0);
    /* odd chunk sizes, including zero-length updates */
    size_t off = 0, step = 1;
    while (off < n) {
        size_t k = step < n - off ? step : n - off;
        digester_update(h256, a + off, k);
        digester_update(h512, a + off, k);
        digester_update(h256, a, 0);
        off += k;
        step = step * 3 + 1;
    }
    struct digest d256, d512, one;
    digester_final(h256, &d256);
    digester_final(h512, &d512);
    assert_string_equal(d256.str,
                        "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    assert_string_equal(d512.str, "sha512:e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a8"
                                  "03afa973ebde0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb2"
                                  "17ad8cc09b");
    digest_of(&one, DIGEST_SHA512, a, n);
    assert_true(digest_equal(&one, &d512));
    digester_free(h256);
    digester_free(h512);
    free(a);
}

static void test_dup(void **state)
{
    (void)state;
    struct digester *h = NULL, *c = NULL;
    struct digest d_ab, d_abc, want;
    assert_int_equal(digester_new(&h, DIGEST_SHA256), 0);
    digester_update(h, "ab", 2);
    assert_int_equal(digester_dup(&c, h), 0);
    digester_final(c, &d_ab);
    digester_update(h, "c", 1);
    digester_final(h, &d_abc);
    digest_of(&want, DIGEST_SHA256, "ab", 2);
    assert_true(digest_equal(&d_ab, &want));
    assert_string_equal(d_abc.str, "sha256:" HEX64_ABC);
    digester_free(c);
    digester_free(h);
    digester_free(NULL);
}

static void test_new_bad_alg(void **state)
{
    (void)state;
    struct digester *h = (struct digester *)1;
    assert_int_equal(digester_new(&h, (enum digest_alg)7), BERR_INTERNAL);
    assert_null(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_len_not_nul),
        cmocka_unit_test(test_parse_bad_known_alg),
        cmocka_unit_test(test_parse_grammar),
        cmocka_unit_test(test_parse_unsupported),
        cmocka_unit_test(test_equal_copy),
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_million_a_streaming),
        cmocka_unit_test(test_dup),
        cmocka_unit_test(test_new_bad_alg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
