/*
 * test_buf.c - the capped byte buffer: growth, the hard cap, NUL termination.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "image/base/buf.h"
#include "image/base/err.h"

#include <stdlib.h>
#include <string.h>

static void test_empty(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    assert_string_equal(buf_cstr(&b), "");
    assert_int_equal(b.len, 0);
    size_t len = 99;
    char *p = buf_detach(&b, &len);
    assert_string_equal(p, "");
    assert_int_equal(len, 0);
    free(p);
    buf_release(&b);
    buf_reset(&b);
}

static void test_append_grow(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(buf_append(&b, "0123456789", 10), 0);
    assert_int_equal(b.len, 10000);
    assert_true(b.cap > b.len);
    assert_int_equal(b.data[b.len], '\0');
    assert_memory_equal(b.data + 9990, "0123456789", 10);
    assert_int_equal(buf_append(&b, NULL, 0), 0);
    assert_int_equal(b.len, 10000);
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(buf_cstr(&b), "");
    assert_int_equal(buf_puts(&b, "abc"), 0);
    assert_int_equal(buf_printf(&b, "-%d-%s", 42, "x"), 0);
    assert_string_equal(buf_cstr(&b), "abc-42-x");
    assert_int_equal(b.len, 8);
    /* embedded NUL bytes are data */
    assert_int_equal(buf_append(&b, "a\0b", 3), 0);
    assert_int_equal(b.len, 11);
    assert_memory_equal(b.data + 8, "a\0b", 3);
    size_t len;
    char *p = buf_detach(&b, &len);
    assert_int_equal(len, 11);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(p);
    buf_release(&b);
}

static void test_cap(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_append(&b, "12345", 5), 0);
    assert_int_equal(buf_append(&b, "123456", 6), BERR_TOO_LARGE);
    /* unchanged after a refused append */
    assert_int_equal(b.len, 5);
    assert_string_equal(buf_cstr(&b), "12345");
    assert_int_equal(buf_append(&b, "12345", 5), 0); /* exactly at the cap */
    assert_int_equal(b.len, 10);
    assert_int_equal(buf_append(&b, "x", 1), BERR_TOO_LARGE);
    assert_int_equal(buf_append(&b, "", 0), 0);
    assert_int_equal(buf_printf(&b, "%s", "y"), BERR_TOO_LARGE);
    assert_string_equal(buf_cstr(&b), "1234512345");
    buf_reset(&b);
    assert_int_equal(buf_printf(&b, "%020d", 1), BERR_TOO_LARGE);
    assert_int_equal(b.len, 0);
    /* huge n must not overflow the check */
    assert_int_equal(buf_append(&b, "z", SIZE_MAX), BERR_TOO_LARGE);
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_append_grow),
        cmocka_unit_test(test_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
