/*
 * prune.h - remove from the local store what no tag needs any more.
 *
 * Mark: every index.json entry and what it reaches - an index's child
 * manifests (those in the store), an image manifest's config and layers.
 * Sweep: every other blob, the cached root filesystems ($BERTH_HOME/rootfs)
 * of manifests no entry names, and what killed berth processes left behind
 * (temporary blob files, half-unpacked root filesystems, temporary push
 * directories). Everything runs under the exclusive store lock (store.h), so
 * no pull, tag, push or unpack is half-way meanwhile.
 */
#ifndef BERTH_CLIENT_PRUNE_H
#define BERTH_CLIENT_PRUNE_H

#include <stddef.h>
#include <stdint.h>

struct digest;
struct store;

struct prune_report {
    size_t blobs;       /* blobs removed */
    int64_t blob_bytes; /* their total size */
    size_t rootfs;      /* cached root filesystems removed */
    size_t leftovers;   /* temporary files and directories removed */
};

/* Called after each blob is removed. */
typedef void (*prune_blob_fn)(void *ctx, const struct digest *d, int64_t size);

/* Take the exclusive store lock (kept until store_free or store_unlock) and
 * remove what no tag needs; counts go to *out, each removed blob is reported
 * to on_blob (may be NULL) with ctx. A tagged manifest that is missing counts
 * as reaching nothing; one that cannot be read or parsed stops the prune
 * before anything is removed (BERR_MANIFEST_INVALID, BERR_DIGEST_INVALID,
 * ... with a message naming it), since what it needs is unknown. Returns 0,
 * that error, or BERR_IO (then some things may have been removed). */
int prune_store(struct prune_report *out, struct store *s, prune_blob_fn on_blob, void *ctx);

#endif
