/*
 * test_tar.c - the streaming tar reader: ustar members, pax path and size
 * overrides, data reads, truncated and corrupt archives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/tar.h"
#include "image/base/err.h"
#include "tests/unit/client/tarbuild.h"

struct mem {
    const char *data;
    size_t len;
    size_t pos;
};

static ssize_t mem_read(void *ctx, void *buf, size_t n)
{
    struct mem *m = ctx;
    size_t k = m->len - m->pos < n ? m->len - m->pos : n;
    memcpy(buf, m->data + m->pos, k);
    m->pos += k;
    return (ssize_t)k;
}

static void test_members(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    tb_add(&b, '5', "dir/", NULL, NULL, 0755);
    tb_add(&b, '0', "dir/file", NULL, "hello", 0640);
    tb_add(&b, '2', "dir/link", "file", NULL, 0777);
    tb_pax(&b, "path", "a/very/long/name/that/pax/carries");
    tb_add(&b, '0', "short", NULL, "xy", 0644);
    tb_end(&b);
    struct mem m = {b.data, b.len, 0};
    struct tar_reader *t = tar_reader_new(mem_read, &m);
    struct tar_entry e;
    char data[16];

    assert_int_equal(tar_next(t, &e), 1);
    assert_string_equal(e.path, "dir/");
    assert_int_equal(e.type, TAR_DIR);
    assert_int_equal(e.mode, 0755);
    tar_entry_release(&e);

    assert_int_equal(tar_next(t, &e), 1);
    assert_string_equal(e.path, "dir/file");
    assert_int_equal(e.size, 5);
    assert_int_equal(tar_read_data(t, data, sizeof(data)), 5);
    assert_memory_equal(data, "hello", 5);
    assert_int_equal(tar_read_data(t, data, sizeof(data)), 0);
    tar_entry_release(&e);

    assert_int_equal(tar_next(t, &e), 1);
    assert_int_equal(e.type, TAR_SYMLINK);
    assert_string_equal(e.link, "file");
    tar_entry_release(&e);

    /* the data of this member is skipped without being read */
    assert_int_equal(tar_next(t, &e), 1);
    assert_string_equal(e.path, "a/very/long/name/that/pax/carries");
    tar_entry_release(&e);

    assert_int_equal(tar_next(t, &e), 0);
    tar_reader_free(t);
    buf_release(&b);
}

static void test_truncated(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    tb_add(&b, '0', "f", NULL, "0123456789", 0644);
    struct mem m = {b.data, 512 + 4, 0}; /* header + 4 of 10 data bytes */
    struct tar_reader *t = tar_reader_new(mem_read, &m);
    struct tar_entry e;
    char data[16];
    assert_int_equal(tar_next(t, &e), 1);
    ssize_t n = tar_read_data(t, data, sizeof(data));
    assert_int_equal(n, 4);
    assert_int_equal(tar_read_data(t, data, sizeof(data)), BERR_INVALID);
    tar_entry_release(&e);
    tar_reader_free(t);
    buf_release(&b);
}

static void test_bad_checksum(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    tb_add(&b, '0', "f", NULL, "x", 0644);
    b.data[0] = 'g'; /* name changed after the checksum was computed */
    struct mem m = {b.data, b.len, 0};
    struct tar_reader *t = tar_reader_new(mem_read, &m);
    struct tar_entry e;
    assert_int_equal(tar_next(t, &e), BERR_INVALID);
    tar_reader_free(t);
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_members),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_bad_checksum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
