/*
 * test_upload.c - the upload status Range parser that resuming relies on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "client/upload.h"
#include "image/base/err.h"

static void test_range(void **state)
{
    (void)state;
    int64_t next = -1;
    assert_int_equal(upload_parse_range(&next, "0-1023"), 0);
    assert_int_equal(next, 1024);
    assert_int_equal(upload_parse_range(&next, "bytes=0-99"), 0);
    assert_int_equal(next, 100);
    assert_int_equal(upload_parse_range(&next, "0-0"), 0);
    assert_int_equal(next, 0);
    assert_int_equal(upload_parse_range(&next, NULL), BERR_INVALID);
    assert_int_equal(upload_parse_range(&next, "5-10"), BERR_INVALID);
    assert_int_equal(upload_parse_range(&next, "0-"), BERR_INVALID);
    assert_int_equal(upload_parse_range(&next, "0-12x"), BERR_INVALID);
    assert_int_equal(upload_parse_range(&next, "0--3"), BERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
