/*
 * test_creds.c - credential files: store (mode 0600, atomic), look up in
 * Berth's file then Docker's config.json (auth or username/password,
 * "https://host/v1/" keys), erase, malformed files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/creds.h"
#include "client/unpack.h"
#include "image/base/err.h"
#include "image/base/xalloc.h"

static char *dir;

static int setup(void **state)
{
    (void)state;
    dir = xstrdup("/tmp/berth-creds-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char *f = xasprintf("%s/berth/auth.json", dir);
    setenv("BERTH_AUTH_FILE", f, 1);
    free(f);
    setenv("DOCKER_CONFIG", dir, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unpack_remove_tree(dir);
    free(dir);
    return 0;
}

static void write_docker(const char *text)
{
    char *p = xasprintf("%s/config.json", dir);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    free(p);
}

static void test_store_lookup_erase(void **state)
{
    (void)state;
    char *u = NULL, *p = NULL;
    assert_int_equal(creds_lookup(&u, &p, "reg:5000"), BERR_NOT_FOUND);
    assert_int_equal(creds_store("reg:5000", "alice", "pa:ss"), 0);
    char *path = creds_path();
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    free(path);
    assert_int_equal(creds_lookup(&u, &p, "reg:5000"), 0);
    assert_string_equal(u, "alice");
    assert_string_equal(p, "pa:ss");
    free(u);
    free(p);
    assert_int_equal(creds_lookup(&u, &p, "reg"), BERR_NOT_FOUND);
    assert_int_equal(creds_erase("reg:5000"), 0);
    assert_int_equal(creds_lookup(&u, &p, "reg:5000"), BERR_NOT_FOUND);
    assert_int_equal(creds_erase("reg:5000"), BERR_NOT_FOUND);
}

static void test_docker_config(void **state)
{
    (void)state;
    char *u = NULL, *p = NULL;
    /* "Ym9iOnNlY3JldA==" is bob:secret */
    write_docker("{\"auths\":{\"https://dock.example:443/v1/\":{\"auth\":\"Ym9iOnNlY3JldA==\"},"
                 "\"plain.example\":{\"username\":\"carol\",\"password\":\"pw\"}}}");
    assert_int_equal(creds_lookup(&u, &p, "dock.example:443"), 0);
    assert_string_equal(u, "bob");
    assert_string_equal(p, "secret");
    free(u);
    free(p);
    assert_int_equal(creds_lookup(&u, &p, "plain.example"), 0);
    assert_string_equal(u, "carol");
    free(u);
    free(p);
    /* Berth's own file wins */
    assert_int_equal(creds_store("plain.example", "dave", "x"), 0);
    assert_int_equal(creds_lookup(&u, &p, "plain.example"), 0);
    assert_string_equal(u, "dave");
    free(u);
    free(p);
    write_docker("{not json");
    assert_int_equal(creds_lookup(&u, &p, "dock.example:443"), BERR_CONFIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_lookup_erase),
        cmocka_unit_test(test_docker_config),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
