/*
 * test_ratelimit.c - failed logins per address: block after the limit with
 * Retry-After, per-address isolation, IPv6 /64 and IPv4-mapped grouping,
 * window expiry, the table cap, and the 429 path of auth_check in htpasswd
 * mode (where even the right password is not checked while blocked).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/auth.h"
#include "auth/ratelimit.h"
#include "image/base/err.h"
#include "tests/unit/auth/authtest.h"

#include <arpa/inet.h>

static void test_block_and_expire(void **state)
{
    (void)state;
    struct ratelimit *rl = NULL;
    unsigned retry = 0;
    time_t t0 = 1000;
    ratelimit_new(&rl, 5, 60);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ratelimit_fail(rl, "192.0.2.1", NULL, 0, t0 + i), 0);
    assert_int_equal(ratelimit_check(rl, "192.0.2.1", t0 + 4, &retry), 0);
    assert_int_equal(ratelimit_fail(rl, "192.0.2.1", NULL, 0, t0 + 10), 1); /* the 5th blocks */
    assert_int_equal(ratelimit_check(rl, "192.0.2.1", t0 + 10, &retry), BERR_TOOMANY);
    assert_int_equal(retry, 50);
    assert_int_equal(ratelimit_check(rl, "192.0.2.1", t0 + 59, &retry), BERR_TOOMANY);
    assert_int_equal(retry, 1);
    /* other addresses are not affected */
    assert_int_equal(ratelimit_check(rl, "192.0.2.2", t0 + 10, &retry), 0);
    /* the window closes */
    assert_int_equal(ratelimit_check(rl, "192.0.2.1", t0 + 60, &retry), 0);
    assert_int_equal(ratelimit_fail(rl, "192.0.2.1", NULL, 0, t0 + 61), 0); /* a fresh window */
    assert_int_equal(ratelimit_check(rl, "192.0.2.1", t0 + 61, &retry), 0);
    /* no address, or not numeric: never blocked */
    for (int i = 0; i < 10; i++) {
        ratelimit_fail(rl, NULL, NULL, 0, t0);
        ratelimit_fail(rl, "", NULL, 0, t0);
        ratelimit_fail(rl, "not-an-address", NULL, 0, t0);
    }
    assert_int_equal(ratelimit_check(rl, NULL, t0, &retry), 0);
    assert_int_equal(ratelimit_check(rl, "not-an-address", t0, &retry), 0);
    ratelimit_free(rl);

    ratelimit_new(&rl, 0, 60); /* disabled */
    for (int i = 0; i < 100; i++)
        ratelimit_fail(rl, "192.0.2.1", NULL, 0, t0);
    assert_int_equal(ratelimit_check(rl, "192.0.2.1", t0, &retry), 0);
    ratelimit_free(rl);
}

/* The same credentials failing again (a client's parallel requests) count
 * once; every new password counts; a new window forgets what was seen. */
static void test_same_attempt_counts_once(void **state)
{
    (void)state;
    struct ratelimit *rl = NULL;
    unsigned retry = 0;
    ratelimit_new(&rl, 5, 60);
    static const char wrong[] = "alice\0wrong";
    for (int i = 0; i < 20; i++)
        assert_int_equal(ratelimit_fail(rl, "192.0.2.1", wrong, sizeof(wrong) - 1, 100), 0);
    assert_int_equal(ratelimit_check(rl, "192.0.2.1", 100, &retry), 0);
    /* guessing: four more distinct passwords make five failures */
    char guess[32];
    for (int i = 0; i < 4; i++) {
        int n = snprintf(guess, sizeof(guess), "alice%cguess-%d", 0, i);
        assert_int_equal(ratelimit_fail(rl, "192.0.2.1", guess, (size_t)n, 101), i == 3);
    }
    assert_int_equal(ratelimit_check(rl, "192.0.2.1", 101, &retry), BERR_TOOMANY);
    /* the user name is part of the attempt */
    static const char bob[] = "bob\0wrong";
    assert_int_equal(ratelimit_fail(rl, "192.0.2.9", wrong, sizeof(wrong) - 1, 100), 0);
    for (int i = 0; i < 4; i++)
        ratelimit_fail(rl, "192.0.2.9", bob, sizeof(bob) - 1, 100);
    assert_int_equal(ratelimit_check(rl, "192.0.2.9", 100, &retry), 0); /* 2 attempts */
    /* after the window, the old attempt counts again */
    assert_int_equal(ratelimit_fail(rl, "192.0.2.9", wrong, sizeof(wrong) - 1, 200), 0);
    for (int i = 0; i < 4; i++) {
        int n = snprintf(guess, sizeof(guess), "bob%cguess-%d", 0, i);
        ratelimit_fail(rl, "192.0.2.9", guess, (size_t)n, 201);
    }
    assert_int_equal(ratelimit_check(rl, "192.0.2.9", 201, &retry), BERR_TOOMANY);
    ratelimit_free(rl);
}

static void test_grouping(void **state)
{
    (void)state;
    struct ratelimit *rl = NULL;
    unsigned retry = 0;
    ratelimit_new(&rl, 3, 60);
    ratelimit_fail(rl, "2001:db8::1", NULL, 0, 0);
    ratelimit_fail(rl, "2001:db8::2", NULL, 0, 0);
    ratelimit_fail(rl, "2001:db8:0:0:ffff::3", NULL, 0, 0); /* same /64 */
    assert_int_equal(ratelimit_check(rl, "2001:db8::99", 1, &retry), BERR_TOOMANY);
    assert_int_equal(ratelimit_check(rl, "2001:db8:0:1::1", 1, &retry), 0); /* next /64 */
    ratelimit_fail(rl, "::ffff:198.51.100.9", NULL, 0, 0);
    ratelimit_fail(rl, "198.51.100.9", NULL, 0, 0);
    ratelimit_fail(rl, "::ffff:198.51.100.9", NULL, 0, 0);
    assert_int_equal(ratelimit_check(rl, "198.51.100.9", 1, &retry), BERR_TOOMANY);
    assert_int_equal(ratelimit_check(rl, "198.51.100.10", 1, &retry), 0);
    ratelimit_free(rl);
}

static void test_table_cap(void **state)
{
    (void)state;
    struct ratelimit *rl = NULL;
    unsigned retry = 0;
    char addr[32];
    ratelimit_new(&rl, 1, 60);
    for (unsigned i = 0; i < RATELIMIT_MAX_ADDRS; i++) {
        struct in_addr in = {htonl(0x0a000000u + i)};
        inet_ntop(AF_INET, &in, addr, sizeof(addr));
        ratelimit_fail(rl, addr, NULL, 0, 0);
    }
    assert_int_equal(ratelimit_check(rl, "10.0.0.5", 1, &retry), BERR_TOOMANY);
    /* full of live entries: a new address is not tracked (logged once) */
    at_capture_start();
    ratelimit_fail(rl, "192.0.2.77", NULL, 0, 1);
    ratelimit_fail(rl, "192.0.2.78", NULL, 0, 1);
    char *log = at_capture_end();
    assert_int_equal(ratelimit_check(rl, "192.0.2.77", 1, &retry), 0);
    const char *first = strstr(log, "table full");
    assert_non_null(first);
    assert_null(strstr(first + 1, "table full"));
    free(log);
    /* once the windows closed, the sweep makes room */
    assert_int_equal(ratelimit_fail(rl, "192.0.2.77", NULL, 0, 61), 1);
    assert_int_equal(ratelimit_check(rl, "192.0.2.77", 61, &retry), BERR_TOOMANY);
    ratelimit_free(rl);
}

static char *basic(const char *user, const char *pw)
{
    char *up = at_fmt("%s:%s", user, pw);
    struct buf b = BUF_INIT;
    buf_puts(&b, "Basic ");
    at_b64(&b, up, strlen(up), 0);
    free(up);
    return buf_detach(&b, NULL);
}

static void test_auth_check_429(void **state)
{
    (void)state;
    char *path = at_path("htpasswd");
    char *h = at_bcrypt("right", "$2b$");
    char *text = at_fmt("alice:%s\n", h);
    at_write(path, text);
    static const char *const rules[] = {"alice team/* pull"};
    struct auth_settings s;
    auth_settings_init(&s);
    s.mode = AUTH_MODE_HTPASSWD;
    s.htpasswd = path;
    s.rules = rules;
    s.nrules = 1;
    s.clock = at_clock;
    struct auth *a = NULL;
    assert_int_equal(auth_new(&a, &s), 0);
    char *good = basic("alice", "right"), *bad = basic("alice", "wrong");
    char *unknown = basic("mallory", "x");
    struct auth_request rq = {"GET", "team/app", 0, 0, NULL, bad, "203.0.113.5", "r", NULL};
    struct auth_result res = {0};
    /* one wrong password sent on many requests (a client's parallel HEADs) counts once */
    for (int i = 0; i < 10; i++)
        assert_int_equal(auth_check(a, &rq, &res), BERR_UNAUTHORIZED);
    rq.authorization = good;
    assert_int_equal(auth_check(a, &rq, &res), 0);
    auth_result_release(&res);
    char *guesses[3];
    for (int i = 0; i < 3; i++) {
        char *pw = at_fmt("guess-%d", i);
        guesses[i] = basic("alice", pw);
        free(pw);
        rq.authorization = guesses[i];
        assert_int_equal(auth_check(a, &rq, &res), BERR_UNAUTHORIZED);
    }
    rq.authorization = unknown; /* unknown users count too */
    assert_int_equal(auth_check(a, &rq, &res), BERR_UNAUTHORIZED);
    rq.authorization = good;
    assert_int_equal(auth_check(a, &rq, &res), BERR_TOOMANY);
    assert_true(res.retry_after >= 1 && res.retry_after <= 60);
    assert_null(res.challenge);
    /* another client is fine; anonymous requests are not blocked either */
    rq.client_addr = "203.0.113.6";
    assert_int_equal(auth_check(a, &rq, &res), 0);
    rq.client_addr = "203.0.113.5";
    rq.authorization = NULL;
    assert_int_equal(auth_check(a, &rq, &res), BERR_UNAUTHORIZED);
    assert_string_equal(res.challenge, "Basic realm=\"berth\"");
    at_time += 61;
    rq.authorization = good;
    assert_int_equal(auth_check(a, &rq, &res), 0);
    assert_string_equal(res.subject, "alice");
    auth_result_release(&res);
    auth_free(a);
    free(good);
    free(bad);
    free(unknown);
    for (int i = 0; i < 3; i++)
        free(guesses[i]);
    free(text);
    free(h);
    free(path);
}

static int setup(void **state)
{
    (void)state;
    at_mkdtemp();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    at_rmtree();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_and_expire), cmocka_unit_test(test_same_attempt_counts_once),
        cmocka_unit_test(test_grouping),         cmocka_unit_test(test_table_cap),
        cmocka_unit_test(test_auth_check_429),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
