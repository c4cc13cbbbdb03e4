/*
 * driver_faulty.c - a driver that wraps another and fails its Nth operation.
 *
 * For tests of error paths: every fallible call through the vtable (stat,
 * reader_open, reader_read_at, writer_open, writer_open_unnamed,
 * writer_append, writer_commit, writer_close, move, remove, walk) increments
 * one counter; call number fail_at (1-based) - and, when sticky, every later
 * one - fails with BERR_IO instead of reaching the inner driver.
 * writer_size, writer_cancel and reader_free cannot fail and are not
 * counted. Readers hide the inner reader's fd, so every read is counted.
 *
 * Invariants: an injected failure has the same effect on the inner store as
 * the real failure it imitates: a failed writer_append writes nothing; a
 * failed writer_commit cancels the inner writer (staged bytes removed,
 * nothing published); a failed writer_close still closes the inner writer
 * (bytes kept). Every writer is freed exactly once, whatever fails.
 */
#include "storage/driver.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "image/base/err.h"
#include "image/base/xalloc.h"

struct faulty_driver {
    struct driver base;
    struct driver *inner;
    int fail_at;
    int sticky;
    atomic_int count;
};

struct faulty_reader {
    struct driver_reader base;
    struct driver_reader *inner;
};

struct faulty_writer {
    struct driver_writer base;
    struct driver_writer *inner;
};

/* Count one operation; non-zero (and the message set) when it must fail. */
static int faulty_hit(struct faulty_driver *f, const char *op)
{
    int n = atomic_fetch_add(&f->count, 1) + 1;
    if (f->fail_at > 0 && (n == f->fail_at || (f->sticky && n > f->fail_at))) {
        berr_set(BERR_IO, "%s: injected failure at operation %d", op, n);
        return 1;
    }
    return 0;
}

static int faulty_stat(struct driver *d, const char *key, struct driver_stat *out)
{
    struct faulty_driver *f = (struct faulty_driver *)d;
    if (faulty_hit(f, "stat"))
        return BERR_IO;
    return driver_stat(f->inner, key, out);
}

static int faulty_reader_open(struct driver *d, const char *key, struct driver_reader **out)
{
    struct faulty_driver *f = (struct faulty_driver *)d;
    struct driver_reader *inner = NULL;
    if (faulty_hit(f, "reader_open"))
        return BERR_IO;
    int rc = driver_reader_open(f->inner, key, &inner);
    if (rc < 0)
        return rc;
    struct faulty_reader *rd = xcalloc(1, sizeof(*rd));
    rd->base.driver = d;
    rd->base.size = inner->size;
    rd->base.fd = -1;
    rd->inner = inner;
    *out = &rd->base;
    return 0;
}

static int faulty_reader_read_at(struct driver_reader *dr, int64_t offset, void *buf, size_t len,
                                 size_t *n_out)
{
    struct faulty_reader *rd = (struct faulty_reader *)dr;
    if (faulty_hit((struct faulty_driver *)dr->driver, "reader_read_at"))
        return BERR_IO;
    return driver_reader_read_at(rd->inner, offset, buf, len, n_out);
}

static void faulty_reader_free(struct driver_reader *dr)
{
    struct faulty_reader *rd = (struct faulty_reader *)dr;
    driver_reader_free(rd->inner);
    free(rd);
}

/* Wrap the inner driver's new writer (rc from opening it) into *out. */
static int faulty_wrap(struct driver *d, int rc, struct driver_writer *inner,
                       struct driver_writer **out)
{
    if (rc < 0)
        return rc;
    struct faulty_writer *w = xcalloc(1, sizeof(*w));
    w->base.driver = d;
    w->inner = inner;
    *out = &w->base;
    return 0;
}

static int faulty_writer_open(struct driver *d, const char *key, int append,
                              struct driver_writer **out)
{
    struct faulty_driver *f = (struct faulty_driver *)d;
    struct driver_writer *inner = NULL;
    if (faulty_hit(f, "writer_open"))
        return BERR_IO;
    int rc = driver_writer_open(f->inner, key, append, &inner);
    return faulty_wrap(d, rc, inner, out);
}

static int faulty_writer_open_unnamed(struct driver *d, const char *dir, struct driver_writer **out)
{
    struct faulty_driver *f = (struct faulty_driver *)d;
    struct driver_writer *inner = NULL;
    if (faulty_hit(f, "writer_open_unnamed"))
        return BERR_IO;
    int rc = driver_writer_open_unnamed(f->inner, dir, &inner);
    return faulty_wrap(d, rc, inner, out);
}

static int faulty_writer_append(struct driver_writer *dw, const void *data, size_t len)
{
    struct faulty_writer *w = (struct faulty_writer *)dw;
    if (faulty_hit((struct faulty_driver *)w->base.driver, "writer_append"))
        return BERR_IO;
    return driver_writer_append(w->inner, data, len);
}

static int64_t faulty_writer_size(const struct driver_writer *dw)
{
    const struct faulty_writer *w = (const struct faulty_writer *)dw;
    return driver_writer_size(w->inner);
}

static int faulty_writer_commit(struct driver_writer *dw, const char *dest_key)
{
    struct faulty_writer *w = (struct faulty_writer *)dw;
    struct driver_writer *inner = w->inner;
    int fail = faulty_hit((struct faulty_driver *)w->base.driver, "writer_commit");
    free(w);
    if (fail) {
        driver_writer_cancel(inner);
        return BERR_IO;
    }
    return driver_writer_commit(inner, dest_key);
}

static int faulty_writer_close(struct driver_writer *dw)
{
    struct faulty_writer *w = (struct faulty_writer *)dw;
    struct driver_writer *inner = w->inner;
    int fail = faulty_hit((struct faulty_driver *)w->base.driver, "writer_close");
    free(w);
    int rc = driver_writer_close(inner);
    return fail ? BERR_IO : rc;
}

static void faulty_writer_cancel(struct driver_writer *dw)
{
    struct faulty_writer *w = (struct faulty_writer *)dw;
    driver_writer_cancel(w->inner);
    free(w);
}

static int faulty_move(struct driver *d, const char *from, const char *to)
{
    struct faulty_driver *f = (struct faulty_driver *)d;
    if (faulty_hit(f, "move"))
        return BERR_IO;
    return driver_move(f->inner, from, to);
}

static int faulty_remove(struct driver *d, const char *key)
{
    struct faulty_driver *f = (struct faulty_driver *)d;
    if (faulty_hit(f, "remove"))
        return BERR_IO;
    return driver_remove(f->inner, key);
}

static int faulty_walk(struct driver *d, const char *prefix, driver_walk_fn fn, void *ctx)
{
    struct faulty_driver *f = (struct faulty_driver *)d;
    if (faulty_hit(f, "walk"))
        return BERR_IO;
    return driver_walk(f->inner, prefix, fn, ctx);
}

static void faulty_free(struct driver *d)
{
    struct faulty_driver *f = (struct faulty_driver *)d;
    driver_free(f->inner);
    free(f);
}

static const struct driver_ops faulty_ops = {
    .name = "faulty",
    .stat = faulty_stat,
    .reader_open = faulty_reader_open,
    .reader_read_at = faulty_reader_read_at,
    .reader_free = faulty_reader_free,
    .writer_open = faulty_writer_open,
    .writer_open_unnamed = faulty_writer_open_unnamed,
    .writer_append = faulty_writer_append,
    .writer_size = faulty_writer_size,
    .writer_commit = faulty_writer_commit,
    .writer_close = faulty_writer_close,
    .writer_cancel = faulty_writer_cancel,
    .move = faulty_move,
    .remove = faulty_remove,
    .walk = faulty_walk,
    .free = faulty_free,
};

int driver_faulty_new(struct driver **out, struct driver *inner, int fail_at, int sticky)
{
    struct faulty_driver *f = xcalloc(1, sizeof(*f));
    f->base.ops = &faulty_ops;
    f->inner = inner;
    f->fail_at = fail_at;
    f->sticky = sticky;
    atomic_init(&f->count, 0);
    *out = &f->base;
    return 0;
}

int driver_faulty_count(const struct driver *d)
{
    struct faulty_driver *f = (struct faulty_driver *)d;
    assert(d->ops == &faulty_ops);
    return atomic_load(&f->count);
}
