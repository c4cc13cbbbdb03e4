/*
 * test_authchal.c - WWW-Authenticate parsing: Bearer with quoted
 * parameters (commas and escapes inside quotes), Basic, case of the scheme,
 * malformed headers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "client/authchal.h"
#include "image/base/err.h"

static void test_bearer(void **state)
{
    (void)state;
    struct auth_challenge c;
    assert_int_equal(auth_challenge_parse(&c, "Bearer realm=\"https://auth.example/token\","
                                              "service=\"registry\","
                                              "scope=\"repository:a/b:pull,push\""),
                     0);
    assert_string_equal(c.scheme, "bearer");
    assert_string_equal(c.realm, "https://auth.example/token");
    assert_string_equal(c.service, "registry");
    assert_string_equal(c.scope, "repository:a/b:pull,push");
    assert_null(c.error);
    auth_challenge_release(&c);
}

static void test_tokens_escapes_and_error(void **state)
{
    (void)state;
    struct auth_challenge c;
    assert_int_equal(auth_challenge_parse(&c,
                                          "BEARER  realm=http://x/t , error=\"insufficient_scope\","
                                          " service=\"a\\\"b\""),
                     0);
    assert_string_equal(c.scheme, "bearer");
    assert_string_equal(c.realm, "http://x/t");
    assert_string_equal(c.error, "insufficient_scope");
    assert_string_equal(c.service, "a\"b");
    auth_challenge_release(&c);
}

static void test_basic_and_bad(void **state)
{
    (void)state;
    struct auth_challenge c;
    assert_int_equal(auth_challenge_parse(&c, "Basic realm=\"Registry Realm\""), 0);
    assert_string_equal(c.scheme, "basic");
    assert_string_equal(c.realm, "Registry Realm");
    auth_challenge_release(&c);
    assert_int_equal(auth_challenge_parse(&c, ""), BERR_INVALID);
    assert_int_equal(auth_challenge_parse(&c, "Bearer realm=\"open"), BERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_tokens_escapes_and_error),
        cmocka_unit_test(test_basic_and_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
