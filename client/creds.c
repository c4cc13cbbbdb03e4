/*
 * creds.c - read and write registry credential files (see creds.h).
 *
 * Writes go to a temporary file created 0600 in the same directory, then
 * rename(): a reader never sees a half-written file and the secret is never
 * readable by others, even for a moment. Passwords are never logged.
 */
#include "client/creds.h"

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

static int lookup_in(char **user_out, char **pass_out, const char *path, const char *host)
{
    json_t *root = NULL;
    char *dec = NULL;
    int rc = load_json(&root, path);
    if (rc < 0 || !root)
        return rc < 0 ? rc : BERR_NOT_FOUND;
    rc = BERR_NOT_FOUND;
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
    if (json_object_get(root, "credsStore") || json_object_get(root, "credHelpers"))
        log_debug("credential helpers in '%s' are not supported", path);
cleanup:
    if (dec) {
        explicit_bzero(dec, strlen(dec));
        free(dec);
    }
    json_decref(root);
    return rc;
}

int creds_lookup(char **user_out, char **pass_out, const char *host)
{
    char *mine = creds_path();
    char *docker = docker_config_path();
    int rc = lookup_in(user_out, pass_out, mine, host);
    if (rc == BERR_NOT_FOUND)
        rc = lookup_in(user_out, pass_out, docker, host);
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

int creds_store(const char *host, const char *user, const char *pass)
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

int creds_erase(const char *host)
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
