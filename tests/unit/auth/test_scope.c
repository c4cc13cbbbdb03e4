/*
 * test_scope.c - scope grammar: type:name:actions split on the FIRST and
 * LAST colon (names may carry host:port), action masks, lists, formatting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/auth.h"
#include "auth/scope.h"
#include "image/base/err.h"

#include <stdlib.h>
#include <string.h>

static void parse_ok(const char *s, const char *type, const char *name, unsigned actions)
{
    struct scope_entry e;
    int rc = scope_parse(&e, s, strlen(s));
    if (rc != 0)
        fail_msg("scope \"%s\" refused: %s", s, berr_message());
    assert_string_equal(e.type, type);
    assert_string_equal(e.name, name);
    assert_int_equal(e.actions, actions);
    scope_entry_release(&e);
}

static void parse_bad(const char *s)
{
    struct scope_entry e;
    memset(&e, 0, sizeof(e));
    if (scope_parse(&e, s, strlen(s)) != BERR_INVALID)
        fail_msg("scope \"%s\" accepted as type=%s name=%s", s, e.type, e.name);
}

static void test_simple(void **state)
{
    (void)state;
    parse_ok("repository:foo/bar:pull,push", "repository", "foo/bar", AUTH_PULL | AUTH_PUSH);
    parse_ok("repository:foo:pull", "repository", "foo", AUTH_PULL);
    parse_ok("repository:a/b/c:delete", "repository", "a/b/c", AUTH_DELETE);
    parse_ok("registry:catalog:*", "registry", "catalog", AUTH_ALL);
    parse_ok("repository:foo:", "repository", "foo", 0);
    parse_ok("repository:foo:pull,tag,,mount", "repository", "foo", AUTH_PULL);
    parse_ok("repository(plugin):foo:pull", "repository", "foo", AUTH_PULL);
}

static void test_host_port(void **state)
{
    (void)state;
    parse_ok("repository:localhost:5000/foo:pull,push", "repository", "localhost:5000/foo",
             AUTH_PULL | AUTH_PUSH);
    parse_ok("repository:registry.example.com:443/team/app:push", "repository",
             "registry.example.com:443/team/app", AUTH_PUSH);
    parse_ok("repository:Registry-1.Example.com/team/app:pull", "repository",
             "Registry-1.Example.com/team/app", AUTH_PULL);
    parse_ok("repository:localhost:5000/foo:", "repository", "localhost:5000/foo", 0);
    /* a naive split on every ':' would read type=repository name=localhost */
    parse_bad("repository:localhost:5000/foo");
    parse_bad("repository:localhost:5000:pull");
    parse_bad("repository:localhost:abc/foo:pull");
    parse_bad("repository:local_host:5000/foo:pull");
    parse_bad("repository:-host:5000/foo:pull");
    parse_bad("repository:host:123456/foo:pull");
}

static void test_bad(void **state)
{
    (void)state;
    parse_bad("");
    parse_bad("repository");
    parse_bad("repository:foo");
    parse_bad(":foo:pull");
    parse_bad("repository::pull");
    parse_bad("Repository:foo:pull");
    parse_bad("repository:Foo:pull");
    parse_bad("repository:foo/:pull");
    parse_bad("repository:/foo:pull");
    parse_bad("repository:foo//bar:pull");
    parse_bad("repository:foo..bar:pull");
    parse_bad("repository:foo:pu/ll");
    parse_bad("repository:foo:PULL");
    parse_bad("repository:foo:pull push");
    parse_bad("repository(:foo:pull");
    parse_bad("repository():foo:pull");
    parse_bad("repository(Plugin):foo:pull");
    parse_bad("repository:foo\"bar:pull");
    char long_name[600];
    memset(long_name, 'a', sizeof(long_name));
    memcpy(long_name, "repository:", 11);
    memcpy(long_name + sizeof(long_name) - 6, ":pull", 6);
    parse_bad(long_name);
}

static void test_names(void **state)
{
    (void)state;
    static const char *good[] = {"a",         "a/b",       "a__b",
                                 "a_b",       "a-b",       "a---b",
                                 "a.b",       "a1/b2.c-d", "localhost:5000/a",
                                 "my.host/a", "catalog"};
    static const char *bad[] = {"",    "a..b",           "a_",    "-a",  "A", "a//b", "a/", "/a",
                                "a b", "localhost:5000", "a___b", "a._b"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!scope_name_valid(good[i], strlen(good[i])))
            fail_msg("\"%s\" should be a valid name", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (scope_name_valid(bad[i], strlen(bad[i])))
            fail_msg("\"%s\" should be an invalid name", bad[i]);
}

static void test_list_merge_format(void **state)
{
    (void)state;
    struct scope_list l = SCOPE_LIST_INIT;
    assert_int_equal(scope_list_parse(&l, "repository:a:pull  repository:b:push repository:a:push"),
                     0);
    assert_int_equal(l.n, 2);
    assert_int_equal(scope_list_actions(&l, "repository", "a"), AUTH_PULL | AUTH_PUSH);
    assert_int_equal(scope_list_actions(&l, "repository", "b"), AUTH_PUSH);
    assert_int_equal(scope_list_actions(&l, "repository", "c"), 0);
    assert_int_equal(scope_list_actions(&l, "registry", "a"), 0);
    scope_list_add(&l, "registry", "catalog", AUTH_ALL);
    scope_list_add(&l, "repository", "empty", 0);
    struct buf b = BUF_INIT;
    assert_int_equal(scope_list_format(&b, &l), 0);
    assert_string_equal(buf_cstr(&b),
                        "repository:a:pull,push repository:b:push registry:catalog:*");
    buf_release(&b);
    assert_int_equal(scope_list_parse(&l, "repository:x:pull bogus"), BERR_INVALID);
    scope_list_release(&l);
    assert_int_equal(l.n, 0);
}

static void test_actions(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    scope_actions_format(&b, AUTH_PULL | AUTH_DELETE);
    assert_string_equal(buf_cstr(&b), "pull,delete");
    buf_reset(&b);
    scope_actions_format(&b, AUTH_ALL);
    assert_string_equal(buf_cstr(&b), "*");
    buf_reset(&b);
    /* the STAR bit alone is never written as "*" (that would widen it) */
    scope_actions_format(&b, AUTH_STAR | AUTH_PULL);
    assert_string_equal(buf_cstr(&b), "pull");
    buf_release(&b);
    assert_int_equal(scope_actions_parse("pull,*", 6), AUTH_ALL);
    assert_int_equal(scope_actions_parse("", 0), 0);
    assert_true(scope_actions_parse("pull;push", 9) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple),
        cmocka_unit_test(test_host_port),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_list_merge_format),
        cmocka_unit_test(test_actions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
