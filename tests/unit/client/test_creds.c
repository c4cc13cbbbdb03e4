/*
 * test_creds.c - credential files: store (mode 0600, atomic), look up in
 * Berth's file then Docker's config.json (auth or username/password,
 * "https://host/v1/" keys), erase, malformed files; credential helpers
 * (credsStore, credHelpers) through a fake docker-credential-fake script on
 * PATH: get/store/erase, the order of the sources, identity tokens, broken,
 * missing and misnamed helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/creds.h"
#include "client/unpack.h"
#include "image/base/err.h"
#include "image/base/xalloc.h"

static char *dir;

/* A credential helper keeping one file per server URL in $FAKE_HELPER_DIR,
 * logging "<verb> <url>" lines to $FAKE_HELPER_DIR/log. */
static const char fake_helper[] =
    "#!/bin/sh\n"
    "d=${FAKE_HELPER_DIR:?}\n"
    "in=$(cat)\n"
    "case \"$1\" in\n"
    "store) url=$(printf '%s' \"$in\" | sed 's/.*\"ServerURL\":\"\\([^\"]*\\)\".*/\\1/') ;;\n"
    "*) url=$in ;;\n"
    "esac\n"
    "f=$d/$(printf '%s' \"$url\" | tr -c 'A-Za-z0-9' '_')\n"
    "printf '%s %s\\n' \"$1\" \"$url\" >>\"$d/log\"\n"
    "case \"$1\" in\n"
    "get) [ -f \"$f\" ] && exec cat \"$f\"; echo 'credentials not found in native keychain'; exit "
    "1 ;;\n"
    "store) printf '%s' \"$in\" >\"$f\" ;;\n"
    "erase) [ -f \"$f\" ] || { echo 'credentials not found in native keychain'; exit 1; }; rm -f "
    "\"$f\" ;;\n"
    "*) echo 'unknown action'; exit 1 ;;\n"
    "esac\n";

/* A helper that always fails, and one that answers garbage. */
static const char broken_helper[] =
    "#!/bin/sh\ncat >/dev/null\necho 'keychain is locked'\nexit 3\n";
static const char garbage_helper[] = "#!/bin/sh\ncat >/dev/null\necho '{not json'\n";

static void write_exec(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, 0755), 0);
}

static int setup(void **state)
{
    (void)state;
    dir = xstrdup("/tmp/berth-creds-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char *f = xasprintf("%s/berth/auth.json", dir);
    setenv("BERTH_AUTH_FILE", f, 1);
    free(f);
    setenv("DOCKER_CONFIG", dir, 1);
    /* helpers live in dir/bin, first on PATH; their store in dir/helper */
    char *bin = xasprintf("%s/bin", dir);
    char *store = xasprintf("%s/helper", dir);
    if (mkdir(bin, 0755) < 0 || mkdir(store, 0700) < 0)
        return -1;
    setenv("FAKE_HELPER_DIR", store, 1);
    const char *old = getenv("PATH");
    char *path = xasprintf("%s:%s", bin, old ? old : "/usr/bin:/bin");
    setenv("PATH", path, 1);
    free(path);
    free(store);
    free(bin);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unpack_remove_tree(dir);
    free(dir);
    return 0;
}

static void write_docker(const char *text)
{
    char *p = xasprintf("%s/config.json", dir);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    free(p);
}

static void test_store_lookup_erase(void **state)
{
    (void)state;
    char *u = NULL, *p = NULL;
    assert_int_equal(creds_lookup(&u, &p, "reg:5000"), BERR_NOT_FOUND);
    assert_int_equal(creds_store("reg:5000", "alice", "pa:ss"), 0);
    char *path = creds_path();
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    free(path);
    assert_int_equal(creds_lookup(&u, &p, "reg:5000"), 0);
    assert_string_equal(u, "alice");
    assert_string_equal(p, "pa:ss");
    free(u);
    free(p);
    assert_int_equal(creds_lookup(&u, &p, "reg"), BERR_NOT_FOUND);
    assert_int_equal(creds_erase("reg:5000"), 0);
    assert_int_equal(creds_lookup(&u, &p, "reg:5000"), BERR_NOT_FOUND);
    assert_int_equal(creds_erase("reg:5000"), BERR_NOT_FOUND);
}

static void test_docker_config(void **state)
{
    (void)state;
    char *u = NULL, *p = NULL;
    /* "Ym9iOnNlY3JldA==" is bob:secret */
    write_docker("{\"auths\":{\"https://dock.example:443/v1/\":{\"auth\":\"Ym9iOnNlY3JldA==\"},"
                 "\"plain.example\":{\"username\":\"carol\",\"password\":\"pw\"}}}");
    assert_int_equal(creds_lookup(&u, &p, "dock.example:443"), 0);
    assert_string_equal(u, "bob");
    assert_string_equal(p, "secret");
    free(u);
    free(p);
    assert_int_equal(creds_lookup(&u, &p, "plain.example"), 0);
    assert_string_equal(u, "carol");
    free(u);
    free(p);
    /* Berth's own file wins */
    assert_int_equal(creds_store("plain.example", "dave", "x"), 0);
    assert_int_equal(creds_lookup(&u, &p, "plain.example"), 0);
    assert_string_equal(u, "dave");
    free(u);
    free(p);
    write_docker("{not json");
    assert_int_equal(creds_lookup(&u, &p, "dock.example:443"), BERR_CONFIG);
}

static char *helper_log(void)
{
    char *p = xasprintf("%s/helper/log", dir);
    FILE *f = fopen(p, "r");
    free(p);
    static char text[4096];
    text[0] = '\0';
    if (f) {
        size_t n = fread(text, 1, sizeof(text) - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    return text;
}

static void install_helpers(void)
{
    char *p = xasprintf("%s/bin/docker-credential-fake", dir);
    write_exec(p, fake_helper);
    free(p);
    p = xasprintf("%s/bin/docker-credential-broken", dir);
    write_exec(p, broken_helper);
    free(p);
    p = xasprintf("%s/bin/docker-credential-garbage", dir);
    write_exec(p, garbage_helper);
    free(p);
}

static void test_helper_store_get_erase(void **state)
{
    (void)state;
    char *u = NULL, *p = NULL;
    char *mine = creds_path();
    unlink(mine); /* left by the tests before */
    install_helpers();
    write_docker("{\"credsStore\":\"fake\",\"auths\":{\"reg:5000\":{}}}");
    char *h = creds_helper_for("reg:5000");
    assert_string_equal(h, "fake");
    free(h);
    /* nothing stored yet: the helper says so, the empty auths entry adds nothing */
    assert_int_equal(creds_lookup(&u, &p, "reg:5000"), BERR_NOT_FOUND);
    assert_non_null(strstr(helper_log(), "get reg:5000\n"));

    /* login: into the helper, not into Berth's file */
    assert_int_equal(creds_store("reg:5000", "alice", "s3:cret"), 0);
    assert_non_null(strstr(helper_log(), "store reg:5000\n"));
    assert_int_not_equal(access(mine, F_OK), 0);
    assert_int_equal(creds_lookup(&u, &p, "reg:5000"), 0);
    assert_string_equal(u, "alice");
    assert_string_equal(p, "s3:cret");
    free(u);
    free(p);

    /* logout erases it from the helper */
    assert_int_equal(creds_erase("reg:5000"), 0);
    assert_non_null(strstr(helper_log(), "erase reg:5000\n"));
    assert_int_equal(creds_lookup(&u, &p, "reg:5000"), BERR_NOT_FOUND);
    assert_int_equal(creds_erase("reg:5000"), BERR_NOT_FOUND);

    /* an entry of Berth's own file is found first, and a login through the
     * helper removes it (it would shadow the helper) */
    write_docker("{}");
    assert_int_equal(creds_store("reg:5000", "old", "x"), 0);
    write_docker("{\"credsStore\":\"fake\"}");
    assert_int_equal(creds_lookup(&u, &p, "reg:5000"), 0);
    assert_string_equal(u, "old");
    free(u);
    free(p);
    assert_int_equal(creds_store("reg:5000", "new", "y"), 0);
    assert_int_equal(creds_lookup(&u, &p, "reg:5000"), 0);
    assert_string_equal(u, "new");
    free(u);
    free(p);
    /* Docker Hub goes by the URL docker login uses */
    assert_int_equal(creds_store("docker.io", "hub", "z"), 0);
    assert_non_null(strstr(helper_log(), "store https://index.docker.io/v1/\n"));
    free(mine);
}

static void test_helper_choice_and_failures(void **state)
{
    (void)state;
    char *u = NULL, *p = NULL;
    install_helpers();
    /* credHelpers wins over credsStore for its host */
    write_docker("{\"credsStore\":\"missing\",\"credHelpers\":{\"reg:5000\":\"fake\","
                 "\"https://bad.example/v1/\":\"broken\",\"junk.example\":\"garbage\","
                 "\"evil.example\":\"../../bin/sh\"},"
                 "\"auths\":{\"other\":{\"auth\":\"Ym9iOnNlY3JldA==\"},"
                 "\"bad.example\":{\"auth\":\"Ym9iOnNlY3JldA==\"}}}");
    assert_int_equal(creds_store("reg:5000", "alice", "pw"), 0);
    assert_int_equal(creds_lookup(&u, &p, "reg:5000"), 0);
    assert_string_equal(u, "alice");
    free(u);
    free(p);
    /* credsStore names a helper that is not on PATH: a warning, then auths */
    assert_int_equal(creds_lookup(&u, &p, "other"), 0);
    assert_string_equal(u, "bob");
    free(u);
    free(p);
    assert_int_equal(creds_store("other", "x", "y"), BERR_CONFIG);
    assert_non_null(strstr(berr_message(), "docker-credential-missing is not on PATH"));
    /* a failing helper: lookups go on to auths, login reports its message */
    assert_int_equal(creds_lookup(&u, &p, "bad.example"), 0);
    assert_string_equal(u, "bob");
    free(u);
    free(p);
    assert_int_equal(creds_store("bad.example", "x", "y"), BERR_CONFIG);
    assert_non_null(strstr(berr_message(), "keychain is locked"));
    assert_int_equal(creds_erase("bad.example"), BERR_CONFIG);
    /* garbage output */
    assert_int_equal(creds_lookup(&u, &p, "junk.example"), BERR_NOT_FOUND);
    /* a name that is not a plain program name is never run */
    assert_int_equal(creds_store("evil.example", "x", "y"), BERR_CONFIG);
    assert_non_null(strstr(berr_message(), "invalid credential helper name"));

    /* an identity token is not a password */
    char *tok = xasprintf("%s/helper/tok_example", dir);
    FILE *f = fopen(tok, "w");
    assert_non_null(f);
    fputs("{\"ServerURL\":\"tok.example\",\"Username\":\"<token>\",\"Secret\":\"refresh\"}", f);
    fclose(f);
    free(tok);
    write_docker("{\"credsStore\":\"fake\"}");
    assert_int_equal(creds_lookup(&u, &p, "tok.example"), BERR_NOT_FOUND);
    assert_non_null(strstr(helper_log(), "get tok.example\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_lookup_erase),
        cmocka_unit_test(test_docker_config),
        cmocka_unit_test(test_helper_store_get_erase),
        cmocka_unit_test(test_helper_choice_and_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
