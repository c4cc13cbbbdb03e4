/*
 * sweep.c - the sweep phases: delete what the mark found, in short write
 * transactions, re-checking every candidate under the lock.
 *
 * Lock order (the one lock is SQLite's write lock, taken by meta_tx_begin,
 * meta_manifest_put and meta_blob_publish alike):
 *   BEGIN IMMEDIATE -> re-check + delete row(s) -> move each deleted blob's
 *   file to trash/ -> COMMIT -> (lock released) purge the trashed files.
 * A publisher of the same digest therefore either committed before the
 * re-check (the row is linked: kept) or starts after the COMMIT (the file is
 * gone: it puts its own in place). Nothing else than renames and unlinks of
 * blob files happens under the lock.
 *
 * Crash order: the row goes before the file. Killed before the COMMIT, the
 * rows are back (SQLite's journal) and the moved files sit in trash/:
 * gc_sweep_trash (every run's first step, and berthd's start-up) puts them
 * back because their rows exist. Killed after the COMMIT, trash/ holds files
 * without rows: the same step purges them. A row never exists without its
 * file, except between the move and the COMMIT of an uncommitted deletion.
 *
 * Each transaction handles at most opt->batch items and stops early after
 * GC_TX_BUDGET_MS, so a writer waits for the lock at most about that long.
 */
#include "gc/gc_int.h"

#include <stdlib.h>
#include <string.h>

#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"

/* ---- manifests and links: rows only --------------------------------------- */

static int collect_row(struct gc_run *g, struct meta_tx *tx, enum meta_gc_kind kind,
                       const struct meta_gc_item *it)
{
    if (kind == META_GC_MANIFEST)
        return meta_gc_manifest_collect(tx, it->id, &g->policy);
    return meta_gc_link_collect(tx, it->id, it->digest, &g->policy);
}

static void count_row(struct gc_run *g, enum meta_gc_kind kind, const struct meta_gc_item *it)
{
    if (kind == META_GC_MANIFEST) {
        g->rep->manifests++;
        g->rep->manifest_bytes += it->size;
        gc_repo_add(g, it->repo, 1, it->size, 0, 0);
    } else {
        g->rep->links++;
        g->rep->link_bytes += it->size;
        gc_repo_add(g, it->repo, 0, 0, 1, it->size);
    }
}

static int sweep_rows(struct gc_run *g, enum meta_gc_kind kind)
{
    size_t batch = (size_t)g->opt->batch;
    struct meta_gc_item *items = xcalloc(batch, sizeof(*items));
    unsigned char *deleted = xcalloc(batch, 1);
    int64_t after = 0;
    int rc = 0;
    while (!gc_cancelled(g)) {
        struct meta_tx *tx;
        size_t n = 0, done = 0;
        rc = meta_gc_candidates(g->st->db, kind, after, batch, items, &n);
        if (rc < 0 || n == 0)
            break;
        rc = meta_tx_begin(g->st->db, &tx);
        if (rc < 0)
            break;
        int64_t t0 = gc_now_ms();
        while (done < n) {
            int r = collect_row(g, tx, kind, &items[done]);
            if (r < 0) {
                rc = r;
                break;
            }
            deleted[done++] = (unsigned char)r;
            if (gc_now_ms() - t0 >= GC_TX_BUDGET_MS)
                break;
        }
        if (rc < 0) {
            meta_tx_rollback(tx);
            break;
        }
        rc = meta_tx_commit(tx);
        if (rc < 0)
            break;
        gc_tx_done(g, gc_now_ms() - t0);
        for (size_t i = 0; i < done; i++)
            if (deleted[i])
                count_row(g, kind, &items[i]);
        after = items[done - 1].seq;
        gc_hook(g, GC_POINT_COMMITTED, NULL);
    }
    free(deleted);
    free(items);
    return rc;
}

int gc_sweep_manifests(struct gc_run *g)
{
    return sweep_rows(g, META_GC_MANIFEST);
}

int gc_sweep_links(struct gc_run *g)
{
    return sweep_rows(g, META_GC_LINK);
}

/* ---- entries handled one by one under the lock ------------------------------ */

/* A file under trash/ (valid: d names the blob it holds) or under blobs/. */
struct entry {
    char key[PATHS_KEY_MAX];
    struct digest d;
    int valid;
    int64_t size;
};

struct entries {
    struct entry *v;
    size_t n, cap;
};

static struct entry *entries_push(struct entries *e)
{
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 64;
        e->v = xrealloc(e->v, e->cap * sizeof(*e->v));
        /* a digest's hex points into its own str: re-point the moved ones */
        for (size_t i = 0; i < e->n; i++)
            if (e->v[i].valid)
                e->v[i].d.hex = strchr(e->v[i].d.str, ':') + 1;
    }
    struct entry *x = &e->v[e->n++];
    memset(x, 0, sizeof(*x));
    return x;
}

/* Handle entry i under the lock; 0 or a BERR_* code (stops the run). */
typedef int (*entry_fn)(struct gc_run *g, struct entry *x);

/* Run fn over every entry, in write transactions of at most batch entries
 * and GC_TX_BUDGET_MS. Nothing fn does is undone by a rollback (renames and
 * unlinks whose correctness only needs the lock), so a failing transaction
 * just stops. */
static int locked_batches(struct gc_run *g, struct entries *e, entry_fn fn)
{
    size_t i = 0;
    int rc = 0;
    while (i < e->n && !gc_cancelled(g)) {
        struct meta_tx *tx;
        rc = meta_tx_begin(g->st->db, &tx);
        if (rc < 0)
            break;
        int64_t t0 = gc_now_ms();
        size_t end = i + (size_t)g->opt->batch;
        while (i < e->n && i < end) {
            rc = fn(g, &e->v[i++]);
            if (rc < 0 || gc_now_ms() - t0 >= GC_TX_BUDGET_MS)
                break;
        }
        if (rc < 0) {
            meta_tx_rollback(tx);
            break;
        }
        rc = meta_tx_commit(tx);
        if (rc < 0)
            break;
        gc_tx_done(g, gc_now_ms() - t0);
    }
    return rc;
}

/* ---- trash: recovery ---------------------------------------------------- */

/* Under the lock: a trashed file whose row exists goes back, any other is
 * removed. */
static int trash_one(struct gc_run *g, struct entry *x)
{
    int rc = 0;
    if (x->valid) {
        rc = meta_blob_row(g->st->db, x->d.str, NULL);
        if (rc < 0)
            return rc;
    }
    if (rc == 1) {
        rc = blobstore_restore(g->st->bs, x->key, &x->d);
        if (rc == 0) {
            g->rep->restored++;
            log_info("gc: blob %s put back from %s (its row exists)", x->d.str, x->key);
        }
    } else {
        rc = blobstore_purge(g->st->bs, x->key);
        if (rc == 0)
            g->rep->purged++;
    }
    if (rc == BERR_NOT_FOUND) { /* handled meanwhile by another collector */
        berr_clear();
        rc = 0;
    }
    return rc;
}

static int trash_walk(void *ctx, const char *key, const struct digest *d,
                      const struct driver_stat *st)
{
    struct entries *e = ctx;
    struct entry *x = entries_push(e);
    (void)st;
    snprintf(x->key, sizeof(x->key), "%s", key);
    if (d != NULL) {
        digest_copy(&x->d, d);
        x->valid = 1;
    }
    return 0;
}

int gc_sweep_trash(struct gc_run *g)
{
    struct entries e = {0};
    int rc = blobstore_walk_trash(g->st->bs, trash_walk, &e);
    if (rc == 0)
        rc = locked_batches(g, &e, trash_one);
    free(e.v);
    return rc;
}

/* ---- blobs: rows and files ------------------------------------------------ */

/* Put back (under the lock) the files a failed transaction moved aside. */
static void trash_undo(struct gc_run *g, struct entries *moved)
{
    for (size_t i = 0; i < moved->n; i++) {
        int rc = blobstore_restore(g->st->bs, moved->v[i].key, &moved->v[i].d);
        if (rc < 0 && rc != BERR_NOT_FOUND)
            log_warn("gc: cannot put back %s (the next run will): %s", moved->v[i].key,
                     berr_message());
    }
    moved->n = 0;
}

/* Collect one blob candidate inside tx: delete the row when it is still
 * garbage, then move its file aside. *gone = 1 when the row was deleted. */
static int blob_one(struct gc_run *g, struct meta_tx *tx, const struct meta_gc_item *it,
                    struct entries *moved, int *gone)
{
    struct digest d;
    *gone = 0;
    if (digest_parse_cstr(&d, it->digest) < 0) {
        log_warn("gc: blob row \"%s\" is not a digest; left alone", it->digest);
        berr_clear();
        return 0;
    }
    int r = meta_gc_blob_collect(tx, d.str, &g->policy);
    if (r <= 0)
        return r;
    *gone = 1;
    gc_hook(g, GC_POINT_BLOB_DELETED, &d);
    struct entry *x = entries_push(moved);
    digest_copy(&x->d, &d);
    x->valid = 1;
    x->size = it->size;
    int rc = blobstore_trash(g->st->bs, &d, x->key);
    if (rc == BERR_BLOB_UNKNOWN) {
        /* No file (fsck would call it missing): deleting the row repairs that. */
        log_warn("gc: blob %s had a row but no file", d.str);
        berr_clear();
        moved->n--;
        return 0;
    }
    if (rc < 0)
        return rc; /* x->key may hold the file (a rename whose fsync failed) */
    gc_hook(g, GC_POINT_BLOB_TRASHED, &d);
    return 0;
}

int gc_sweep_blobs(struct gc_run *g)
{
    size_t batch = (size_t)g->opt->batch;
    struct meta_gc_item *items = xcalloc(batch, sizeof(*items));
    unsigned char *gone = xcalloc(batch, 1);
    struct entries moved = {0};
    int64_t after = 0;
    int rc = 0;
    while (!gc_cancelled(g)) {
        struct meta_tx *tx;
        size_t n = 0, done = 0;
        rc = meta_gc_candidates(g->st->db, META_GC_BLOB, after, batch, items, &n);
        if (rc < 0 || n == 0)
            break;
        rc = meta_tx_begin(g->st->db, &tx);
        if (rc < 0)
            break;
        int64_t t0 = gc_now_ms();
        moved.n = 0;
        while (done < n) {
            int del = 0;
            rc = blob_one(g, tx, &items[done], &moved, &del);
            gone[done++] = (unsigned char)del;
            if (rc < 0 || gc_now_ms() - t0 >= GC_TX_BUDGET_MS)
                break;
        }
        if (rc < 0) {
            /* Files back first, while the lock is still held; then the rows. */
            trash_undo(g, &moved);
            meta_tx_rollback(tx);
            break;
        }
        rc = meta_tx_commit(tx);
        if (rc < 0) {
            /* Rolled back: the rows exist again, their files are in trash/. */
            struct entries back = moved;
            moved = (struct entries){0};
            int r2 = locked_batches(g, &back, trash_one);
            if (r2 < 0)
                log_warn("gc: files stay in trash/ until the next run: %s", berr_message());
            free(back.v);
            break;
        }
        gc_tx_done(g, gc_now_ms() - t0);
        gc_hook(g, GC_POINT_COMMITTED, NULL);
        for (size_t i = 0; i < done; i++) {
            if (gone[i]) {
                g->rep->blobs++;
                g->rep->blob_bytes += items[i].size;
            }
        }
        /* Committed: the rows are gone for good, the trashed files are garbage. */
        for (size_t i = 0; i < moved.n; i++) {
            int r = blobstore_purge(g->st->bs, moved.v[i].key);
            if (r < 0 && r != BERR_NOT_FOUND)
                log_warn("gc: cannot remove %s (the next run will): %s", moved.v[i].key,
                         berr_message());
        }
        after = items[done - 1].seq;
    }
    free(moved.v);
    free(gone);
    free(items);
    return rc;
}

/* ---- orphan files ------------------------------------------------------------ */

struct orphan_walk {
    struct gc_run *g;
    struct entries e;
    int rc;
};

static int orphan_walk(void *ctx, const char *key, const struct digest *d,
                       const struct driver_stat *st)
{
    struct orphan_walk *ow = ctx;
    if (d == NULL || st->mtime >= ow->g->policy.cutoff)
        return 0; /* stray names are fsck's business; young files wait */
    int r = meta_blob_row(ow->g->st->db, d->str, NULL);
    if (r < 0) {
        ow->rc = r;
        return 1;
    }
    if (r == 1)
        return 0;
    struct entry *x = entries_push(&ow->e);
    snprintf(x->key, sizeof(x->key), "%s", key);
    digest_copy(&x->d, d);
    x->valid = 1;
    x->size = st->size;
    return 0;
}

/* Under the lock: remove the file when there is still no row and it is still
 * old. A publish puts a fresh digest's file in place outside the lock, so the
 * file found by the walk may have been replaced by a young one since; one that
 * lands between this check and the removal is caught by the publish, which
 * re-checks its file under the lock and fails cleanly. */
static int orphan_one(struct gc_run *g, struct entry *x)
{
    struct driver_stat st;
    int r = meta_blob_row(g->st->db, x->d.str, NULL);
    if (r != 0)
        return r < 0 ? r : 0; /* published meanwhile */
    r = driver_stat(blobstore_driver(g->st->bs), x->key, &st);
    if (r == BERR_NOT_FOUND) {
        berr_clear();
        return 0;
    }
    if (r < 0)
        return r;
    if (st.mtime >= g->policy.cutoff)
        return 0; /* replaced by a fresh publish */
    r = blobstore_remove(g->st->bs, &x->d);
    if (r == BERR_BLOB_UNKNOWN) {
        berr_clear();
        return 0;
    }
    if (r < 0)
        return r;
    g->rep->orphans++;
    g->rep->orphan_bytes += x->size;
    return 0;
}

int gc_sweep_orphans(struct gc_run *g)
{
    struct orphan_walk ow = {g, {0}, 0};
    int rc = blobstore_walk(g->st->bs, orphan_walk, &ow);
    if (rc == 1)
        rc = ow.rc;
    if (rc == 0 && g->opt->dry_run) {
        for (size_t i = 0; i < ow.e.n; i++) {
            g->rep->orphans++;
            g->rep->orphan_bytes += ow.e.v[i].size;
        }
    } else if (rc == 0) {
        gc_hook(g, GC_POINT_ORPHANS_FOUND, NULL);
        rc = locked_batches(g, &ow.e, orphan_one);
    }
    free(ow.e.v);
    return rc;
}
