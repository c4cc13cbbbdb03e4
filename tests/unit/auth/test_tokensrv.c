/*
 * test_tokensrv.c - the built-in issuer: signing key generated on first
 * start (0600, certificate next to it, path but never content logged),
 * reused on the next start; GET with Basic or anonymous; the OAuth2 POST
 * password and refresh_token grants; intersection of requested and allowed
 * scopes; refresh tokens (revoked by a password change, never accepted as
 * access tokens); issue-then-verify round trips for ES256 and RS256; a
 * second registry verifying the issuer's tokens from configuration alone;
 * request errors; rate limiting at the token endpoint.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/auth.h"
#include "auth/keys.h"
#include "image/base/err.h"
#include "tests/unit/auth/authtest.h"

#include <jansson.h>

#define REALM "https://registry.example:5000/auth/token"

static char *htpasswd_path, *key_path;
static const char *const groups[] = {"devs: bob, dan"};
static const char *const rules[] = {
    "alice team-a/* pull,push",
    "@devs team-b/** pull",
    "anonymous public/** pull",
};
static const char *const admins[] = {"carol"};

static void write_users(const char *alice_pw)
{
    char *a = at_bcrypt(alice_pw, "$2y$");
    char *b = at_bcrypt("bob-pw", "$2b$");
    char *c = at_bcrypt("carol-pw", "$2b$");
    char *text = at_fmt("alice:%s\nbob:%s\ncarol:%s\n", a, b, c);
    at_write(htpasswd_path, text);
    free(text);
    free(a);
    free(b);
    free(c);
}

static void settings(struct auth_settings *s, const char *key_type)
{
    auth_settings_init(s);
    s->mode = AUTH_MODE_TOKEN;
    s->realm = REALM;
    s->service = "registry.example";
    s->issuer = "berth-issuer";
    s->htpasswd = htpasswd_path;
    s->issuer_enabled = 1;
    s->signing_key = key_path;
    s->key_type = key_type;
    s->rules = rules;
    s->nrules = 3;
    s->admins = admins;
    s->nadmins = 1;
    s->groups = groups;
    s->ngroups = 1;
    s->clock = at_clock;
}

static struct auth *open_auth(const char *key_type)
{
    struct auth_settings s;
    settings(&s, key_type);
    struct auth *a = NULL;
    if (auth_new(&a, &s) != 0)
        fail_msg("auth_new: %s", berr_message());
    return a;
}

static int setup(void **state)
{
    at_mkdtemp();
    htpasswd_path = at_path("htpasswd");
    key_path = at_path("issuer.key");
    write_users("alice-pw");
    at_capture_start();
    *state = open_auth("ec");
    char *log = at_capture_end();
    /* the log names the key's path, never its content */
    assert_non_null(strstr(log, key_path));
    assert_non_null(strstr(log, "generated ES256"));
    assert_null(strstr(log, "PRIVATE"));
    char *pem = at_read(key_path);
    assert_non_null(pem);
    assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
    char body[40];
    memcpy(body, strchr(pem, '\n') + 1, 32);
    body[32] = '\0';
    assert_null(strstr(log, body));
    free(pem);
    free(log);
    return 0;
}

static int teardown(void **state)
{
    auth_free(*state);
    at_rmtree();
    free(htpasswd_path);
    free(key_path);
    return 0;
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

/* GET the token endpoint; returns the rc, *body gets the JSON (or NULL). */
static int get_token(struct auth *a, const char *authz, const struct auth_param *q, size_t nq,
                     json_t **body, struct auth_token_response *out)
{
    struct auth_token_request rq = {"GET", q, nq, NULL, 0, authz, "198.51.100.7", "t"};
    int rc = auth_token_issue(a, &rq, out);
    *body = NULL;
    if (rc == 0) {
        json_error_t err;
        *body = json_loads(out->body, 0, &err);
        assert_non_null(*body);
    }
    return rc;
}

static int post_token(struct auth *a, const char *form, json_t **body,
                      struct auth_token_response *out)
{
    struct auth_token_request rq = {"POST", NULL, 0, form, strlen(form), NULL, "198.51.100.7", "t"};
    int rc = auth_token_issue(a, &rq, out);
    *body = NULL;
    if (rc == 0) {
        json_error_t err;
        *body = json_loads(out->body, 0, &err);
        assert_non_null(*body);
    }
    return rc;
}

/* auth_check of a request with a bearer token. */
static int use(struct auth *a, const char *token, const char *method, const char *repo, int catalog,
               struct auth_result *res)
{
    char *authz = at_fmt("Bearer %s", token);
    struct auth_request rq = {method, repo, 0, catalog, NULL, authz, "198.51.100.7", "t", NULL};
    int rc = auth_check(a, &rq, res);
    free(authz);
    return rc;
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void test_key_file(void **state)
{
    struct auth *a = *state;
    struct stat st;
    assert_int_equal(stat(key_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char *crt = keys_cert_path(key_path);
    assert_string_equal(crt + strlen(crt) - 10, "issuer.crt");
    assert_int_equal(stat(crt, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);

    /* a second start loads the same key: tokens of one verify on the other */
    struct auth_token_response out = {0};
    json_t *body = NULL;
    struct auth_param q[] = {{"scope", "repository:public/x:pull"}};
    assert_int_equal(get_token(a, NULL, q, 1, &body, &out), 0);
    at_capture_start();
    struct auth *b = open_auth("rsa"); /* key_type only matters when generating */
    char *log = at_capture_end();
    assert_non_null(strstr(log, "loaded ES256"));
    struct auth_result res = {0};
    assert_int_equal(use(b, jstr(body, "token"), "GET", "public/x", 0, &res), 0);
    auth_result_release(&res);
    auth_free(b);
    free(log);

    /* an unknown key type is a configuration error, even with the key present */
    struct auth_settings bad;
    settings(&bad, "ecdsa");
    b = NULL;
    assert_int_equal(auth_new(&b, &bad), BERR_CONFIG);
    assert_non_null(strstr(berr_message(), "auth.issuer.key-type"));
    assert_null(b);

    /* an external registry trusts the issuer from configuration alone: the
     * certificate written next to the key, issuer and service names */
    struct auth_settings s;
    auth_settings_init(&s);
    s.mode = AUTH_MODE_TOKEN;
    s.realm = REALM;
    s.service = "registry.example";
    s.issuer = "berth-issuer";
    const char *keys[] = {crt};
    s.keys = keys;
    s.nkeys = 1;
    s.clock = at_clock;
    struct auth *ext = NULL;
    assert_int_equal(auth_new(&ext, &s), 0);
    assert_int_equal(use(ext, jstr(body, "token"), "GET", "public/x", 0, &res), 0);
    assert_int_equal(use(ext, jstr(body, "token"), "GET", "public/y", 0, &res), BERR_UNAUTHORIZED);
    auth_result_release(&res);
    auth_free(ext);
    /* the same certificate as an x5c root bundle also trusts it (by kid) */
    s.keys = NULL;
    s.nkeys = 0;
    s.rootcerts = crt;
    assert_int_equal(auth_new(&ext, &s), 0);
    assert_int_equal(use(ext, jstr(body, "token"), "GET", "public/x", 0, &res), 0);
    auth_result_release(&res);
    auth_free(ext);

    json_decref(body);
    auth_token_response_release(&out);
    free(crt);
}

static void test_get_anonymous_and_basic(void **state)
{
    struct auth *a = *state;
    struct auth_token_response out = {0};
    struct auth_result res = {0};
    json_t *body = NULL;

    /* anonymous: public pull only, the rest silently dropped */
    struct auth_param q[] = {{"service", "registry.example"},
                             {"scope", "repository:public/x:pull,push"},
                             {"scope", "repository:team-a/app:pull"},
                             {"client_id", "docker"}};
    assert_int_equal(get_token(a, NULL, q, 4, &body, &out), 0);
    const char *tok = jstr(body, "token");
    assert_non_null(tok);
    assert_string_equal(tok, jstr(body, "access_token"));
    assert_int_equal(json_integer_value(json_object_get(body, "expires_in")), 300);
    assert_string_equal(jstr(body, "issued_at"), "2023-11-14T22:13:20Z");
    assert_string_equal(jstr(body, "scope"), "repository:public/x:pull");
    assert_null(json_object_get(body, "refresh_token"));
    assert_int_equal(use(a, tok, "GET", "public/x", 0, &res), 0);
    assert_null(res.subject);
    assert_int_equal(use(a, tok, "PUT", "public/x", 0, &res), BERR_UNAUTHORIZED);
    assert_int_equal(use(a, tok, "GET", "team-a/app", 0, &res), BERR_UNAUTHORIZED);
    json_decref(body);

    /* alice with Basic: intersection of asked and allowed */
    char *authz = basic("alice", "alice-pw");
    struct auth_param q2[] = {{"scope", "repository:team-a/app:pull,push,delete"},
                              {"scope", "repository:team-b/x:pull repository:public/p:pull"}};
    assert_int_equal(get_token(a, authz, q2, 2, &body, &out), 0);
    assert_string_equal(jstr(body, "scope"),
                        "repository:team-a/app:pull,push repository:public/p:pull");
    tok = jstr(body, "token");
    assert_int_equal(use(a, tok, "PUT", "team-a/app", 0, &res), 0);
    assert_string_equal(res.subject, "alice");
    assert_int_equal(use(a, tok, "DELETE", "team-a/app", 0, &res), BERR_UNAUTHORIZED);
    assert_int_equal(use(a, tok, "GET", "team-b/x", 0, &res), BERR_UNAUTHORIZED);
    json_decref(body);
    free(authz);

    /* nothing allowed is not an error: an empty grant */
    authz = basic("bob", "bob-pw");
    struct auth_param q3[] = {{"scope", "repository:team-a/app:push"}};
    assert_int_equal(get_token(a, authz, q3, 1, &body, &out), 0);
    assert_string_equal(jstr(body, "scope"), "");
    json_decref(body);
    free(authz);

    /* catalog: granted to callers with some pull, listing filtered by pull */
    authz = basic("bob", "bob-pw");
    struct auth_param q4[] = {{"scope", "registry:catalog:*"}};
    assert_int_equal(get_token(a, authz, q4, 1, &body, &out), 0);
    assert_string_equal(jstr(body, "scope"), "registry:catalog:*");
    assert_int_equal(use(a, jstr(body, "token"), "GET", NULL, 1, &res), 0);
    assert_true(auth_can_list(a, &res, "team-b/deep/x"));
    assert_true(auth_can_list(a, &res, "public/x"));
    assert_false(auth_can_list(a, &res, "team-a/app"));
    assert_false(auth_can_pull(a, &res, "team-a/app"));
    json_decref(body);
    free(authz);

    /* admin gets what was asked */
    authz = basic("carol", "carol-pw");
    struct auth_param q5[] = {{"scope", "repository:any/thing:pull,push,delete"}};
    assert_int_equal(get_token(a, authz, q5, 1, &body, &out), 0);
    assert_string_equal(jstr(body, "scope"), "repository:any/thing:pull,push,delete");
    assert_int_equal(use(a, jstr(body, "token"), "DELETE", "any/thing", 0, &res), 0);
    json_decref(body);
    free(authz);

    /* bad credentials: 401 with a Basic challenge */
    authz = basic("alice", "wrong");
    assert_int_equal(get_token(a, authz, q2, 2, &body, &out), BERR_UNAUTHORIZED);
    assert_string_equal(out.challenge, "Basic realm=\"berth\"");
    free(authz);
    assert_int_equal(get_token(a, "Basic !!!", q2, 2, &body, &out), BERR_UNAUTHORIZED);
    /* Basic ":" (skopeo/podman without credentials) is anonymous */
    assert_int_equal(get_token(a, "Basic Og==", q, 4, &body, &out), 0);
    assert_string_equal(jstr(body, "scope"), "repository:public/x:pull");
    json_decref(body);
    assert_int_equal(get_token(a, "Basic OjE=", q, 4, &body, &out), BERR_UNAUTHORIZED);
    assert_int_equal(get_token(a, "Bearer abc", q2, 2, &body, &out), BERR_UNAUTHORIZED);

    /* request errors */
    struct auth_param bad_service[] = {{"service", "other"}};
    assert_int_equal(get_token(a, NULL, bad_service, 1, &body, &out), BERR_INVALID);
    struct auth_param bad_scope[] = {{"scope", "repository:Bad:pull"}};
    assert_int_equal(get_token(a, NULL, bad_scope, 1, &body, &out), BERR_INVALID);
    auth_result_release(&res);
    auth_token_response_release(&out);
}

static void test_oauth_and_refresh(void **state)
{
    struct auth *a = *state;
    struct auth_token_response out = {0};
    struct auth_result res = {0};
    json_t *body = NULL;

    /* password grant with a form-encoded password */
    write_users("p@ss w+rd&=%");
    at_time += 2; /* reload */
    assert_int_equal(post_token(a,
                                "grant_type=password&username=alice&password=p%40ss+w%2Brd%26%3D%25"
                                "&service=registry.example&client_id=docker&access_type=offline"
                                "&scope=repository%3Ateam-a%2Fapp%3Apull",
                                &body, &out),
                     0);
    const char *refresh = jstr(body, "refresh_token");
    assert_non_null(refresh);
    char *rt = xstrdup(refresh);
    assert_string_equal(jstr(body, "scope"), "repository:team-a/app:pull");
    assert_int_equal(use(a, jstr(body, "access_token"), "GET", "team-a/app", 0, &res), 0);
    /* the refresh token is never an access token */
    assert_int_equal(use(a, rt, "GET", "team-a/app", 0, &res), BERR_UNAUTHORIZED);
    assert_int_equal(use(a, rt, "GET", NULL, 0, &res), BERR_UNAUTHORIZED);
    json_decref(body);

    /* refresh grant: new access token for other scopes, same refresh token */
    char *form = at_fmt("grant_type=refresh_token&refresh_token=%s&service=registry.example"
                        "&client_id=docker&scope=repository%%3Ateam-a%%2Fapp%%3Apull%%2Cpush",
                        rt);
    at_time += 30;
    assert_int_equal(post_token(a, form, &body, &out), 0);
    assert_string_equal(jstr(body, "refresh_token"), rt);
    assert_string_equal(jstr(body, "scope"), "repository:team-a/app:pull,push");
    assert_int_equal(use(a, jstr(body, "access_token"), "PUT", "team-a/app", 0, &res), 0);
    assert_string_equal(res.subject, "alice");
    json_decref(body);

    /* GET with offline_token=true also hands out a refresh token */
    char *authz = basic("bob", "bob-pw");
    struct auth_param q[] = {{"offline_token", "true"}, {"scope", "repository:team-b/x:pull"}};
    assert_int_equal(get_token(a, authz, q, 2, &body, &out), 0);
    assert_non_null(jstr(body, "refresh_token"));
    json_decref(body);
    struct auth_param qa[] = {{"offline_token", "true"}};
    assert_int_equal(get_token(a, NULL, qa, 1, &body, &out), 0); /* anonymous: none */
    assert_null(json_object_get(body, "refresh_token"));
    json_decref(body);
    free(authz);

    /* tampered refresh token */
    char *bad = xstrdup(rt);
    bad[strlen(bad) - 3] = bad[strlen(bad) - 3] == 'A' ? 'B' : 'A';
    char *bad_form = at_fmt("grant_type=refresh_token&refresh_token=%s", bad);
    assert_int_equal(post_token(a, bad_form, &body, &out), BERR_UNAUTHORIZED);
    free(bad_form);
    free(bad);
    /* an access token is not a refresh token */
    assert_int_equal(post_token(a,
                                "grant_type=password&username=alice&password=p%40ss+w%2Brd"
                                "%26%3D%25",
                                &body, &out),
                     0);
    bad_form = at_fmt("grant_type=refresh_token&refresh_token=%s", jstr(body, "access_token"));
    json_decref(body);
    assert_int_equal(post_token(a, bad_form, &body, &out), BERR_UNAUTHORIZED);
    free(bad_form);

    /* changing the password revokes refresh tokens */
    write_users("new-password");
    at_time += 2;
    assert_int_equal(post_token(a, form, &body, &out), BERR_UNAUTHORIZED);
    assert_non_null(out.challenge);

    /* request errors */
    assert_int_equal(post_token(a, "grant_type=client_credentials", &body, &out), BERR_INVALID);
    assert_int_equal(post_token(a, "username=alice&password=x", &body, &out), BERR_INVALID);
    assert_int_equal(post_token(a, "grant_type=password&username=alice", &body, &out),
                     BERR_INVALID);
    assert_int_equal(post_token(a, "grant_type=refresh_token", &body, &out), BERR_INVALID);
    assert_int_equal(post_token(a, "grant_type=password&username=alice&password=%zz", &body, &out),
                     BERR_INVALID);
    assert_int_equal(post_token(a, "grant_type=password&username=alice&password=%00", &body, &out),
                     BERR_INVALID);
    free(form);
    free(rt);
    auth_result_release(&res);
    auth_token_response_release(&out);
}

static void test_rsa_and_no_refresh(void **state)
{
    (void)state;
    char *rsa_key = at_path("rsa-issuer.key");
    struct auth_settings s;
    settings(&s, "rsa");
    s.signing_key = rsa_key;
    s.refresh_ttl = 0;
    s.token_ttl = 120;
    struct auth *a = NULL;
    assert_int_equal(auth_new(&a, &s), 0);
    struct auth_token_response out = {0};
    json_t *body = NULL;
    assert_int_equal(post_token(a,
                                "grant_type=password&username=carol&password=carol-pw"
                                "&access_type=offline&scope=repository:x/y:pull",
                                &body, &out),
                     0);
    assert_null(json_object_get(body, "refresh_token"));
    assert_int_equal(json_integer_value(json_object_get(body, "expires_in")), 120);
    const char *tok = jstr(body, "token");
    assert_true(strncmp(tok, "eyJhbGciOiJSUzI1NiIs", 20) == 0); /* {"alg":"RS256", */
    struct auth_result res = {0};
    assert_int_equal(use(a, tok, "GET", "x/y", 0, &res), 0);
    at_time += 120 + 61;
    assert_int_equal(use(a, tok, "GET", "x/y", 0, &res), BERR_UNAUTHORIZED);
    auth_result_release(&res);
    json_decref(body);
    auth_token_response_release(&out);
    auth_free(a);
    free(rsa_key);

    /* issuer settings that cannot work */
    settings(&s, "dsa");
    s.signing_key = "/nonexistent-dir/x.key";
    assert_int_equal(auth_new(&a, &s), BERR_CONFIG);
    settings(&s, "ec");
    s.token_ttl = 30;
    assert_int_equal(auth_new(&a, &s), BERR_CONFIG);
    settings(&s, "ec");
    s.htpasswd = NULL;
    assert_int_equal(auth_new(&a, &s), BERR_CONFIG);
    assert_non_null(strstr(berr_message(), "auth.issuer.enabled = false"));
    /* outside token mode the issuer setting is ignored: no token endpoint */
    settings(&s, "ec");
    s.mode = AUTH_MODE_HTPASSWD;
    s.signing_key = "/nonexistent-dir/never-created.key";
    assert_int_equal(auth_new(&a, &s), 0);
    struct auth_token_request trq = {"GET", NULL, 0, NULL, 0, NULL, NULL, NULL};
    struct auth_token_response tout = {0};
    assert_int_equal(auth_token_issue(a, &trq, &tout), BERR_NOT_FOUND);
    auth_free(a);
    char *p1 = keys_cert_path("/data/token-key.pem"), *p2 = keys_cert_path("/data/issuer.key"),
         *p3 = keys_cert_path("/data/signer");
    assert_string_equal(p1, "/data/token-key.crt");
    assert_string_equal(p2, "/data/issuer.crt");
    assert_string_equal(p3, "/data/signer.crt");
    free(p1);
    free(p2);
    free(p3);
}

static void test_rate_limit(void **state)
{
    struct auth *a = *state;
    struct auth_token_response out = {0};
    json_t *body = NULL;
    at_time += 3600;
    write_users("alice-pw");
    at_time += 2;
    /* the same wrong password again counts once; distinct guesses count each */
    for (int i = 0; i < 3; i++)
        assert_int_equal(
            post_token(a, "grant_type=password&username=alice&password=guess", &body, &out),
            BERR_UNAUTHORIZED);
    assert_int_equal(
        post_token(a, "grant_type=password&username=alice&password=alice-pw", &body, &out), 0);
    json_decref(body);
    body = NULL;
    auth_token_response_release(&out);
    memset(&out, 0, sizeof(out));
    static const char *const guesses[] = {"guess1", "guess2", "guess3", "guess4"};
    for (int i = 0; i < 4; i++) {
        char *form = at_fmt("grant_type=password&username=alice&password=%s", guesses[i]);
        assert_int_equal(post_token(a, form, &body, &out), BERR_UNAUTHORIZED);
        free(form);
    }
    /* blocked: even the right password is not checked */
    assert_int_equal(
        post_token(a, "grant_type=password&username=alice&password=alice-pw", &body, &out),
        BERR_TOOMANY);
    assert_true(out.retry_after > 0 && out.retry_after <= 60);
    at_time += 61;
    assert_int_equal(
        post_token(a, "grant_type=password&username=alice&password=alice-pw", &body, &out), 0);
    json_decref(body);
    auth_token_response_release(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_file),          cmocka_unit_test(test_get_anonymous_and_basic),
        cmocka_unit_test(test_oauth_and_refresh), cmocka_unit_test(test_rsa_and_no_refresh),
        cmocka_unit_test(test_rate_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
