/*
 * test_decomp.c - the decompressing reader: plain data passes through,
 * gzip (also concatenated members) inflates, truncated gzip is an error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "client/decomp.h"
#include "image/base/buf.h"
#include "image/base/err.h"

static void gzip_append(struct buf *out, const char *s)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    unsigned char tmp[4096];
    z.next_in = (unsigned char *)s;
    z.avail_in = (uInt)strlen(s);
    z.next_out = tmp;
    z.avail_out = sizeof(tmp);
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    buf_append(out, tmp, sizeof(tmp) - z.avail_out);
    deflateEnd(&z);
}

static int fd_of(const void *data, size_t len)
{
    FILE *f = tmpfile();
    fwrite(data, 1, len, f);
    fflush(f);
    int fd = dup(fileno(f));
    fclose(f);
    lseek(fd, 0, SEEK_SET);
    return fd;
}

static void read_all(struct buf *out, int fd, int *rc_out, enum decomp_kind *kind)
{
    struct decomp *d = NULL;
    assert_int_equal(decomp_open(&d, fd), 0);
    *kind = decomp_kind(d);
    char b[7]; /* small reads cross buffer boundaries */
    ssize_t n;
    *rc_out = 0;
    for (;;) {
        n = decomp_read(d, b, sizeof(b));
        if (n <= 0) {
            *rc_out = (int)n;
            break;
        }
        buf_append(out, b, (size_t)n);
    }
    decomp_free(d);
}

static void test_plain_and_gzip(void **state)
{
    (void)state;
    struct buf in = BUF_INIT, out = BUF_INIT;
    enum decomp_kind k;
    int rc;
    int fd = fd_of("just some bytes", 15);
    read_all(&out, fd, &rc, &k);
    close(fd);
    assert_int_equal(rc, 0);
    assert_int_equal(k, DECOMP_NONE);
    assert_string_equal(buf_cstr(&out), "just some bytes");

    buf_reset(&out);
    gzip_append(&in, "first member, ");
    gzip_append(&in, "second member");
    fd = fd_of(in.data, in.len);
    read_all(&out, fd, &rc, &k);
    close(fd);
    assert_int_equal(rc, 0);
    assert_int_equal(k, DECOMP_GZIP);
    assert_string_equal(buf_cstr(&out), "first member, second member");

    buf_reset(&out);
    fd = fd_of(in.data, in.len - 5);
    read_all(&out, fd, &rc, &k);
    close(fd);
    assert_int_equal(rc, BERR_INVALID);
    buf_release(&in);
    buf_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_gzip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
