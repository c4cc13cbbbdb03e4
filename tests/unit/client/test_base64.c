/*
 * test_base64.c - RFC 4648 vectors both ways, and invalid input refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "client/base64.h"
#include "image/base/err.h"

static void test_vectors(void **state)
{
    (void)state;
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char *e = base64_encode(plain[i], strlen(plain[i]));
        assert_string_equal(e, enc[i]);
        free(e);
        char *d;
        size_t n;
        assert_int_equal(base64_decode(&d, &n, enc[i]), 0);
        assert_int_equal(n, strlen(plain[i]));
        assert_string_equal(d, plain[i]);
        free(d);
    }
}

static void test_invalid(void **state)
{
    (void)state;
    char *d;
    assert_int_equal(base64_decode(&d, NULL, "Zm9v!"), BERR_INVALID);
    assert_int_equal(base64_decode(&d, NULL, "Z"), BERR_INVALID);
    assert_int_equal(base64_decode(&d, NULL, "Zm=v"), BERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
