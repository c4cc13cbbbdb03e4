/*
 * test_auth.c - auth_check per mode: none; htpasswd (anonymous, Basic,
 * missing and garbled Authorization, 401 vs 403, admins, groups, catalog,
 * mounts, actions from the method); settings validation; many threads
 * calling auth_check at once; and no password, token or key in any log
 * line of a whole session at debug level.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/auth.h"
#include "auth/keys.h"
#include "image/base/err.h"
#include "image/base/log.h"
#include "tests/unit/auth/authtest.h"

#include <jansson.h>
#include <pthread.h>

static char *htpasswd_path;
static const char *const rules[] = {
    "alice team-a/* pull,push",
    "@devs team-b/** pull",
    "anonymous public/** pull",
    "* shared/* pull",
};
static const char *const admins[] = {"carol"};
static const char *const groups[] = {"devs: bob"};

static int setup(void **state)
{
    (void)state;
    at_mkdtemp();
    htpasswd_path = at_path("htpasswd");
    char *a = at_bcrypt("alice-pw", "$2y$"), *b = at_bcrypt("bob-pw", "$2b$"),
         *c = at_bcrypt("carol-pw", "$2b$");
    char *text = at_fmt("alice:%s\nbob:%s\ncarol:%s\n", a, b, c);
    at_write(htpasswd_path, text);
    free(text);
    free(a);
    free(b);
    free(c);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    at_rmtree();
    free(htpasswd_path);
    return 0;
}

static struct auth *htpasswd_auth(void)
{
    struct auth_settings s;
    auth_settings_init(&s);
    s.mode = AUTH_MODE_HTPASSWD;
    s.htpasswd = htpasswd_path;
    s.rules = rules;
    s.nrules = 4;
    s.admins = admins;
    s.nadmins = 1;
    s.groups = groups;
    s.ngroups = 1;
    s.basic_realm = "Berth team registry";
    s.clock = at_clock;
    struct auth *a = NULL;
    if (auth_new(&a, &s) != 0)
        fail_msg("auth_new: %s", berr_message());
    return a;
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

static int run(struct auth *a, const char *authz, const char *method, const char *repo, int catalog,
               const char *from, struct auth_result *res)
{
    struct auth_request rq = {method, repo, 0, catalog, from, authz, "192.0.2.44", "req-1", NULL};
    return auth_check(a, &rq, res);
}

static void test_mode_none(void **state)
{
    (void)state;
    struct auth_settings s;
    auth_settings_init(&s);
    struct auth *a = NULL;
    assert_int_equal(auth_new(&a, &s), 0);
    assert_int_equal(auth_get_mode(a), AUTH_MODE_NONE);
    struct auth_result res = {0};
    assert_int_equal(run(a, NULL, "DELETE", "any/repo", 0, NULL, &res), 0);
    assert_int_equal(run(a, "Bearer garbage", "GET", NULL, 1, NULL, &res), 0);
    assert_int_equal(run(a, NULL, "POST", "x", 0, "y", &res), 0);
    assert_int_equal(res.mount_ok, 1);
    assert_true(auth_can_pull(a, &res, "anything"));
    assert_true(auth_can_list(a, &res, "anything"));
    struct auth_token_response out = {0};
    struct auth_token_request trq = {"GET", NULL, 0, NULL, 0, NULL, NULL, NULL};
    assert_int_equal(auth_token_issue(a, &trq, &out), BERR_NOT_FOUND);
    auth_result_release(&res);
    auth_free(a);
    assert_int_equal(auth_mode_parse("token"), AUTH_MODE_TOKEN);
    assert_int_equal(auth_mode_parse("htpasswd"), AUTH_MODE_HTPASSWD);
    assert_int_equal(auth_mode_parse("none"), AUTH_MODE_NONE);
    assert_int_equal(auth_mode_parse("basic"), -1);
    assert_string_equal(auth_mode_name(AUTH_MODE_TOKEN), "token");
}

static void test_htpasswd_mode(void **state)
{
    (void)state;
    struct auth *a = htpasswd_auth();
    struct auth_result res = {0};
    char *alice = basic("alice", "alice-pw"), *bob = basic("bob", "bob-pw");
    char *carol = basic("carol", "carol-pw"), *wrong = basic("alice", "nope");

    /* /v2/: anonymous gets the challenge (so docker login sends credentials) */
    assert_int_equal(run(a, NULL, "GET", NULL, 0, NULL, &res), BERR_UNAUTHORIZED);
    assert_string_equal(res.challenge, "Basic realm=\"Berth team registry\"");
    assert_int_equal(run(a, alice, "GET", NULL, 0, NULL, &res), 0);
    assert_string_equal(res.subject, "alice");
    assert_null(res.challenge);
    assert_int_equal(run(a, wrong, "GET", NULL, 0, NULL, &res), BERR_UNAUTHORIZED);
    assert_non_null(res.challenge);

    /* missing or garbled Authorization */
    static const char *garbled[] = {"Basic",
                                    "Basic ",
                                    "Basic !!!!",
                                    "Basic YWxpY2U=",     /* "alice": no colon */
                                    "Basic OmFsaWNlLXB3", /* ":alice-pw": no user */
                                    "Bearer abc.def.ghi",
                                    "Digest username=alice",
                                    "alice",
                                    "Basic YWxpY2U6YWxpY2UtcHc=x"};
    for (size_t i = 0; i < sizeof(garbled) / sizeof(garbled[0]); i++) {
        if (run(a, garbled[i], "GET", "team-a/app", 0, NULL, &res) != BERR_UNAUTHORIZED)
            fail_msg("garbled \"%s\" not refused", garbled[i]);
        assert_string_equal(res.challenge, "Basic realm=\"Berth team registry\"");
    }
    /* Basic ":" (empty user and password) is what skopeo/podman send when
     * they hold no credentials: anonymous, not a failed login */
    static const char *empty[] = {"Basic Og==", "Basic Og", "basic  Og== "};
    for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
        if (run(a, empty[i], "GET", "public/x", 0, NULL, &res) != 0)
            fail_msg("\"%s\": anonymous pull of a public repository refused", empty[i]);
        assert_null(res.subject);
        assert_int_equal(run(a, empty[i], "GET", "team-a/app", 0, NULL, &res), BERR_UNAUTHORIZED);
        assert_string_equal(res.challenge, "Basic realm=\"Berth team registry\"");
        assert_int_equal(run(a, empty[i], "GET", NULL, 0, NULL, &res), BERR_UNAUTHORIZED);
    }
    assert_int_equal(run(a, "Basic OjE=", "GET", "public/x", 0, NULL, &res), BERR_UNAUTHORIZED);

    /* a wrong password says so */
    assert_int_equal(run(a, wrong, "GET", "public/x", 0, NULL, &res), BERR_UNAUTHORIZED);
    assert_string_equal(berr_message(), "invalid user name or password");

    /* case-insensitive scheme, extra blanks */
    char *lower = at_fmt("basic   %s", alice + 6);
    assert_int_equal(run(a, lower, "GET", "team-a/app", 0, NULL, &res), 0);
    free(lower);

    /* anonymous: public pull works, anything else asks for credentials */
    assert_int_equal(run(a, NULL, "GET", "public/x/y", 0, NULL, &res), 0);
    assert_null(res.subject);
    assert_int_equal(run(a, NULL, "PUT", "public/x", 0, NULL, &res), BERR_UNAUTHORIZED);
    assert_int_equal(run(a, NULL, "GET", "team-a/app", 0, NULL, &res), BERR_UNAUTHORIZED);
    assert_int_equal(run(a, NULL, "GET", "shared/x", 0, NULL, &res), BERR_UNAUTHORIZED);

    /* authenticated: allowed, or 403 (no challenge) */
    assert_int_equal(run(a, alice, "PUT", "team-a/app", 0, NULL, &res), 0);
    assert_int_equal(run(a, alice, "PATCH", "team-a/app", 0, NULL, &res), 0);
    assert_int_equal(run(a, alice, "DELETE", "team-a/app", 0, NULL, &res), BERR_DENIED);
    assert_null(res.challenge);
    assert_int_equal(run(a, alice, "GET", "team-b/x", 0, NULL, &res), BERR_DENIED);
    assert_int_equal(run(a, alice, "GET", "public/x", 0, NULL, &res), 0);
    assert_int_equal(run(a, alice, "GET", "shared/x", 0, NULL, &res), 0);
    assert_int_equal(run(a, bob, "GET", "team-b/x/y", 0, NULL, &res), 0);
    assert_int_equal(run(a, bob, "PUT", "team-b/x/y", 0, NULL, &res), BERR_DENIED);
    assert_int_equal(run(a, carol, "DELETE", "anything/at/all", 0, NULL, &res), 0);

    /* explicit actions win over the method */
    struct auth_request rq = {"GET", "team-a/app", AUTH_DELETE, 0, NULL, alice, NULL, NULL, NULL};
    assert_int_equal(auth_check(a, &rq, &res), BERR_DENIED);

    /* catalog and its filter */
    assert_int_equal(run(a, alice, "GET", NULL, 1, NULL, &res), 0);
    assert_true(auth_can_list(a, &res, "team-a/app"));
    assert_true(auth_can_list(a, &res, "public/z"));
    assert_false(auth_can_list(a, &res, "team-b/x"));
    assert_int_equal(run(a, NULL, "GET", NULL, 1, NULL, &res), 0); /* anonymous may pull some */
    assert_true(auth_can_list(a, &res, "public/z"));
    assert_false(auth_can_list(a, &res, "shared/x"));

    /* mount: needs pull on the source, else a plain upload */
    assert_int_equal(run(a, alice, "POST", "team-a/app", 0, "public/base", &res), 0);
    assert_int_equal(res.mount_ok, 1);
    assert_int_equal(run(a, alice, "POST", "team-a/app", 0, "team-b/secret", &res), 0);
    assert_int_equal(res.mount_ok, 0);
    assert_false(auth_can_pull(a, &res, "team-b/secret"));
    assert_true(auth_can_pull(a, &res, "team-a/other"));

    /* names */
    assert_int_equal(run(a, alice, "GET", "team-a/App", 0, NULL, &res), BERR_NAME_INVALID);
    assert_int_equal(run(a, alice, "GET", "team-a/../x", 0, NULL, &res), BERR_NAME_INVALID);

    auth_result_release(&res);
    auth_result_release(&res); /* twice is fine */
    auth_free(a);
    auth_free(NULL);
    free(alice);
    free(bob);
    free(carol);
    free(wrong);
}

static void test_settings_errors(void **state)
{
    (void)state;
    struct auth_settings s;
    struct auth *a = NULL;
    auth_settings_init(&s);
    s.mode = AUTH_MODE_HTPASSWD;
    assert_int_equal(auth_new(&a, &s), BERR_CONFIG); /* no file */
    s.htpasswd = "/nonexistent/htpasswd";
    assert_int_equal(auth_new(&a, &s), BERR_CONFIG);
    s.htpasswd = htpasswd_path;
    s.basic_realm = "bad\"realm";
    assert_int_equal(auth_new(&a, &s), BERR_CONFIG);
    s.basic_realm = "ok";
    static const char *const bad_rules[] = {"alice team-a/*"};
    s.rules = bad_rules;
    s.nrules = 1;
    assert_int_equal(auth_new(&a, &s), BERR_CONFIG);
    assert_non_null(strstr(berr_message(), "auth.rule"));
    s.nrules = 0;
    s.mode = AUTH_MODE_TOKEN;
    s.realm = "https://r/token";
    s.leeway = 7200;
    s.rootcerts = htpasswd_path;
    assert_int_equal(auth_new(&a, &s), BERR_CONFIG);
    s.leeway = 60;
    assert_int_equal(auth_new(&a, &s), BERR_CONFIG); /* not a certificate bundle */
    assert_null(a);
}

/* Token mode with the built-in issuer and no auth.token.realm: the challenge
 * names the issuer at the address the client used; without the issuer the
 * realm is required. */
static void test_builtin_realm_default(void **state)
{
    (void)state;
    struct auth_settings s;
    auth_settings_init(&s);
    s.mode = AUTH_MODE_TOKEN;
    s.htpasswd = htpasswd_path;
    s.issuer_enabled = 1;
    char *key = at_path("realm.key");
    s.signing_key = key;
    struct auth *t = NULL;
    if (auth_new(&t, &s) != 0)
        fail_msg("auth_new: %s", berr_message());
    struct auth_result res = {0};
    struct auth_request rq = {"GET", "team-a/app",           0, 0, NULL, NULL, "192.0.2.7",
                              NULL,  "http://127.0.0.1:5000"};
    assert_int_equal(auth_check(t, &rq, &res), BERR_UNAUTHORIZED);
    assert_non_null(strstr(res.challenge, "realm=\"http://127.0.0.1:5000/auth/token\""));
    assert_non_null(strstr(res.challenge, "scope=\"repository:team-a/app:pull\""));
    rq.base_url = "http://evil\"host";
    assert_int_equal(auth_check(t, &rq, &res), BERR_UNAUTHORIZED);
    assert_null(strstr(res.challenge, "evil"));
    auth_result_release(&res);
    auth_free(t);
    s.issuer_enabled = 0;
    assert_int_equal(auth_new(&t, &s), BERR_CONFIG);
    assert_non_null(strstr(berr_message(), "auth.token.realm"));
    free(key);
}

struct worker {
    struct auth *a;
    const char *authz;
    const char *repo;
    int expect;
    int failures;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    struct auth_result res = {0};
    for (int i = 0; i < 300; i++) {
        struct auth_request rq = {"GET", w->repo, 0, 0, NULL, w->authz, "192.0.2.9", NULL, NULL};
        if (auth_check(w->a, &rq, &res) != w->expect)
            w->failures++;
        if (w->expect == 0 && !auth_can_pull(w->a, &res, w->repo))
            w->failures++;
    }
    auth_result_release(&res);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    /* htpasswd with its cache, and token mode with the built-in issuer */
    struct auth *h = htpasswd_auth();
    char *alice = basic("alice", "alice-pw"), *bob = basic("bob", "bob-pw");
    struct auth_settings s;
    auth_settings_init(&s);
    s.mode = AUTH_MODE_TOKEN;
    s.realm = "https://r/token";
    s.htpasswd = htpasswd_path;
    s.issuer_enabled = 1;
    char *key = at_path("threads.key");
    s.signing_key = key;
    s.rules = rules;
    s.nrules = 4;
    s.groups = groups;
    s.ngroups = 1;
    s.clock = at_clock;
    struct auth *t = NULL;
    if (auth_new(&t, &s) != 0)
        fail_msg("auth_new: %s", berr_message());
    struct auth_param q[] = {{"scope", "repository:public/x:pull"}};
    struct auth_token_request trq = {"GET", q, 1, NULL, 0, NULL, NULL, NULL};
    struct auth_token_response out = {0};
    assert_int_equal(auth_token_issue(t, &trq, &out), 0);
    const char *p = strstr(out.body, "\"token\":\"") + 9;
    char *bearer = at_fmt("Bearer %.*s", (int)(strchr(p, '"') - p), p);

    struct worker w[8] = {
        {h, alice, "team-a/app", 0, 0},         {h, bob, "team-b/x", 0, 0},
        {h, bob, "team-a/app", BERR_DENIED, 0}, {h, NULL, "public/x", 0, 0},
        {t, bearer, "public/x", 0, 0},          {t, bearer, "public/y", BERR_UNAUTHORIZED, 0},
        {t, bearer, "public/x", 0, 0},          {t, NULL, "public/x", BERR_UNAUTHORIZED, 0},
    };
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&th[i], NULL, work, &w[i]);
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        if (w[i].failures)
            fail_msg("worker %d: %d unexpected results", i, w[i].failures);
    }
    auth_token_response_release(&out);
    auth_free(h);
    auth_free(t);
    free(bearer);
    free(key);
    free(alice);
    free(bob);
}

static void test_no_secrets_in_logs(void **state)
{
    (void)state;
    log_set_level(LOG_DEBUG);
    at_capture_start();
    /* htpasswd session with right, wrong and garbled credentials */
    struct auth *h = htpasswd_auth();
    struct auth_result res = {0};
    char *alice = basic("alice", "alice-pw"), *wrong = basic("alice", "Secret-Guess-1");
    char *typo = basic("alice-pw", "alice"); /* password typed as the user name */
    run(h, alice, "GET", "team-a/app", 0, NULL, &res);
    run(h, wrong, "GET", "team-a/app", 0, NULL, &res);
    run(h, typo, "GET", "team-a/app", 0, NULL, &res);
    run(h, "Basic U2VjcmV0LUdhcmJsZWQ=", "GET", "team-a/app", 0, NULL, &res);
    auth_free(h);

    /* token session: issue, use, refresh, misuse */
    struct auth_settings s;
    auth_settings_init(&s);
    s.mode = AUTH_MODE_TOKEN;
    s.realm = "https://r/token";
    s.htpasswd = htpasswd_path;
    s.issuer_enabled = 1;
    char *key = at_path("logs.key");
    s.signing_key = key;
    s.rules = rules;
    s.nrules = 4;
    s.groups = groups;
    s.ngroups = 1;
    s.clock = at_clock;
    struct auth *t = NULL;
    if (auth_new(&t, &s) != 0)
        fail_msg("auth_new: %s", berr_message());
    const char *form = "grant_type=password&username=alice&password=alice-pw&access_type=offline"
                       "&scope=repository:team-a/app:pull";
    struct auth_token_request trq = {"POST", NULL, 0, form, strlen(form), NULL, "192.0.2.1", "x"};
    struct auth_token_response out = {0};
    assert_int_equal(auth_token_issue(t, &trq, &out), 0);
    json_error_t err;
    json_t *body = json_loads(out.body, 0, &err);
    char *token = xstrdup(json_string_value(json_object_get(body, "token")));
    char *refresh = xstrdup(json_string_value(json_object_get(body, "refresh_token")));
    json_decref(body);
    char *bearer = at_fmt("Bearer %s", token);
    run(t, bearer, "GET", "team-a/app", 0, NULL, &res);
    run(t, bearer, "PUT", "team-a/app", 0, NULL, &res);
    char *as_access = at_fmt("Bearer %s", refresh);
    run(t, as_access, "GET", "team-a/app", 0, NULL, &res);
    char *truncated = xstrndup(bearer, strlen(bearer) - 10);
    run(t, truncated, "GET", "team-a/app", 0, NULL, &res);
    const char *bad_form = "grant_type=password&username=alice&password=Secret-Guess-2";
    trq.form = bad_form;
    trq.form_len = strlen(bad_form);
    auth_token_issue(t, &trq, &out);
    auth_free(t);
    char *log = at_capture_end();
    log_set_level(LOG_INFO);

    assert_non_null(strstr(log, "wrong password for user \"alice\""));
    assert_non_null(strstr(log, "token refused"));
    static const char *secrets[] = {"alice-pw", "Secret-Guess", "U2VjcmV0",
                                    "YWxpY2U6", "PRIVATE KEY",  "eyJ"};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        if (strstr(log, secrets[i]))
            fail_msg("log holds \"%s\":\n%s", secrets[i], log);
    /* nor any signature or key material */
    char *pem = at_read(key);
    char line[48];
    memcpy(line, strchr(pem, '\n') + 1, 40);
    line[40] = '\0';
    assert_null(strstr(log, line));
    assert_null(strstr(log, strrchr(token, '.') + 1));
    assert_null(strstr(log, strrchr(refresh, '.') + 1));
    free(pem);
    free(log);
    free(token);
    free(refresh);
    free(bearer);
    free(as_access);
    free(truncated);
    free(key);
    free(alice);
    free(wrong);
    free(typo);
    auth_token_response_release(&out);
    auth_result_release(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mode_none),          cmocka_unit_test(test_htpasswd_mode),
        cmocka_unit_test(test_settings_errors),    cmocka_unit_test(test_threads),
        cmocka_unit_test(test_no_secrets_in_logs), cmocka_unit_test(test_builtin_realm_default),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
