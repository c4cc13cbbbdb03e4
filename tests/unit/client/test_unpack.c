/*
 * test_unpack.c - applying layers: path cleaning, whiteouts, opaque
 * directories, and hostile layers (.., absolute paths, writes through
 * symlinks, hard links out of the root, device nodes) refused with nothing
 * written outside the root; verification while streaming (blob digest and
 * size, diff_id over the whole uncompressed stream), and unpack_image leaving
 * nothing behind when a layer does not match the config's diff_ids.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "client/unpack.h"
#include "image/base/err.h"
#include "image/base/xalloc.h"
#include "image/digest.h"
#include "image/layout.h"
#include "image/manifest.h"
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
    int rc = unpack_layer(f->root_fd, fd, NULL, &o);
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

/* gzip in into out. */
static void gzip_buf(struct buf *out, const struct buf *in)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, in->len) + 64;
    unsigned char *o = xmalloc(cap);
    z.next_in = (unsigned char *)in->data;
    z.avail_in = (uInt)in->len;
    z.next_out = o;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    buf_append(out, o, cap - z.avail_out);
    deflateEnd(&z);
    free(o);
}

/* A gzip layer with one file; tar and gz hold the uncompressed and the
 * compressed bytes. The tar is padded past its end marker, as tar(1) pads
 * to 10 KiB records: diff_ids cover those bytes too. */
static void sample_layer(struct buf *tar, struct buf *gz, const char *file, const char *text)
{
    buf_init(tar, 0);
    buf_init(gz, 0);
    tb_add(tar, '0', file, NULL, text, 0644);
    tb_end(tar);
    tb_end(tar);
    gzip_buf(gz, tar);
}

static int apply_expect(struct fx *f, const struct buf *gz, const struct unpack_expect *x)
{
    struct unpack_opts o = {0, 0};
    int fd = tb_tmpfd(gz);
    int rc = unpack_layer(f->root_fd, fd, x, &o);
    close(fd);
    return rc;
}

static void test_layer_verified_while_streaming(void **state)
{
    struct fx *f = *state;
    struct buf tar, gz;
    struct digest blob, diff_id, short_id, wrong;
    sample_layer(&tar, &gz, "hello", "hi");
    digest_of(&blob, DIGEST_SHA256, gz.data, gz.len);
    digest_of(&diff_id, DIGEST_SHA256, tar.data, tar.len);
    /* up to the end marker only: what a reader that stops early would hash */
    digest_of(&short_id, DIGEST_SHA256, tar.data, 512 + 512 + 1024);
    digest_of(&wrong, DIGEST_SHA256, "x", 1);

    struct unpack_expect ok = {.blob = &blob, .blob_size = (int64_t)gz.len, .diff_id = &diff_id};
    assert_int_equal(apply_expect(f, &gz, &ok), 0);
    assert_true(exists(f, "hello"));

    struct unpack_expect x = ok;
    x.diff_id = &short_id;
    assert_int_equal(apply_expect(f, &gz, &x), BERR_DIGEST_INVALID);
    assert_non_null(strstr(berr_message(), diff_id.str)); /* names what it got */
    x.diff_id = &wrong;
    assert_int_equal(apply_expect(f, &gz, &x), BERR_DIGEST_INVALID);
    assert_non_null(strstr(berr_message(), "diff_id"));
    x = ok;
    x.blob = &wrong;
    assert_int_equal(apply_expect(f, &gz, &x), BERR_DIGEST_INVALID);
    assert_non_null(strstr(berr_message(), "corrupt"));
    x = ok;
    x.blob_size = (int64_t)gz.len + 1;
    assert_int_equal(apply_expect(f, &gz, &x), BERR_SIZE_INVALID);
    /* only a diff_id to check, uncompressed layer */
    struct unpack_expect only = {.blob_size = -1, .diff_id = &diff_id};
    assert_int_equal(apply_expect(f, &tar, &only), 0);
    only.diff_id = &wrong;
    assert_int_equal(apply_expect(f, &tar, &only), BERR_DIGEST_INVALID);
    buf_release(&tar);
    buf_release(&gz);
}

/* Entries of dir whose name starts with prefix. */
static int count_prefixed(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

static void test_image_diff_ids(void **state)
{
    struct fx *f = *state;
    struct buf tar1, gz1, tar2, gz2;
    struct digest b1, b2, d1, d2, wrong;
    struct layout *l;
    char *lpath = xasprintf("%s/store", f->top);
    char *dest = xasprintf("%s/rootfs", f->top);
    assert_int_equal(layout_create(&l, lpath), 0);
    sample_layer(&tar1, &gz1, "one", "1");
    sample_layer(&tar2, &gz2, "two", "2");
    assert_int_equal(layout_blob_write(&b1, l, NULL, gz1.data, gz1.len), 0);
    assert_int_equal(layout_blob_write(&b2, l, NULL, gz2.data, gz2.len), 0);
    digest_of(&d1, DIGEST_SHA256, tar1.data, tar1.len);
    digest_of(&d2, DIGEST_SHA256, tar2.data, tar2.len);
    digest_of(&wrong, DIGEST_SHA256, "x", 1);
    char *mj =
        xasprintf("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
                  "\",\"config\":{\"mediaType\":\"" MT_OCI_CONFIG
                  "\",\"digest\":\"%s\",\"size\":1},\"layers\":[{\"mediaType\":\"" MT_OCI_LAYER_GZIP
                  "\",\"digest\":\"%s\",\"size\":%zu},{\"mediaType\":\"" MT_OCI_LAYER_GZIP
                  "\",\"digest\":\"%s\",\"size\":%zu}]}",
                  wrong.str, b1.str, gz1.len, b2.str, gz2.len);
    struct manifest *m;
    assert_int_equal(manifest_parse(&m, mj, strlen(mj), MT_OCI_MANIFEST), 0);
    struct unpack_opts o = {0, 0};

    /* the second layer does not match: error, no root filesystem, no temporary */
    char *bad[] = {d1.str, wrong.str, NULL};
    assert_int_equal(unpack_image(dest, l, m, bad, 2, &o), BERR_DIGEST_INVALID);
    assert_non_null(strstr(berr_message(), b2.str)); /* names the layer */
    assert_int_not_equal(access(dest, F_OK), 0);
    assert_int_equal(count_prefixed(f->top, "rootfs"), 0);
    /* diff_ids swapped: the first layer already fails */
    char *swapped[] = {d2.str, d1.str, NULL};
    assert_int_equal(unpack_image(dest, l, m, swapped, 2, &o), BERR_DIGEST_INVALID);
    assert_non_null(strstr(berr_message(), b1.str));
    assert_int_equal(count_prefixed(f->top, "rootfs"), 0);
    /* a count that is not the layer count, a malformed diff_id */
    char *one[] = {d1.str, NULL};
    assert_int_equal(unpack_image(dest, l, m, one, 1, &o), BERR_MANIFEST_INVALID);
    assert_int_equal(unpack_image(dest, l, m, NULL, 0, &o), BERR_MANIFEST_INVALID);
    char *junk[] = {d1.str, (char *)"sha256:1", NULL};
    assert_int_equal(unpack_image(dest, l, m, junk, 2, &o), BERR_DIGEST_INVALID);
    assert_int_equal(count_prefixed(f->top, "rootfs"), 0);

    /* all good */
    char *good[] = {d1.str, d2.str, NULL};
    assert_int_equal(unpack_image(dest, l, m, good, 2, &o), 0);
    char *p = xasprintf("%s/two", dest);
    assert_int_equal(access(p, F_OK), 0);
    free(p);
    unpack_remove_tree(dest);

    /* a blob that rotted in the store (same size, other bytes) is caught */
    char *blob_path = xasprintf("%s/blobs/sha256/%s", lpath, b2.hex);
    gz2.data[4] ^= 0x55; /* the gzip header's MTIME: inflate does not care */
    int fd = open(blob_path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_true(write(fd, gz2.data, gz2.len) == (ssize_t)gz2.len);
    close(fd);
    assert_int_equal(unpack_image(dest, l, m, good, 2, &o), BERR_DIGEST_INVALID);
    assert_non_null(strstr(berr_message(), "corrupt"));
    assert_int_not_equal(access(dest, F_OK), 0);
    assert_int_equal(count_prefixed(f->top, "rootfs"), 0);
    free(blob_path);

    manifest_free(m);
    free(mj);
    layout_free(l);
    buf_release(&tar1);
    buf_release(&gz1);
    buf_release(&tar2);
    buf_release(&gz2);
    free(lpath);
    free(dest);
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
        cmocka_unit_test_setup_teardown(test_layer_verified_while_streaming, setup, teardown),
        cmocka_unit_test_setup_teardown(test_image_diff_ids, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
