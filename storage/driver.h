/*
 * driver.h - the storage driver interface (a vtable, like SQLite's VFS).
 *
 * A driver stores opaque byte objects under keys built by storage/paths.c
 * (relative, '/'-separated, validated: never "..", never absolute). It knows
 * nothing of digests, repositories or HTTP. Drivers: driver_fs (files under a
 * root directory), driver_mem (memory, for tests), driver_faulty (wraps
 * another driver and fails its Nth operation, for tests). An object-store
 * driver implements the same table.
 *
 * Writers stream: open (optionally appending to what an earlier writer
 * left), append any number of times, then exactly one of commit (durable,
 * atomically published under the destination key), close (keep the staged
 * bytes for a later writer) or cancel (discard). All three free the writer.
 * An unnamed writer (writer_open_unnamed) stages bytes no key names: nothing
 * of it survives a cancel or a crash, and it cannot be closed and resumed.
 *
 * All functions return 0 or a negative BERR_* code (BERR_NOT_FOUND for a
 * missing key, BERR_IO otherwise) with a message.
 */
#ifndef BERTH_DRIVER_H
#define BERTH_DRIVER_H

#include <stddef.h>
#include <stdint.h>

struct driver;
struct driver_writer;
struct driver_reader;

struct driver_stat {
    int64_t size;
    int64_t mtime; /* seconds since the epoch */
};

/* Called by walk for every object under a prefix; return non-zero to stop
 * (that value is returned by walk). */
typedef int (*driver_walk_fn)(void *ctx, const char *key, const struct driver_stat *st);

struct driver_ops {
    const char *name;
    int (*stat)(struct driver *d, const char *key, struct driver_stat *out);
    /* Open a reader on `key` (see struct driver_reader); the caller frees it
     * with reader_free. */
    int (*reader_open)(struct driver *d, const char *key, struct driver_reader **out);
    /* Copy up to len bytes at `offset` into buf; *n_out = bytes copied. Fewer
     * than len only at the end of the object (0 at or past it). */
    int (*reader_read_at)(struct driver_reader *rd, int64_t offset, void *buf, size_t len,
                          size_t *n_out);
    /* Release the reader and its fd, if it still has one. */
    void (*reader_free)(struct driver_reader *rd);
    /* Open a writer on `key`; with append != 0 keep existing bytes (the writer
     * starts at their end), else truncate. Parent "directories" are created. */
    int (*writer_open)(struct driver *d, const char *key, int append, struct driver_writer **out);
    /* Open a writer on a new object without a key; `dir` ("uploads/") is
     * where a driver may stage it. Only commit gives it a key (replacing
     * what is there); close fails with BERR_INTERNAL (and cancels). */
    int (*writer_open_unnamed)(struct driver *d, const char *dir, struct driver_writer **out);
    int (*writer_append)(struct driver_writer *w, const void *data, size_t len);
    /* Bytes in the object so far (existing + appended). */
    int64_t (*writer_size)(const struct driver_writer *w);
    /* Make the bytes durable (fsync), atomically move them to dest_key
     * (replacing it), make the move durable (fsync the directory). Frees w,
     * also on failure (then the staged bytes are removed). */
    int (*writer_commit)(struct driver_writer *w, const char *dest_key);
    /* Stop writing, keep the staged object for a later append. Frees w. */
    int (*writer_close)(struct driver_writer *w);
    /* Stop writing and remove the staged object. Frees w. Never fails. */
    void (*writer_cancel)(struct driver_writer *w);
    /* Atomically rename from -> to (replacing `to`), durable on return. */
    int (*move)(struct driver *d, const char *from, const char *to);
    /* Remove one object. BERR_NOT_FOUND when absent. */
    int (*remove)(struct driver *d, const char *key);
    /* Visit every object whose key starts with prefix (a "directory", e.g.
     * "blobs/sha256/"), in no particular order. */
    int (*walk)(struct driver *d, const char *prefix, driver_walk_fn fn, void *ctx);
    void (*free)(struct driver *d);
};

/* Every driver struct starts with this. */
struct driver {
    const struct driver_ops *ops;
};

/* Thin dispatchers, so callers write driver_stat(d, ...) */
int driver_stat(struct driver *d, const char *key, struct driver_stat *out);
int driver_reader_open(struct driver *d, const char *key, struct driver_reader **out);
/* Never reads past rd->size: a short count means the end of the object. */
int driver_reader_read_at(struct driver_reader *rd, int64_t offset, void *buf, size_t len,
                          size_t *n_out);
/* Read exactly len bytes at offset: BERR_IO when the object ends before. */
int driver_reader_read_full(struct driver_reader *rd, int64_t offset, void *buf, size_t len);
/* Take the reader's file descriptor, or -1 when it has none. The caller owns
 * (closes) the fd, positioned anywhere, and may read it by offset (pread,
 * sendfile) for [0, rd->size); the reader is then spent: the only call left
 * on it is driver_reader_free. */
int driver_reader_take_fd(struct driver_reader *rd);
/* Accepts NULL. */
void driver_reader_free(struct driver_reader *rd);
int driver_writer_open(struct driver *d, const char *key, int append, struct driver_writer **out);
int driver_writer_open_unnamed(struct driver *d, const char *dir, struct driver_writer **out);
int driver_writer_append(struct driver_writer *w, const void *data, size_t len);
int64_t driver_writer_size(const struct driver_writer *w);
int driver_writer_commit(struct driver_writer *w, const char *dest_key);
int driver_writer_close(struct driver_writer *w);
void driver_writer_cancel(struct driver_writer *w);
int driver_move(struct driver *d, const char *from, const char *to);
int driver_remove(struct driver *d, const char *key);
int driver_walk(struct driver *d, const char *prefix, driver_walk_fn fn, void *ctx);
/* Accepts NULL. */
void driver_free(struct driver *d);

/* Writers remember their driver: every driver_writer struct starts with this. */
struct driver_writer {
    struct driver *driver;
};

/* An open object: every driver_reader struct starts with this. A reader
 * keeps the object it opened when the key is removed or replaced meanwhile
 * (like an open file; blobs are never rewritten in place). Reads never go
 * past `size`. Use a reader from one thread at a time; free it with
 * driver_reader_free. */
struct driver_reader {
    struct driver *driver;
    int64_t size; /* when opened */
    int fd;       /* >= 0: readable by offset, owned by the reader; -1: read_at only */
};

/* Constructors. */
/* Files under `root` (created if missing). */
int driver_fs_new(struct driver **out, const char *root);
/* Tests: stage unnamed objects as named files, as without O_TMPFILE. */
void driver_fs_no_tmpfile(struct driver *d);
/* In memory; its readers have no fd (they exercise the read_at path). */
int driver_mem_new(struct driver **out);
/* Wraps `inner` (takes ownership): operation number `fail_at` (1-based,
 * counting every call through the vtable including writer and reader calls,
 * except writer_size, writer_cancel and reader_free, which cannot fail) and
 * every one after it when `sticky`, fails with BERR_IO. fail_at 0 = never. An injected failure
 * leaves the inner store as the real failure would: a failed append writes
 * nothing, a failed commit cancels (staged bytes removed, nothing
 * published). Its readers have no fd: every read_at is an operation. */
int driver_faulty_new(struct driver **out, struct driver *inner, int fail_at, int sticky);
/* Number of operations the faulty driver has seen. */
int driver_faulty_count(const struct driver *d);

#endif
