/*
 * prune.c - mark and sweep of the local store (see prune.h).
 *
 * Invariants: the mark is complete before the first removal (a manifest that
 * cannot be read stops the prune with nothing removed); removals happen only
 * under the exclusive store lock, which every process adding to the store or
 * relying on its content holds shared, so nothing a live process wrote or
 * reads can be reached by the sweep. Names found on disk become paths only
 * after they were checked (a digest's hex, a known temporary prefix).
 */
#include "client/prune.h"

#include "client/store.h"
#include "client/unpack.h"
#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"
#include "image/layout.h"
#include "image/manifest.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRUNE_MANIFEST_MAX (4u << 20)
#define PRUNE_DEPTH_MAX    4 /* index -> index -> manifest is already unusual */

/* A set of digest strings: a sorted array (stores hold thousands at most). */
struct dset {
    char **v;
    size_t n;
    size_t cap;
};

/* Position of s in the set, or where it would go; *found says which. */
static size_t dset_find(const struct dset *ds, const char *s, int *found)
{
    size_t lo = 0, hi = ds->n;
    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ds->v[mid], s);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Add s; returns 1 when it was new, 0 when already there. */
static int dset_add(struct dset *ds, const char *s)
{
    int found;
    size_t at = dset_find(ds, s, &found);
    if (found)
        return 0;
    if (ds->n == ds->cap) {
        ds->cap = ds->cap ? ds->cap * 2 : 64;
        ds->v = xrealloc(ds->v, ds->cap * sizeof(*ds->v));
    }
    memmove(ds->v + at + 1, ds->v + at, (ds->n - at) * sizeof(*ds->v));
    ds->v[at] = xstrdup(s);
    ds->n++;
    return 1;
}

static int dset_has(const struct dset *ds, const char *s)
{
    int found;
    dset_find(ds, s, &found);
    return found;
}

static void dset_release(struct dset *ds)
{
    for (size_t i = 0; i < ds->n; i++)
        free(ds->v[i]);
    free(ds->v);
    memset(ds, 0, sizeof(*ds));
}

/* Mark d and, when it is a manifest in the store, what it references. */
static int mark(struct dset *live, struct store *s, const struct descriptor *d, int depth)
{
    if (!dset_add(live, d->digest.str))
        return 0; /* seen before, with all it reaches */
    enum mt_kind kind = mediatype_kind(d->media_type);
    if (kind != MT_KIND_IMAGE && kind != MT_KIND_INDEX)
        return 0;
    char *data = NULL;
    size_t len = 0;
    struct manifest *m = NULL;
    int rc = layout_blob_read(&data, &len, s->layout, &d->digest, PRUNE_MANIFEST_MAX);
    if (rc == BERR_BLOB_UNKNOWN) {
        berr_clear();
        return 0; /* not here (a platform never pulled): it keeps nothing alive */
    }
    if (rc == 0)
        rc = manifest_parse(&m, data, len, d->media_type);
    if (rc < 0) {
        char why[300];
        snprintf(why, sizeof(why), "%s", berr_message());
        rc = berr_set(rc, "cannot prune: manifest %s: %s; nothing was removed", d->digest.str, why);
        goto cleanup;
    }
    if (m->kind == MT_KIND_INDEX) {
        if (depth >= PRUNE_DEPTH_MAX) {
            rc = berr_set(BERR_UNSUPPORTED,
                          "cannot prune: index %s nests too deep; nothing was removed",
                          d->digest.str);
            goto cleanup;
        }
        for (size_t i = 0; rc == 0 && i < m->n_manifests; i++)
            rc = mark(live, s, &m->manifests[i], depth + 1);
    } else {
        if (m->has_config)
            dset_add(live, m->config.digest.str);
        for (size_t i = 0; i < m->n_layers; i++)
            dset_add(live, m->layers[i].digest.str);
    }
cleanup:
    manifest_free(m);
    free(data);
    return rc;
}

/* A blob the sweep will remove. */
struct dead {
    struct digest digest;
    int64_t size;
};

struct sweep {
    const struct dset *live;
    struct dead *v;
    size_t n;
    size_t cap;
};

static int collect_dead(void *ctx, const struct layout_blob_info *b)
{
    struct sweep *sw = ctx;
    if (dset_has(sw->live, b->digest.str))
        return 0;
    if (sw->n == sw->cap) {
        sw->cap = sw->cap ? sw->cap * 2 : 64;
        sw->v = xrealloc(sw->v, sw->cap * sizeof(*sw->v));
    }
    digest_copy(&sw->v[sw->n].digest, &b->digest);
    sw->v[sw->n].size = b->size;
    sw->n++;
    return 0;
}

/* 1 when name is n lowercase hex digits followed by NUL or ".tmp.". */
static int hex_name(const char *name, int *is_tmp)
{
    size_t n = strspn(name, "0123456789abcdef");
    *is_tmp = 0;
    if (n != 64 && n != 128)
        return 0;
    if (name[n] == '\0')
        return 1;
    if (strncmp(name + n, ".tmp.", 5) == 0) {
        *is_tmp = 1;
        return 1;
    }
    return 0;
}

/* Remove rootfs/<hex> of manifests no entry names, and rootfs/<hex>.tmp.*
 * (unpacks killed half-way). */
static int sweep_rootfs(struct prune_report *r, struct store *s, const struct dset *tagged)
{
    char *top = store_path(s, "rootfs");
    DIR *dir = opendir(top);
    int rc = 0;
    if (!dir) {
        if (errno != ENOENT)
            rc = berr_set(BERR_IO, "cannot read '%s': %s", top, strerror(errno));
        free(top);
        return rc;
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(dir);
        if (!de) {
            if (errno)
                rc = berr_set(BERR_IO, "cannot read '%s': %s", top, strerror(errno));
            break;
        }
        int is_tmp;
        if (!hex_name(de->d_name, &is_tmp))
            continue;
        if (!is_tmp && dset_has(tagged, de->d_name))
            continue;
        char *path = xasprintf("%s/%s", top, de->d_name);
        rc = unpack_remove_tree(path);
        free(path);
        if (rc < 0)
            break;
        if (is_tmp)
            r->leftovers++;
        else
            r->rootfs++;
    }
    closedir(dir);
    free(top);
    return rc;
}

/* Remove $BERTH_HOME/tmp-push-* (pushes of an archive killed half-way). */
static int sweep_push_tmp(struct prune_report *r, struct store *s)
{
    DIR *dir = opendir(s->home);
    int rc = 0;
    if (!dir)
        return berr_set(BERR_IO, "cannot read '%s': %s", s->home, strerror(errno));
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(dir);
        if (!de) {
            if (errno)
                rc = berr_set(BERR_IO, "cannot read '%s': %s", s->home, strerror(errno));
            break;
        }
        if (strncmp(de->d_name, "tmp-push-", 9) != 0 || !de->d_name[9] || strchr(de->d_name, '/'))
            continue;
        char *path = store_path(s, de->d_name);
        rc = unpack_remove_tree(path);
        free(path);
        if (rc < 0)
            break;
        r->leftovers++;
    }
    closedir(dir);
    return rc;
}

int prune_store(struct prune_report *out, struct store *s, prune_blob_fn on_blob, void *ctx)
{
    struct layout_entry *e = NULL;
    size_t n = 0;
    struct dset live = {0};
    struct dset tagged = {0}; /* hex of what entries name: their rootfs stays */
    struct sweep sw = {0};
    memset(out, 0, sizeof(*out));
    int rc = store_lock(s, 1);
    if (rc == 0)
        rc = layout_entries(&e, &n, s->layout);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        dset_add(&tagged, e[i].desc.digest.hex);
        rc = mark(&live, s, &e[i].desc, 0);
    }
    if (rc < 0)
        goto cleanup;
    sw.live = &live;
    rc = layout_blob_walk(s->layout, collect_dead, &sw);
    for (size_t i = 0; rc == 0 && i < sw.n; i++) {
        rc = layout_blob_remove(s->layout, &sw.v[i].digest);
        if (rc == BERR_BLOB_UNKNOWN) {
            rc = 0; /* gone already */
            continue;
        }
        if (rc < 0)
            break;
        log_debug("removed blob %s", sw.v[i].digest.str);
        out->blobs++;
        out->blob_bytes += sw.v[i].size;
        if (on_blob)
            on_blob(ctx, &sw.v[i].digest, sw.v[i].size);
    }
    if (rc == 0)
        rc = sweep_rootfs(out, s, &tagged);
    if (rc == 0) {
        /* no writer is active under the exclusive lock: any age will do */
        size_t files = 0;
        rc = layout_tmp_clean(&files, NULL, s->layout, 0);
        out->leftovers += files;
    }
    if (rc == 0)
        rc = sweep_push_tmp(out, s);
cleanup:
    free(sw.v);
    dset_release(&live);
    dset_release(&tagged);
    layout_entries_free(e, n);
    return rc;
}
