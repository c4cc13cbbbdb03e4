/*
 * driver.c - dispatchers for the storage driver vtable.
 *
 * Invariants: every key (and walk prefix) is checked here before it reaches
 * a driver, so no driver ever sees an absolute key, an empty component or a
 * "." / ".." component, whatever its caller did (defence in depth behind
 * storage/paths.c). Bad keys fail with BERR_INVALID.
 */
#include "storage/driver.h"

#include <assert.h>
#include <string.h>

#include "image/base/err.h"

#define DRIVER_KEY_MAX 1024

/* A key: non-empty '/'-separated components, none empty, "." or "..".
 * A walk prefix may also be empty or end with '/'. */
static int key_check(const char *key, int is_prefix)
{
    if (key == NULL)
        return berr_set(BERR_INVALID, "storage key missing");
    size_t len = strnlen(key, DRIVER_KEY_MAX);
    if (len == DRIVER_KEY_MAX)
        return berr_set(BERR_INVALID, "storage key too long");
    if (len == 0) {
        if (is_prefix)
            return 0;
        return berr_set(BERR_INVALID, "storage key empty");
    }
    if (is_prefix && key[len - 1] == '/')
        len--;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && key[i] != '/')
            continue;
        size_t n = i - start;
        if (n == 0 || (n == 1 && key[start] == '.') ||
            (n == 2 && key[start] == '.' && key[start + 1] == '.'))
            return berr_set(BERR_INVALID, "storage key \"%s\" invalid", key);
        start = i + 1;
    }
    return 0;
}

int driver_stat(struct driver *d, const char *key, struct driver_stat *out)
{
    int rc = key_check(key, 0);
    if (rc < 0)
        return rc;
    return d->ops->stat(d, key, out);
}

int driver_reader_open(struct driver *d, const char *key, struct driver_reader **out)
{
    int rc = key_check(key, 0);
    if (rc < 0)
        return rc;
    return d->ops->reader_open(d, key, out);
}

int driver_reader_read_at(struct driver_reader *rd, int64_t offset, void *buf, size_t len,
                          size_t *n_out)
{
    assert(offset >= 0);
    *n_out = 0;
    if (offset >= rd->size || len == 0)
        return 0;
    if ((int64_t)len > rd->size - offset)
        len = (size_t)(rd->size - offset);
    return rd->driver->ops->reader_read_at(rd, offset, buf, len, n_out);
}

int driver_reader_read_full(struct driver_reader *rd, int64_t offset, void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        size_t n;
        int rc =
            driver_reader_read_at(rd, offset + (int64_t)done, (char *)buf + done, len - done, &n);
        if (rc < 0)
            return rc;
        if (n == 0)
            return berr_set(BERR_IO, "object ends at %lld, %zu bytes short",
                            (long long)(offset + (int64_t)done), len - done);
        done += n;
    }
    return 0;
}

int driver_reader_take_fd(struct driver_reader *rd)
{
    int fd = rd->fd;
    rd->fd = -1;
    return fd;
}

void driver_reader_free(struct driver_reader *rd)
{
    if (rd != NULL)
        rd->driver->ops->reader_free(rd);
}

int driver_writer_open(struct driver *d, const char *key, int append, struct driver_writer **out)
{
    *out = NULL;
    int rc = key_check(key, 0);
    if (rc < 0)
        return rc;
    return d->ops->writer_open(d, key, append, out);
}

int driver_writer_open_unnamed(struct driver *d, const char *dir, struct driver_writer **out)
{
    *out = NULL;
    int rc = key_check(dir, 1);
    if (rc < 0)
        return rc;
    size_t n = strlen(dir);
    if (n == 0 || dir[n - 1] != '/')
        return berr_set(BERR_INVALID, "storage directory \"%s\" must end with /", dir);
    return d->ops->writer_open_unnamed(d, dir, out);
}

int driver_writer_append(struct driver_writer *w, const void *data, size_t len)
{
    return w->driver->ops->writer_append(w, data, len);
}

int64_t driver_writer_size(const struct driver_writer *w)
{
    return w->driver->ops->writer_size(w);
}

int driver_writer_commit(struct driver_writer *w, const char *dest_key)
{
    int rc = key_check(dest_key, 0);
    if (rc < 0) {
        w->driver->ops->writer_cancel(w);
        return rc;
    }
    return w->driver->ops->writer_commit(w, dest_key);
}

int driver_writer_close(struct driver_writer *w)
{
    return w->driver->ops->writer_close(w);
}

void driver_writer_cancel(struct driver_writer *w)
{
    if (w != NULL)
        w->driver->ops->writer_cancel(w);
}

int driver_move(struct driver *d, const char *from, const char *to)
{
    int rc = key_check(from, 0);
    if (rc == 0)
        rc = key_check(to, 0);
    if (rc < 0)
        return rc;
    return d->ops->move(d, from, to);
}

int driver_remove(struct driver *d, const char *key)
{
    int rc = key_check(key, 0);
    if (rc < 0)
        return rc;
    return d->ops->remove(d, key);
}

int driver_walk(struct driver *d, const char *prefix, driver_walk_fn fn, void *ctx)
{
    assert(fn != NULL);
    int rc = key_check(prefix, 1);
    if (rc < 0)
        return rc;
    return d->ops->walk(d, prefix, fn, ctx);
}

void driver_free(struct driver *d)
{
    if (d != NULL)
        d->ops->free(d);
}
