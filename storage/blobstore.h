/*
 * blobstore.h - content-addressed blob data on top of a driver.
 *
 * Only bytes live here; who may see a blob is metadata (metadb.h). A blob is
 * published only by blobstore_commit after its digest was verified by the
 * caller, so the file under a digest's key always has that digest.
 */
#ifndef BERTH_BLOBSTORE_H
#define BERTH_BLOBSTORE_H

#include <stdint.h>

#include "image/digest.h"
#include "storage/driver.h"

struct blobstore;

/* Borrow `drv` (not freed by blobstore_free). */
int blobstore_new(struct blobstore **out, struct driver *drv);
void blobstore_free(struct blobstore *bs);
struct driver *blobstore_driver(struct blobstore *bs);

/* Size of the blob's data, or BERR_BLOB_UNKNOWN. */
int blobstore_stat(struct blobstore *bs, const struct digest *d, int64_t *size_out);
/* Open the blob's data for reading (fd owned by the caller). BERR_BLOB_UNKNOWN when absent. */
int blobstore_open_read(struct blobstore *bs, const struct digest *d, int *fd_out,
                        int64_t *size_out);
/* Publish a writer's verified bytes as blob d (takes ownership of w; it is
 * freed whatever happens). If the blob is already stored, w is cancelled and
 * 0 returned (content equality is proven by the digest). */
int blobstore_commit(struct blobstore *bs, struct driver_writer *w, const struct digest *d);
/* Remove a blob's data. BERR_BLOB_UNKNOWN when absent. */
int blobstore_remove(struct blobstore *bs, const struct digest *d);

#endif
