/*
 * layout.c - OCI image layout directories (oci-layout, index.json, blobs/).
 *
 * All file access is relative to a directory fd held open for the layout's
 * lifetime (openat/renameat/mkdirat), and blob paths come only from
 * blob_relpath(), which re-validates the digest before formatting it, so no
 * caller-provided string ever becomes a path component.
 *
 * Durability: a blob or index.json is written to a temporary file in the
 * directory it will live in, fsync'd, renamed over the final name, and the
 * directory is fsync'd. Readers therefore see the old or the new file, never
 * a partial one. index.json read-modify-write cycles hold flock(LOCK_EX) on
 * the layout directory.
 */
#include "image/layout.h"

#include "image/base/buf.h"
#include "image/base/err.h"
#include "image/base/xalloc.h"
#include "image/reference.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define OCI_LAYOUT_FILE "oci-layout"
#define INDEX_FILE      "index.json"
#define OCI_LAYOUT_TEXT "{\"imageLayoutVersion\":\"1.0.0\"}\n"
#define EMPTY_INDEX_TEXT                                                                           \
    "{\n  \"schemaVersion\": 2,\n  \"mediaType\": \"" MT_OCI_INDEX "\",\n  \"manifests\": []\n}\n"
#define TMP_NAME_MAX 48
#define REL_MAX      (sizeof("blobs/") + DIGEST_MAX_STR)

struct layout {
    char *path;
    int dirfd;
};

struct layout_writer {
    struct layout *l;
    int fd;     /* temporary file, -1 once closed */
    int dirfd;  /* blobs/<alg> */
    int failed; /* an error happened: only free is allowed */
    int done;   /* committed */
    int has_expected;
    struct digest expected;
    int64_t expected_size;
    int64_t written;
    struct digester *hash;
    char tmp[TMP_NAME_MAX];
};

/* berr_set(BERR_IO) with the strerror text of err. */
static int io_err(int err, const char *what, const char *name)
{
    char eb[128];
    const char *es = strerror_r(err, eb, sizeof(eb));
    return berr_set(BERR_IO, "cannot %s '%s': %s", what, name, es);
}

/* "blobs/<alg>/<hex>" for d into rel (REL_MAX bytes); the digest is
 * validated again so a hand-filled struct cannot smuggle in a path. */
static int blob_relpath(char *rel, size_t rel_size, const struct digest *d)
{
    struct digest v;
    size_t n = strnlen(d->str, sizeof(d->str));
    if (n == sizeof(d->str))
        return berr_set(BERR_DIGEST_INVALID, "digest is not terminated");
    int rc = digest_parse(&v, d->str, n);
    if (rc < 0)
        return rc;
    int w = snprintf(rel, rel_size, "blobs/%s/%s", digest_alg_name(v.alg), v.hex);
    if (w < 0 || (size_t)w >= rel_size)
        return berr_set(BERR_INTERNAL, "blob path too long");
    return 0;
}

/* A fresh temporary name "<prefix><16 hex>". */
static void tmp_name(char *out, size_t size, const char *prefix)
{
    unsigned char rnd[8];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        /* not secret: only uniqueness matters */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)out;
        memcpy(rnd, &x, sizeof(rnd));
    }
    snprintf(out, size, "%s%02x%02x%02x%02x%02x%02x%02x%02x", prefix, rnd[0], rnd[1], rnd[2],
             rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
}

/* Create and open a temporary file in dirfd; name written to name. */
static int tmp_open(int *out_fd, int dirfd, char *name, size_t name_size, const char *prefix)
{
    for (int attempt = 0; attempt < 16; attempt++) {
        tmp_name(name, name_size, prefix);
        int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0) {
            *out_fd = fd;
            return 0;
        }
        if (errno != EEXIST)
            return io_err(errno, "create", name);
    }
    return berr_set(BERR_IO, "cannot create a temporary file");
}

static int write_all(int fd, const void *data, size_t len, const char *name)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return io_err(errno, "write", name);
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* fsync fd, close it, rename tmp over final in dirfd and fsync dirfd. The
 * fd is closed in every case; on failure tmp is removed. */
static int commit_file(int fd, int dirfd, const char *tmp, const char *final)
{
    int rc = 0;
    if (fsync(fd) < 0)
        rc = io_err(errno, "fsync", tmp);
    if (close(fd) < 0 && rc == 0)
        rc = io_err(errno, "close", tmp);
    if (rc == 0 && renameat(dirfd, tmp, dirfd, final) < 0)
        rc = io_err(errno, "rename into", final);
    if (rc < 0) {
        unlinkat(dirfd, tmp, 0);
        return rc;
    }
    if (fsync(dirfd) < 0)
        return io_err(errno, "fsync directory of", final);
    return 0;
}

/* Atomically replace `name` in dirfd with data. */
static int write_file_atomic(int dirfd, const char *name, const void *data, size_t len)
{
    char tmp[TMP_NAME_MAX];
    int fd;
    int rc = tmp_open(&fd, dirfd, tmp, sizeof(tmp), ".tmp-");
    if (rc < 0)
        return rc;
    rc = write_all(fd, data, len, tmp);
    if (rc < 0) {
        close(fd);
        unlinkat(dirfd, tmp, 0);
        return rc;
    }
    return commit_file(fd, dirfd, tmp, name);
}

/* Read the regular file fd (named name) fully: at most max bytes, else
 * BERR_TOO_LARGE. The buffer is NUL-terminated. */
static int read_fd_all(char **out, size_t *out_len, int fd, size_t max, const char *name)
{
    struct stat st;
    *out = NULL;
    *out_len = 0;
    if (fstat(fd, &st) < 0)
        return io_err(errno, "stat", name);
    if (!S_ISREG(st.st_mode))
        return berr_set(BERR_IO, "'%s' is not a regular file", name);
    if ((uint64_t)st.st_size > max)
        return berr_set(BERR_TOO_LARGE, "'%s' is %lld bytes, over the %zu byte cap", name,
                        (long long)st.st_size, max);
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *data = xmalloc(cap + 1);
    for (;;) {
        if (len == cap) {
            /* the file grew after fstat */
            if (cap > max)
                break;
            cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            data = xrealloc(data, cap + 1);
        }
        ssize_t n = read(fd, data + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            free(data);
            return io_err(err, "read", name);
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max) {
        free(data);
        return berr_set(BERR_TOO_LARGE, "'%s' is over the %zu byte cap", name, max);
    }
    data[len] = '\0';
    *out = data;
    *out_len = len;
    return 0;
}

/* Read dirfd/name fully (see read_fd_all). ENOENT -> enoent_code. */
static int read_file_at(char **out, size_t *out_len, int dirfd, const char *name, size_t max,
                        int enoent_code)
{
    *out = NULL;
    *out_len = 0;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return berr_set(enoent_code, "'%s' does not exist", name);
        return io_err(errno, "open", name);
    }
    int rc = read_fd_all(out, out_len, fd, max, name);
    close(fd);
    return rc;
}

/* mkdirat that accepts an existing directory. */
static int mkdir_at(int dirfd, const char *name)
{
    if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
        return io_err(errno, "create directory", name);
    return 0;
}

/* Check oci-layout: a JSON object whose imageLayoutVersion is "1.x". */
static int check_oci_layout(struct layout *l)
{
    char *text;
    size_t len;
    int rc = read_file_at(&text, &len, l->dirfd, OCI_LAYOUT_FILE, 64 * 1024, BERR_INVALID);
    if (rc == BERR_INVALID)
        return berr_set(BERR_INVALID, "'%s' is not an oci layout (no oci-layout file)", l->path);
    if (rc < 0)
        return rc;
    json_t *j = json_loadb(text, len, 0, NULL);
    free(text);
    json_t *v = json_object_get(j, "imageLayoutVersion");
    const char *ver = json_string_value(v);
    if (!ver || strncmp(ver, "1.", 2) != 0)
        rc = berr_set(BERR_INVALID, "'%s': unsupported or malformed oci-layout", l->path);
    json_decref(j);
    return rc;
}

/* Open path as a directory into a new struct layout (no checks). */
static int layout_open_dir(struct layout **out, const char *path)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return berr_set(BERR_NOT_FOUND, "'%s' does not exist", path);
        return io_err(errno, "open", path);
    }
    struct layout *l = xcalloc(1, sizeof(*l));
    l->path = xstrdup(path);
    l->dirfd = fd;
    *out = l;
    return 0;
}

int layout_open(struct layout **out, const char *path)
{
    struct layout *l;
    struct stat st;
    *out = NULL;
    int rc = layout_open_dir(&l, path);
    if (rc < 0)
        return rc;
    rc = check_oci_layout(l);
    if (rc < 0)
        goto fail;
    if (fstatat(l->dirfd, INDEX_FILE, &st, 0) < 0) {
        rc = errno == ENOENT ? berr_set(BERR_INVALID, "'%s' has no index.json", path)
                             : io_err(errno, "stat", INDEX_FILE);
        goto fail;
    }
    *out = l;
    return 0;

fail:
    layout_free(l);
    return rc;
}

/* 1 when dirfd has no entries besides "." and "..", 0 when it has, <0 error. */
static int dir_is_empty(int dirfd, const char *path)
{
    int fd = dup(dirfd);
    if (fd < 0)
        return io_err(errno, "read directory", path);
    DIR *dir = fdopendir(fd);
    if (!dir) {
        int err = errno;
        close(fd);
        return io_err(err, "read directory", path);
    }
    rewinddir(dir);
    int empty = 1;
    struct dirent *de;
    errno = 0;
    while (empty && (de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            empty = 0;
    }
    int rc = (empty && errno) ? io_err(errno, "read directory", path) : empty;
    closedir(dir);
    return rc;
}

int layout_create(struct layout **out, const char *path)
{
    struct layout *l;
    struct stat st;
    *out = NULL;
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return io_err(errno, "create directory", path);
    int rc = layout_open_dir(&l, path);
    if (rc < 0)
        return rc;
    if (flock(l->dirfd, LOCK_EX) < 0) {
        rc = io_err(errno, "lock", path);
        goto fail;
    }
    if (fstatat(l->dirfd, OCI_LAYOUT_FILE, &st, 0) == 0) {
        flock(l->dirfd, LOCK_UN);
        layout_free(l);
        return layout_open(out, path);
    }
    rc = dir_is_empty(l->dirfd, path);
    if (rc < 0)
        goto fail;
    if (rc == 0) {
        rc = berr_set(BERR_EXISTS, "'%s' is not empty and not an oci layout", path);
        goto fail;
    }
    rc = mkdir_at(l->dirfd, "blobs");
    if (rc == 0)
        rc = write_file_atomic(l->dirfd, INDEX_FILE, EMPTY_INDEX_TEXT, strlen(EMPTY_INDEX_TEXT));
    if (rc == 0)
        rc = write_file_atomic(l->dirfd, OCI_LAYOUT_FILE, OCI_LAYOUT_TEXT, strlen(OCI_LAYOUT_TEXT));
    if (rc < 0)
        goto fail;
    flock(l->dirfd, LOCK_UN);
    *out = l;
    return 0;

fail:
    layout_free(l); /* closing the fd drops the lock */
    return rc;
}

void layout_free(struct layout *l)
{
    if (!l)
        return;
    if (l->dirfd >= 0)
        close(l->dirfd);
    free(l->path);
    free(l);
}

const char *layout_path(const struct layout *l)
{
    return l->path;
}

/* The ref.name in annotation text, as a new string, or NULL. */
static char *ref_name_of(const char *annotations)
{
    if (!annotations)
        return NULL;
    json_t *a = json_loads(annotations, 0, NULL);
    const char *v = json_string_value(json_object_get(a, LAYOUT_REF_NAME));
    char *r = v ? xstrdup(v) : NULL;
    json_decref(a);
    return r;
}

/* Read and validate index.json: the bytes (*text_out, may be NULL) and the
 * parsed index. */
static int index_load(char **text_out, size_t *len_out, struct manifest **idx_out, struct layout *l)
{
    char *text;
    size_t len;
    *idx_out = NULL;
    int rc = read_file_at(&text, &len, l->dirfd, INDEX_FILE, LAYOUT_INDEX_MAX, BERR_INVALID);
    if (rc < 0)
        return rc;
    rc = manifest_parse(idx_out, text, len, MT_OCI_INDEX);
    if (rc < 0) {
        char why[256];
        snprintf(why, sizeof(why), "%s", berr_message());
        free(text);
        return berr_set(rc == BERR_DIGEST_INVALID || rc == BERR_UNSUPPORTED ? rc
                                                                            : BERR_MANIFEST_INVALID,
                        "'%s/index.json': %s", l->path, why);
    }
    if (text_out) {
        *text_out = text;
        *len_out = len;
    } else {
        free(text);
    }
    return 0;
}

int layout_entries(struct layout_entry **out, size_t *n_out, struct layout *l)
{
    struct manifest *idx;
    *out = NULL;
    *n_out = 0;
    int rc = index_load(NULL, NULL, &idx, l);
    if (rc < 0)
        return rc;
    size_t n = idx->n_manifests;
    struct layout_entry *e = n ? xcalloc(n, sizeof(*e)) : NULL;
    for (size_t i = 0; i < n; i++) {
        descriptor_copy(&e[i].desc, &idx->manifests[i]);
        e[i].tag = ref_name_of(e[i].desc.annotations);
    }
    manifest_free(idx);
    *out = e;
    *n_out = n;
    return 0;
}

void layout_entries_free(struct layout_entry *entries, size_t n)
{
    if (!entries)
        return;
    for (size_t i = 0; i < n; i++) {
        free(entries[i].tag);
        descriptor_release(&entries[i].desc);
    }
    free(entries);
}

static int tag_check(const char *tag)
{
    if (!tag || !ref_tag_valid(tag, strlen(tag)))
        return berr_set(BERR_TAG_INVALID, "invalid tag '%.130s'", tag ? tag : "");
    return 0;
}

int layout_resolve(struct descriptor *out, struct layout *l, const char *tag)
{
    struct layout_entry *e;
    size_t n;
    memset(out, 0, sizeof(*out));
    int rc = tag_check(tag);
    if (rc < 0)
        return rc;
    rc = layout_entries(&e, &n, l);
    if (rc < 0)
        return rc;
    rc = berr_set(BERR_MANIFEST_UNKNOWN, "tag '%s' is not in '%s'", tag, l->path);
    for (size_t i = 0; i < n; i++) {
        if (e[i].tag && strcmp(e[i].tag, tag) == 0) {
            descriptor_copy(out, &e[i].desc);
            rc = 0;
            break;
        }
    }
    layout_entries_free(e, n);
    return rc;
}

/* Open blob d read-only. */
static int blob_open_fd(int *out_fd, struct layout *l, const struct digest *d, char *rel,
                        size_t rel_size)
{
    *out_fd = -1;
    int rc = blob_relpath(rel, rel_size, d);
    if (rc < 0)
        return rc;
    int fd = openat(l->dirfd, rel, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return berr_set(BERR_BLOB_UNKNOWN, "blob %s is not in '%s'", d->str, l->path);
        return io_err(errno, "open", rel);
    }
    *out_fd = fd;
    return 0;
}

int layout_blob_stat(int64_t *out_size, struct layout *l, const struct digest *d)
{
    char rel[REL_MAX];
    struct stat st;
    int rc = blob_relpath(rel, sizeof(rel), d);
    if (rc < 0)
        return rc;
    if (fstatat(l->dirfd, rel, &st, 0) < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return berr_set(BERR_BLOB_UNKNOWN, "blob %s is not in '%s'", d->str, l->path);
        return io_err(errno, "stat", rel);
    }
    if (!S_ISREG(st.st_mode))
        return berr_set(BERR_IO, "'%s' is not a regular file", rel);
    if (out_size)
        *out_size = (int64_t)st.st_size;
    return 0;
}

int layout_blob_read(char **out, size_t *out_len, struct layout *l, const struct digest *d,
                     size_t max)
{
    char rel[REL_MAX];
    int fd;
    *out = NULL;
    *out_len = 0;
    int rc = blob_open_fd(&fd, l, d, rel, sizeof(rel));
    if (rc < 0)
        return rc;
    char *data;
    size_t len;
    rc = read_fd_all(&data, &len, fd, max, rel);
    close(fd);
    if (rc < 0)
        return rc;
    struct digest got;
    digest_of(&got, d->alg, data, len);
    if (!digest_equal(&got, d)) {
        free(data);
        return berr_set(BERR_DIGEST_INVALID, "blob %s in '%s' is corrupt: its content is %s",
                        d->str, l->path, got.str);
    }
    *out = data;
    *out_len = len;
    return 0;
}

int layout_blob_open(int *out_fd, int64_t *out_size, struct layout *l, const struct digest *d)
{
    char rel[REL_MAX];
    struct stat st;
    int fd;
    *out_fd = -1;
    int rc = blob_open_fd(&fd, l, d, rel, sizeof(rel));
    if (rc < 0)
        return rc;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = berr_set(BERR_IO, "'%s' is not a readable regular file", rel);
        close(fd);
        return rc;
    }
    if (out_size)
        *out_size = (int64_t)st.st_size;
    *out_fd = fd;
    return 0;
}

/* ---- walking, removing, cleaning --------------------------------------- */

static const enum digest_alg walk_algs[] = {DIGEST_SHA256, DIGEST_SHA512};

/* Open directory rel of the layout for reading its entries; *out NULL (and
 * 0 returned) when it does not exist. */
static int dir_open_at(DIR **out, int dirfd, const char *rel)
{
    *out = NULL;
    int fd = openat(dirfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : io_err(errno, "open", rel);
    DIR *dir = fdopendir(fd);
    if (!dir) {
        int err = errno;
        close(fd);
        return io_err(err, "read directory", rel);
    }
    *out = dir;
    return 0;
}

/* Walk one blobs/<alg> directory (see layout_blob_walk). */
static int walk_alg(struct layout *l, enum digest_alg alg, layout_blob_fn fn, void *ctx)
{
    char rel[32];
    DIR *dir;
    snprintf(rel, sizeof(rel), "blobs/%s", digest_alg_name(alg));
    int rc = dir_open_at(&dir, l->dirfd, rel);
    if (rc < 0 || !dir)
        return rc;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(dir);
        if (!de) {
            if (errno)
                rc = io_err(errno, "read directory", rel);
            break;
        }
        char full[DIGEST_MAX_STR];
        struct layout_blob_info b;
        struct stat st;
        int w = snprintf(full, sizeof(full), "%s:%s", digest_alg_name(alg), de->d_name);
        if (w < 0 || (size_t)w >= sizeof(full))
            continue;
        if (digest_parse_cstr(&b.digest, full) < 0 || b.digest.alg != alg)
            continue; /* a temporary file or a stray */
        if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT)
                continue; /* removed meanwhile */
            rc = io_err(errno, "stat", de->d_name);
            break;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        b.size = (int64_t)st.st_size;
        b.mtime = (int64_t)st.st_mtime;
        rc = fn(ctx, &b);
        if (rc != 0)
            break;
    }
    closedir(dir);
    return rc;
}

int layout_blob_walk(struct layout *l, layout_blob_fn fn, void *ctx)
{
    for (size_t a = 0; a < sizeof(walk_algs) / sizeof(walk_algs[0]); a++) {
        int rc = walk_alg(l, walk_algs[a], fn, ctx);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int layout_blob_remove(struct layout *l, const struct digest *d)
{
    char rel[REL_MAX];
    int rc = blob_relpath(rel, sizeof(rel), d);
    if (rc < 0)
        return rc;
    if (unlinkat(l->dirfd, rel, 0) < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return berr_set(BERR_BLOB_UNKNOWN, "blob %s is not in '%s'", d->str, l->path);
        return io_err(errno, "remove", rel);
    }
    return 0;
}

/* Remove the ".tmp-" files of directory rel last written at least min_age
 * seconds ago (min_age < 0: all of them). */
static int tmp_clean_dir(size_t *files, int64_t *bytes, int top_fd, const char *rel,
                         int64_t min_age)
{
    DIR *dir;
    int rc = dir_open_at(&dir, top_fd, rel);
    if (rc < 0 || !dir)
        return rc;
    time_t now = time(NULL);
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(dir);
        if (!de) {
            if (errno)
                rc = io_err(errno, "read directory", rel);
            break;
        }
        struct stat st;
        if (strncmp(de->d_name, ".tmp-", 5) != 0)
            continue;
        if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (min_age >= 0 && (int64_t)(now - st.st_mtime) < min_age)
            continue;
        if (unlinkat(dirfd(dir), de->d_name, 0) < 0) {
            if (errno == ENOENT)
                continue;
            rc = io_err(errno, "remove", de->d_name);
            break;
        }
        (*files)++;
        *bytes += (int64_t)st.st_size;
    }
    closedir(dir);
    return rc;
}

int layout_tmp_clean(size_t *out_files, int64_t *out_bytes, struct layout *l, int64_t min_age)
{
    size_t files = 0;
    int64_t bytes = 0;
    int rc = 0;
    if (min_age < 0)
        min_age = 0;
    for (size_t a = 0; rc == 0 && a < sizeof(walk_algs) / sizeof(walk_algs[0]); a++) {
        char rel[32];
        snprintf(rel, sizeof(rel), "blobs/%s", digest_alg_name(walk_algs[a]));
        rc = tmp_clean_dir(&files, &bytes, l->dirfd, rel, min_age);
    }
    /* index.json and oci-layout are only ever written under this lock */
    if (rc == 0 && flock(l->dirfd, LOCK_EX) < 0)
        rc = io_err(errno, "lock", l->path);
    if (rc == 0) {
        rc = tmp_clean_dir(&files, &bytes, l->dirfd, ".", -1);
        flock(l->dirfd, LOCK_UN);
    }
    if (out_files)
        *out_files = files;
    if (out_bytes)
        *out_bytes = bytes;
    return rc;
}

int layout_writer_open(struct layout_writer **out, struct layout *l, const struct digest *expected,
                       int64_t expected_size)
{
    char rel[REL_MAX];
    *out = NULL;
    struct layout_writer *w = xcalloc(1, sizeof(*w));
    w->l = l;
    w->fd = -1;
    w->dirfd = -1;
    w->expected_size = expected_size < 0 ? -1 : expected_size;
    enum digest_alg alg = DIGEST_SHA256;
    int rc;
    if (expected) {
        rc = blob_relpath(rel, sizeof(rel), expected);
        if (rc < 0)
            goto fail;
        digest_copy(&w->expected, expected);
        w->has_expected = 1;
        alg = expected->alg;
    }
    const char *alg_dir = digest_alg_name(alg);
    rc = mkdir_at(l->dirfd, "blobs");
    if (rc < 0)
        goto fail;
    int blobs = openat(l->dirfd, "blobs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (blobs < 0) {
        rc = io_err(errno, "open", "blobs");
        goto fail;
    }
    rc = mkdir_at(blobs, alg_dir);
    if (rc == 0) {
        w->dirfd = openat(blobs, alg_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (w->dirfd < 0)
            rc = io_err(errno, "open", alg_dir);
    }
    close(blobs);
    if (rc < 0)
        goto fail;
    rc = digester_new(&w->hash, alg);
    if (rc < 0)
        goto fail;
    rc = tmp_open(&w->fd, w->dirfd, w->tmp, sizeof(w->tmp), ".tmp-");
    if (rc < 0)
        goto fail;
    *out = w;
    return 0;

fail:
    layout_writer_free(w);
    return rc;
}

int layout_writer_write(struct layout_writer *w, const void *data, size_t len)
{
    if (w->failed || w->done || w->fd < 0)
        return berr_set(BERR_INTERNAL, "blob writer is no longer usable");
    if (w->expected_size >= 0 && (uint64_t)len > (uint64_t)(w->expected_size - w->written)) {
        w->failed = 1;
        return berr_set(BERR_SIZE_INVALID, "blob is larger than its declared %lld bytes",
                        (long long)w->expected_size);
    }
    int rc = write_all(w->fd, data, len, w->tmp);
    if (rc < 0) {
        w->failed = 1;
        return rc;
    }
    digester_update(w->hash, data, len);
    w->written += (int64_t)len;
    return 0;
}

int layout_writer_commit(struct digest *out, struct layout_writer *w)
{
    char rel[REL_MAX];
    struct digest got;
    if (w->failed || w->done || w->fd < 0)
        return berr_set(BERR_INTERNAL, "blob writer is no longer usable");
    w->failed = 1; /* until proven otherwise */
    if (w->expected_size >= 0 && w->written != w->expected_size)
        return berr_set(BERR_SIZE_INVALID, "blob is %lld bytes, %lld were declared",
                        (long long)w->written, (long long)w->expected_size);
    digester_final(w->hash, &got);
    if (w->has_expected && !digest_equal(&got, &w->expected))
        return berr_set(BERR_DIGEST_INVALID, "blob content is %s, %s was expected", got.str,
                        w->expected.str);
    int rc = blob_relpath(rel, sizeof(rel), &got);
    if (rc < 0)
        return rc;
    int fd = w->fd;
    w->fd = -1;
    rc = commit_file(fd, w->dirfd, w->tmp, got.hex);
    if (rc < 0)
        return rc;
    w->done = 1;
    w->failed = 0;
    if (out)
        digest_copy(out, &got);
    return 0;
}

void layout_writer_free(struct layout_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (!w->done && w->tmp[0] && w->dirfd >= 0)
        unlinkat(w->dirfd, w->tmp, 0);
    if (w->dirfd >= 0)
        close(w->dirfd);
    digester_free(w->hash);
    free(w);
}

int layout_blob_write(struct digest *out, struct layout *l, const struct digest *expected,
                      const void *data, size_t len)
{
    struct layout_writer *w;
    int rc = layout_writer_open(&w, l, expected, (int64_t)len);
    if (rc < 0)
        return rc;
    rc = layout_writer_write(w, data, len);
    if (rc == 0)
        rc = layout_writer_commit(out, w);
    layout_writer_free(w);
    return rc;
}

int layout_blob_write_fd(struct digest *out, struct layout *l, const struct digest *expected,
                         int64_t expected_size, int fd)
{
    struct layout_writer *w;
    char chunk[64 * 1024];
    int rc = layout_writer_open(&w, l, expected, expected_size);
    if (rc < 0)
        return rc;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = io_err(errno, "read", "blob source");
            break;
        }
        if (n == 0) {
            rc = layout_writer_commit(out, w);
            break;
        }
        rc = layout_writer_write(w, chunk, (size_t)n);
        if (rc < 0)
            break;
    }
    layout_writer_free(w);
    return rc;
}

/* 1 when index entry e carries ref.name == tag. */
static int entry_has_tag(json_t *e, const char *tag)
{
    json_t *ann = json_object_get(e, "annotations");
    const char *v = json_string_value(json_object_get(ann, LAYOUT_REF_NAME));
    return v && strcmp(v, tag) == 0;
}

/* The JSON object for an index entry: desc with ref.name = tag. */
static int entry_build(json_t **out, const struct descriptor *desc, const char *tag)
{
    struct buf b;
    json_error_t jerr;
    *out = NULL;
    buf_init(&b, 0);
    int rc = descriptor_write_json(&b, desc);
    if (rc < 0)
        goto cleanup;
    json_t *e = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(e)) {
        json_decref(e);
        rc = berr_set(BERR_INVALID, "descriptor for tag '%s' is malformed: %s", tag, jerr.text);
        goto cleanup;
    }
    json_t *ann = json_object_get(e, "annotations");
    if (!json_is_object(ann)) {
        ann = json_object();
        json_object_set_new(e, "annotations", ann);
    }
    json_object_set_new(ann, LAYOUT_REF_NAME, json_string(tag));
    *out = e;
cleanup:
    buf_release(&b);
    return rc;
}

/* Under the layout lock: load index.json, drop entries tagged `tag`, put
 * `entry` (may be NULL: remove only) where the first one was or at the end,
 * and rewrite the file. *removed counts the dropped entries. */
static int index_update(struct layout *l, const char *tag, json_t *entry, size_t *removed)
{
    char *text = NULL;
    size_t len;
    struct manifest *idx = NULL;
    json_t *root = NULL;
    char *out_text = NULL;
    *removed = 0;

    if (flock(l->dirfd, LOCK_EX) < 0)
        return io_err(errno, "lock", l->path);
    int rc = index_load(&text, &len, &idx, l);
    if (rc < 0)
        goto unlock;
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *list = json_object_get(root, "manifests");
    if (!json_is_array(list)) {
        rc = berr_set(BERR_MANIFEST_INVALID, "'%s/index.json' has no manifests array", l->path);
        goto unlock;
    }
    size_t pos = json_array_size(list);
    for (size_t i = 0; i < json_array_size(list);) {
        if (entry_has_tag(json_array_get(list, i), tag)) {
            if (*removed == 0)
                pos = i;
            json_array_remove(list, i);
            (*removed)++;
        } else {
            i++;
        }
    }
    if (entry)
        json_array_insert(list, pos, entry);
    out_text = json_dumps(root, JSON_INDENT(2));
    if (!out_text) {
        rc = berr_set(BERR_INTERNAL, "cannot serialize index.json");
        goto unlock;
    }
    if (entry || *removed)
        rc = write_file_atomic(l->dirfd, INDEX_FILE, out_text, strlen(out_text));

unlock:
    flock(l->dirfd, LOCK_UN);
    free(out_text);
    json_decref(root);
    manifest_free(idx);
    free(text);
    return rc;
}

int layout_tag_set(struct layout *l, const char *tag, const struct descriptor *desc)
{
    json_t *entry;
    size_t removed;
    int rc = tag_check(tag);
    if (rc < 0)
        return rc;
    struct digest check;
    rc = digest_parse_cstr(&check, desc->digest.str);
    if (rc < 0)
        return rc;
    if (!desc->media_type || desc->size < 0)
        return berr_set(BERR_INVALID, "descriptor for tag '%s' lacks a media type or size", tag);
    rc = entry_build(&entry, desc, tag);
    if (rc < 0)
        return rc;
    rc = index_update(l, tag, entry, &removed);
    json_decref(entry);
    return rc;
}

int layout_tag_remove(struct layout *l, const char *tag)
{
    size_t removed;
    int rc = tag_check(tag);
    if (rc < 0)
        return rc;
    rc = index_update(l, tag, NULL, &removed);
    if (rc == 0 && removed == 0)
        rc = berr_set(BERR_MANIFEST_UNKNOWN, "tag '%s' is not in '%s'", tag, l->path);
    return rc;
}
