/*
 * driver_fs.c - storage driver over files under one root directory.
 *
 * A key is a path relative to the root; every call goes through the root's
 * directory fd (openat, renameat, ...), so the process working directory
 * never matters. A writer's staged object is an ordinary file under its own
 * key (e.g. uploads/<id>), visible to stat and reader_open while it grows.
 *
 * Readers hold the open file: their fd is what the HTTP layer sendfiles
 * from, and read_at is pread on it.
 *
 * An unnamed writer's object is an O_TMPFILE in the directory it names: no
 * directory entry (and no directory lock) until commit links it under its
 * key through /proc/self/fd, and nothing to clean up after a crash. Without
 * O_TMPFILE or /proc it is a named file with a unique name instead.
 *
 * Invariants:
 *  - commit = fsync(file) -> rename(staged, dest) -> fsync(dest's directory)
 *    (link instead of rename for an unnamed file; link then rename when dest
 *    exists): a published key always holds complete, durable bytes; a reader
 *    sees either the old object or the new one, never a partial file.
 *  - parent directories are created on demand (first try, then mkdir -p on
 *    ENOENT and retry), so the common path costs no extra syscalls.
 *  - errors: ENOENT -> BERR_NOT_FOUND, anything else -> BERR_IO with the
 *    strerror text in the message. Nothing is printed.
 */
#include "storage/driver.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/base/err.h"
#include "image/base/xalloc.h"

#define FS_KEY_MAX 4096

struct fs_driver {
    struct driver base;
    int rootfd;
    int tmpfile_ok; /* O_TMPFILE objects can be linked through /proc/self/fd */
};

/* Writers coalesce small appends (HTTP pieces of 16-64 KiB) into writes of
 * FS_WRITE_BUF bytes, but only once an object is past FS_BUF_AFTER bytes,
 * so a small blob never pays for the buffer. Every FS_WRITEBACK bytes the
 * kernel is asked to start writeback, so the final fsync waits for little. */
#define FS_WRITE_BUF (512 * 1024)
#define FS_BUF_AFTER (256 * 1024)
#define FS_WRITEBACK (32LL << 20)

struct fs_writer {
    struct driver_writer base;
    int fd;
    int64_t size;        /* logical size: on disk + buffered */
    int64_t written;     /* bytes this writer appended so far */
    int64_t synced_upto; /* file offset up to which writeback was started */
    char *buf;           /* NULL until the object is past FS_BUF_AFTER */
    size_t blen;
    char *key;     /* the staged file's key; for messages only when unnamed */
    int unnamed;   /* an O_TMPFILE: no key until commit links it */
    int anonymous; /* opened by writer_open_unnamed (O_TMPFILE or not): no close */
};

/* Map errno to a code with a message naming the operation and the key. */
static int fs_err(int err, const char *op, const char *key)
{
    char msg[128];
    const char *s = strerror_r(err, msg, sizeof(msg));
    if (err == ENOENT)
        return berr_set(BERR_NOT_FOUND, "%s \"%s\": %s", op, key, s);
    return berr_set(BERR_IO, "%s \"%s\": %s", op, key, s);
}

/* Length of the directory part of key (0 when the key is at the root). */
static size_t dir_len(const char *key)
{
    const char *slash = strrchr(key, '/');
    return slash == NULL ? 0 : (size_t)(slash - key);
}

static int fs_sync_parent(int rootfd, const char *key);

/* Create every directory of key's parent (mkdir -p relative to the root). A
 * directory this call creates is made durable in its parent, so a rename into
 * it that is later made durable (fs_sync_parent) cannot be lost with it. */
static int fs_mkdirs(int rootfd, const char *key)
{
    char path[FS_KEY_MAX];
    size_t n = dir_len(key);
    if (n >= sizeof(path))
        return berr_set(BERR_IO, "key \"%s\" too long", key);
    memcpy(path, key, n);
    path[n] = '\0';
    for (size_t i = 1; i <= n; i++) {
        if (i < n && path[i] != '/')
            continue;
        path[i] = '\0';
        if (mkdirat(rootfd, path, 0755) == 0) {
            int rc = fs_sync_parent(rootfd, path);
            if (rc < 0)
                return rc;
        } else if (errno != EEXIST) {
            return fs_err(errno == ENOENT ? EIO : errno, "mkdir", key);
        }
        if (i < n)
            path[i] = '/';
    }
    return 0;
}

/* fsync the directory holding key. */
static int fs_sync_parent(int rootfd, const char *key)
{
    char path[FS_KEY_MAX];
    size_t n = dir_len(key);
    int fd = rootfd;
    if (n >= sizeof(path))
        return berr_set(BERR_IO, "key \"%s\" too long", key);
    if (n > 0) {
        memcpy(path, key, n);
        path[n] = '\0';
        fd = openat(rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return fs_err(errno == ENOENT ? EIO : errno, "open directory of", key);
    }
    int rc = 0;
    if (fsync(fd) < 0)
        rc = fs_err(errno == ENOENT ? EIO : errno, "fsync directory of", key);
    if (fd != rootfd)
        close(fd);
    return rc;
}

static int fs_stat(struct driver *d, const char *key, struct driver_stat *out)
{
    struct fs_driver *fs = (struct fs_driver *)d;
    struct stat st;
    if (fstatat(fs->rootfd, key, &st, 0) < 0)
        return fs_err(errno, "stat", key);
    if (!S_ISREG(st.st_mode))
        return berr_set(BERR_NOT_FOUND, "stat \"%s\": not a file", key);
    out->size = (int64_t)st.st_size;
    out->mtime = (int64_t)st.st_mtime;
    return 0;
}

static int fs_reader_open(struct driver *d, const char *key, struct driver_reader **out)
{
    struct fs_driver *fs = (struct fs_driver *)d;
    struct stat st;
    int rc;
    int fd = openat(fs->rootfd, key, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fs_err(errno, "open", key);
    if (fstat(fd, &st) < 0) {
        rc = fs_err(errno == ENOENT ? EIO : errno, "stat", key);
        goto close_fd;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = berr_set(BERR_NOT_FOUND, "open \"%s\": not a file", key);
        goto close_fd;
    }
    struct driver_reader *rd = xcalloc(1, sizeof(*rd));
    rd->driver = d;
    rd->size = (int64_t)st.st_size;
    rd->fd = fd;
    *out = rd;
    return 0;
close_fd:
    close(fd);
    return rc;
}

static int fs_reader_read_at(struct driver_reader *rd, int64_t offset, void *buf, size_t len,
                             size_t *n_out)
{
    size_t done = 0;
    if (rd->fd < 0)
        return berr_set(BERR_INTERNAL, "read: the reader's fd was taken");
    while (done < len) {
        ssize_t n = pread(rd->fd, (char *)buf + done, len - done, (off_t)offset + (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return berr_set(BERR_IO, "read at %lld: %s", (long long)offset, strerror(errno));
        if (n == 0)
            break;
        done += (size_t)n;
    }
    *n_out = done;
    return 0;
}

static void fs_reader_free(struct driver_reader *rd)
{
    if (rd->fd >= 0)
        close(rd->fd);
    free(rd);
}

static int fs_writer_open(struct driver *d, const char *key, int append, struct driver_writer **out)
{
    struct fs_driver *fs = (struct fs_driver *)d;
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
    int rc;
    int fd = openat(fs->rootfd, key, flags, 0644);
    if (fd < 0 && errno == ENOENT) {
        rc = fs_mkdirs(fs->rootfd, key);
        if (rc < 0)
            return rc;
        fd = openat(fs->rootfd, key, flags, 0644);
    }
    if (fd < 0)
        return fs_err(errno == ENOENT ? EIO : errno, "open", key);
    int64_t size = 0;
    if (append) {
        struct stat st;
        if (fstat(fd, &st) < 0) {
            rc = fs_err(errno == ENOENT ? EIO : errno, "stat", key);
            close(fd);
            return rc;
        }
        size = (int64_t)st.st_size;
    }
    struct fs_writer *w = xcalloc(1, sizeof(*w));
    w->base.driver = d;
    w->fd = fd;
    w->size = size;
    /* Bytes earlier writers appended may not be on their way to the disk
     * yet: the next writeback covers them from the last FS_WRITEBACK
     * boundary, so an upload in many chunks is written out while it is
     * received, as a single-request one is, not all at its final fsync. */
    w->synced_upto = size - size % FS_WRITEBACK;
    w->key = xstrdup(key);
    *out = &w->base;
    return 0;
}

/* A new file without a name (O_TMPFILE in dir): a cancel or a crash leaves
 * nothing, and creating it takes no directory lock. Where O_TMPFILE or
 * /proc is missing, a named file under dir with a unique name instead. */
static int fs_writer_open_unnamed(struct driver *d, const char *dir, struct driver_writer **out)
{
    struct fs_driver *fs = (struct fs_driver *)d;
    char path[FS_KEY_MAX];
    size_t n = strlen(dir) - 1; /* without the trailing '/' (driver.c checked it) */
    if (n >= sizeof(path))
        return berr_set(BERR_IO, "directory \"%s\" too long", dir);
    memcpy(path, dir, n);
    path[n] = '\0';
    int fd = -1;
    for (int attempt = 0; fs->tmpfile_ok && attempt < 2; attempt++) {
        fd = openat(fs->rootfd, path, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
        if (fd >= 0 || errno != ENOENT || attempt > 0)
            break;
        char key[FS_KEY_MAX];
        snprintf(key, sizeof(key), "%s.", dir);
        int rc = fs_mkdirs(fs->rootfd, key);
        if (rc < 0)
            return rc;
    }
    if (fd < 0 && fs->tmpfile_ok && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
        return fs_err(errno == ENOENT ? EIO : errno, "create an unnamed file in", dir);
    if (fd < 0) {
        static atomic_ulong counter;
        char key[FS_KEY_MAX];
        snprintf(key, sizeof(key), "%sunnamed-%ld-%lu", dir, (long)getpid(),
                 atomic_fetch_add(&counter, 1));
        int rc = fs_writer_open(d, key, 0, out);
        if (rc == 0)
            ((struct fs_writer *)*out)->anonymous = 1;
        return rc;
    }
    struct fs_writer *w = xcalloc(1, sizeof(*w));
    w->base.driver = d;
    w->fd = fd;
    w->key = xasprintf("%s(unnamed)", dir);
    w->unnamed = 1;
    w->anonymous = 1;
    *out = &w->base;
    return 0;
}

/* Give an unnamed file the key dest (replacing what is there). */
static int fs_link_unnamed(struct fs_driver *fs, struct fs_writer *w, const char *dest)
{
    char proc[64], tmp[FS_KEY_MAX];
    static atomic_ulong counter;
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", w->fd);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (linkat(AT_FDCWD, proc, fs->rootfd, dest, AT_SYMLINK_FOLLOW) == 0)
            return 0;
        if (errno != ENOENT || attempt > 0)
            break;
        int rc = fs_mkdirs(fs->rootfd, dest);
        if (rc < 0)
            return rc;
    }
    if (errno != EEXIST)
        return fs_err(errno == ENOENT ? EIO : errno, "link to", dest);
    /* link(2) does not replace: a fresh name next to dest, renamed over it. */
    snprintf(tmp, sizeof(tmp), "%s.link-%ld-%lu", dest, (long)getpid(),
             atomic_fetch_add(&counter, 1));
    if (linkat(AT_FDCWD, proc, fs->rootfd, tmp, AT_SYMLINK_FOLLOW) < 0)
        return fs_err(errno == ENOENT ? EIO : errno, "link to", tmp);
    if (renameat(fs->rootfd, tmp, fs->rootfd, dest) < 0) {
        int rc = fs_err(errno == ENOENT ? EIO : errno, "rename to", dest);
        unlinkat(fs->rootfd, tmp, 0);
        return rc;
    }
    return 0;
}

/* write(2) all of p[0..len). */
static int fs_write_all(struct fs_writer *w, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(w->fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return fs_err(errno == ENOENT ? EIO : errno, "write", w->key);
        }
        if (n == 0)
            return fs_err(ENOSPC, "write", w->key);
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Write out the buffer; start writeback of what is on disk every FS_WRITEBACK. */
static int fs_flush(struct fs_writer *w)
{
    if (w->blen == 0)
        return 0;
    int rc = fs_write_all(w, w->buf, w->blen);
    w->blen = 0;
    if (rc < 0)
        return rc;
    if (w->size - w->synced_upto >= FS_WRITEBACK) {
        sync_file_range(w->fd, w->synced_upto, w->size - w->synced_upto, SYNC_FILE_RANGE_WRITE);
        w->synced_upto = w->size;
    }
    return 0;
}

static int fs_writer_append(struct driver_writer *dw, const void *data, size_t len)
{
    struct fs_writer *w = (struct fs_writer *)dw;
    int rc;
    if (!w->buf && w->written + (int64_t)len > FS_BUF_AFTER)
        w->buf = xmalloc(FS_WRITE_BUF);
    if (!w->buf || (w->blen == 0 && len >= FS_WRITE_BUF)) {
        rc = fs_write_all(w, data, len);
    } else {
        if (w->blen + len > FS_WRITE_BUF) {
            rc = fs_flush(w);
            if (rc < 0)
                return rc;
        }
        if (len >= FS_WRITE_BUF) {
            rc = fs_write_all(w, data, len);
        } else {
            memcpy(w->buf + w->blen, data, len);
            w->blen += len;
            rc = 0;
        }
    }
    if (rc < 0)
        return rc;
    w->size += (int64_t)len;
    w->written += (int64_t)len;
    return 0;
}

static int64_t fs_writer_size(const struct driver_writer *dw)
{
    const struct fs_writer *w = (const struct fs_writer *)dw;
    return w->size;
}

static void fs_writer_destroy(struct fs_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    free(w->buf);
    free(w->key);
    free(w);
}

static int fs_writer_commit(struct driver_writer *dw, const char *dest_key)
{
    struct fs_writer *w = (struct fs_writer *)dw;
    struct fs_driver *fs = (struct fs_driver *)w->base.driver;
    int rc = fs_flush(w);
    if (rc < 0)
        goto remove_staged;
    if (fsync(w->fd) < 0) {
        rc = fs_err(errno == ENOENT ? EIO : errno, "fsync", w->key);
        goto remove_staged;
    }
    if (w->unnamed) {
        rc = fs_link_unnamed(fs, w, dest_key);
        if (rc < 0)
            goto remove_staged;
    } else if (renameat(fs->rootfd, w->key, fs->rootfd, dest_key) < 0) {
        if (errno != ENOENT) {
            rc = fs_err(errno, "rename to", dest_key);
            goto remove_staged;
        }
        rc = fs_mkdirs(fs->rootfd, dest_key);
        if (rc < 0)
            goto remove_staged;
        if (renameat(fs->rootfd, w->key, fs->rootfd, dest_key) < 0) {
            rc = fs_err(errno == ENOENT ? EIO : errno, "rename to", dest_key);
            goto remove_staged;
        }
    }
    /* The bytes are published (and complete); only the rename's durability is in question. */
    rc = fs_sync_parent(fs->rootfd, dest_key);
    fs_writer_destroy(w);
    return rc;
remove_staged:
    if (!w->unnamed)
        unlinkat(fs->rootfd, w->key, 0);
    fs_writer_destroy(w);
    return rc;
}

static void fs_writer_cancel(struct driver_writer *dw);

static int fs_writer_close(struct driver_writer *dw)
{
    struct fs_writer *w = (struct fs_writer *)dw;
    if (w->anonymous) {
        fs_writer_cancel(dw);
        return berr_set(BERR_INTERNAL, "an unnamed file cannot be kept");
    }
    int rc = fs_flush(w);
    if (close(w->fd) < 0 && errno != EINTR && rc == 0)
        rc = fs_err(errno, "close", w->key);
    w->fd = -1;
    fs_writer_destroy(w);
    return rc;
}

static void fs_writer_cancel(struct driver_writer *dw)
{
    struct fs_writer *w = (struct fs_writer *)dw;
    struct fs_driver *fs = (struct fs_driver *)w->base.driver;
    if (!w->unnamed)
        unlinkat(fs->rootfd, w->key, 0);
    fs_writer_destroy(w);
}

static int fs_move(struct driver *d, const char *from, const char *to)
{
    struct fs_driver *fs = (struct fs_driver *)d;
    int rc;
    if (renameat(fs->rootfd, from, fs->rootfd, to) < 0) {
        struct stat st;
        if (errno != ENOENT)
            return fs_err(errno, "rename to", to);
        if (fstatat(fs->rootfd, from, &st, 0) < 0)
            return fs_err(errno, "rename", from);
        rc = fs_mkdirs(fs->rootfd, to);
        if (rc < 0)
            return rc;
        if (renameat(fs->rootfd, from, fs->rootfd, to) < 0)
            return fs_err(errno, "rename", from);
    }
    rc = fs_sync_parent(fs->rootfd, to);
    if (rc == 0 && (dir_len(from) != dir_len(to) || memcmp(from, to, dir_len(to)) != 0))
        rc = fs_sync_parent(fs->rootfd, from);
    return rc;
}

static int fs_remove(struct driver *d, const char *key)
{
    struct fs_driver *fs = (struct fs_driver *)d;
    if (unlinkat(fs->rootfd, key, 0) < 0)
        return fs_err(errno, "remove", key);
    return 0;
}

struct fs_walk {
    const char *prefix;
    size_t prefix_len;
    driver_walk_fn fn;
    void *ctx;
    char key[FS_KEY_MAX];
};

/* Visit directory fd (takes ownership) whose key prefix is wk->key[0..len). */
static int fs_walk_dir(struct fs_walk *wk, int fd, size_t len)
{
    int rc = 0;
    DIR *dir = fdopendir(fd);
    if (dir == NULL) {
        rc = fs_err(errno == ENOENT ? EIO : errno, "walk", wk->prefix);
        close(fd);
        return rc;
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(dir);
        if (de == NULL) {
            if (errno != 0)
                rc = fs_err(errno == ENOENT ? EIO : errno, "walk", wk->prefix);
            break;
        }
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        size_t nlen = strlen(name);
        if (len + nlen + 2 > sizeof(wk->key))
            continue;
        memcpy(wk->key + len, name, nlen);
        size_t klen = len + nlen;
        wk->key[klen] = '\0';
        struct stat st;
        if (fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue; /* vanished meanwhile */
        if (S_ISDIR(st.st_mode)) {
            wk->key[klen] = '/';
            wk->key[klen + 1] = '\0';
            size_t cmp = klen + 1 < wk->prefix_len ? klen + 1 : wk->prefix_len;
            if (memcmp(wk->key, wk->prefix, cmp) != 0)
                continue;
            int sub = openat(dirfd(dir), name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (sub < 0)
                continue;
            rc = fs_walk_dir(wk, sub, klen + 1);
            if (rc != 0)
                break;
        } else if (S_ISREG(st.st_mode)) {
            if (klen < wk->prefix_len || memcmp(wk->key, wk->prefix, wk->prefix_len) != 0)
                continue;
            struct driver_stat ds = {(int64_t)st.st_size, (int64_t)st.st_mtime};
            rc = wk->fn(wk->ctx, wk->key, &ds);
            if (rc != 0)
                break;
        }
    }
    closedir(dir);
    return rc;
}

static int fs_walk(struct driver *d, const char *prefix, driver_walk_fn fn, void *ctx)
{
    struct fs_driver *fs = (struct fs_driver *)d;
    struct fs_walk *wk = xmalloc(sizeof(*wk));
    int rc = 0;
    int fd;
    size_t dl = dir_len(prefix);
    wk->prefix = prefix;
    wk->prefix_len = strlen(prefix);
    wk->fn = fn;
    wk->ctx = ctx;
    if (dl + 2 > sizeof(wk->key)) {
        rc = berr_set(BERR_INVALID, "walk prefix too long");
        goto free_wk;
    }
    memcpy(wk->key, prefix, dl);
    wk->key[dl] = '\0';
    fd = openat(fs->rootfd, dl > 0 ? wk->key : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            rc = fs_err(errno, "walk", prefix);
        goto free_wk;
    }
    if (dl > 0)
        wk->key[dl++] = '/';
    wk->key[dl] = '\0';
    rc = fs_walk_dir(wk, fd, dl);
free_wk:
    free(wk);
    return rc;
}

static void fs_free(struct driver *d)
{
    struct fs_driver *fs = (struct fs_driver *)d;
    close(fs->rootfd);
    free(fs);
}

static const struct driver_ops fs_ops = {
    .name = "fs",
    .stat = fs_stat,
    .reader_open = fs_reader_open,
    .reader_read_at = fs_reader_read_at,
    .reader_free = fs_reader_free,
    .writer_open = fs_writer_open,
    .writer_open_unnamed = fs_writer_open_unnamed,
    .writer_append = fs_writer_append,
    .writer_size = fs_writer_size,
    .writer_commit = fs_writer_commit,
    .writer_close = fs_writer_close,
    .writer_cancel = fs_writer_cancel,
    .move = fs_move,
    .remove = fs_remove,
    .walk = fs_walk,
    .free = fs_free,
};

/* mkdir -p of an absolute or cwd-relative directory path. */
static int mkdir_p(const char *root)
{
    char *path = xstrdup(root);
    int rc = 0;
    size_t n = strlen(path);
    for (size_t i = 1; i <= n; i++) {
        if (i < n && path[i] != '/')
            continue;
        path[i] = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            rc = fs_err(errno == ENOENT ? EIO : errno, "mkdir", path);
            break;
        }
        if (i < n)
            path[i] = '/';
    }
    free(path);
    return rc;
}

int driver_fs_new(struct driver **out, const char *root)
{
    *out = NULL;
    if (root == NULL || root[0] == '\0')
        return berr_set(BERR_INVALID, "storage root missing");
    int rc = mkdir_p(root);
    if (rc < 0)
        return rc;
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fs_err(errno == ENOENT ? EIO : errno, "open root", root);
    struct fs_driver *fs = xcalloc(1, sizeof(*fs));
    fs->base.ops = &fs_ops;
    fs->rootfd = fd;
    fs->tmpfile_ok = access("/proc/self/fd", X_OK) == 0;
    *out = &fs->base;
    return 0;
}

void driver_fs_no_tmpfile(struct driver *d)
{
    ((struct fs_driver *)d)->tmpfile_ok = 0;
}
