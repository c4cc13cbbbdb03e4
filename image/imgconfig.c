/*
 * imgconfig.c - parse an image configuration (see imgconfig.h) with jansson.
 * Wrong types are errors, not silently ignored: a config whose Cmd is not an
 * array of strings would otherwise run the wrong program.
 */
#include "image/imgconfig.h"

#include "image/base/strlist.h"
#include "image/base/err.h"
#include "image/base/xalloc.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static int get_str(char **out, json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return berr_set(BERR_INVALID, "image config: %s is not a string", key);
    *out = xstrdup(json_string_value(v));
    return 0;
}

static int get_strv(char ***out, json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return berr_set(BERR_INVALID, "image config: %s is not an array", key);
    size_t n = json_array_size(v);
    char **arr = xcalloc(n + 1, sizeof(*arr));
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(v, i));
        if (!s) {
            strlist_free(arr);
            return berr_set(BERR_INVALID, "image config: %s[%zu] is not a string", key, i);
        }
        arr[i] = xstrdup(s);
    }
    *out = arr;
    return 0;
}

/* rootfs.diff_ids as strings. Lenient on purpose (a non-string entry becomes
 * "", anything but an array means none): `inspect` shows any config, and the
 * one user that relies on them, layer verification, refuses what is not a
 * digest and a count that is not the layer count. */
static void get_diff_ids(struct imgconfig *out, json_t *root)
{
    json_t *ids = json_object_get(json_object_get(root, "rootfs"), "diff_ids");
    if (!json_is_array(ids))
        return;
    size_t n = json_array_size(ids);
    out->diff_ids = xcalloc(n + 1, sizeof(*out->diff_ids));
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(ids, i));
        out->diff_ids[i] = xstrdup(s ? s : "");
    }
    out->n_diff_ids = n;
}

int imgconfig_parse(struct imgconfig *out, const char *data, size_t len)
{
    json_error_t jerr;
    memset(out, 0, sizeof(*out));
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = berr_set(BERR_INVALID, "image config is not a JSON object: %s", jerr.text);
        goto cleanup;
    }
    json_t *cfg = json_object_get(root, "config");
    if (cfg && !json_is_null(cfg) && !json_is_object(cfg)) {
        rc = berr_set(BERR_INVALID, "image config: config is not an object");
        goto cleanup;
    }
    rc = get_str(&out->os, root, "os");
    if (rc == 0)
        rc = get_str(&out->architecture, root, "architecture");
    if (rc == 0)
        rc = get_str(&out->variant, root, "variant");
    if (rc == 0)
        rc = get_str(&out->created, root, "created");
    if (rc == 0 && json_is_object(cfg)) {
        rc = get_strv(&out->entrypoint, cfg, "Entrypoint");
        if (rc == 0)
            rc = get_strv(&out->cmd, cfg, "Cmd");
        if (rc == 0)
            rc = get_strv(&out->env, cfg, "Env");
        if (rc == 0)
            rc = get_str(&out->working_dir, cfg, "WorkingDir");
        if (rc == 0)
            rc = get_str(&out->user, cfg, "User");
    }
    if (rc == 0)
        get_diff_ids(out, root);
cleanup:
    json_decref(root);
    if (rc < 0)
        imgconfig_release(out);
    return rc;
}

void imgconfig_release(struct imgconfig *c)
{
    free(c->os);
    free(c->architecture);
    free(c->variant);
    free(c->created);
    strlist_free(c->entrypoint);
    strlist_free(c->cmd);
    strlist_free(c->env);
    free(c->working_dir);
    free(c->user);
    strlist_free(c->diff_ids);
    memset(c, 0, sizeof(*c));
}
