/*
 * test_unpack.c - applying layers: path cleaning, whiteouts, opaque
 * directories, and hostile layers (.., absolute paths, writes through
 * symlinks, hard links out of the root, device nodes) refused with nothing
 * written outside the root.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/unpack.h"
#include "image/base/err.h"
#include "image/base/xalloc.h"
#include "tests/unit/client/tarbuild.h"

struct fx {
    char *top;  /* temporary directory */
    char *root; /* top/root: the root filesystem */
    int root_fd;
};

static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));
    f->top = xstrdup("/tmp/berth-unpack-XXXXXX");
    if (!mkdtemp(f->top))
        return -1;
    f->root = xasprintf("%s/root", f->top);
    mkdir(f->root, 0755);
    f->root_fd = open(f->root, O_RDONLY | O_DIRECTORY);
    *state = f;
    return f->root_fd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    close(f->root_fd);
    unpack_remove_tree(f->top);
    free(f->root);
    free(f->top);
    free(f);
    return 0;
}

static int apply(struct fx *f, struct buf *b)
{
    struct unpack_opts o = {0, 0};
    tb_end(b);
    int fd = tb_tmpfd(b);
    int rc = unpack_layer(f->root_fd, fd, &o);
    close(fd);
    buf_release(b);
    return rc;
}

static int exists(struct fx *f, const char *rel)
{
    struct stat st;
    return fstatat(f->root_fd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void test_clean_path(void **state)
{
    (void)state;
    char *p;
    assert_int_equal(unpack_clean_path(&p, "./a//b/./c/"), 0);
    assert_string_equal(p, "a/b/c");
    free(p);
    assert_int_equal(unpack_clean_path(&p, "./"), 0);
    assert_string_equal(p, "");
    free(p);
    assert_int_equal(unpack_clean_path(&p, "a/../b"), BERR_INVALID);
    assert_int_equal(unpack_clean_path(&p, "../x"), BERR_INVALID);
    assert_int_equal(unpack_clean_path(&p, "/etc/passwd"), BERR_INVALID);
    assert_int_equal(unpack_clean_path(&p, ""), BERR_INVALID);
    assert_int_equal(unpack_clean_path(&p, "a/..b/c.."), 0); /* names, not ".." */
    free(p);
}

static void test_files_and_whiteouts(void **state)
{
    struct fx *f = *state;
    struct buf b = BUF_INIT;
    tb_add(&b, '5', "etc/", NULL, NULL, 0755);
    tb_add(&b, '0', "etc/a", NULL, "A", 0644);
    tb_add(&b, '0', "etc/b", NULL, "B", 0600);
    tb_add(&b, '2', "etc/l", "a", NULL, 0777);
    tb_add(&b, '1', "etc/h", "etc/a", NULL, 0644);
    tb_add(&b, '5', "opq/", NULL, NULL, 0755);
    tb_add(&b, '0', "opq/old", NULL, "o", 0644);
    assert_int_equal(apply(f, &b), 0);
    assert_true(exists(f, "etc/a") && exists(f, "etc/l") && exists(f, "etc/h"));
    struct stat st;
    assert_int_equal(fstatat(f->root_fd, "etc/b", &st, 0), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(fstatat(f->root_fd, "etc/h", &st, 0), 0);
    assert_int_equal(st.st_nlink, 2);

    /* layer 2: whiteout a, opaque opq (the new file added before the marker stays) */
    tb_add(&b, '0', "etc/.wh.a", NULL, NULL, 0644);
    tb_add(&b, '0', "opq/new", NULL, "n", 0644);
    tb_add(&b, '0', "opq/.wh..wh..opq", NULL, NULL, 0644);
    tb_add(&b, '0', "etc/b", NULL, "BB", 0644); /* replaces the file */
    assert_int_equal(apply(f, &b), 0);
    assert_false(exists(f, "etc/a"));
    assert_false(exists(f, "etc/.wh.a"));
    assert_false(exists(f, "opq/old"));
    assert_true(exists(f, "opq/new"));
    assert_false(exists(f, "opq/.wh..wh..opq"));
    assert_int_equal(fstatat(f->root_fd, "etc/b", &st, 0), 0);
    assert_int_equal(st.st_size, 2);
}

static void test_dotdot_refused(void **state)
{
    struct fx *f = *state;
    struct buf b = BUF_INIT;
    tb_add(&b, '0', "../escape", NULL, "x", 0644);
    assert_int_equal(apply(f, &b), BERR_INVALID);
    char *p = xasprintf("%s/escape", f->top);
    assert_int_not_equal(access(p, F_OK), 0);
    free(p);
}

static void test_absolute_refused(void **state)
{
    struct fx *f = *state;
    struct buf b = BUF_INIT;
    char *p = xasprintf("%s/abs", f->top);
    tb_add(&b, '0', p, NULL, "x", 0644);
    assert_int_equal(apply(f, &b), BERR_INVALID);
    assert_int_not_equal(access(p, F_OK), 0);
    free(p);
}

static void test_write_through_symlink_refused(void **state)
{
    struct fx *f = *state;
    struct buf b = BUF_INIT;
    tb_add(&b, '2', "evil", f->top, NULL, 0777);
    tb_add(&b, '0', "evil/pwned", NULL, "x", 0644);
    assert_int_equal(apply(f, &b), BERR_INVALID);
    char *p = xasprintf("%s/pwned", f->top);
    assert_int_not_equal(access(p, F_OK), 0);
    free(p);
}

static void test_replace_symlink_does_not_follow(void **state)
{
    struct fx *f = *state;
    struct buf b = BUF_INIT;
    char *outside = xasprintf("%s/victim", f->top);
    int fd = open(outside, O_WRONLY | O_CREAT, 0644);
    assert_true(write(fd, "keep", 4) == 4);
    close(fd);
    /* a symlink to a file outside, then a regular file of the same name */
    tb_add(&b, '2', "x", outside, NULL, 0777);
    tb_add(&b, '0', "x", NULL, "overwritten", 0644);
    assert_int_equal(apply(f, &b), 0);
    struct stat st;
    assert_int_equal(stat(outside, &st), 0);
    assert_int_equal(st.st_size, 4);
    assert_int_equal(fstatat(f->root_fd, "x", &st, AT_SYMLINK_NOFOLLOW), 0);
    assert_true(S_ISREG(st.st_mode));
    free(outside);
}

static void test_hardlinks_outside_refused(void **state)
{
    struct fx *f = *state;
    struct buf b = BUF_INIT;
    tb_add(&b, '1', "h1", "/etc/passwd", NULL, 0644);
    assert_int_equal(apply(f, &b), BERR_INVALID);
    tb_add(&b, '1', "h2", "../../etc/passwd", NULL, 0644);
    assert_int_equal(apply(f, &b), BERR_INVALID);
    tb_add(&b, '2', "s", "/etc", NULL, 0777);
    tb_add(&b, '1', "h3", "s/passwd", NULL, 0644);
    assert_int_equal(apply(f, &b), BERR_INVALID);
    assert_false(exists(f, "h1") || exists(f, "h2") || exists(f, "h3"));
}

static void test_device_refused(void **state)
{
    struct fx *f = *state;
    struct buf b = BUF_INIT;
    tb_add(&b, '3', "dev/null", NULL, NULL, 0666);
    assert_int_equal(apply(f, &b), BERR_INVALID);
    assert_false(exists(f, "dev/null"));
}

static void test_bad_whiteout_refused(void **state)
{
    struct fx *f = *state;
    struct buf b = BUF_INIT;
    tb_add(&b, '0', "a/.wh...", NULL, NULL, 0644);
    assert_int_equal(apply(f, &b), BERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_path),
        cmocka_unit_test_setup_teardown(test_files_and_whiteouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dotdot_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absolute_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_through_symlink_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_symlink_does_not_follow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hardlinks_outside_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_whiteout_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
