/*
 * metadb_gc.h - the metadata side of garbage collection and fsck.
 *
 * Collection is two steps (gc/ drives them, docs/gc.md states the rule):
 *  1. mark (meta_gc_mark): in one read snapshot, compute the manifests,
 *     repository<->blob links and blob rows the policy collects, into
 *     candidate lists kept on the calling thread's connection (temporary
 *     tables: nothing is held in memory, nothing blocks a writer);
 *  2. sweep: in short write transactions (meta_tx_begin ... meta_tx_commit,
 *     SQLite's one write lock), re-check each candidate against the current
 *     state and delete it only when it is still garbage (meta_gc_*_collect).
 * The re-check under the lock is what makes an online collection safe: a
 * manifest PUT (meta_manifest_put) and a blob publish (meta_blob_publish)
 * take the same lock, so each either happens before the collector's decision
 * (and the decision sees it) or after its commit (and sees the deletion).
 *
 * Candidates and transactions belong to the calling thread (its connection):
 * mark, page through the candidates and sweep on one thread.
 */
#ifndef BERTH_METADB_GC_H
#define BERTH_METADB_GC_H

#include <stddef.h>
#include <stdint.h>

#include "image/digest.h"
#include "image/reference.h"
#include "storage/metadb.h"

/* ---- write transactions ----------------------------------------------- */

struct meta_tx;
/* BEGIN IMMEDIATE on the calling thread's connection: take the metadata
 * write lock (waiting up to the busy timeout). 0 or BERR_DB. */
int meta_tx_begin(struct metadb *db, struct meta_tx **out);
/* COMMIT and free tx. On failure the transaction is rolled back, tx freed,
 * and BERR_DB returned: nothing it did is recorded. */
int meta_tx_commit(struct meta_tx *tx);
/* ROLLBACK (when still open) and free tx. Accepts NULL. Keeps the thread's
 * error message. */
void meta_tx_rollback(struct meta_tx *tx);

/* ---- mark --------------------------------------------------------------- */

struct meta_gc_policy {
    /* Unix seconds: manifests, links and blob rows created at or after this
     * are kept whatever else holds (the grace period: now - grace). */
    int64_t cutoff;
    /* 0: every manifest without a subject is a root (only referrers whose
     * subject is gone are collected); 1: only tagged manifests are roots. */
    int delete_untagged;
};

struct meta_gc_totals {
    int64_t manifests, manifest_bytes; /* manifests to delete, their payload bytes */
    int64_t links;                     /* repository<->blob links to remove */
    int64_t blobs, blob_bytes;         /* blob rows (and files) to delete */
};

/* Compute, in one read snapshot, everything policy p collects and replace
 * the calling thread's candidate lists with it; *out gets the totals.
 * Reachability: roots are tagged manifests, manifests created at or after
 * p->cutoff and (unless p->delete_untagged) manifests without a subject;
 * the children of a kept index and the referrers of a kept subject (same
 * repository) are kept. A link is collected when it is older than the
 * cutoff and no kept manifest of its repository references the blob; a blob
 * row when it is older than the cutoff, every link it has is collected and no
 * kept manifest references it. Takes no write lock. 0 or BERR_DB. */
int meta_gc_mark(struct metadb *db, const struct meta_gc_policy *p, struct meta_gc_totals *out);
/* Empty the calling thread's candidate lists. */
void meta_gc_mark_release(struct metadb *db);

enum meta_gc_kind { META_GC_MANIFEST, META_GC_LINK, META_GC_BLOB };

struct meta_gc_item {
    int64_t seq;  /* position in its list: pass the last one as `after` */
    int64_t id;   /* manifest id (MANIFEST), repository id (LINK), 0 (BLOB) */
    int64_t size; /* manifest payload or blob bytes */
    char digest[DIGEST_MAX_STR];
    char repo[REF_NAME_MAX + 1]; /* "" for BLOB */
};

/* Up to max candidates of `kind` after position `after` (0: from the start),
 * in list order (manifests and links grouped by repository, blobs by
 * digest) into out[]; *n_out is the number filled, 0 at the end. */
int meta_gc_candidates(struct metadb *db, enum meta_gc_kind kind, int64_t after, size_t max,
                       struct meta_gc_item *out, size_t *n_out);

/* ---- sweep (inside a write transaction) -------------------------------- */

/* Delete manifest `id` (its tags - none -, references and payload go with it)
 * when it is still unreachable under p: no manifest it can be reached from
 * (itself, the indexes listing it, its subject, transitively) is a root.
 * 1 deleted, 0 kept (or already gone), or BERR_DB. */
int meta_gc_manifest_collect(struct meta_tx *tx, int64_t id, const struct meta_gc_policy *p);
/* Remove the link repo_id<->digest when it is still older than the cutoff
 * and no manifest of the repository references the blob. 1, 0 or BERR_DB. */
int meta_gc_link_collect(struct meta_tx *tx, int64_t repo_id, const char *digest,
                         const struct meta_gc_policy *p);
/* Delete the blob row of `digest` when it is still older than the cutoff,
 * linked nowhere and referenced by no manifest. 1 deleted, 0 kept, BERR_DB.
 * On 1 the caller moves the blob's file aside before committing, and puts it
 * back before rolling back: the row must never go without the file going
 * with it, in the same transaction. */
int meta_gc_blob_collect(struct meta_tx *tx, const char *digest, const struct meta_gc_policy *p);

/* ---- blob rows (recovery, orphan files, fsck) --------------------------- */

/* 1 when a blob row exists for digest (*size_out set when non-NULL), 0 when
 * not, or BERR_DB. Sees the calling thread's open transaction, if any. */
int meta_blob_row(struct metadb *db, const char *digest, int64_t *size_out);

struct meta_blob_row {
    char digest[DIGEST_MAX_STR];
    int64_t size;
};
/* Blob rows in digest order after `after` ("" or NULL: from the start), at
 * most max, into out[]; *n_out is the number filled, 0 at the end. */
int meta_blob_rows(struct metadb *db, const char *after, size_t max, struct meta_blob_row *out,
                   size_t *n_out);

struct meta_dangling {
    char repo[REF_NAME_MAX + 1];
    char manifest[DIGEST_MAX_STR];
    char blob[DIGEST_MAX_STR];
};
/* Manifest references to blobs that have no blob row (a manifest that
 * cannot be pulled), at most max, into out[]. 0 or BERR_DB. */
int meta_gc_dangling(struct metadb *db, size_t max, struct meta_dangling *out, size_t *n_out);

#endif
