/*
 * driver_mem.c - storage driver in memory (tests, and a model of the contract).
 *
 * Objects are reference-counted byte arrays; the key table maps keys to
 * objects. A writer holds a reference to its object, so - as with files - a
 * writer whose key was removed or replaced keeps writing into a detached
 * object, and commit publishes exactly that object. A reader holds a
 * reference too (so it survives a remove or a replace, as an open file does)
 * and has no fd: it copies bytes out under the mutex, so every user of this
 * driver exercises the read_at path an object store would take.
 *
 * Invariants: one mutex guards the table and every object's bytes; walk
 * callbacks run without the mutex held (on a snapshot), so they may call the
 * driver. The table is a linear array: this driver is for tests.
 */
#include "storage/driver.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image/base/err.h"
#include "image/base/xalloc.h"

struct mem_obj {
    int refs;
    char *data;
    size_t len;
    size_t cap;
    int64_t mtime;
};

struct mem_entry {
    char *key;
    struct mem_obj *obj;
};

struct mem_driver {
    struct driver base;
    pthread_mutex_t mu;
    struct mem_entry *entries;
    size_t n;
    size_t cap;
};

struct mem_reader {
    struct driver_reader base;
    struct mem_obj *obj;
};

struct mem_writer {
    struct driver_writer base;
    char *key;
    struct mem_obj *obj;
};

static struct mem_obj *obj_new(void)
{
    struct mem_obj *o = xcalloc(1, sizeof(*o));
    o->refs = 1;
    o->mtime = (int64_t)time(NULL);
    return o;
}

/* Drop a reference (mutex held). */
static void obj_unref(struct mem_obj *o)
{
    if (o != NULL && --o->refs == 0) {
        free(o->data);
        free(o);
    }
}

/* Index of key, or -1 (mutex held). */
static long mem_find(struct mem_driver *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->entries[i].key, key) == 0)
            return (long)i;
    return -1;
}

/* Point key at obj (taking one new reference), replacing what was there (mutex held). */
static void mem_put(struct mem_driver *m, const char *key, struct mem_obj *obj)
{
    obj->refs++;
    long i = mem_find(m, key);
    if (i >= 0) {
        obj_unref(m->entries[i].obj);
        m->entries[i].obj = obj;
        return;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->entries = xrealloc(m->entries, m->cap * sizeof(*m->entries));
    }
    m->entries[m->n].key = xstrdup(key);
    m->entries[m->n].obj = obj;
    m->n++;
}

/* Remove entry i (mutex held). */
static void mem_drop(struct mem_driver *m, size_t i)
{
    free(m->entries[i].key);
    obj_unref(m->entries[i].obj);
    m->entries[i] = m->entries[m->n - 1];
    m->n--;
}

static int mem_stat(struct driver *d, const char *key, struct driver_stat *out)
{
    struct mem_driver *m = (struct mem_driver *)d;
    int rc = 0;
    pthread_mutex_lock(&m->mu);
    long i = mem_find(m, key);
    if (i < 0) {
        rc = berr_set(BERR_NOT_FOUND, "stat \"%s\": no such object", key);
    } else {
        out->size = (int64_t)m->entries[i].obj->len;
        out->mtime = m->entries[i].obj->mtime;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int mem_reader_open(struct driver *d, const char *key, struct driver_reader **out)
{
    struct mem_driver *m = (struct mem_driver *)d;
    pthread_mutex_lock(&m->mu);
    long i = mem_find(m, key);
    if (i < 0) {
        pthread_mutex_unlock(&m->mu);
        return berr_set(BERR_NOT_FOUND, "open \"%s\": no such object", key);
    }
    struct mem_reader *rd = xcalloc(1, sizeof(*rd));
    rd->base.driver = d;
    rd->base.fd = -1;
    rd->obj = m->entries[i].obj;
    rd->obj->refs++;
    rd->base.size = (int64_t)rd->obj->len;
    pthread_mutex_unlock(&m->mu);
    *out = &rd->base;
    return 0;
}

static int mem_reader_read_at(struct driver_reader *dr, int64_t offset, void *buf, size_t len,
                              size_t *n_out)
{
    struct mem_reader *rd = (struct mem_reader *)dr;
    struct mem_driver *m = (struct mem_driver *)dr->driver;
    size_t n = 0;
    pthread_mutex_lock(&m->mu);
    /* A writer may have truncated the object since (as O_TRUNC would a file). */
    if ((uint64_t)offset < rd->obj->len) {
        n = rd->obj->len - (size_t)offset;
        if (n > len)
            n = len;
        memcpy(buf, rd->obj->data + offset, n);
    }
    pthread_mutex_unlock(&m->mu);
    *n_out = n;
    return 0;
}

static void mem_reader_free(struct driver_reader *dr)
{
    struct mem_reader *rd = (struct mem_reader *)dr;
    struct mem_driver *m = (struct mem_driver *)dr->driver;
    pthread_mutex_lock(&m->mu);
    obj_unref(rd->obj);
    pthread_mutex_unlock(&m->mu);
    free(rd);
}

static int mem_writer_open(struct driver *d, const char *key, int append,
                           struct driver_writer **out)
{
    struct mem_driver *m = (struct mem_driver *)d;
    struct mem_writer *w = xcalloc(1, sizeof(*w));
    w->base.driver = d;
    w->key = xstrdup(key);
    pthread_mutex_lock(&m->mu);
    long i = mem_find(m, key);
    if (i >= 0 && append) {
        w->obj = m->entries[i].obj;
        w->obj->refs++;
    } else if (i >= 0) {
        /* Truncate in place, like O_TRUNC on an existing file. */
        w->obj = m->entries[i].obj;
        w->obj->refs++;
        w->obj->len = 0;
        w->obj->mtime = (int64_t)time(NULL);
    } else {
        w->obj = obj_new();
        mem_put(m, key, w->obj);
    }
    pthread_mutex_unlock(&m->mu);
    *out = &w->base;
    return 0;
}

static int mem_writer_open_unnamed(struct driver *d, const char *dir, struct driver_writer **out)
{
    (void)dir;
    struct mem_writer *w = xcalloc(1, sizeof(*w));
    w->base.driver = d;
    w->obj = obj_new(); /* in no entry until commit */
    *out = &w->base;
    return 0;
}

static int mem_writer_append(struct driver_writer *dw, const void *data, size_t len)
{
    struct mem_writer *w = (struct mem_writer *)dw;
    struct mem_driver *m = (struct mem_driver *)w->base.driver;
    pthread_mutex_lock(&m->mu);
    struct mem_obj *o = w->obj;
    if (o->len + len > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + len)
            cap *= 2;
        o->data = xrealloc(o->data, cap);
        o->cap = cap;
    }
    if (len > 0)
        memcpy(o->data + o->len, data, len);
    o->len += len;
    o->mtime = (int64_t)time(NULL);
    pthread_mutex_unlock(&m->mu);
    return 0;
}

static int64_t mem_writer_size(const struct driver_writer *dw)
{
    const struct mem_writer *w = (const struct mem_writer *)dw;
    struct mem_driver *m = (struct mem_driver *)w->base.driver;
    pthread_mutex_lock(&m->mu);
    int64_t n = (int64_t)w->obj->len;
    pthread_mutex_unlock(&m->mu);
    return n;
}

/* Release the writer; with unpublish, also remove its key if it still names its object. */
static void mem_writer_end(struct mem_writer *w, int unpublish)
{
    struct mem_driver *m = (struct mem_driver *)w->base.driver;
    pthread_mutex_lock(&m->mu);
    if (unpublish && w->key != NULL) {
        long i = mem_find(m, w->key);
        if (i >= 0 && m->entries[i].obj == w->obj)
            mem_drop(m, (size_t)i);
    }
    obj_unref(w->obj);
    pthread_mutex_unlock(&m->mu);
    free(w->key);
    free(w);
}

static int mem_writer_commit(struct driver_writer *dw, const char *dest_key)
{
    struct mem_writer *w = (struct mem_writer *)dw;
    struct mem_driver *m = (struct mem_driver *)w->base.driver;
    int rc = 0;
    pthread_mutex_lock(&m->mu);
    long i = w->key == NULL ? -1 : mem_find(m, w->key);
    if (w->key == NULL) {
        mem_put(m, dest_key, w->obj);
    } else if (i >= 0 && m->entries[i].obj == w->obj) {
        mem_put(m, dest_key, w->obj);
        if (strcmp(w->key, dest_key) != 0)
            mem_drop(m, (size_t)mem_find(m, w->key));
    } else {
        /* Like rename(2) of a file unlinked meanwhile. */
        rc = berr_set(BERR_IO, "rename \"%s\": staged object vanished", w->key);
    }
    pthread_mutex_unlock(&m->mu);
    mem_writer_end(w, 0);
    return rc;
}

static int mem_writer_close(struct driver_writer *dw)
{
    struct mem_writer *w = (struct mem_writer *)dw;
    int rc = w->key == NULL ? berr_set(BERR_INTERNAL, "an unnamed object cannot be kept") : 0;
    mem_writer_end(w, 0);
    return rc;
}

static void mem_writer_cancel(struct driver_writer *dw)
{
    mem_writer_end((struct mem_writer *)dw, 1);
}

static int mem_move(struct driver *d, const char *from, const char *to)
{
    struct mem_driver *m = (struct mem_driver *)d;
    int rc = 0;
    pthread_mutex_lock(&m->mu);
    long i = mem_find(m, from);
    if (i < 0) {
        rc = berr_set(BERR_NOT_FOUND, "rename \"%s\": no such object", from);
    } else if (strcmp(from, to) != 0) {
        struct mem_obj *o = m->entries[i].obj;
        mem_put(m, to, o);
        mem_drop(m, (size_t)mem_find(m, from));
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int mem_remove(struct driver *d, const char *key)
{
    struct mem_driver *m = (struct mem_driver *)d;
    int rc = 0;
    pthread_mutex_lock(&m->mu);
    long i = mem_find(m, key);
    if (i < 0)
        rc = berr_set(BERR_NOT_FOUND, "remove \"%s\": no such object", key);
    else
        mem_drop(m, (size_t)i);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

struct mem_snap {
    char *key;
    struct driver_stat st;
};

static int mem_walk(struct driver *d, const char *prefix, driver_walk_fn fn, void *ctx)
{
    struct mem_driver *m = (struct mem_driver *)d;
    size_t plen = strlen(prefix);
    struct mem_snap *snap = NULL;
    size_t n = 0;
    int rc = 0;
    pthread_mutex_lock(&m->mu);
    if (m->n > 0)
        snap = xcalloc(m->n, sizeof(*snap));
    for (size_t i = 0; i < m->n; i++) {
        const struct mem_entry *e = &m->entries[i];
        if (strncmp(e->key, prefix, plen) != 0)
            continue;
        snap[n].key = xstrdup(e->key);
        snap[n].st.size = (int64_t)e->obj->len;
        snap[n].st.mtime = e->obj->mtime;
        n++;
    }
    pthread_mutex_unlock(&m->mu);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = fn(ctx, snap[i].key, &snap[i].st);
    for (size_t i = 0; i < n; i++)
        free(snap[i].key);
    free(snap);
    return rc;
}

static void mem_free(struct driver *d)
{
    struct mem_driver *m = (struct mem_driver *)d;
    while (m->n > 0)
        mem_drop(m, m->n - 1);
    free(m->entries);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static const struct driver_ops mem_ops = {
    .name = "mem",
    .stat = mem_stat,
    .reader_open = mem_reader_open,
    .reader_read_at = mem_reader_read_at,
    .reader_free = mem_reader_free,
    .writer_open = mem_writer_open,
    .writer_open_unnamed = mem_writer_open_unnamed,
    .writer_append = mem_writer_append,
    .writer_size = mem_writer_size,
    .writer_commit = mem_writer_commit,
    .writer_close = mem_writer_close,
    .writer_cancel = mem_writer_cancel,
    .move = mem_move,
    .remove = mem_remove,
    .walk = mem_walk,
    .free = mem_free,
};

int driver_mem_new(struct driver **out)
{
    struct mem_driver *m = xcalloc(1, sizeof(*m));
    m->base.ops = &mem_ops;
    pthread_mutex_init(&m->mu, NULL);
    *out = &m->base;
    return 0;
}
