/*
 * fsck.h - check that the metadata and the blob files agree (`berthd fsck`).
 *
 * Errors (a pull could fail): a blob row whose file is missing, has the
 * wrong size or (deep) the wrong content; a row whose file sits in trash/
 * (an interrupted collection; repair puts it back); a manifest referencing a
 * blob that has no row. Warnings (wasted space only): orphan files (no row),
 * trashed files without a row, stray keys. Suspects are re-checked under the
 * metadata write lock, so a check running beside a live berthd does not
 * report a publish or a collection in flight.
 *
 * Repair does only what is provably safe: put back trashed files whose row
 * exists, remove trashed files without a row, remove orphan files older than
 * the grace period whose digest has no row (checked under the lock). It never
 * touches a file a row points at and never deletes a row.
 */
#ifndef BERTH_FSCK_H
#define BERTH_FSCK_H

#include <stdint.h>
#include <stdio.h>

#include "gc/gc.h"

struct fsck_options {
    int deep;      /* hash every blob (streamed) and compare with its digest */
    int repair;    /* fix what is provably safe (see above) */
    int64_t grace; /* seconds: younger orphan files are reported, not removed */
    int64_t batch; /* most items per write transaction */
    int64_t now;   /* unix seconds; 0 = time(NULL) */
    FILE *out;     /* one line per finding, or NULL */
};

struct fsck_report {
    int64_t rows, files, hashed_bytes; /* blob rows checked, files seen, bytes hashed */
    int64_t missing;                   /* rows whose file is nowhere */
    int64_t in_trash;                  /* rows whose file is in trash/ */
    int64_t size_mismatch, digest_mismatch;
    int64_t dangling;              /* manifest references to blobs with no row */
    int64_t orphans, orphan_bytes; /* files with no row */
    int64_t trash_leftovers;       /* trashed files with no row */
    int64_t stray;                 /* keys naming no blob under blobs/ or trash/ */
    int64_t repaired;              /* findings fixed by repair */
    int64_t repaired_errors;       /* of which errors (rows put back in order) */
    int64_t ms;
};

/* Check (and with opt->repair, fix) the store. Returns 0 when the check
 * ran to the end (whatever it found), or a BERR_* code. */
int fsck_run(struct fsck_report *out, const struct gc_store *st, const struct fsck_options *opt);
/* Errors found and not repaired (0: every row has its correct file). */
int64_t fsck_errors(const struct fsck_report *r);
/* Print the summary ("key: value" lines). */
void fsck_report_print(const struct fsck_report *r, FILE *fp);

#endif
