/*
 * gc.c - one collection from start to end, and its report.
 *
 * Order of a run (each step safe to interrupt; the next run finishes it):
 *   1. trash/: put back files whose rows exist, purge the rest (a previous
 *      run was interrupted between its move and its cleanup);
 *   2. mark: one read snapshot decides the candidates (mark.c);
 *   3. sweep manifests, then links, then blobs with their files (sweep.c):
 *      each step sees the deletions of the one before, and every candidate
 *      is re-checked under the write lock;
 *   4. orphan files (bytes with no row, older than the grace);
 *   5. upload sessions idle longer than opt->upload_expiry.
 * A dry run does 2 and counts 4 and 5; it takes no write lock and changes
 * nothing.
 *
 * Invariants: the report only counts what a committed transaction removed
 * (or, dry run, what the mark found); all of a run's SQL goes through the
 * calling thread's connection (the candidate lists live there).
 */
#include "gc/gc.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gc/gc_int.h"
#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"

/* ---- shared with mark.c and sweep.c --------------------------------------- */

int64_t gc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void gc_repo_add(struct gc_run *g, const char *name, int64_t manifests, int64_t manifest_bytes,
                 int64_t links, int64_t link_bytes)
{
    struct gc_report *r = g->rep;
    size_t lo = 0, hi = r->n_repos;
    if (!g->opt->per_repo)
        return;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->repos[mid].name, name);
        if (c == 0) {
            lo = mid;
            goto found;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* insert at lo, keeping the array sorted */
    r->repos = xrealloc(r->repos, (r->n_repos + 1) * sizeof(*r->repos));
    memmove(&r->repos[lo + 1], &r->repos[lo], (r->n_repos - lo) * sizeof(*r->repos));
    memset(&r->repos[lo], 0, sizeof(r->repos[lo]));
    r->repos[lo].name = xstrdup(name);
    r->n_repos++;
found:
    r->repos[lo].manifests += manifests;
    r->repos[lo].manifest_bytes += manifest_bytes;
    r->repos[lo].links += links;
    r->repos[lo].link_bytes += link_bytes;
}

int gc_cancelled(struct gc_run *g)
{
    if (g->opt->cancel != NULL && atomic_load(g->opt->cancel)) {
        g->rep->cancelled = 1;
        return 1;
    }
    return 0;
}

void gc_hook(struct gc_run *g, enum gc_point point, const struct digest *d)
{
    if (g->opt->hook != NULL)
        g->opt->hook(g->opt->hook_ctx, point, d);
}

void gc_tx_done(struct gc_run *g, int64_t ms)
{
    g->rep->transactions++;
    if (ms > g->rep->lock_ms_max)
        g->rep->lock_ms_max = ms;
    usleep(GC_TX_PAUSE_US); /* let the writers that queued meanwhile in */
}

/* ---- runs ---------------------------------------------------------------------- */

void gc_options_init(struct gc_options *opt)
{
    memset(opt, 0, sizeof(*opt));
    opt->grace = 24 * 3600;
    opt->batch = 200;
    opt->upload_expiry = 24 * 3600;
}

static void run_init(struct gc_run *g, struct gc_report *out, const struct gc_store *st,
                     const struct gc_options *opt)
{
    memset(out, 0, sizeof(*out));
    out->dry_run = opt->dry_run;
    g->st = st;
    g->opt = opt;
    g->rep = out;
    g->now = opt->now ? opt->now : (int64_t)time(NULL);
    g->policy.cutoff = g->now - opt->grace;
    g->policy.delete_untagged = opt->delete_untagged;
}

static int expire_uploads(struct gc_run *g)
{
    int64_t before = g->now - g->opt->upload_expiry;
    if (g->opt->dry_run) {
        struct meta_list l;
        int rc = meta_upload_expired(g->st->db, before, &l);
        if (rc < 0)
            return rc;
        g->rep->uploads = (int64_t)l.n;
        meta_list_release(&l);
        return 0;
    }
    int n = upload_expire(g->st->uploads, before);
    if (n < 0)
        return n;
    g->rep->uploads = n;
    return 0;
}

int gc_run(struct gc_report *out, const struct gc_store *st, const struct gc_options *opt)
{
    struct gc_run g;
    assert(opt->batch >= 1 && opt->grace >= 0);
    run_init(&g, out, st, opt);
    int64_t t0 = gc_now_ms();
    int rc = 0;
    if (!opt->dry_run)
        rc = gc_sweep_trash(&g);
    if (rc == 0 && !gc_cancelled(&g))
        rc = gc_mark(&g);
    if (rc == 0 && !opt->dry_run) {
        gc_hook(&g, GC_POINT_MARKED, NULL);
        rc = gc_sweep_manifests(&g);
        if (rc == 0)
            rc = gc_sweep_links(&g);
        if (rc == 0)
            rc = gc_sweep_blobs(&g);
    }
    meta_gc_mark_release(st->db);
    if (rc == 0 && !gc_cancelled(&g))
        rc = gc_sweep_orphans(&g);
    if (rc == 0 && !gc_cancelled(&g) && st->uploads != NULL && opt->upload_expiry >= 0)
        rc = expire_uploads(&g);
    out->ms = gc_now_ms() - t0;
    return rc;
}

int gc_recover(struct gc_report *out, const struct gc_store *st, int64_t batch)
{
    struct gc_options opt;
    struct gc_report rep;
    struct gc_run g;
    gc_options_init(&opt);
    opt.batch = batch > 0 ? batch : 200;
    run_init(&g, &rep, st, &opt);
    int rc = gc_sweep_trash(&g);
    out->restored += rep.restored;
    out->purged += rep.purged;
    out->transactions += rep.transactions;
    return rc;
}

/* ---- reports ------------------------------------------------------------------ */

void gc_report_release(struct gc_report *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_repos; i++)
        free(r->repos[i].name);
    free(r->repos);
    r->repos = NULL;
    r->n_repos = 0;
}

void gc_report_print(const struct gc_report *r, FILE *fp, int verbose)
{
    fprintf(fp, "%s%s\n", r->dry_run ? "dry run, nothing changed: would delete" : "deleted",
            r->cancelled ? " (stopped early)" : "");
    fprintf(fp, "manifests: %" PRId64 " (%" PRId64 " bytes)\n", r->manifests, r->manifest_bytes);
    fprintf(fp, "links: %" PRId64 " (%" PRId64 " bytes)\n", r->links, r->link_bytes);
    fprintf(fp, "blobs: %" PRId64 " (%" PRId64 " bytes)\n", r->blobs, r->blob_bytes);
    fprintf(fp, "orphan files: %" PRId64 " (%" PRId64 " bytes)\n", r->orphans, r->orphan_bytes);
    fprintf(fp, "upload sessions: %" PRId64 "\n", r->uploads);
    if (!r->dry_run)
        fprintf(fp, "trash: %" PRId64 " put back, %" PRId64 " purged\n", r->restored, r->purged);
    fprintf(fp, "time: %" PRId64 " ms, %" PRId64 " write transactions, longest %" PRId64 " ms\n",
            r->ms, r->transactions, r->lock_ms_max);
    if (!verbose)
        return;
    for (size_t i = 0; i < r->n_repos; i++) {
        const struct gc_repo_report *p = &r->repos[i];
        fprintf(fp,
                "repository %s: manifests %" PRId64 " (%" PRId64 " bytes), links %" PRId64
                " (%" PRId64 " bytes)\n",
                p->name, p->manifests, p->manifest_bytes, p->links, p->link_bytes);
    }
}

void gc_report_log(const struct gc_report *r)
{
    log_info("gc: %s%" PRId64 " manifest(s) (%" PRId64 " bytes), %" PRId64 " link(s), %" PRId64
             " blob(s) (%" PRId64 " bytes), %" PRId64 " orphan file(s) (%" PRId64
             " bytes), %" PRId64 " upload(s); trash %" PRId64 " put back, %" PRId64
             " purged; %" PRId64 " ms, %" PRId64 " transaction(s), longest %" PRId64 " ms%s",
             r->dry_run ? "would delete " : "deleted ", r->manifests, r->manifest_bytes, r->links,
             r->blobs, r->blob_bytes, r->orphans, r->orphan_bytes, r->uploads, r->restored,
             r->purged, r->ms, r->transactions, r->lock_ms_max,
             r->cancelled ? " (stopped early)" : "");
}
