/*
 * test_cli.c - exit statuses of BERR codes, the default registry applied
 * to references, full reference strings, plain-http hosts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>

#include "client/cli.h"
#include "image/base/err.h"

static void test_exit_codes(void **state)
{
    (void)state;
    assert_int_equal(cli_exit_code(0), CLI_EXIT_OK);
    assert_int_equal(cli_exit_code(BERR_MANIFEST_UNKNOWN), CLI_EXIT_NOTFOUND);
    assert_int_equal(cli_exit_code(BERR_BLOB_UNKNOWN), CLI_EXIT_NOTFOUND);
    assert_int_equal(cli_exit_code(BERR_UNAUTHORIZED), CLI_EXIT_AUTH);
    assert_int_equal(cli_exit_code(BERR_DENIED), CLI_EXIT_AUTH);
    assert_int_equal(cli_exit_code(BERR_IO), CLI_EXIT_NETWORK);
    assert_int_equal(cli_exit_code(BERR_DIGEST_INVALID), CLI_EXIT_VERIFY);
    assert_int_equal(cli_exit_code(BERR_NAME_INVALID), CLI_EXIT_USAGE);
    assert_int_equal(cli_exit_code(BERR_INVALID), CLI_EXIT_FAIL);
}

static void test_refs(void **state)
{
    (void)state;
    struct cli cli = {.registry = "localhost:5000", .insecure = "reg.lan:5000,other"};
    struct reference r;
    assert_int_equal(cli_ref_parse(&r, &cli, "app"), 0);
    char *s = cli_ref_string(&r);
    assert_string_equal(s, "localhost:5000/app:latest");
    free(s);
    reference_release(&r);
    assert_int_equal(
        cli_ref_parse(&r, &cli,
                      "reg.lan:5000/team/app@sha256:"
                      "0000000000000000000000000000000000000000000000000000000000000000"),
        0);
    s = cli_ref_string(&r);
    assert_string_equal(s, "reg.lan:5000/team/app@sha256:"
                           "0000000000000000000000000000000000000000000000000000000000000000");
    free(s);
    reference_release(&r);
    assert_int_equal(cli_ref_parse(&r, &cli, "Bad/Name"), BERR_NAME_INVALID);

    assert_true(cli_host_plain_http(&cli, "localhost:5000"));
    assert_true(cli_host_plain_http(&cli, "127.0.0.1:9999"));
    assert_true(cli_host_plain_http(&cli, "[::1]:5000"));
    assert_true(cli_host_plain_http(&cli, "reg.lan:5000"));
    assert_true(cli_host_plain_http(&cli, "other"));
    assert_false(cli_host_plain_http(&cli, "reg.lan"));
    assert_false(cli_host_plain_http(&cli, "registry.example.com"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_refs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
