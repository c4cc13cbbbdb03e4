/*
 * test_loader.c - the options table and its loader: defaults, file, env,
 * argv precedence, bounds, unknown keys, durations and sizes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/config.h"
#include "image/base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/berth-config-XXXXXX";

static const char *write_file(const char *text)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s/berth.conf", tmpdir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return path;
}

static void test_defaults(void **state)
{
    (void)state;
    struct config c;
    assert_int_equal(config_load(&c, 0, NULL), 0);
    assert_string_equal(c.listen, "localhost:5000");
    assert_int_equal(c.max_manifest, 4 << 20);
    assert_int_equal(c.upload_expiry, 24 * 3600);
    assert_true(c.access_log);
    assert_string_equal(c.auth_mode, "none");
    assert_non_null(c.data_dir);
    assert_true(strlen(c.data_dir) > 0);
    config_release(&c);
}

static void test_precedence(void **state)
{
    (void)state;
    struct config c;
    const char *path = write_file("# comment\nlisten = 127.0.0.1:6000\nthreads = 3\n"
                                  "data = /tmp/from-file\n");
    setenv("BERTH_THREADS", "5", 1);
    char *argv[] = {"--config", (char *)path, "--data", "/tmp/from-argv"};
    assert_int_equal(config_load(&c, 4, argv), 0);
    assert_string_equal(c.listen, "127.0.0.1:6000");   /* file beats default */
    assert_int_equal(c.threads, 5);                    /* env beats file */
    assert_string_equal(c.data_dir, "/tmp/from-argv"); /* argv beats all */
    config_release(&c);
    unsetenv("BERTH_THREADS");
}

static void test_unknown_key_in_file(void **state)
{
    (void)state;
    struct config c;
    const char *path = write_file("listen = 127.0.0.1:6000\nlisen = oops\n");
    char *argv[] = {"--config", (char *)path};
    assert_int_equal(config_load(&c, 2, argv), BERR_CONFIG);
    assert_non_null(strstr(berr_message(), "lisen"));
    assert_non_null(strstr(berr_message(), ":2"));
    config_release(&c);
}

static void test_unknown_flag_and_range(void **state)
{
    (void)state;
    struct config c;
    char *a1[] = {"--no-such-option", "1"};
    assert_int_equal(config_load(&c, 2, a1), BERR_CONFIG);
    config_release(&c);
    char *a2[] = {"--threads", "0"};
    assert_int_equal(config_load(&c, 2, a2), BERR_CONFIG);
    assert_non_null(strstr(berr_message(), "out of range"));
    config_release(&c);
    char *a3[] = {"--threads=many"};
    assert_int_equal(config_load(&c, 1, a3), BERR_CONFIG);
    config_release(&c);
    char *a4[] = {"--auth.mode", "kerberos"};
    assert_int_equal(config_load(&c, 2, a4), BERR_CONFIG);
    config_release(&c);
    char *a5[] = {"--tls.cert", "/x.pem"};
    assert_int_equal(config_load(&c, 2, a5), BERR_CONFIG);
    config_release(&c);
}

static void test_bool_flag_and_lists(void **state)
{
    (void)state;
    struct config c;
    const char *path = write_file("auth.rule = alice team/* pull\nauth.rule = * public/** pull\n");
    char *argv[] = {"--config", (char *)path, "--access-log=false", "--gc.delete-untagged"};
    assert_int_equal(config_load(&c, 4, argv), 0);
    assert_false(c.access_log);
    assert_true(c.gc_delete_untagged);
    assert_int_equal(c.auth_rules.n, 2);
    assert_string_equal(c.auth_rules.items[1], "* public/** pull");
    config_release(&c);
}

static void test_durations_and_sizes(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(config_parse_duration("90", &v), 0);
    assert_int_equal(v, 90);
    assert_int_equal(config_parse_duration("15m", &v), 0);
    assert_int_equal(v, 900);
    assert_int_equal(config_parse_duration("2d", &v), 0);
    assert_int_equal(v, 2 * 86400);
    assert_int_equal(config_parse_duration("5x", &v), BERR_CONFIG);
    assert_int_equal(config_parse_duration("-1s", &v), BERR_CONFIG);
    assert_int_equal(config_parse_size("4MiB", &v), 0);
    assert_int_equal(v, 4 << 20);
    assert_int_equal(config_parse_size("64k", &v), 0);
    assert_int_equal(v, 65536);
    assert_int_equal(config_parse_size("1g", &v), 0);
    assert_int_equal(v, 1LL << 30);
    assert_int_equal(config_parse_size("12q", &v), BERR_CONFIG);
}

static void test_print_round_trip(void **state)
{
    (void)state;
    struct config c, d;
    char *argv[] = {"--threads", "7", "--upload.expiry", "2h"};
    assert_int_equal(config_load(&c, 4, argv), 0);
    char path[256];
    snprintf(path, sizeof(path), "%s/printed.conf", tmpdir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    config_print(&c, fp);
    fclose(fp);
    char *argv2[] = {"--config", path};
    assert_int_equal(config_load(&d, 2, argv2), 0);
    assert_int_equal(d.threads, 7);
    assert_int_equal(d.upload_expiry, 7200);
    assert_string_equal(d.data_dir, c.data_dir);
    config_release(&c);
    config_release(&d);
}

int main(void)
{
    if (!mkdtemp(tmpdir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_unknown_key_in_file),
        cmocka_unit_test(test_unknown_flag_and_range),
        cmocka_unit_test(test_bool_flag_and_lists),
        cmocka_unit_test(test_durations_and_sizes),
        cmocka_unit_test(test_print_round_trip),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}
