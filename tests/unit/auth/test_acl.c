/*
 * test_acl.c - access rules: the "*" / "**" globs, principals (user,
 * @group, anonymous, *), admins, union of matching rules, config errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/acl.h"
#include "auth/auth.h"
#include "image/base/err.h"

#include <string.h>

static void glob(const char *pattern, const char *name, int want)
{
    if (acl_glob_match(pattern, name) != want)
        fail_msg("glob \"%s\" on \"%s\": want %d", pattern, name, want);
}

static void test_glob(void **state)
{
    (void)state;
    glob("team-a/*", "team-a/app", 1);
    glob("team-a/*", "team-a/app/sub", 0);
    glob("team-a/*", "team-a", 0);
    glob("team-a/*", "team-b/app", 0);
    glob("team-a/*", "xteam-a/app", 0);
    glob("public/**", "public/x", 1);
    glob("public/**", "public/x/y/z", 1);
    glob("public/**", "public", 0);
    glob("public/**", "publicx/y", 0);
    glob("**", "anything/at/all", 1);
    glob("*", "one", 1);
    glob("*", "one/two", 0);
    glob("team-*/app", "team-a/app", 1);
    glob("team-*/app", "team-a/b/app", 0);
    glob("foo", "foo", 1);
    glob("foo", "foobar", 0);
    glob("foo", "fo", 0);
    glob("a*b*c", "axxbyyc", 1);
    glob("a*b*c", "abc", 1);
    glob("a*b*c", "ab", 0);
    glob("**/app", "x/y/app", 1);
    glob("**/app", "app", 0);
    glob("a/**/z", "a/b/c/z", 1);
    glob("a/**/z", "a/z", 0);
    glob("*/*", "a/b", 1);
    glob("*/*", "a/b/c", 0);
    /* pathological backtracking stays linear: 40 stars on 255 bytes */
    char name[256];
    memset(name, 'a', 255);
    name[255] = '\0';
    glob("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*ab", name,
         0);
}

static struct acl *make(const char *const *rules, size_t nrules, const char *const *admins,
                        size_t nadmins, const char *const *groups, size_t ngroups)
{
    struct acl *acl = NULL;
    int rc = acl_new(&acl, rules, nrules, admins, nadmins, groups, ngroups);
    if (rc != 0)
        fail_msg("acl_new: %s", berr_message());
    return acl;
}

static void test_rules(void **state)
{
    (void)state;
    static const char *const groups[] = {"devs: bob, dan", "ops:carol", "devs: erin"};
    static const char *const rules[] = {
        "alice team-a/* pull,push", "alice team-a/* delete",    "@devs team-b/** pull",
        "bob team-b/** push",       "anonymous public/** pull", "* shared/* pull",
        "\tdan   exact/name   *  ",
    };
    static const char *const admins[] = {"root", "@ops"};
    struct acl *acl = make(rules, 7, admins, 2, groups, 3);
    assert_false(acl_empty(acl));
    /* union of alice's two rules */
    assert_int_equal(acl_actions(acl, "alice", "team-a/app"), AUTH_PULL | AUTH_PUSH | AUTH_DELETE);
    assert_int_equal(acl_actions(acl, "alice", "team-a/app/deep"), 0);
    /* anonymous rules apply to everyone, "*" only to authenticated users */
    assert_int_equal(acl_actions(acl, NULL, "public/x/y"), AUTH_PULL);
    assert_int_equal(acl_actions(acl, "", "public/x/y"), AUTH_PULL);
    assert_int_equal(acl_actions(acl, "alice", "public/x"), AUTH_PULL);
    assert_int_equal(acl_actions(acl, NULL, "shared/x"), 0);
    assert_int_equal(acl_actions(acl, "zed", "shared/x"), AUTH_PULL);
    /* group + user rules combine */
    assert_int_equal(acl_actions(acl, "bob", "team-b/x/y"), AUTH_PULL | AUTH_PUSH);
    assert_int_equal(acl_actions(acl, "dan", "team-b/x"), AUTH_PULL);
    assert_int_equal(acl_actions(acl, "erin", "team-b/x"), AUTH_PULL); /* merged group */
    assert_int_equal(acl_actions(acl, "alice", "team-b/x"), 0);
    assert_int_equal(acl_actions(acl, "dan", "exact/name"), AUTH_ALL);
    assert_int_equal(acl_actions(acl, "dan", "exact/name2"), 0);
    /* admins: direct and through a group */
    assert_int_equal(acl_actions(acl, "root", "anything/at/all"), AUTH_ALL);
    assert_int_equal(acl_actions(acl, "carol", "x"), AUTH_ALL);
    assert_true(acl_is_admin(acl, "carol"));
    assert_false(acl_is_admin(acl, "alice"));
    assert_false(acl_is_admin(acl, NULL));
    /* catalog: anyone with some pull rule */
    assert_true(acl_catalog(acl, "alice"));
    assert_true(acl_catalog(acl, NULL)); /* anonymous may pull under public */
    assert_true(acl_catalog(acl, "root"));
    acl_free(acl);

    static const char *const none[] = {"alice team-a/* push"};
    acl = make(none, 1, NULL, 0, NULL, 0);
    assert_false(acl_catalog(acl, NULL));
    assert_false(acl_catalog(acl, "alice")); /* push only */
    acl_free(acl);

    acl = make(NULL, 0, NULL, 0, NULL, 0);
    assert_true(acl_empty(acl));
    assert_int_equal(acl_actions(acl, "alice", "x"), 0);
    acl_free(acl);
}

static void bad(const char *rule, const char *admin, const char *group)
{
    struct acl *acl = NULL;
    const char *const r[] = {rule}, *const a[] = {admin}, *const g[] = {group};
    int rc = acl_new(&acl, r, rule ? 1 : 0, a, admin ? 1 : 0, g, group ? 1 : 0);
    if (rc != BERR_CONFIG)
        fail_msg("accepted rule=%s admin=%s group=%s", rule, admin, group);
    assert_null(acl);
}

static void test_config_errors(void **state)
{
    (void)state;
    bad("alice team-a/*", NULL, NULL);
    bad("alice team-a/* pull extra", NULL, NULL);
    bad("alice team-a/* pull,write", NULL, NULL);
    bad("alice team-a/* PULL", NULL, NULL);
    bad("alice team-a/? pull", NULL, NULL);
    bad("@nogroup team-a/* pull", NULL, NULL);
    bad("al:ice team-a/* pull", NULL, NULL);
    bad(NULL, "anonymous", NULL);
    bad(NULL, "*", NULL);
    bad(NULL, "alice bob", NULL);
    bad(NULL, NULL, "no colon here");
    bad(NULL, NULL, "bad name!: alice");
    bad(NULL, NULL, "devs: al ice");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glob),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
