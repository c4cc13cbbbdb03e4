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
 *
 * Trash: blobstore_trash renames a blob's file to trash/<alg>/<hex>.<nonce>
 * (a fresh nonce per move, so two moves of one digest never collide), and
 * blobstore_restore renames it back. Neither copies bytes. Whether a trashed
 * file is garbage is decided by the metadata (its row), never here.
 */
#include "storage/blobstore.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

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

int blobstore_open_read(struct blobstore *bs, const struct digest *d, struct driver_reader **out)
{
    char key[PATHS_KEY_MAX];
    int rc = paths_blob(key, d);
    if (rc < 0)
        return rc;
    rc = driver_reader_open(bs->drv, key, out);
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

int blobstore_place(struct blobstore *bs, const char *staged_key, const struct digest *d,
                    int64_t size, int *placed_out)
{
    char key[PATHS_KEY_MAX];
    struct driver_stat st;
    *placed_out = 0;
    int rc = paths_blob(key, d);
    if (rc < 0)
        return rc;
    rc = driver_stat(bs->drv, key, &st);
    if (rc == 0 && st.size == size) {
        /* Already stored: same digest, same bytes. A staged object left
         * behind is reclaimed by upload expiry, so failing here would only
         * turn a good upload into an error. */
        rc = driver_remove(bs->drv, staged_key);
        if (rc < 0 && rc != BERR_NOT_FOUND)
            berr_clear();
        return 0;
    }
    if (rc < 0 && rc != BERR_NOT_FOUND)
        return rc;
    /* Absent (or, impossibly, a different size: replace it with verified bytes). */
    rc = driver_move(bs->drv, staged_key, key);
    if (rc < 0)
        return rc;
    *placed_out = 1;
    return 0;
}

/* A nonce no other move of this process uses, and unlikely in another. */
static unsigned long long trash_nonce(void)
{
    static atomic_ullong counter;
    static atomic_ullong base;
    unsigned long long b = atomic_load(&base);
    if (b == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned long long seed =
            ((unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec) ^
            ((unsigned long long)getpid() << 32);
        seed = seed ? seed : 1;
        unsigned long long expected = 0;
        if (!atomic_compare_exchange_strong(&base, &expected, seed))
            seed = expected;
        b = seed;
    }
    return b + atomic_fetch_add(&counter, 1);
}

int blobstore_trash(struct blobstore *bs, const struct digest *d, char trash_key_out[PATHS_KEY_MAX])
{
    char key[PATHS_KEY_MAX];
    int rc = paths_blob(key, d);
    if (rc < 0)
        return rc;
    rc = paths_trash(trash_key_out, d, trash_nonce());
    if (rc < 0)
        return rc;
    rc = driver_move(bs->drv, key, trash_key_out);
    return rc < 0 ? blob_unknown(rc, d) : 0;
}

int blobstore_restore(struct blobstore *bs, const char *trash_key, const struct digest *d)
{
    char key[PATHS_KEY_MAX];
    struct driver_stat st;
    int rc = paths_blob(key, d);
    if (rc < 0)
        return rc;
    rc = driver_stat(bs->drv, trash_key, &st);
    if (rc < 0)
        return rc;
    struct driver_stat cur;
    rc = driver_stat(bs->drv, key, &cur);
    if (rc == 0 && cur.size == st.size)
        return driver_remove(bs->drv, trash_key); /* stored again meanwhile */
    if (rc < 0 && rc != BERR_NOT_FOUND)
        return rc;
    return driver_move(bs->drv, trash_key, key);
}

int blobstore_purge(struct blobstore *bs, const char *trash_key)
{
    return driver_remove(bs->drv, trash_key);
}

struct walk_ctx {
    blobstore_walk_fn fn;
    void *ctx;
    int trash;
};

static int walk_one(void *ctx, const char *key, const struct driver_stat *st)
{
    struct walk_ctx *wc = ctx;
    struct digest d;
    int rc = wc->trash ? paths_parse_trash(&d, key) : paths_parse_blob(&d, key);
    if (rc < 0)
        berr_clear();
    return wc->fn(wc->ctx, key, rc == 0 ? &d : NULL, st);
}

int blobstore_walk(struct blobstore *bs, blobstore_walk_fn fn, void *ctx)
{
    struct walk_ctx wc = {fn, ctx, 0};
    return driver_walk(bs->drv, "blobs/", walk_one, &wc);
}

int blobstore_walk_trash(struct blobstore *bs, blobstore_walk_fn fn, void *ctx)
{
    struct walk_ctx wc = {fn, ctx, 1};
    return driver_walk(bs->drv, "trash/", walk_one, &wc);
}
