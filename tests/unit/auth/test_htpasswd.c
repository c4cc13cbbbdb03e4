/*
 * test_htpasswd.c - bcrypt $2b$/$2y$ users, refused hash kinds (logged
 * without the hash), first entry wins, reload on change, fail closed when
 * the file disappears, the verified-login cache and fingerprints.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/htpasswd.h"
#include "image/base/err.h"
#include "tests/unit/auth/authtest.h"

static char *file_path;

static int setup(void **state)
{
    (void)state;
    at_mkdtemp();
    file_path = at_path("htpasswd");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    at_rmtree();
    free(file_path);
    return 0;
}

static int verify(struct htpasswd *h, const char *user, const char *pw, int *known)
{
    int k = -1;
    int rc = htpasswd_verify(h, user, pw, at_time, &k);
    if (known)
        *known = k;
    return rc;
}

static void test_bcrypt_and_refused_kinds(void **state)
{
    (void)state;
    char *alice = at_bcrypt("alice-secret", "$2b$");
    char *bob = at_bcrypt("bob-secret", "$2y$");
    char *alice2 = at_bcrypt("other", "$2b$");
    char *frank = at_bcrypt("frank-secret", "$2b$");
    char *text = at_fmt("# team users\n"
                        "\n"
                        "alice:%s\n"
                        "bob:%s\r\n"
                        "carol:$apr1$Vx2lE3Qp$7nH8V1h6gGqQ1bD5b9yq51\n"
                        "dave:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"
                        "eve:eve-plain-password\n"
                        "anonymous:%s\n"
                        "no-colon-line\n"
                        "alice:%s\n"
                        "frank:%s",
                        alice, bob, alice, alice2, frank);
    at_write(file_path, text);
    at_capture_start();
    struct htpasswd *h = NULL;
    int rc = htpasswd_open(&h, file_path, 0, at_time);
    char *log = at_capture_end();
    assert_int_equal(rc, 0);
    assert_int_equal(htpasswd_count(h), 3); /* alice, bob, frank (no trailing newline) */

    int known = -1;
    assert_int_equal(verify(h, "alice", "alice-secret", &known), 0);
    assert_int_equal(verify(h, "bob", "bob-secret", NULL), 0);
    assert_int_equal(verify(h, "frank", "frank-secret", NULL), 0);
    assert_int_equal(verify(h, "alice", "other", &known), BERR_UNAUTHORIZED); /* first wins */
    assert_int_equal(known, 1);
    assert_int_equal(verify(h, "alice", "alice-secre", NULL), BERR_UNAUTHORIZED);
    assert_int_equal(verify(h, "alice", "", NULL), BERR_UNAUTHORIZED);
    assert_int_equal(verify(h, "carol", "whatever", &known), BERR_UNAUTHORIZED);
    assert_int_equal(known, 0);
    assert_int_equal(verify(h, "eve", "eve-plain-password", &known), BERR_UNAUTHORIZED);
    assert_int_equal(known, 0);
    assert_int_equal(verify(h, "nobody", "x", &known), BERR_UNAUTHORIZED);
    assert_int_equal(known, 0);
    assert_int_equal(verify(h, "anonymous", "alice-secret", NULL), BERR_UNAUTHORIZED);

    /* refusals are logged with user and kind, never the hash or password */
    assert_non_null(strstr(log, "carol"));
    assert_non_null(strstr(log, "apr1-md5"));
    assert_non_null(strstr(log, "\"dave\""));
    assert_non_null(strstr(log, "sha1"));
    assert_non_null(strstr(log, "\"eve\""));
    assert_non_null(strstr(log, "reserved"));
    assert_null(strstr(log, "Vx2lE3Qp"));
    assert_null(strstr(log, "W6ph5Mm5"));
    assert_null(strstr(log, "eve-plain-password"));
    assert_null(strstr(log, alice + 7));
    free(log);
    htpasswd_free(h);
    free(text);
    free(alice);
    free(bob);
    free(alice2);
    free(frank);
}

static void test_reload(void **state)
{
    (void)state;
    char *h1 = at_bcrypt("first", "$2b$");
    char *h2 = at_bcrypt("second", "$2b$");
    char *t1 = at_fmt("alice:%s\n", h1);
    char *t2 = at_fmt("alice:%s\nbob:%s\n", h2, h1);
    at_write(file_path, t1);
    struct htpasswd *h = NULL;
    assert_int_equal(htpasswd_open(&h, file_path, 60, at_time), 0);
    assert_int_equal(verify(h, "alice", "first", NULL), 0);
    unsigned char fp1[HTPASSWD_FP_LEN], fp2[HTPASSWD_FP_LEN];
    assert_int_equal(htpasswd_fingerprint(h, "alice", fp1, at_time), 0);
    assert_int_equal(htpasswd_fingerprint(h, "bob", fp2, at_time), BERR_UNAUTHORIZED);

    at_write(file_path, t2);
    /* checked at most once a second: same second, old table */
    assert_int_equal(verify(h, "alice", "first", NULL), 0);
    at_time += 1;
    assert_int_equal(verify(h, "alice", "first", NULL), BERR_UNAUTHORIZED); /* cache missed */
    assert_int_equal(verify(h, "alice", "second", NULL), 0);
    assert_int_equal(verify(h, "bob", "first", NULL), 0);
    assert_int_equal(htpasswd_fingerprint(h, "alice", fp2, at_time), 0);
    assert_memory_not_equal(fp1, fp2, HTPASSWD_FP_LEN);

    /* the file disappears: fail closed */
    unlink(file_path);
    at_time += 1;
    at_capture_start();
    assert_int_equal(verify(h, "alice", "second", NULL), BERR_UNAUTHORIZED);
    char *log = at_capture_end();
    assert_non_null(strstr(log, "every login fails"));
    free(log);
    /* and back */
    at_write(file_path, t1);
    at_time += 1;
    assert_int_equal(verify(h, "alice", "first", NULL), 0);
    htpasswd_free(h);

    /* a missing file at start is a configuration error */
    unlink(file_path);
    h = NULL;
    assert_int_equal(htpasswd_open(&h, file_path, 0, at_time), BERR_CONFIG);
    assert_null(h);
    free(t1);
    free(t2);
    free(h1);
    free(h2);
}

static void test_cache(void **state)
{
    (void)state;
    char *h1 = at_bcrypt("pw", "$2b$");
    char *t1 = at_fmt("alice:%s\n", h1);
    at_write(file_path, t1);
    struct htpasswd *h = NULL;
    assert_int_equal(htpasswd_open(&h, file_path, 60, at_time), 0);
    assert_int_equal(verify(h, "alice", "pw", NULL), 0);
    /* a cached success never makes a wrong password right */
    assert_int_equal(verify(h, "alice", "pw2", NULL), BERR_UNAUTHORIZED);
    assert_int_equal(verify(h, "alice", "pw", NULL), 0);
    at_time += 61; /* expired cache entry: bcrypt again, still right */
    assert_int_equal(verify(h, "alice", "pw", NULL), 0);
    htpasswd_free(h);
    free(t1);
    free(h1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bcrypt_and_refused_kinds),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_cache),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
