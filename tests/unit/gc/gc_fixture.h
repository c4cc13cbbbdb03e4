/*
 * gc_fixture.h - a registry store for the gc tests: a temp directory with
 * the fs driver (or a caller's driver), a real metadb, an upload manager,
 * and helpers that push blobs and manifests through the same functions the
 * server uses (upload_finish, meta_manifest_put).
 *
 * Header-only (static inline) so every test binary stays standalone.
 * Times: rows get the real clock; tests make them "old" by running the
 * collector with opt.now in the future (fx_opts).
 */
#ifndef BERTH_TEST_GC_FIXTURE_H
#define BERTH_TEST_GC_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gc/gc.h"
#include "image/base/err.h"
#include "image/base/xalloc.h"
#include "image/digest.h"
#include "storage/blobstore.h"
#include "storage/metadb.h"
#include "storage/metadb_gc.h"
#include "storage/paths.h"
#include "storage/upload.h"

#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_INDEX    "application/vnd.oci.image.index.v1+json"

struct fx {
    char *dir;
    char *root; /* driver root: dir/data */
    struct driver *drv;
    struct blobstore *bs;
    struct metadb *db;
    struct upload_mgr *m;
    struct gc_store st;
};

static inline int fx_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Open the stack on fx->dir; drv (taken) replaces the fs driver when non-NULL. */
static inline void fx_open(struct fx *fx, struct driver *drv)
{
    char *dbpath = xasprintf("%s/metadata.db", fx->dir);
    if (drv != NULL)
        fx->drv = drv;
    else
        assert_int_equal(driver_fs_new(&fx->drv, fx->root), 0);
    assert_int_equal(blobstore_new(&fx->bs, fx->drv), 0);
    assert_int_equal(metadb_open(&fx->db, dbpath), 0);
    assert_int_equal(upload_mgr_new(&fx->m, fx->bs, fx->db), 0);
    fx->st = (struct gc_store){fx->bs, fx->db, fx->m};
    free(dbpath);
}

static inline void fx_close(struct fx *fx)
{
    upload_mgr_free(fx->m);
    metadb_free(fx->db);
    blobstore_free(fx->bs);
    driver_free(fx->drv);
    fx->m = NULL;
    fx->db = NULL;
    fx->bs = NULL;
    fx->drv = NULL;
}

static inline struct fx *fx_new(void)
{
    struct fx *fx = xcalloc(1, sizeof(*fx));
    fx->dir = xstrdup("/tmp/berth-test-gc-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fx->root = xasprintf("%s/data", fx->dir);
    fx_open(fx, NULL);
    return fx;
}

static inline void fx_free(struct fx *fx)
{
    if (fx == NULL)
        return;
    fx_close(fx);
    nftw(fx->dir, fx_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx->root);
    free(fx->dir);
    free(fx);
}

static inline int fx_setup(void **state)
{
    *state = fx_new();
    return 0;
}

static inline int fx_teardown(void **state)
{
    fx_free(*state);
    return 0;
}

/* Options for a collection that sees everything as older than the grace. */
static inline struct gc_options fx_opts(void)
{
    struct gc_options o;
    gc_options_init(&o);
    o.grace = 0;
    o.batch = 3; /* several transactions even for small sets */
    o.now = (int64_t)time(NULL) + 10;
    o.upload_expiry = -1;
    o.per_repo = 1;
    return o;
}

static inline struct gc_report fx_gc(struct fx *fx, const struct gc_options *o)
{
    struct gc_report r;
    int rc = gc_run(&r, &fx->st, o);
    if (rc != 0)
        fail_msg("gc_run: %d %s", rc, berr_message());
    return r;
}

/* Copy a digest that was passed around by value (its `hex` pointer is not
 * trusted; digest_copy would follow it). */
static inline void fx_dcopy(struct digest *out, const struct digest *in)
{
    assert_int_equal(digest_parse_cstr(out, in->str), 0);
}

/* Upload `data` into repo through an upload session (the server's path). */
static inline struct digest fx_blob(struct fx *fx, const char *repo, const char *data)
{
    struct upload *u;
    struct digest d;
    digest_of(&d, DIGEST_SHA256, data, strlen(data));
    assert_int_equal(upload_open_ephemeral(fx->m, repo, DIGEST_SHA256, &u), 0);
    assert_int_equal(upload_write(u, data, strlen(data)), 0);
    int rc = upload_finish(u, &d, (int64_t)strlen(data));
    if (rc != 0)
        fail_msg("upload_finish: %s", berr_message());
    return d;
}

/* Push a manifest (a unique payload) referencing blobs / children, with an
 * optional tag and subject. Returns its digest. */
static inline struct digest fx_manifest_rc(struct fx *fx, int *rc_out, const char *repo,
                                           const char *tag, const struct digest *blobs, size_t nb,
                                           const struct digest *children, size_t nc,
                                           const struct digest *subject)
{
    static int counter;
    char payload[256];
    struct digest d;
    snprintf(payload, sizeof(payload), "{\"test\":%d,\"repo\":\"%s\",\"pid\":%d}", counter++, repo,
             (int)getpid());
    digest_of(&d, DIGEST_SHA256, payload, strlen(payload));
    struct meta_manifest_put p = {
        .repo = repo,
        .digest = &d,
        .media_type = nc ? MT_INDEX : MT_MANIFEST,
        .payload = payload,
        .payload_len = strlen(payload),
        .subject = subject ? subject->str : NULL,
        .tag = tag,
        .blobs = blobs,
        .n_blobs = nb,
        .children = children,
        .n_children = nc,
    };
    *rc_out = meta_manifest_put(fx->db, &p);
    return d;
}

static inline struct digest fx_manifest(struct fx *fx, const char *repo, const char *tag,
                                        const struct digest *blobs, size_t nb,
                                        const struct digest *children, size_t nc,
                                        const struct digest *subject)
{
    int rc;
    struct digest d = fx_manifest_rc(fx, &rc, repo, tag, blobs, nb, children, nc, subject);
    if (rc != 0)
        fail_msg("meta_manifest_put: %s", berr_message());
    return d;
}

/* Re-tag an existing manifest (re-push of the same bytes). */
static inline void fx_tag(struct fx *fx, const char *repo, const char *tag, const struct digest *d)
{
    struct meta_manifest m;
    if (meta_manifest_get(fx->db, repo, d->str, 1, &m) != 0)
        fail_msg("meta_manifest_get %s: %s", d->str, berr_message());
    struct meta_manifest_put p = {
        .repo = repo,
        .digest = d,
        .media_type = m.media_type,
        .payload = m.payload,
        .payload_len = m.payload_len,
        .tag = tag,
    };
    assert_int_equal(meta_manifest_put(fx->db, &p), 0);
    meta_manifest_release(&m);
}

static inline int fx_has_manifest(struct fx *fx, const char *repo, const struct digest *d)
{
    struct meta_manifest m;
    int rc = meta_manifest_head(fx->db, repo, d->str, 1, &m);
    meta_manifest_release(&m);
    if (rc == BERR_MANIFEST_UNKNOWN)
        return 0;
    assert_int_equal(rc, 0);
    return 1;
}

/* 1 when blob d has a row and its file holds exactly `data`. */
static inline int fx_blob_intact(struct fx *fx, const struct digest *d, const char *data)
{
    int64_t size = -1;
    struct driver_reader *rd = NULL;
    char buf[4096];
    size_t n = 0;
    if (meta_blob_row(fx->db, d->str, &size) != 1 || size != (int64_t)strlen(data))
        return 0;
    if (blobstore_open_read(fx->bs, d, &rd) != 0)
        return 0;
    int rc = driver_reader_read_at(rd, 0, buf, sizeof(buf), &n);
    driver_reader_free(rd);
    return rc == 0 && n == strlen(data) && memcmp(buf, data, n) == 0;
}

/* 1 when blob d has neither row nor file. */
static inline int fx_blob_gone(struct fx *fx, const struct digest *d)
{
    int64_t size;
    int row = meta_blob_row(fx->db, d->str, NULL);
    int rc = blobstore_stat(fx->bs, d, &size);
    if (rc != 0)
        berr_clear();
    return row == 0 && rc == BERR_BLOB_UNKNOWN;
}

static inline int fx_linked(struct fx *fx, const char *repo, const struct digest *d)
{
    int64_t size;
    int rc = meta_blob_get(fx->db, repo, d, &size);
    if (rc != 0)
        berr_clear();
    return rc == 0;
}

static inline int fx_count_cb(void *ctx, const char *key, const struct digest *d,
                              const struct driver_stat *st)
{
    (void)key;
    (void)d;
    (void)st;
    (*(int *)ctx)++;
    return 0;
}

static inline int fx_trash_count(struct fx *fx)
{
    int n = 0;
    assert_int_equal(blobstore_walk_trash(fx->bs, fx_count_cb, &n), 0);
    return n;
}

static inline int fx_file_count(struct fx *fx)
{
    int n = 0;
    assert_int_equal(blobstore_walk(fx->bs, fx_count_cb, &n), 0);
    return n;
}

/* Rows whose file is not under blobs/ with the row's size. */
static inline int fx_rows_without_file(struct fx *fx)
{
    struct meta_blob_row rows[64];
    char after[DIGEST_MAX_STR] = "";
    size_t n;
    int bad = 0;
    for (;;) {
        assert_int_equal(meta_blob_rows(fx->db, after, 64, rows, &n), 0);
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            struct digest d;
            int64_t size = -1;
            assert_int_equal(digest_parse_cstr(&d, rows[i].digest), 0);
            if (blobstore_stat(fx->bs, &d, &size) != 0 || size != rows[i].size)
                bad++;
        }
        snprintf(after, sizeof(after), "%s", rows[n - 1].digest);
    }
    return bad;
}

static inline int fx_row_count(struct fx *fx)
{
    struct meta_blob_row rows[64];
    char after[DIGEST_MAX_STR] = "";
    size_t n;
    int total = 0;
    for (;;) {
        assert_int_equal(meta_blob_rows(fx->db, after, 64, rows, &n), 0);
        if (n == 0)
            break;
        total += (int)n;
        snprintf(after, sizeof(after), "%s", rows[n - 1].digest);
    }
    return total;
}

#endif
