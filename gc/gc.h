/*
 * gc.h - garbage collection: online (berthd's worker), offline (`berthd gc`),
 * both safe while pushes and pulls go on.
 *
 * One run: put back or purge what an interrupted run left in trash/
 * (gc_recover), mark (one read snapshot: what the policy collects), then
 * sweep in short write transactions - manifests, repository<->blob links,
 * blob rows with their files, orphan files - each candidate re-checked under
 * the metadata write lock before it goes, then expired upload sessions.
 * The rule, the lock order and the crash order are in docs/gc.md.
 *
 * A run uses the calling thread's metadata connection throughout; run one
 * collection at a time per process (several processes may collect the same
 * data directory at once: every decision is re-checked under the lock).
 */
#ifndef BERTH_GC_H
#define BERTH_GC_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "image/digest.h"
#include "storage/blobstore.h"
#include "storage/metadb.h"
#include "storage/upload.h"

/* What a collection works on (borrowed). uploads may be NULL: sessions are
 * then left alone. */
struct gc_store {
    struct blobstore *bs;
    struct metadb *db;
    struct upload_mgr *uploads;
};

/* Points of a run where the test hook is called (tests/unit/gc). */
enum gc_point {
    GC_POINT_MARKED,        /* the mark is done, no lock is held (d = NULL) */
    GC_POINT_BLOB_DELETED,  /* a blob row is deleted, its file not yet moved; lock held */
    GC_POINT_BLOB_TRASHED,  /* its file is in trash/, the transaction not committed */
    GC_POINT_COMMITTED,     /* a sweep transaction committed (d = NULL) */
    GC_POINT_ORPHANS_FOUND, /* orphan files found by the walk, none removed; no lock (d = NULL) */
};

struct gc_options {
    int64_t grace;         /* seconds: younger links, blob rows, manifests, orphan files stay */
    int64_t batch;         /* most items per write transaction (>= 1) */
    int delete_untagged;   /* collect manifests no tag reaches (else only dangling referrers) */
    int dry_run;           /* compute and report, change nothing */
    int64_t upload_expiry; /* cancel upload sessions idle this long (seconds); < 0: skip */
    int per_repo;          /* fill gc_report.repos */
    int64_t now;           /* unix seconds the grace counts back from; 0 = time(NULL) */
    atomic_int *cancel;    /* when non-NULL and set, stop before the next transaction */
    /* Test seam: called at each gc_point (NULL in production). */
    void (*hook)(void *ctx, enum gc_point point, const struct digest *d);
    void *hook_ctx;
};

/* Per-repository figures (manifests and links are per repository; blobs are
 * shared and counted only in the totals). */
struct gc_repo_report {
    char *name;
    int64_t manifests, manifest_bytes;
    int64_t links, link_bytes;
};

struct gc_report {
    int dry_run;
    int cancelled;                     /* stopped early by opt->cancel */
    int64_t manifests, manifest_bytes; /* deleted (or, dry run, would be) */
    int64_t links, link_bytes;
    int64_t blobs, blob_bytes;
    int64_t orphans, orphan_bytes; /* files under blobs/ with no row, older than grace */
    int64_t uploads;               /* expired sessions and stale staged files */
    int64_t restored, purged;      /* trash entries put back / removed */
    int64_t transactions;          /* write transactions taken */
    int64_t lock_ms_max;           /* longest write transaction */
    int64_t ms;                    /* wall time of the run */
    struct gc_repo_report *repos;  /* sorted by name, when per_repo */
    size_t n_repos;
};

/* Options from the defaults gc.* settings use (grace 24 h, batch 200, keep
 * untagged, uploads idle 24 h). */
void gc_options_init(struct gc_options *opt);

/* One collection. *out is filled as far as the run got (also on failure:
 * a later run finishes the job). Returns 0 or a BERR_* code. */
int gc_run(struct gc_report *out, const struct gc_store *st, const struct gc_options *opt);
/* Put back every trashed file whose blob row exists and remove the others
 * (what a run interrupted between its transaction and its cleanup left).
 * Adds to out->restored / out->purged. Run it at start-up, before serving
 * blobs. 0 or a BERR_* code. */
int gc_recover(struct gc_report *out, const struct gc_store *st, int64_t batch);

/* Free what a report owns. Accepts NULL. */
void gc_report_release(struct gc_report *r);
/* Print a report for people and scripts ("key: value" lines; with
 * verbose, one line per repository). */
void gc_report_print(const struct gc_report *r, FILE *fp, int verbose);
/* One info line in the log (counts, bytes, milliseconds). */
void gc_report_log(const struct gc_report *r);

#endif
