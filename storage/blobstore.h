/*
 * blobstore.h - content-addressed blob data on top of a driver.
 *
 * Only bytes live here; who may see a blob is metadata (metadb.h). A blob is
 * published only by blobstore_place (or blobstore_commit) after its digest
 * was verified by the caller, so the file under a digest's key always has
 * that digest. The collector moves files aside to trash/ (blobstore_trash)
 * and, when its transaction does not commit, back (blobstore_restore).
 *
 * Lock order (docs/gc.md): blobstore_place, blobstore_trash, blobstore_restore
 * and the removal of orphan files run while the metadata write lock is held
 * (inside meta_blob_publish or a meta_tx), so "is the file there?" and "is
 * the row there?" never change between a decision and its effect. The one
 * placement outside the lock is a digest without any row (storage/upload.c):
 * nothing decides about such a file but the orphan sweep, which re-checks the
 * file's age under the lock, and the publish re-checks the file under it.
 */
#ifndef BERTH_BLOBSTORE_H
#define BERTH_BLOBSTORE_H

#include <stdint.h>

#include "image/digest.h"
#include "storage/driver.h"
#include "storage/paths.h"

struct blobstore;

/* Borrow `drv` (not freed by blobstore_free). */
int blobstore_new(struct blobstore **out, struct driver *drv);
void blobstore_free(struct blobstore *bs);
struct driver *blobstore_driver(struct blobstore *bs);

/* Size of the blob's data, or BERR_BLOB_UNKNOWN. */
int blobstore_stat(struct blobstore *bs, const struct digest *d, int64_t *size_out);
/* Open a reader on the blob's data ((*out)->size is its size); the caller
 * frees it with driver_reader_free. BERR_BLOB_UNKNOWN when absent. */
int blobstore_open_read(struct blobstore *bs, const struct digest *d, struct driver_reader **out);
/* Publish a writer's verified bytes as blob d (takes ownership of w; it is
 * freed whatever happens). If the blob is already stored, w is cancelled and
 * 0 returned (content equality is proven by the digest). */
int blobstore_commit(struct blobstore *bs, struct driver_writer *w, const struct digest *d);
/* Remove a blob's data. BERR_BLOB_UNKNOWN when absent. */
int blobstore_remove(struct blobstore *bs, const struct digest *d);

/* Put the verified bytes staged (durably) under `staged_key` in place as blob
 * d of `size` bytes. When the blob is already stored with that size, the
 * staged object is removed instead (equality is proven by the digest) and
 * *placed_out = 0; otherwise it is renamed into place, durable on return, and
 * *placed_out = 1. Call with the metadata write lock held (the place callback
 * of meta_blob_publish): the collector moves files aside under the same lock,
 * so "already stored" cannot turn false before the row commits. */
int blobstore_place(struct blobstore *bs, const char *staged_key, const struct digest *d,
                    int64_t size, int *placed_out);
/* Move blob d's file aside to a fresh key under trash/, written to
 * trash_key_out. BERR_BLOB_UNKNOWN when the file is absent. The collector
 * calls it with the write lock held, after deleting the row in the same
 * transaction, and purges the key after the commit. */
int blobstore_trash(struct blobstore *bs, const struct digest *d,
                    char trash_key_out[PATHS_KEY_MAX]);
/* Put the file under trash_key back as blob d (its row still exists). When
 * blob d is stored again meanwhile (a re-upload), the trashed copy is removed
 * instead. BERR_NOT_FOUND when trash_key is gone. Under the write lock. */
int blobstore_restore(struct blobstore *bs, const char *trash_key, const struct digest *d);
/* Remove a trashed file for good. BERR_NOT_FOUND when already gone. */
int blobstore_purge(struct blobstore *bs, const char *trash_key);

/* Called for every file a walk finds: d is the blob it holds, or NULL when the
 * key does not name one (a stray file). Non-zero stops the walk. */
typedef int (*blobstore_walk_fn)(void *ctx, const char *key, const struct digest *d,
                                 const struct driver_stat *st);
/* Visit every file under blobs/, in no particular order. */
int blobstore_walk(struct blobstore *bs, blobstore_walk_fn fn, void *ctx);
/* Visit every file under trash/, in no particular order. */
int blobstore_walk_trash(struct blobstore *bs, blobstore_walk_fn fn, void *ctx);

#endif
