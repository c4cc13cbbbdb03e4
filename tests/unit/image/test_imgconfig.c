/*
 * test_imgconfig.c - image config parsing: the fields run uses, absent
 * "config", and wrong types refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "image/imgconfig.h"
#include "image/base/err.h"

static int parse(struct imgconfig *c, const char *s)
{
    return imgconfig_parse(c, s, strlen(s));
}

static void test_fields(void **state)
{
    (void)state;
    struct imgconfig c;
    assert_int_equal(
        parse(&c, "{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\","
                  "\"config\":{\"Entrypoint\":[\"/e\"],\"Cmd\":[\"a\",\"b\"],"
                  "\"Env\":[\"X=1\"],\"WorkingDir\":\"/w\",\"User\":\"u:g\"},"
                  "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:1\",\"sha256:2\"]}}"),
        0);
    assert_string_equal(c.os, "linux");
    assert_string_equal(c.architecture, "arm64");
    assert_string_equal(c.entrypoint[0], "/e");
    assert_null(c.entrypoint[1]);
    assert_string_equal(c.cmd[1], "b");
    assert_string_equal(c.env[0], "X=1");
    assert_string_equal(c.working_dir, "/w");
    assert_string_equal(c.user, "u:g");
    assert_int_equal(c.n_diff_ids, 2);
    assert_string_equal(c.diff_ids[0], "sha256:1"); /* as written: unpack validates */
    assert_string_equal(c.diff_ids[1], "sha256:2");
    assert_null(c.diff_ids[2]);
    imgconfig_release(&c);

    /* diff_ids are lenient: any config still inspects, unpacking refuses */
    assert_int_equal(parse(&c, "{\"rootfs\":{\"diff_ids\":[\"sha256:a\",7]}}"), 0);
    assert_int_equal(c.n_diff_ids, 2);
    assert_string_equal(c.diff_ids[1], "");
    imgconfig_release(&c);
    assert_int_equal(parse(&c, "{\"rootfs\":\"layers\"}"), 0);
    assert_int_equal(c.n_diff_ids, 0);
    assert_null(c.diff_ids);
    imgconfig_release(&c);

    assert_int_equal(parse(&c, "{\"architecture\":\"amd64\",\"config\":{\"Cmd\":null}}"), 0);
    assert_null(c.cmd);
    assert_null(c.entrypoint);
    imgconfig_release(&c);
    assert_int_equal(parse(&c, "{}"), 0);
    imgconfig_release(&c);
}

static void test_wrong_types(void **state)
{
    (void)state;
    struct imgconfig c;
    assert_int_equal(parse(&c, "{\"config\":{\"Cmd\":\"echo hi\"}}"), BERR_INVALID);
    assert_int_equal(parse(&c, "{\"config\":{\"Env\":[1]}}"), BERR_INVALID);
    assert_int_equal(parse(&c, "{\"config\":[]}"), BERR_INVALID);
    assert_int_equal(parse(&c, "[]"), BERR_INVALID);
    assert_int_equal(parse(&c, "{\"os\":\"a\",\"os\":\"b\"}"), BERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_wrong_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
