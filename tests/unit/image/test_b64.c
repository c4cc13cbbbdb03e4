/*
 * test_b64.c - RFC 4648 vectors both ways (standard and URL-safe alphabets),
 * binary round trips, and invalid input refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "image/b64.h"
#include "image/base/err.h"

static void test_vectors(void **state)
{
    (void)state;
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char *e = b64_encode_str(plain[i], strlen(plain[i]));
        assert_string_equal(e, enc[i]);
        free(e);
        char *d;
        size_t n;
        assert_int_equal(b64_decode_str(&d, &n, enc[i]), 0);
        assert_int_equal(n, strlen(plain[i]));
        assert_string_equal(d, plain[i]);
        free(d);
    }
}

static void test_invalid(void **state)
{
    (void)state;
    char *d;
    assert_int_equal(b64_decode_str(&d, NULL, "Zm9v!"), BERR_INVALID);
    assert_int_equal(b64_decode_str(&d, NULL, "Z"), BERR_INVALID);
    assert_int_equal(b64_decode_str(&d, NULL, "Zm=v"), BERR_INVALID);
}

static void test_url_and_binary(void **state)
{
    (void)state;
    unsigned char raw[256];
    for (int i = 0; i < 256; i++)
        raw[i] = (unsigned char)(255 - i);
    for (size_t n = 0; n <= sizeof(raw); n += 17) {
        for (int alpha = B64_STD; alpha <= B64_URL; alpha++) {
            struct buf e = BUF_INIT, d = BUF_INIT;
            assert_int_equal(b64_encode(&e, raw, n, (enum b64_alphabet)alpha), 0);
            if (alpha == B64_URL) {
                assert_null(strpbrk(buf_cstr(&e), "+/="));
            }
            assert_int_equal(b64_decode(&d, e.data ? e.data : "", e.len, (enum b64_alphabet)alpha),
                             0);
            assert_int_equal(d.len, n);
            assert_memory_equal(d.data, raw, n);
            buf_release(&e);
            buf_release(&d);
        }
    }
    struct buf d = BUF_INIT;
    assert_int_equal(b64_decode(&d, "-_8", 3, B64_URL), 0); /* 0xfb 0xff */
    assert_int_equal(d.len, 2);
    assert_int_equal((unsigned char)d.data[0], 0xfb);
    assert_int_equal((unsigned char)d.data[1], 0xff);
    buf_release(&d);
    assert_int_equal(b64_decode(&d, "+/8=", 4, B64_URL), BERR_INVALID); /* wrong alphabet */
    assert_int_equal(b64_decode(&d, "-_8=", 4, B64_STD), BERR_INVALID);
    assert_int_equal(b64_decode(&d, "Zm9v Zg", 7, B64_STD), BERR_INVALID); /* no blanks */
    assert_int_equal(b64_decode(&d, "Zm9v\n", 5, B64_STD), BERR_INVALID);
    buf_release(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_url_and_binary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
