/*
 * test_run.c - config.json of a bundle: args from Entrypoint/Cmd and the
 * command line, environment precedence, working directory, users and
 * groups looked up in the image, rlimits within the host's hard limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/imgconfig.h"
#include "client/run.h"
#include "client/unpack.h"
#include "image/base/err.h"
#include "image/base/xalloc.h"

static char *rootfs;

static int setup(void **state)
{
    (void)state;
    rootfs = xstrdup("/tmp/berth-run-XXXXXX");
    if (!mkdtemp(rootfs))
        return -1;
    char *etc = xasprintf("%s/etc", rootfs);
    mkdir(etc, 0755);
    char *p = xasprintf("%s/passwd", etc);
    FILE *f = fopen(p, "w");
    fputs("root:x:0:0:root:/root:/bin/sh\nwww:x:33:44:www:/var/www:/bin/sh\n", f);
    fclose(f);
    free(p);
    p = xasprintf("%s/group", etc);
    f = fopen(p, "w");
    fputs("root:x:0:\nstaff:x:50:\n", f);
    fclose(f);
    free(p);
    free(etc);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unpack_remove_tree(rootfs);
    free(rootfs);
    return 0;
}

static json_t *build(const struct imgconfig *ic, const struct run_opts *o)
{
    char *text = NULL;
    assert_int_equal(run_spec_build(&text, ic, o, rootfs, "abc123"), 0);
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(j);
    return j;
}

static const char *arg(json_t *j, size_t i)
{
    return json_string_value(
        json_array_get(json_object_get(json_object_get(j, "process"), "args"), i));
}

static int has_env(json_t *j, const char *kv)
{
    json_t *env = json_object_get(json_object_get(j, "process"), "env");
    size_t i;
    json_t *v;
    json_array_foreach(env, i, v)
    {
        if (strcmp(json_string_value(v), kv) == 0)
            return 1;
    }
    return 0;
}

static void test_args(void **state)
{
    (void)state;
    char *ep[] = {"/bin/echo", NULL};
    char *cmd[] = {"hello", NULL};
    char *over[] = {"bye", "now", NULL};
    struct imgconfig ic = {.entrypoint = ep, .cmd = cmd};
    struct run_opts o = {0};
    json_t *j = build(&ic, &o);
    assert_string_equal(arg(j, 0), "/bin/echo");
    assert_string_equal(arg(j, 1), "hello");
    json_decref(j);

    o.cmd = over; /* the command line replaces Cmd, keeps Entrypoint */
    j = build(&ic, &o);
    assert_string_equal(arg(j, 1), "bye");
    assert_string_equal(arg(j, 2), "now");
    json_decref(j);

    o.entrypoint = "/bin/sh"; /* --entrypoint drops the image's Cmd */
    o.cmd = NULL;
    j = build(&ic, &o);
    assert_string_equal(arg(j, 0), "/bin/sh");
    assert_null(arg(j, 1));
    json_decref(j);

    struct imgconfig empty = {0};
    struct run_opts none = {0};
    char *text = NULL;
    assert_int_equal(run_spec_build(&text, &empty, &none, rootfs, "x"), BERR_INVALID);
}

static void test_env_cwd_user(void **state)
{
    (void)state;
    char *cmd[] = {"/bin/true", NULL};
    char *env[] = {"A=image", "B=image", "PATH=/img", NULL};
    char *flags[] = {"B=flag", "BERTH_TEST_FROM_HOST", NULL};
    struct imgconfig ic = {.cmd = cmd, .env = env, .working_dir = "/srv", .user = "www"};
    struct run_opts o = {.env = flags};
    setenv("BERTH_TEST_FROM_HOST", "yes", 1);
    json_t *j = build(&ic, &o);
    assert_true(has_env(j, "A=image"));
    assert_true(has_env(j, "B=flag"));
    assert_false(has_env(j, "B=image"));
    assert_true(has_env(j, "PATH=/img"));
    assert_true(has_env(j, "BERTH_TEST_FROM_HOST=yes"));
    assert_true(has_env(j, "HOSTNAME=abc123"));
    json_t *proc = json_object_get(j, "process");
    assert_string_equal(json_string_value(json_object_get(proc, "cwd")), "/srv");
    json_t *user = json_object_get(proc, "user");
    assert_int_equal(json_integer_value(json_object_get(user, "uid")), 33);
    assert_int_equal(json_integer_value(json_object_get(user, "gid")), 44);
    json_decref(j);

    o.user = "www:staff";
    o.workdir = "/tmp";
    j = build(&ic, &o);
    proc = json_object_get(j, "process");
    assert_string_equal(json_string_value(json_object_get(proc, "cwd")), "/tmp");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(proc, "user"), "gid")), 50);
    json_decref(j);

    o.user = "1234:5678";
    j = build(&ic, &o);
    proc = json_object_get(j, "process");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(proc, "user"), "uid")),
                     1234);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(proc, "user"), "gid")),
                     5678);
    json_decref(j);

    char *text = NULL;
    o.user = "nobody-here";
    assert_int_equal(run_spec_build(&text, &ic, &o, rootfs, "x"), BERR_INVALID);
    o.user = NULL;
    o.workdir = "relative";
    assert_int_equal(run_spec_build(&text, &ic, &o, rootfs, "x"), BERR_INVALID);
}

static void test_rlimits(void **state)
{
    (void)state;
    char *cmd[] = {"/bin/true", NULL};
    struct imgconfig ic = {.cmd = cmd};
    struct run_opts o = {0};
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    json_t *j = build(&ic, &o);
    json_t *r0 = json_array_get(json_object_get(json_object_get(j, "process"), "rlimits"), 0);
    assert_string_equal(json_string_value(json_object_get(r0, "type")), "RLIMIT_NOFILE");
    json_int_t hard = json_integer_value(json_object_get(r0, "hard"));
    json_int_t soft = json_integer_value(json_object_get(r0, "soft"));
    if (rl.rlim_max != RLIM_INFINITY)
        assert_true(hard <= (json_int_t)rl.rlim_max);
    assert_true(soft <= hard);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_env_cwd_user),
        cmocka_unit_test(test_rlimits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
