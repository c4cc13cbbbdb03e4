/*
 * fsck.c - metadata <-> blob files consistency check and safe repair.
 *
 * Passes: (1) trash/: which trashed files still have a row (an error: the
 * blob cannot be served; repair puts it back) and which do not (leftovers);
 * (2) every blob row: its file exists with the row's size, and with --deep
 * hashes to its digest (streamed, one buffer); (3) every file under blobs/:
 * has a row, or is an orphan; (4) manifest references to blobs without a row.
 *
 * Invariants: a finding is only reported after it was confirmed under the
 * metadata write lock (a collector moves a file and deletes its row inside
 * one transaction, a publisher renames a file and inserts its row inside
 * one: outside the lock both look like inconsistencies for an instant).
 * Repair never removes a file whose digest has a row, never a row.
 */
#include "gc/fsck.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gc/gc_int.h"
#include "image/base/err.h"
#include "image/base/xalloc.h"

#define ROWS_PAGE    512
#define HASH_BUF     (1024 * 1024)
#define DANGLING_MAX 1000

struct suspect {
    char key[PATHS_KEY_MAX];
    struct digest d;
    int valid;
    int64_t size, mtime;
};

struct suspects {
    struct suspect *v;
    size_t n, cap;
};

struct fsck {
    const struct gc_store *st;
    const struct fsck_options *opt;
    struct fsck_report *rep;
    int64_t cutoff;
    struct suspects trash;  /* pass 1: every trash entry */
    struct suspects absent; /* pass 2: rows whose file was not found */
    struct suspects orphan; /* pass 3: files whose row was not found */
};

static struct suspect *push(struct suspects *s)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 32;
        s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
        /* a digest's hex points into its own str: re-point the moved ones */
        for (size_t i = 0; i < s->n; i++)
            if (s->v[i].valid)
                s->v[i].d.hex = strchr(s->v[i].d.str, ':') + 1;
    }
    struct suspect *x = &s->v[s->n++];
    memset(x, 0, sizeof(*x));
    return x;
}

static void say(struct fsck *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct fsck *f, const char *fmt, ...)
{
    va_list ap;
    if (f->opt->out == NULL)
        return;
    va_start(ap, fmt);
    vfprintf(f->opt->out, fmt, ap);
    va_end(ap);
    fputc('\n', f->opt->out);
}

/* Run fn over s->v under the write lock, batch entries per transaction. */
typedef int (*suspect_fn)(struct fsck *f, struct suspect *x);
static int under_lock(struct fsck *f, struct suspects *s, suspect_fn fn)
{
    size_t i = 0;
    int rc = 0;
    while (i < s->n) {
        struct meta_tx *tx;
        rc = meta_tx_begin(f->st->db, &tx);
        if (rc < 0)
            return rc;
        int64_t t0 = gc_now_ms();
        size_t end = i + (size_t)f->opt->batch;
        while (i < s->n && i < end && rc == 0) {
            rc = fn(f, &s->v[i++]);
            if (gc_now_ms() - t0 >= GC_TX_BUDGET_MS)
                break;
        }
        if (rc < 0) {
            meta_tx_rollback(tx);
            return rc;
        }
        rc = meta_tx_commit(tx);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- pass 1: trash --------------------------------------------------------- */

static int trash_walk(void *ctx, const char *key, const struct digest *d,
                      const struct driver_stat *st)
{
    struct fsck *f = ctx;
    struct suspect *x = push(&f->trash);
    snprintf(x->key, sizeof(x->key), "%s", key);
    if (d != NULL) {
        digest_copy(&x->d, d);
        x->valid = 1;
    }
    x->size = st->size;
    return 0;
}

static int trash_check(struct fsck *f, struct suspect *x)
{
    int row = 0;
    if (x->valid) {
        row = meta_blob_row(f->st->db, x->d.str, NULL);
        if (row < 0)
            return row;
    }
    int fixed = 0, rc = 0;
    if (row == 1 && f->opt->repair) {
        rc = blobstore_restore(f->st->bs, x->key, &x->d);
        fixed = rc == 0;
    } else if (row == 0 && f->opt->repair) {
        rc = blobstore_purge(f->st->bs, x->key);
        fixed = rc == 0;
    }
    if (rc == BERR_NOT_FOUND) { /* a collector finished with it meanwhile */
        berr_clear();
        return 0;
    }
    if (rc < 0)
        return rc;
    if (row == 1) {
        f->rep->in_trash++;
        f->rep->repaired_errors += fixed;
        say(f, "in-trash %s %s (its row exists)%s", x->d.str, x->key, fixed ? ": put back" : "");
    } else if (x->valid) {
        f->rep->trash_leftovers++;
        say(f, "leftover %s (no row)%s", x->key, fixed ? ": removed" : "");
    } else {
        f->rep->stray++;
        say(f, "stray %s%s", x->key, fixed ? ": removed" : "");
    }
    f->rep->repaired += fixed;
    return 0;
}

/* ---- pass 2: rows ------------------------------------------------------------ */

/* Hash the file of blob d with d's algorithm; *equal = 1 when it matches. */
static int hash_blob(struct fsck *f, const struct digest *d, int *equal, struct digest *got)
{
    struct digester *h = NULL;
    struct driver_reader *rd = NULL;
    char *buf = NULL;
    int64_t off = 0;
    int rc = blobstore_open_read(f->st->bs, d, &rd);
    if (rc < 0)
        return rc;
    rc = digester_new(&h, d->alg);
    if (rc < 0)
        goto free_reader;
    buf = xmalloc(HASH_BUF);
    for (;;) {
        size_t n;
        rc = driver_reader_read_at(rd, off, buf, HASH_BUF, &n);
        if (rc < 0)
            goto free_hash;
        if (n == 0)
            break;
        digester_update(h, buf, n);
        off += (int64_t)n;
        f->rep->hashed_bytes += (int64_t)n;
    }
    digester_final(h, got);
    *equal = digest_equal(got, d);
free_hash:
    free(buf);
    digester_free(h);
free_reader:
    driver_reader_free(rd);
    return rc;
}

static int row_check(struct fsck *f, const struct meta_blob_row *row)
{
    struct digest d;
    int64_t size;
    f->rep->rows++;
    if (digest_parse_cstr(&d, row->digest) < 0) {
        berr_clear();
        f->rep->missing++;
        say(f, "bad-row \"%s\" is not a digest", row->digest);
        return 0;
    }
    int rc = blobstore_stat(f->st->bs, &d, &size);
    if (rc == BERR_BLOB_UNKNOWN) {
        berr_clear();
        struct suspect *x = push(&f->absent);
        digest_copy(&x->d, &d);
        x->valid = 1;
        x->size = row->size;
        return 0;
    }
    if (rc < 0)
        return rc;
    if (size != row->size) {
        f->rep->size_mismatch++;
        say(f, "size %s: file has %" PRId64 " bytes, row says %" PRId64, d.str, size, row->size);
        return 0;
    }
    if (f->opt->deep) {
        struct digest got;
        int equal = 0;
        rc = hash_blob(f, &d, &equal, &got);
        if (rc == BERR_BLOB_UNKNOWN) {
            berr_clear();
            return 0; /* collected meanwhile; pass 2's absent check does not apply */
        }
        if (rc < 0)
            return rc;
        if (!equal) {
            f->rep->digest_mismatch++;
            say(f, "corrupt %s: content hashes to %s", d.str, got.str);
        }
    }
    return 0;
}

static int in_trash(struct fsck *f, const struct digest *d)
{
    for (size_t i = 0; i < f->trash.n; i++)
        if (f->trash.v[i].valid && digest_equal(&f->trash.v[i].d, d))
            return 1;
    return 0;
}

/* Under the lock: the row still exists and the file is still missing? */
static int absent_check(struct fsck *f, struct suspect *x)
{
    int64_t size;
    int row = meta_blob_row(f->st->db, x->d.str, NULL);
    if (row <= 0)
        return row; /* collected meanwhile */
    int rc = blobstore_stat(f->st->bs, &x->d, &size);
    if (rc == 0)
        return 0; /* published or put back meanwhile */
    if (rc != BERR_BLOB_UNKNOWN)
        return rc;
    berr_clear();
    if (in_trash(f, &x->d) && !f->opt->repair)
        return 0; /* counted in pass 1 */
    f->rep->missing++;
    say(f, "missing %s (%" PRId64 " bytes): the row has no file", x->d.str, x->size);
    return 0;
}

static int rows_pass(struct fsck *f)
{
    struct meta_blob_row *rows = xcalloc(ROWS_PAGE, sizeof(*rows));
    char after[DIGEST_MAX_STR] = "";
    size_t n;
    int rc;
    for (;;) {
        rc = meta_blob_rows(f->st->db, after, ROWS_PAGE, rows, &n);
        if (rc < 0 || n == 0)
            break;
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = row_check(f, &rows[i]);
        if (rc < 0)
            break;
        snprintf(after, sizeof(after), "%s", rows[n - 1].digest);
    }
    free(rows);
    if (rc == 0)
        rc = under_lock(f, &f->absent, absent_check);
    return rc;
}

/* ---- pass 3: files ------------------------------------------------------------ */

static int file_walk(void *ctx, const char *key, const struct digest *d,
                     const struct driver_stat *st)
{
    struct fsck *f = ctx;
    f->rep->files++;
    if (d == NULL) {
        f->rep->stray++;
        say(f, "stray %s (not a blob name)", key);
        return 0;
    }
    int row = meta_blob_row(f->st->db, d->str, NULL);
    if (row != 0)
        return row < 0 ? 1 : 0;
    struct suspect *x = push(&f->orphan);
    snprintf(x->key, sizeof(x->key), "%s", key);
    digest_copy(&x->d, d);
    x->valid = 1;
    x->size = st->size;
    x->mtime = st->mtime;
    return 0;
}

static int orphan_check(struct fsck *f, struct suspect *x)
{
    int row = meta_blob_row(f->st->db, x->d.str, NULL);
    if (row != 0)
        return row < 0 ? row : 0; /* published meanwhile */
    int fixed = 0;
    struct driver_stat st;
    int rc = driver_stat(blobstore_driver(f->st->bs), x->key, &st);
    if (rc == BERR_NOT_FOUND) {
        berr_clear();
        return 0; /* gone meanwhile */
    }
    if (rc < 0)
        return rc;
    x->mtime = st.mtime; /* a publish may have put a fresh copy in place */
    if (f->opt->repair && x->mtime < f->cutoff) {
        rc = blobstore_remove(f->st->bs, &x->d);
        if (rc == BERR_BLOB_UNKNOWN) {
            berr_clear();
            return 0;
        }
        if (rc < 0)
            return rc;
        fixed = 1;
    }
    f->rep->orphans++;
    f->rep->orphan_bytes += x->size;
    f->rep->repaired += fixed;
    say(f, "orphan %s (%" PRId64 " bytes, no row)%s", x->d.str, x->size,
        fixed ? ": removed" : (f->opt->repair ? ": kept (younger than the grace period)" : ""));
    return 0;
}

static int files_pass(struct fsck *f)
{
    int rc = blobstore_walk(f->st->bs, file_walk, f);
    if (rc == 1)
        return BERR_DB;
    if (rc < 0)
        return rc;
    return under_lock(f, &f->orphan, orphan_check);
}

/* ---- pass 4: references ------------------------------------------------------- */

static int dangling_pass(struct fsck *f)
{
    struct meta_dangling *v = xcalloc(DANGLING_MAX, sizeof(*v));
    size_t n = 0;
    int rc = meta_gc_dangling(f->st->db, DANGLING_MAX, v, &n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        say(f, "dangling %s@%s references blob %s, which has no row", v[i].repo, v[i].manifest,
            v[i].blob);
    if (rc == 0)
        f->rep->dangling = (int64_t)n;
    free(v);
    return rc;
}

/* ---- public ------------------------------------------------------------------------ */

int fsck_run(struct fsck_report *out, const struct gc_store *st, const struct fsck_options *opt)
{
    struct fsck f = {.st = st, .opt = opt, .rep = out};
    memset(out, 0, sizeof(*out));
    int64_t now = opt->now ? opt->now : (int64_t)time(NULL);
    f.cutoff = now - opt->grace;
    int64_t t0 = gc_now_ms();
    int rc = blobstore_walk_trash(st->bs, trash_walk, &f);
    if (rc == 0)
        rc = under_lock(&f, &f.trash, trash_check);
    if (rc == 0)
        rc = rows_pass(&f);
    if (rc == 0)
        rc = files_pass(&f);
    if (rc == 0)
        rc = dangling_pass(&f);
    out->ms = gc_now_ms() - t0;
    free(f.trash.v);
    free(f.absent.v);
    free(f.orphan.v);
    return rc;
}

int64_t fsck_errors(const struct fsck_report *r)
{
    return r->missing + (r->in_trash - r->repaired_errors) + r->size_mismatch + r->digest_mismatch +
           r->dangling;
}

void fsck_report_print(const struct fsck_report *r, FILE *fp)
{
    fprintf(fp, "blob rows checked: %" PRId64 "\n", r->rows);
    fprintf(fp, "files seen: %" PRId64 "\n", r->files);
    if (r->hashed_bytes > 0)
        fprintf(fp, "bytes hashed: %" PRId64 "\n", r->hashed_bytes);
    fprintf(fp, "missing files: %" PRId64 "\n", r->missing);
    fprintf(fp, "files in trash with a row: %" PRId64 "\n", r->in_trash);
    fprintf(fp, "size mismatches: %" PRId64 "\n", r->size_mismatch);
    fprintf(fp, "digest mismatches: %" PRId64 "\n", r->digest_mismatch);
    fprintf(fp, "dangling references: %" PRId64 "\n", r->dangling);
    fprintf(fp, "orphan files: %" PRId64 " (%" PRId64 " bytes)\n", r->orphans, r->orphan_bytes);
    fprintf(fp, "trash leftovers: %" PRId64 "\n", r->trash_leftovers);
    fprintf(fp, "stray files: %" PRId64 "\n", r->stray);
    fprintf(fp, "repaired: %" PRId64 "\n", r->repaired);
    fprintf(fp, "errors: %" PRId64 "\n", fsck_errors(r));
    fprintf(fp, "time: %" PRId64 " ms\n", r->ms);
}
