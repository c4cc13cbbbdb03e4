/*
 * tar.h - a streaming tar reader: ustar, GNU long names (L/K) and pax
 * extended headers (path, linkpath, size, uid, gid, mtime). Used for layers
 * and for `docker save` archives. It reads; it never touches the file system.
 */
#ifndef BERTH_CLIENT_TAR_H
#define BERTH_CLIENT_TAR_H

#include <stdint.h>
#include <sys/types.h>

/* The byte source: like read(2), returns count, 0 at end, negative BERR_*. */
typedef ssize_t (*tar_read_fn)(void *ctx, void *buf, size_t n);

enum tar_type {
    TAR_FILE = '0',
    TAR_HARDLINK = '1',
    TAR_SYMLINK = '2',
    TAR_CHAR = '3',
    TAR_BLOCK = '4',
    TAR_DIR = '5',
    TAR_FIFO = '6',
};

struct tar_entry {
    char *path;    /* owned: the member name as stored (not cleaned) */
    char *link;    /* owned: link target for hard and symbolic links, else NULL */
    char type;     /* enum tar_type, or another type byte (callers skip it) */
    unsigned mode; /* permission bits incl. setuid/setgid/sticky */
    int64_t uid;
    int64_t gid;
    int64_t size; /* data bytes that follow (regular files) */
    int64_t mtime;
    unsigned devmajor;
    unsigned devminor;
};

struct tar_reader;

/* A reader over `read(ctx, ...)`. Free with tar_reader_free. */
struct tar_reader *tar_reader_new(tar_read_fn read, void *ctx);
/* Free the reader; accepts NULL. */
void tar_reader_free(struct tar_reader *t);

/* The next member into *e (release with tar_entry_release). Skips whatever
 * of the previous member's data was not read. Returns 1 for a member, 0 at
 * the end of the archive, or BERR_INVALID (corrupt header, bad checksum,
 * truncated archive) / the reader's error. */
int tar_next(struct tar_reader *t, struct tar_entry *e);
/* Read up to n bytes of the current member's data: count, 0 at its end,
 * or a negative code. */
ssize_t tar_read_data(struct tar_reader *t, void *buf, size_t n);
/* Free the entry's fields. */
void tar_entry_release(struct tar_entry *e);

#endif
