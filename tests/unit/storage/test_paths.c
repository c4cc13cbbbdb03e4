/*
 * test_paths.c - storage keys: the layout, and every bad input refused.
 *
 * Digests are built by hand (not through digest_parse) so that inputs the
 * parser would refuse - uppercase hex, short hex, "../" - still reach
 * paths.c, which must refuse them again.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "image/base/err.h"
#include "storage/paths.h"

#define HEX64  "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX128 HEX64 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

/* A digest struct with arbitrary (possibly invalid) text. */
static struct digest raw_digest(enum digest_alg alg, const char *s)
{
    struct digest d;
    memset(&d, 0, sizeof(d));
    d.alg = alg;
    size_t n = strlen(s);
    if (n >= sizeof(d.str))
        n = sizeof(d.str) - 1;
    memcpy(d.str, s, n);
    const char *colon = strchr(d.str, ':');
    d.hex = colon ? colon + 1 : d.str;
    return d;
}

static void test_blob_key(void **state)
{
    (void)state;
    char key[PATHS_KEY_MAX];
    struct digest d = raw_digest(DIGEST_SHA256, "sha256:" HEX64);
    assert_int_equal(paths_blob(key, &d), 0);
    assert_string_equal(key, "blobs/sha256/01/" HEX64);

    struct digest d5 = raw_digest(DIGEST_SHA512, "sha512:" HEX128);
    assert_int_equal(paths_blob(key, &d5), 0);
    assert_string_equal(key, "blobs/sha512/01/" HEX128);

    /* A copied struct whose hex pointer is stale still yields the right key. */
    struct digest copy = d;
    copy.hex = "../../etc/passwd";
    assert_int_equal(paths_blob(key, &copy), 0);
    assert_string_equal(key, "blobs/sha256/01/" HEX64);
}

static void test_blob_bad(void **state)
{
    (void)state;
    static const struct {
        enum digest_alg alg;
        const char *s;
    } bad[] = {
        {DIGEST_SHA256, "sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"},
        {DIGEST_SHA256, "sha256:0123456789abcdef"},
        {DIGEST_SHA256, "sha256:" HEX64 "00"},
        {DIGEST_SHA256, "sha256:../../../../etc/passwd"},
        {DIGEST_SHA256, "sha256:" HEX64 "/.."},
        {DIGEST_SHA256, "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde/"},
        {DIGEST_SHA256, "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg"},
        {DIGEST_SHA256, "sha512:" HEX64},      /* name does not match alg */
        {DIGEST_SHA512, "sha256:" HEX64},      /* alg does not match name */
        {DIGEST_SHA512, "sha512:" HEX64},      /* short for sha512 */
        {DIGEST_SHA256, "sha256;" HEX64},      /* separator */
        {DIGEST_SHA256, "SHA256:" HEX64},      /* uppercase algorithm */
        {DIGEST_SHA256, HEX64},                /* no algorithm */
        {DIGEST_SHA256, "sha256:"},            /* no hex */
        {DIGEST_SHA256, ""},                   /* empty */
        {(enum digest_alg)7, "sha256:" HEX64}, /* unknown alg */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char key[PATHS_KEY_MAX] = "unchanged";
        struct digest d = raw_digest(bad[i].alg, bad[i].s);
        assert_int_equal(paths_blob(key, &d), BERR_DIGEST_INVALID);
        assert_string_equal(key, "");
        memcpy(key, "unchanged", 10);
        assert_int_equal(paths_trash(key, &d, 1), BERR_DIGEST_INVALID);
        assert_string_equal(key, "");
    }
    /* A str without a terminator inside the array. */
    struct digest d;
    memset(&d, 'a', sizeof(d));
    d.alg = DIGEST_SHA256;
    char key[PATHS_KEY_MAX];
    assert_int_equal(paths_blob(key, &d), BERR_DIGEST_INVALID);
    assert_int_equal(paths_blob(key, NULL), BERR_DIGEST_INVALID);
}

static void test_upload_id(void **state)
{
    (void)state;
    char key[PATHS_KEY_MAX];
    const char *good = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
    assert_true(paths_upload_id_valid(good, strlen(good)));
    assert_int_equal(paths_upload(key, good), 0);
    assert_string_equal(key, "uploads/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9");

    static const char *bad[] = {
        "0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9",  /* uppercase */
        "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f",   /* short */
        "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f90", /* long */
        "0f1e2d3c4b5a-4978-8695-a4b3c2d1e0f9-",  /* hyphen misplaced */
        "0f1e2d3c-4b5a-4978-8695_a4b3c2d1e0f9",  /* wrong separator */
        "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0g9",  /* not hex */
        "../../../../../../../../../etc/passw",  /* traversal, 36 chars */
        "0f1e2d3c-4b5a-4978-8695-a4b3c2d1/../",  /* traversal at the end */
        "{0f1e2d3-4b5a-4978-8695-a4b3c2d1e0f9",  /* braces */
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(paths_upload_id_valid(bad[i], strlen(bad[i])));
        assert_int_equal(paths_upload(key, bad[i]), BERR_UPLOAD_UNKNOWN);
        assert_string_equal(key, "");
    }
    assert_int_equal(paths_upload(key, NULL), BERR_UPLOAD_UNKNOWN);
    assert_false(paths_upload_id_valid(NULL, 36));
    /* The length argument is what is checked, not the NUL. */
    assert_false(paths_upload_id_valid(good, 35));
    char embedded[] = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
    embedded[20] = '\0';
    assert_false(paths_upload_id_valid(embedded, 36));
}

static void test_trash_key(void **state)
{
    (void)state;
    char key[PATHS_KEY_MAX];
    struct digest d = raw_digest(DIGEST_SHA256, "sha256:" HEX64);
    assert_int_equal(paths_trash(key, &d, 42), 0);
    assert_string_equal(key, "trash/sha256/" HEX64 ".42");
    char key2[PATHS_KEY_MAX];
    assert_int_equal(paths_trash(key2, &d, 18446744073709551615ull), 0);
    assert_string_equal(key2, "trash/sha256/" HEX64 ".18446744073709551615");
}

static void test_parse_blob(void **state)
{
    (void)state;
    struct digest d;
    char key[PATHS_KEY_MAX];
    assert_int_equal(paths_parse_blob(&d, "blobs/sha256/01/" HEX64), 0);
    assert_int_equal(d.alg, DIGEST_SHA256);
    assert_string_equal(d.str, "sha256:" HEX64);
    assert_string_equal(d.hex, HEX64);
    assert_ptr_equal(d.hex, d.str + 7);

    assert_int_equal(paths_parse_blob(&d, "blobs/sha512/01/" HEX128), 0);
    assert_int_equal(d.alg, DIGEST_SHA512);
    assert_string_equal(d.str, "sha512:" HEX128);
    /* Round trip. */
    assert_int_equal(paths_blob(key, &d), 0);
    assert_string_equal(key, "blobs/sha512/01/" HEX128);

    static const char *bad[] = {
        "blobs/sha256/02/" HEX64,      /* fan-out does not match */
        "blobs/sha256/01/" HEX64 "0",  /* long */
        "blobs/sha256/01/" HEX64 "/x", /* deeper */
        "blobs/sha256/0/" HEX64,       /* short fan-out */
        "blobs/sha256/01" HEX64,       /* no slash */
        "blobs/sha512/01/" HEX64,      /* short for sha512 */
        "blobs/md5/01/" HEX64,         /* unknown algorithm */
        "uploads/sha256/01/" HEX64,    /* other tree */
        "blobs/sha256/01/0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
        "blobs/sha256/",
        "blobs/",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(paths_parse_blob(&d, bad[i]), BERR_INVALID);
    assert_int_equal(paths_parse_blob(&d, NULL), BERR_INVALID);
}

static void test_sealed_and_parse_upload(void **state)
{
    (void)state;
    char key[PATHS_KEY_MAX], id[UPLOAD_ID_LEN + 1];
    const char *good = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
    assert_int_equal(paths_upload_sealed(key, good), 0);
    assert_string_equal(key, "uploads/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9.sealed");
    assert_int_equal(paths_upload_sealed(key, "../../etc"), BERR_UPLOAD_UNKNOWN);
    assert_string_equal(key, "");
    assert_int_equal(paths_upload_sealed(key, NULL), BERR_UPLOAD_UNKNOWN);

    assert_int_equal(paths_parse_upload(id, "uploads/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"), 0);
    assert_string_equal(id, good);
    assert_int_equal(paths_parse_upload(id, "uploads/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9.sealed"),
                     0);
    assert_string_equal(id, good);
    static const char *bad[] = {
        "uploads/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9.seal",
        "uploads/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9.sealedx",
        "uploads/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f",
        "uploads/junk",
        "blobs/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",
        "uploads/",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(paths_parse_upload(id, bad[i]), BERR_INVALID);
        assert_string_equal(id, "");
    }
    assert_int_equal(paths_parse_upload(id, NULL), BERR_INVALID);
}

static void test_parse_trash(void **state)
{
    (void)state;
    struct digest d;
    char key[PATHS_KEY_MAX];
    struct digest in = raw_digest(DIGEST_SHA256, "sha256:" HEX64);
    assert_int_equal(paths_trash(key, &in, 7), 0);
    assert_int_equal(paths_parse_trash(&d, key), 0);
    assert_int_equal(d.alg, DIGEST_SHA256);
    assert_string_equal(d.str, "sha256:" HEX64);
    assert_ptr_equal(d.hex, d.str + 7);
    assert_int_equal(paths_parse_trash(&d, "trash/sha512/" HEX128 ".18446744073709551615"), 0);
    assert_string_equal(d.str, "sha512:" HEX128);
    static const char *bad[] = {
        "trash/sha256/" HEX64,         /* no nonce */
        "trash/sha256/" HEX64 ".",     /* empty nonce */
        "trash/sha256/" HEX64 ".12x",  /* nonce not a number */
        "trash/sha256/" HEX64 "0.1",   /* long hex */
        "trash/sha512/" HEX64 ".1",    /* short for sha512 */
        "trash/sha256/01/" HEX64 ".1", /* a blob key's fan-out */
        "blobs/sha256/01/" HEX64,      /* other tree */
        "trash/md5/" HEX64 ".1",       /* unknown algorithm */
        "trash/junk",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(paths_parse_trash(&d, bad[i]), BERR_INVALID);
    assert_int_equal(paths_parse_trash(&d, NULL), BERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blob_key),    cmocka_unit_test(test_blob_bad),
        cmocka_unit_test(test_upload_id),   cmocka_unit_test(test_trash_key),
        cmocka_unit_test(test_parse_blob),  cmocka_unit_test(test_sealed_and_parse_upload),
        cmocka_unit_test(test_parse_trash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
