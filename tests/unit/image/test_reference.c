/*
 * test_reference.c - repository name and tag grammar, user image references.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "image/reference.h"
#include "image/base/err.h"

#include <string.h>

#define HEX64 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static int name_ok(const char *s)
{
    return ref_name_valid(s, strlen(s));
}

static int tag_ok(const char *s)
{
    return ref_tag_valid(s, strlen(s));
}

static void test_name_valid(void **state)
{
    (void)state;
    const char *good[] = {
        "a",
        "app",
        "0",
        "library/ubuntu",
        "team/app/sub",
        "a.b",
        "a_b",
        "a__b",
        "a-b",
        "a--b",
        "a---b",
        "a.b-c_d__e",
        "a/b/c/d/e/f",
        "123/456",
        "my-org/my.app_x",
        "localhost",
        "x0.y1/z2-z3",
        "a-b-c.d",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!name_ok(good[i]))
            fail_msg("name should be valid: '%s'", good[i]);
    }
    const char *bad[] = {
        "",       "A",     "App", "a___b", "a..b", "a._b", ".a",   "a.",   "_a",
        "a_",     "-a",    "a-",  "/a",    "a/",   "a//b", "..",   "../a", "a/..",
        "a/../b", "a/./b", ".",   "a b",   "a:b",  "a@b",  "a\\b", "a/.b", "a/b.",
        "a_-b",   "a-_b",  "a+b", "a%2fb", "é",    "a\tb", "a/-b", "a/b_", "ab/",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (name_ok(bad[i]))
            fail_msg("name should be invalid: '%s'", bad[i]);
    }
    assert_false(ref_name_valid(NULL, 0));
    /* len is honoured: "a/b" cut to "a/" is invalid, to "a" is valid */
    assert_false(ref_name_valid("a/b", 2));
    assert_true(ref_name_valid("a/b", 1));
    /* embedded NUL */
    assert_false(ref_name_valid("a\0b", 3));
}

static void test_name_length(void **state)
{
    (void)state;
    char s[300];
    memset(s, 'a', sizeof(s));
    assert_true(ref_name_valid(s, 255));
    assert_false(ref_name_valid(s, 256));
    /* 255 with components */
    for (size_t i = 1; i < 255; i += 2)
        s[i] = '/';
    s[254] = 'a';
    assert_true(ref_name_valid(s, 255));
    assert_false(ref_name_valid(s, 254)); /* ends with '/' */
}

static void test_tag_valid(void **state)
{
    (void)state;
    const char *good[] = {"latest", "1.0", "v1.2.3-rc.1", "_x", "A", "0", "a_B-c.D", "__", "x--"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!tag_ok(good[i]))
            fail_msg("tag should be valid: '%s'", good[i]);
    }
    const char *bad[] = {"", ".x", "-x", "a:b", "a/b", "a b", "a@b", "a+b", "..", "é"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (tag_ok(bad[i]))
            fail_msg("tag should be invalid: '%s'", bad[i]);
    }
    char t[200];
    memset(t, 'x', sizeof(t));
    assert_true(ref_tag_valid(t, 1));
    assert_true(ref_tag_valid(t, 128));
    assert_false(ref_tag_valid(t, 129));
    assert_false(ref_tag_valid(NULL, 0));
    assert_false(ref_tag_valid("a\0b", 3));
}

struct ref_case {
    const char *in;
    const char *host, *name, *tag, *digest;
};

static void check_ref(const struct ref_case *c)
{
    struct reference r;
    int rc = reference_parse(&r, c->in);
    if (rc != 0)
        fail_msg("'%s' should parse: %s", c->in, berr_message());
    if (c->host)
        assert_string_equal(r.host, c->host);
    else
        assert_null(r.host);
    assert_string_equal(r.name, c->name);
    if (c->tag)
        assert_string_equal(r.tag, c->tag);
    else
        assert_null(r.tag);
    if (c->digest)
        assert_string_equal(r.digest, c->digest);
    else
        assert_null(r.digest);
    reference_release(&r);
    assert_null(r.name);
}

static void test_reference_good(void **state)
{
    (void)state;
    const struct ref_case cases[] = {
        {"app", NULL, "app", "latest", NULL},
        {"app:1.0", NULL, "app", "1.0", NULL},
        {"team/app", NULL, "team/app", "latest", NULL},
        {"localhost/app", "localhost", "app", "latest", NULL},
        {"localhost:5000/team/app:1.0", "localhost:5000", "team/app", "1.0", NULL},
        {"registry.example.com/a/b:c", "registry.example.com", "a/b", "c", NULL},
        {"[::1]:5000/app:tag", "[::1]:5000", "app", "tag", NULL},
        {"[::1]/app", "[::1]", "app", "latest", NULL},
        {"[fe80::1:2]:443/x/y", "[fe80::1:2]:443", "x/y", "latest", NULL},
        {"127.0.0.1:5000/app", "127.0.0.1:5000", "app", "latest", NULL},
        {"Registry.Example.COM/app", "Registry.Example.COM", "app", "latest", NULL},
        {"app@sha256:" HEX64, NULL, "app", NULL, "sha256:" HEX64},
        {"app:v1@sha256:" HEX64, NULL, "app", "v1", "sha256:" HEX64},
        {"h.io:1/a/b:t@sha256:" HEX64, "h.io:1", "a/b", "t", "sha256:" HEX64},
        /* no '/': the first component is the repository, not a host */
        {"localhost:5000", NULL, "localhost", "5000", NULL},
        {"my-host/app", NULL, "my-host/app", "latest", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_ref(&cases[i]);
}

static void test_reference_bad(void **state)
{
    (void)state;
    const struct {
        const char *in;
        int rc;
    } cases[] = {
        {"", BERR_NAME_INVALID},
        {"App", BERR_NAME_INVALID},
        {"/app", BERR_NAME_INVALID},
        {"app/", BERR_NAME_INVALID},
        {"a//b", BERR_NAME_INVALID},
        {"host.io/../etc", BERR_NAME_INVALID},
        {"host.io/", BERR_NAME_INVALID},
        {"host.io:/app", BERR_NAME_INVALID},
        {"host.io:99999/app", BERR_NAME_INVALID},
        {"host.io:0/app", BERR_NAME_INVALID},
        {"-host.io/app", BERR_NAME_INVALID},
        {"host-.io/app", BERR_NAME_INVALID},
        {"host..io/app", BERR_NAME_INVALID},
        {"[::1/app", BERR_NAME_INVALID},
        {"[::1]x/app", BERR_NAME_INVALID},
        {"[zz]/app", BERR_NAME_INVALID},
        {"h_st.io/app", BERR_NAME_INVALID},
        {"app:", BERR_TAG_INVALID},
        {"app:.x", BERR_TAG_INVALID},
        {"app:a:b", BERR_NAME_INVALID},
        {"app:t/x", BERR_NAME_INVALID}, /* "app:t" is read as a host */
        {"h.io/app:t!x", BERR_TAG_INVALID},
        {"app@", BERR_DIGEST_INVALID},
        {"app@sha256:abc", BERR_DIGEST_INVALID},
        {"app@sha256:" HEX64 "@x", BERR_DIGEST_INVALID},
        {"app@md5:d41d8cd98f00b204e9800998ecf8427e", BERR_DIGEST_INVALID},
        {"@sha256:" HEX64, BERR_NAME_INVALID},
        {"app name", BERR_NAME_INVALID},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct reference r;
        int rc = reference_parse(&r, cases[i].in);
        if (rc != cases[i].rc)
            fail_msg("'%s': got %d, want %d", cases[i].in, rc, cases[i].rc);
        assert_true(berr_message()[0] != '\0');
        /* failure leaves nothing to free */
        assert_null(r.name);
        assert_null(r.host);
        assert_null(r.tag);
        assert_null(r.digest);
    }
    struct reference r;
    assert_int_equal(reference_parse(&r, NULL), BERR_NAME_INVALID);
}

static void test_reference_long(void **state)
{
    (void)state;
    char s[512];
    memset(s, 'a', 255);
    memcpy(s + 255, ":t", 3);
    struct reference r;
    assert_int_equal(reference_parse(&r, s), 0);
    assert_int_equal(strlen(r.name), 255);
    reference_release(&r);
    memset(s, 'a', 256);
    s[256] = '\0';
    assert_int_equal(reference_parse(&r, s), BERR_NAME_INVALID);
    /* tag of 128 ok, 129 not */
    memcpy(s, "app:", 4);
    memset(s + 4, 't', 129);
    s[4 + 128] = '\0';
    assert_int_equal(reference_parse(&r, s), 0);
    reference_release(&r);
    s[4 + 128] = 't';
    s[4 + 129] = '\0';
    assert_int_equal(reference_parse(&r, s), BERR_TAG_INVALID);
    /* a zeroed struct may be released, twice */
    struct reference z = {0};
    reference_release(&z);
    reference_release(&z);
    reference_release(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_valid),    cmocka_unit_test(test_name_length),
        cmocka_unit_test(test_tag_valid),     cmocka_unit_test(test_reference_good),
        cmocka_unit_test(test_reference_bad), cmocka_unit_test(test_reference_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
