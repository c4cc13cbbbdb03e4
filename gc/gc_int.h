/*
 * gc_int.h - what the files of gc/ share: one run's context and the phases
 * gc.c strings together (mark.c, sweep.c). Not for use outside gc/.
 */
#ifndef BERTH_GC_INT_H
#define BERTH_GC_INT_H

#include <stdint.h>

#include "gc/gc.h"
#include "storage/metadb_gc.h"

/* Longest a sweep keeps the write lock before it commits what it has done
 * and lets writers in (milliseconds), whatever the batch size. */
#define GC_TX_BUDGET_MS 10
/* Pause after each write transaction (microseconds): writers waiting for
 * the lock poll it every millisecond (metadb.c), and SQLite's lock is not a
 * queue - without a pause the collector would take it back at once. */
#define GC_TX_PAUSE_US 3000

struct gc_run {
    const struct gc_store *st;
    const struct gc_options *opt;
    struct meta_gc_policy policy; /* cutoff = now - grace */
    int64_t now;                  /* unix seconds */
    struct gc_report *rep;
};

/* Monotonic milliseconds. */
int64_t gc_now_ms(void);
/* Add to the per-repository figures of rep (when opt->per_repo). */
void gc_repo_add(struct gc_run *g, const char *name, int64_t manifests, int64_t manifest_bytes,
                 int64_t links, int64_t link_bytes);
/* True when the run should stop (opt->cancel set); records it in the report. */
int gc_cancelled(struct gc_run *g);
/* Call the test hook, if any. */
void gc_hook(struct gc_run *g, enum gc_point point, const struct digest *d);
/* Account one committed write transaction that held the lock for ms, then
 * pause GC_TX_PAUSE_US so that waiting writers get the lock. */
void gc_tx_done(struct gc_run *g, int64_t ms);

/* mark.c: compute the candidates (meta_gc_mark); for a dry run, fill the
 * report from them. */
int gc_mark(struct gc_run *g);

/* sweep.c: each phase deletes what is still garbage, in transactions of at
 * most opt->batch items and GC_TX_BUDGET_MS. */
int gc_sweep_manifests(struct gc_run *g);
int gc_sweep_links(struct gc_run *g);
int gc_sweep_blobs(struct gc_run *g);
/* Files under blobs/ with no row, older than the grace (dry run: counted). */
int gc_sweep_orphans(struct gc_run *g);
/* Trash entries: restore (row exists) or purge (no row), under the lock. */
int gc_sweep_trash(struct gc_run *g);

#endif
