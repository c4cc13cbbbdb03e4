/*
 * creds.c - read and write registry credentials (see creds.h).
 *
 * Writes go to a temporary file created 0600 in the same directory, then
 * rename(): a reader never sees a half-written file and the secret is never
 * readable by others, even for a moment. Passwords are never logged.
 * Credential helpers named by Docker's config.json are run by credhelper.c;
 * a helper that fails is reported as a warning on lookup (the request goes
 * on without its credentials) and as an error on login and logout.
 */
#include "client/creds.h"

#include "client/credhelper.h"
#include "image/b64.h"
#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *home_dir(void)
{
    const char *h = getenv("HOME");
    return h && *h ? h : "/";
}

char *creds_path(void)
{
    const char *f = getenv("BERTH_AUTH_FILE");
    if (f && *f)
        return xstrdup(f);
    const char *x = getenv("XDG_CONFIG_HOME");
    if (x && *x)
        return xasprintf("%s/berth/auth.json", x);
    return xasprintf("%s/.config/berth/auth.json", home_dir());
}

static char *docker_config_path(void)
{
    const char *d = getenv("DOCKER_CONFIG");
    if (d && *d)
        return xasprintf("%s/config.json", d);
    return xasprintf("%s/.docker/config.json", home_dir());
}

/* "https://host:5000/v1/" -> compares its host part with host. */
static int key_matches(const char *key, const char *host)
{
    const char *k = key;
    const char *sep = strstr(k, "://");
    if (sep)
        k = sep + 3;
    size_t klen = strcspn(k, "/");
    if (strlen(host) == klen && strncmp(k, host, klen) == 0)
        return 1;
    /* Docker Hub is stored under index.docker.io */
    if (klen == 15 && strncmp(k, "index.docker.io", 15) == 0)
        return strcmp(host, "docker.io") == 0 || strcmp(host, "registry-1.docker.io") == 0;
    return 0;
}

/* Load a JSON file; *out NULL when the file does not exist. */
static int load_json(json_t **out, const char *path)
{
    json_error_t jerr;
    *out = NULL;
    if (access(path, F_OK) != 0)
        return 0;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return berr_set(BERR_CONFIG, "malformed credential file '%s': %s", path, jerr.text);
    }
    *out = root;
    return 0;
}

/* Look host up in the "auths" of a loaded credential file (path names it
 * in messages). */
static int lookup_auths(char **user_out, char **pass_out, json_t *root, const char *path,
                        const char *host)
{
    char *dec = NULL;
    int rc = BERR_NOT_FOUND;
    json_t *auths = json_object_get(root, "auths");
    const char *key;
    json_t *ent;
    json_object_foreach(auths, key, ent)
    {
        if (!key_matches(key, host))
            continue;
        const char *u = json_string_value(json_object_get(ent, "username"));
        const char *p = json_string_value(json_object_get(ent, "password"));
        const char *a = json_string_value(json_object_get(ent, "auth"));
        if (a && *a) {
            size_t n;
            if (b64_decode_str(&dec, &n, a) < 0 || !strchr(dec, ':')) {
                rc = berr_set(BERR_CONFIG, "malformed \"auth\" for '%s' in '%s'", key, path);
                goto cleanup;
            }
            char *colon = strchr(dec, ':');
            *user_out = xstrndup(dec, (size_t)(colon - dec));
            *pass_out = xstrdup(colon + 1);
            rc = 0;
            goto cleanup;
        }
        if (u && p) {
            *user_out = xstrdup(u);
            *pass_out = xstrdup(p);
            rc = 0;
            goto cleanup;
        }
    }
cleanup:
    if (dec) {
        explicit_bzero(dec, strlen(dec));
        free(dec);
    }
    return rc;
}

/* The credential helper that Docker's config `root` names for host:
 * credHelpers[host], else credsStore, else NULL. Owned by root. */
static const char *helper_in(json_t *root, const char *host)
{
    json_t *helpers = json_object_get(root, "credHelpers");
    const char *key;
    json_t *v;
    json_object_foreach(helpers, key, v)
    {
        const char *name = json_string_value(v);
        if (name && *name && key_matches(key, host))
            return name;
    }
    const char *store = json_string_value(json_object_get(root, "credsStore"));
    return store && *store ? store : NULL;
}

char *creds_helper_for(const char *host)
{
    char *path = docker_config_path();
    json_t *root = NULL;
    char *name = NULL;
    if (load_json(&root, path) < 0)
        log_warn("%s", berr_message());
    const char *h = root ? helper_in(root, host) : NULL;
    if (h)
        name = xstrdup(h);
    json_decref(root);
    free(path);
    return name;
}

/* Look host up in Docker's config: its credential helper for host, then its
 * "auths". */
static int lookup_docker(char **user_out, char **pass_out, const char *path, const char *host)
{
    json_t *root = NULL;
    int rc = load_json(&root, path);
    if (rc < 0 || !root)
        return rc < 0 ? rc : BERR_NOT_FOUND;
    const char *helper = helper_in(root, host);
    rc = BERR_NOT_FOUND;
    if (helper) {
        char *url = credhelper_server_url(host);
        rc = credhelper_get(user_out, pass_out, helper, url);
        if (rc == BERR_CONFIG) {
            log_warn("%s", berr_message());
            rc = BERR_NOT_FOUND;
        }
        free(url);
    }
    if (rc == BERR_NOT_FOUND)
        rc = lookup_auths(user_out, pass_out, root, path, host);
    json_decref(root);
    return rc;
}

int creds_lookup(char **user_out, char **pass_out, const char *host)
{
    char *mine = creds_path();
    char *docker = docker_config_path();
    json_t *root = NULL;
    int rc = load_json(&root, mine);
    if (rc == 0)
        rc = root ? lookup_auths(user_out, pass_out, root, mine, host) : BERR_NOT_FOUND;
    json_decref(root);
    if (rc == BERR_NOT_FOUND)
        rc = lookup_docker(user_out, pass_out, docker, host);
    free(mine);
    free(docker);
    return rc;
}

/* mkdir -p the directory part of path with mode 0700. */
static int make_parent(const char *path)
{
    char *dir = xstrdup(path);
    int rc = 0;
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
            rc = berr_set(BERR_IO, "cannot create '%s': %s", dir, strerror(errno));
            break;
        }
        *p = '/';
    }
    free(dir);
    return rc;
}

static int save_json(const char *path, json_t *root)
{
    char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    char *text = NULL;
    int fd = -1;
    int rc = make_parent(path);
    if (rc < 0)
        goto cleanup;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        rc = berr_set(BERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
        goto cleanup;
    }
    text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    size_t len = strlen(text);
    if (fchmod(fd, 0600) < 0 || write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 ||
        fsync(fd) < 0) {
        rc = berr_set(BERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
        goto cleanup;
    }
    if (close(fd) < 0) {
        fd = -1;
        rc = berr_set(BERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
        goto cleanup;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        rc = berr_set(BERR_IO, "cannot replace '%s': %s", path, strerror(errno));
        goto cleanup;
    }
cleanup:
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        unlink(tmp);
    if (text) {
        explicit_bzero(text, strlen(text));
        free(text);
    }
    free(tmp);
    return rc;
}

/* Store in Berth's own file. */
static int file_store(const char *host, const char *user, const char *pass)
{
    char *path = creds_path();
    json_t *root = NULL;
    char *pair = xasprintf("%s:%s", user, pass);
    char *enc = b64_encode_str(pair, strlen(pair));
    int rc = load_json(&root, path);
    if (rc < 0)
        goto cleanup;
    if (!root)
        root = json_object();
    json_t *auths = json_object_get(root, "auths");
    if (!json_is_object(auths)) {
        auths = json_object();
        json_object_set_new(root, "auths", auths);
    }
    json_object_set_new(auths, host, json_pack("{s:s}", "auth", enc));
    rc = save_json(path, root);
cleanup:
    explicit_bzero(pair, strlen(pair));
    explicit_bzero(enc, strlen(enc));
    free(pair);
    free(enc);
    json_decref(root);
    free(path);
    return rc;
}

/* Remove host from Berth's own file. */
static int file_erase(const char *host)
{
    char *path = creds_path();
    json_t *root = NULL;
    int rc = load_json(&root, path);
    if (rc < 0)
        goto cleanup;
    json_t *auths = root ? json_object_get(root, "auths") : NULL;
    if (!auths || json_object_del(auths, host) < 0) {
        rc = berr_set(BERR_NOT_FOUND, "not logged in to '%s'", host);
        goto cleanup;
    }
    rc = save_json(path, root);
cleanup:
    json_decref(root);
    free(path);
    return rc;
}

int creds_store(const char *host, const char *user, const char *pass)
{
    char *helper = creds_helper_for(host);
    if (!helper)
        return file_store(host, user, pass);
    char *url = credhelper_server_url(host);
    int rc = credhelper_store(helper, url, user, pass);
    if (rc == 0) {
        /* an older entry of our own would hide the helper's */
        int e = file_erase(host);
        if (e < 0 && e != BERR_NOT_FOUND)
            log_warn("%s", berr_message());
        berr_clear();
    }
    free(url);
    free(helper);
    return rc;
}

int creds_erase(const char *host)
{
    char *helper = creds_helper_for(host);
    int found = 0;
    int rc = 0;
    if (helper) {
        char *url = credhelper_server_url(host);
        rc = credhelper_erase(helper, url);
        free(url);
        if (rc == 0)
            found = 1;
        else if (rc != BERR_NOT_FOUND)
            goto cleanup;
    }
    rc = file_erase(host);
    if (rc == 0)
        found = 1;
    else if (rc != BERR_NOT_FOUND)
        goto cleanup;
    rc = found ? 0 : berr_set(BERR_NOT_FOUND, "not logged in to '%s'", host);
cleanup:
    free(helper);
    return rc;
}
