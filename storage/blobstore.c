/*
 * blobstore.c - content-addressed blob data on top of a storage driver.
 *
 * Invariants: the object under paths_blob(d) always holds bytes whose digest
 * is d. The only way in is blobstore_commit, whose caller has already
 * verified the digest of the writer's bytes; the driver's commit makes the
 * bytes durable before they become visible under the key. Two commits of
 * the same digest are therefore interchangeable: the second one is simply
 * dropped when the first is already there (equality is proven by the
 * digest, not by comparing bytes).
 */
#include "storage/blobstore.h"

#include <stdlib.h>

#include "image/base/err.h"
#include "image/base/xalloc.h"
#include "storage/paths.h"

struct blobstore {
    struct driver *drv;
};

int blobstore_new(struct blobstore **out, struct driver *drv)
{
    struct blobstore *bs = xcalloc(1, sizeof(*bs));
    bs->drv = drv;
    *out = bs;
    return 0;
}

void blobstore_free(struct blobstore *bs)
{
    free(bs);
}

struct driver *blobstore_driver(struct blobstore *bs)
{
    return bs->drv;
}

/* Turn the driver's "no such key" into "no such blob". */
static int blob_unknown(int rc, const struct digest *d)
{
    if (rc == BERR_NOT_FOUND)
        return berr_set(BERR_BLOB_UNKNOWN, "blob \"%s\" unknown", d->str);
    return rc;
}

int blobstore_stat(struct blobstore *bs, const struct digest *d, int64_t *size_out)
{
    char key[PATHS_KEY_MAX];
    struct driver_stat st;
    int rc = paths_blob(key, d);
    if (rc < 0)
        return rc;
    rc = driver_stat(bs->drv, key, &st);
    if (rc < 0)
        return blob_unknown(rc, d);
    if (size_out != NULL)
        *size_out = st.size;
    return 0;
}

int blobstore_open_read(struct blobstore *bs, const struct digest *d, int *fd_out,
                        int64_t *size_out)
{
    char key[PATHS_KEY_MAX];
    int rc = paths_blob(key, d);
    if (rc < 0)
        return rc;
    rc = driver_open_read(bs->drv, key, fd_out, size_out);
    return rc < 0 ? blob_unknown(rc, d) : 0;
}

int blobstore_commit(struct blobstore *bs, struct driver_writer *w, const struct digest *d)
{
    char key[PATHS_KEY_MAX];
    struct driver_stat st;
    int rc = paths_blob(key, d);
    if (rc < 0)
        goto cancel;
    rc = driver_stat(bs->drv, key, &st);
    if (rc == 0 && st.size == driver_writer_size(w)) {
        /* Already stored: same digest, same bytes. */
        rc = 0;
        goto cancel;
    }
    if (rc < 0 && rc != BERR_NOT_FOUND)
        goto cancel;
    /* Absent (or, impossibly, a different size: replace it with verified bytes). */
    return driver_writer_commit(w, key);
cancel:
    driver_writer_cancel(w);
    return rc;
}

int blobstore_remove(struct blobstore *bs, const struct digest *d)
{
    char key[PATHS_KEY_MAX];
    int rc = paths_blob(key, d);
    if (rc < 0)
        return rc;
    rc = driver_remove(bs->drv, key);
    return rc < 0 ? blob_unknown(rc, d) : 0;
}
