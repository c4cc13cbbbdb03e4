/*
 * unpack.c - apply layers to a root filesystem (see unpack.h).
 *
 * Safety rests on one rule: every entry is reached from the root directory
 * fd one component at a time with openat(O_NOFOLLOW | O_DIRECTORY), so no
 * existing symlink is ever followed, and names are cleaned first so ".."
 * never reaches the kernel. The last component is created with O_EXCL (or
 * mkdirat/symlinkat/linkat, which do not follow) after removing what was
 * there. Hard link targets are resolved the same way from the root, so
 * they can only name files inside it.
 *
 * Verification: with an expectation (unpack_image always has one) the
 * compressed bytes are hashed as decomp.c reads them and the uncompressed
 * tar stream as the tar reader pulls it, and the stream is read to its very
 * end; only then are blob digest, size and diff_id compared. A mismatch is
 * known after the layer was applied, so unpack_image works in a temporary
 * directory and throws it away.
 *
 * Opaque directories: entries created by the current layer are remembered
 * (a hash set of cleaned paths); ".wh..wh..opq" removes every child of its
 * directory that is not in the set, whatever the order of the tar members.
 */
#include "client/unpack.h"

#include "client/decomp.h"
#include "client/tar.h"
#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"
#include "image/digest.h"
#include "image/layout.h"
#include "image/manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

/* ---- paths ------------------------------------------------------------------------ */

int unpack_clean_path(char **out, const char *name)
{
    size_t n = strlen(name);
    char *res = xmalloc(n + 1);
    size_t o = 0;
    if (n == 0 || name[0] == '/') {
        free(res);
        return berr_set(BERR_INVALID, "unsafe layer entry '%s': absolute or empty path", name);
    }
    const char *p = name;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, "/");
        if (len == 1 && p[0] == '.') {
            p += len;
            continue;
        }
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            free(res);
            return berr_set(BERR_INVALID, "unsafe layer entry '%s': path escapes the root", name);
        }
        if (o > 0)
            res[o++] = '/';
        memcpy(res + o, p, len);
        o += len;
        p += len;
    }
    res[o] = '\0';
    *out = res;
    return 0;
}

/* ---- a set of strings (paths created by the current layer) ------------------------ */

struct pathset {
    char **slots;
    size_t cap; /* power of two */
    size_t n;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s) {
        h ^= (unsigned char)*s++;
        h *= 1099511628211ull;
    }
    return h;
}

static int pathset_has(const struct pathset *ps, const char *s)
{
    if (ps->cap == 0)
        return 0;
    for (size_t i = hash_str(s) & (ps->cap - 1);; i = (i + 1) & (ps->cap - 1)) {
        if (!ps->slots[i])
            return 0;
        if (strcmp(ps->slots[i], s) == 0)
            return 1;
    }
}

static void pathset_add(struct pathset *ps, const char *s);

static void pathset_grow(struct pathset *ps)
{
    struct pathset bigger = {xcalloc(ps->cap ? ps->cap * 2 : 256, sizeof(char *)),
                             ps->cap ? ps->cap * 2 : 256, 0};
    for (size_t i = 0; i < ps->cap; i++) {
        if (ps->slots[i]) {
            pathset_add(&bigger, ps->slots[i]);
            free(ps->slots[i]);
        }
    }
    free(ps->slots);
    *ps = bigger;
}

static void pathset_add(struct pathset *ps, const char *s)
{
    if ((ps->n + 1) * 2 > ps->cap)
        pathset_grow(ps);
    size_t i = hash_str(s) & (ps->cap - 1);
    while (ps->slots[i]) {
        if (strcmp(ps->slots[i], s) == 0)
            return;
        i = (i + 1) & (ps->cap - 1);
    }
    ps->slots[i] = xstrdup(s);
    ps->n++;
}

static void pathset_release(struct pathset *ps)
{
    for (size_t i = 0; i < ps->cap; i++)
        free(ps->slots[i]);
    free(ps->slots);
    memset(ps, 0, sizeof(*ps));
}

/* ---- file system helpers ------------------------------------------------------------- */

/* Remove `name` in dirfd, recursively for directories, never following links. */
static int remove_at(int dirfd, const char *name)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0
                               : berr_set(BERR_IO, "cannot stat '%s': %s", name, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
            return berr_set(BERR_IO, "cannot remove '%s': %s", name, strerror(errno));
        return 0;
    }
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return berr_set(BERR_IO, "cannot open '%s': %s", name, strerror(errno));
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return berr_set(BERR_IO, "cannot read '%s': %s", name, strerror(errno));
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0) {
        de = readdir(d);
        if (!de)
            break;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        rc = remove_at(fd, de->d_name);
    }
    closedir(d);
    if (rc == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        rc = berr_set(BERR_IO, "cannot remove '%s': %s", name, strerror(errno));
    return rc;
}

int unpack_remove_tree(const char *path)
{
    char *copy = xstrdup(path);
    char *slash = strrchr(copy, '/');
    int rc;
    if (!slash) {
        rc = remove_at(AT_FDCWD, copy);
    } else {
        *slash = '\0';
        int dfd = open(slash == copy ? "/" : copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
            rc = errno == ENOENT ? 0
                                 : berr_set(BERR_IO, "cannot open '%s': %s", copy, strerror(errno));
        } else {
            rc = remove_at(dfd, slash + 1);
            close(dfd);
        }
    }
    free(copy);
    return rc;
}

/* Open the directory that holds the last component of `rel` (cleaned,
 * non-empty), walking from root_fd without following symlinks. Missing
 * intermediate directories are created (0755) when `create`. *base_out
 * points into rel. Returns an fd or a negative code. */
static int open_parent(int root_fd, const char *rel, int create, const char **base_out,
                       const char *entry)
{
    int fd = dup(root_fd);
    if (fd < 0)
        return berr_set(BERR_IO, "dup: %s", strerror(errno));
    const char *p = rel;
    for (;;) {
        const char *slash = strchr(p, '/');
        if (!slash) {
            *base_out = p;
            return fd;
        }
        char comp[NAME_MAX + 1];
        size_t len = (size_t)(slash - p);
        if (len > NAME_MAX) {
            close(fd);
            return berr_set(BERR_INVALID, "layer entry '%s': name too long", entry);
        }
        memcpy(comp, p, len);
        comp[len] = '\0';
        int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT && create) {
            if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
                int e = errno;
                close(fd);
                return berr_set(BERR_IO, "cannot create directory for '%s': %s", entry,
                                strerror(e));
            }
            next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (next < 0) {
            int e = errno;
            close(fd);
            if (e == ELOOP || e == ENOTDIR)
                return berr_set(BERR_INVALID,
                                "unsafe layer entry '%s': goes through '%.*s', which is a "
                                "symlink or not a directory",
                                entry, (int)(slash - rel), rel);
            if (e == ENOENT)
                return BERR_NOT_FOUND;
            return berr_set(BERR_IO, "cannot open parent of '%s': %s", entry, strerror(e));
        }
        close(fd);
        fd = next;
        p = slash + 1;
    }
}

static void set_times(int dirfd, const char *name, int64_t mtime)
{
    struct timespec ts[2] = {{(time_t)mtime, 0}, {(time_t)mtime, 0}};
    utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW);
}

static int set_owner(int dirfd, const char *name, const struct tar_entry *e,
                     const struct unpack_opts *o)
{
    if (!o->keep_owner)
        return 0;
    if (fchownat(dirfd, name, (uid_t)e->uid, (gid_t)e->gid, AT_SYMLINK_NOFOLLOW) < 0)
        return berr_set(BERR_IO, "cannot chown '%s': %s", e->path, strerror(errno));
    return 0;
}

/* ---- one layer ------------------------------------------------------------------------ */

struct apply {
    int root_fd;
    struct tar_reader *tar;
    const struct unpack_opts *o;
    struct pathset created;
};

static int write_file(struct apply *a, int dirfd, const char *base, const struct tar_entry *e)
{
    int fd = openat(dirfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return berr_set(BERR_IO, "cannot create '%s': %s", e->path, strerror(errno));
    char buf[65536];
    int rc = 0;
    for (;;) {
        ssize_t r = tar_read_data(a->tar, buf, sizeof(buf));
        if (r < 0) {
            rc = (int)r;
            break;
        }
        if (r == 0)
            break;
        for (ssize_t off = 0; off < r;) {
            ssize_t w = write(fd, buf + off, (size_t)(r - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = berr_set(BERR_IO, "cannot write '%s': %s", e->path, strerror(errno));
                break;
            }
            off += w;
        }
        if (rc < 0)
            break;
    }
    if (rc == 0 && a->o->keep_owner && fchown(fd, (uid_t)e->uid, (gid_t)e->gid) < 0)
        rc = berr_set(BERR_IO, "cannot chown '%s': %s", e->path, strerror(errno));
    if (rc == 0 && fchmod(fd, e->mode) < 0)
        rc = berr_set(BERR_IO, "cannot chmod '%s': %s", e->path, strerror(errno));
    if (rc == 0) {
        struct timespec ts[2] = {{(time_t)e->mtime, 0}, {(time_t)e->mtime, 0}};
        futimens(fd, ts);
    }
    close(fd);
    return rc;
}

/* ".wh..wh..opq" in directory `dir` (cleaned path, "" = root). */
static int apply_opaque(struct apply *a, int dirfd, const char *dir)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return berr_set(BERR_IO, "cannot open '%s': %s", dir, strerror(errno));
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return berr_set(BERR_IO, "cannot read '%s': %s", dir, strerror(errno));
    }
    /* collect first: removing while reading a directory skips entries */
    char **victims = NULL;
    size_t nv = 0;
    struct dirent *de;
    for (;;) {
        de = readdir(d);
        if (!de)
            break;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *full = *dir ? xasprintf("%s/%s", dir, de->d_name) : xstrdup(de->d_name);
        int mine = pathset_has(&a->created, full);
        free(full);
        if (mine)
            continue;
        victims = xrealloc(victims, (nv + 1) * sizeof(*victims));
        victims[nv++] = xstrdup(de->d_name);
    }
    int rc = 0;
    for (size_t i = 0; i < nv; i++) {
        if (rc == 0)
            rc = remove_at(fd, victims[i]);
        free(victims[i]);
    }
    free(victims);
    closedir(d);
    return rc;
}

static int apply_entry(struct apply *a, struct tar_entry *e)
{
    char *rel = NULL;
    char *target = NULL;
    int dirfd = -1;
    int tdirfd = -1;
    const char *base = NULL;
    int rc = unpack_clean_path(&rel, e->path);
    if (rc < 0)
        goto cleanup;
    if (rel[0] == '\0')
        goto cleanup; /* the root itself */
    if (e->type == TAR_CHAR || e->type == TAR_BLOCK) {
        if (!a->o->allow_devices) {
            rc = berr_set(BERR_INVALID, "unsafe layer entry '%s': device nodes are not allowed",
                          e->path);
            goto cleanup;
        }
    }
    dirfd = open_parent(a->root_fd, rel, 1, &base, e->path);
    if (dirfd < 0) {
        rc = dirfd;
        goto cleanup;
    }
    if (strlen(base) > NAME_MAX) {
        rc = berr_set(BERR_INVALID, "layer entry '%s': name too long", e->path);
        goto cleanup;
    }

    /* whiteouts */
    if (strncmp(base, WH_PREFIX, strlen(WH_PREFIX)) == 0) {
        char *dir = xstrndup(rel, (size_t)(base - rel) > 0 ? (size_t)(base - rel) - 1 : 0);
        if (strcmp(base, WH_OPAQUE) == 0) {
            rc = apply_opaque(a, dirfd, dir);
        } else if (strncmp(base, WH_PREFIX WH_PREFIX, 8) == 0) {
            log_debug("ignoring layer metadata entry '%s'", e->path);
        } else {
            const char *victim = base + strlen(WH_PREFIX);
            if (!*victim || strcmp(victim, ".") == 0 || strcmp(victim, "..") == 0)
                rc = berr_set(BERR_INVALID, "unsafe layer entry '%s': bad whiteout", e->path);
            else
                rc = remove_at(dirfd, victim);
        }
        free(dir);
        goto cleanup;
    }

    struct stat st;
    int exists = fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (e->type == TAR_DIR && exists && S_ISDIR(st.st_mode)) {
        /* keep the directory and what lower layers put in it */
    } else if (exists) {
        rc = remove_at(dirfd, base);
        if (rc < 0)
            goto cleanup;
    }

    switch (e->type) {
    case TAR_DIR:
        if (!(exists && S_ISDIR(st.st_mode)) && mkdirat(dirfd, base, 0700) < 0) {
            rc = berr_set(BERR_IO, "cannot create directory '%s': %s", e->path, strerror(errno));
            break;
        }
        rc = set_owner(dirfd, base, e, a->o);
        if (rc == 0 && fchmodat(dirfd, base, e->mode, 0) < 0)
            rc = berr_set(BERR_IO, "cannot chmod '%s': %s", e->path, strerror(errno));
        if (rc == 0)
            set_times(dirfd, base, e->mtime);
        break;
    case TAR_FILE:
        rc = write_file(a, dirfd, base, e);
        break;
    case TAR_SYMLINK:
        if (symlinkat(e->link, dirfd, base) < 0) {
            rc = berr_set(BERR_IO, "cannot create symlink '%s': %s", e->path, strerror(errno));
            break;
        }
        rc = set_owner(dirfd, base, e, a->o);
        if (rc == 0)
            set_times(dirfd, base, e->mtime);
        break;
    case TAR_HARDLINK: {
        const char *tbase;
        if (!e->link || e->link[0] == '/') {
            rc = berr_set(BERR_INVALID,
                          "unsafe layer entry '%s': hard link to '%s' outside the root", e->path,
                          e->link ? e->link : "");
            break;
        }
        rc = unpack_clean_path(&target, e->link);
        if (rc < 0) {
            rc = berr_set(BERR_INVALID,
                          "unsafe layer entry '%s': hard link to '%s' outside the root", e->path,
                          e->link);
            break;
        }
        if (target[0] == '\0') {
            rc = berr_set(BERR_INVALID, "unsafe layer entry '%s': hard link to the root", e->path);
            break;
        }
        tdirfd = open_parent(a->root_fd, target, 0, &tbase, e->path);
        if (tdirfd < 0) {
            rc = tdirfd == BERR_NOT_FOUND
                     ? berr_set(BERR_INVALID, "layer entry '%s': hard link target '%s' missing",
                                e->path, e->link)
                     : tdirfd;
            break;
        }
        struct stat tst;
        if (fstatat(tdirfd, tbase, &tst, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(tst.st_mode)) {
            rc = berr_set(BERR_INVALID, "layer entry '%s': hard link target '%s' is %s", e->path,
                          e->link, errno == ENOENT ? "missing" : "not a file");
            break;
        }
        /* flags 0: a symlink target is linked itself, never followed */
        if (linkat(tdirfd, tbase, dirfd, base, 0) < 0)
            rc = berr_set(BERR_IO, "cannot link '%s' to '%s': %s", e->path, e->link,
                          strerror(errno));
        break;
    }
    case TAR_FIFO:
        if (mkfifoat(dirfd, base, e->mode) < 0) {
            rc = berr_set(BERR_IO, "cannot create fifo '%s': %s", e->path, strerror(errno));
            break;
        }
        rc = set_owner(dirfd, base, e, a->o);
        break;
    case TAR_CHAR:
    case TAR_BLOCK: {
        mode_t kind = e->type == TAR_CHAR ? S_IFCHR : S_IFBLK;
        if (mknodat(dirfd, base, kind | e->mode, makedev(e->devmajor, e->devminor)) < 0) {
            rc = berr_set(BERR_IO, "cannot create device '%s': %s", e->path, strerror(errno));
            break;
        }
        rc = set_owner(dirfd, base, e, a->o);
        break;
    }
    default:
        log_warn("skipping layer entry '%s' of unsupported type '%c'", e->path, e->type);
        goto cleanup;
    }
    if (rc == 0)
        pathset_add(&a->created, rel);
cleanup:
    if (dirfd >= 0)
        close(dirfd);
    if (tdirfd >= 0)
        close(tdirfd);
    free(rel);
    free(target);
    return rc;
}

/* The tar reader's source: the decompressed stream, hashed as it passes. */
struct layer_src {
    struct decomp *dc;
    struct digester *tar_hash; /* or NULL */
};

static ssize_t read_decomp(void *ctx, void *buf, size_t n)
{
    struct layer_src *src = ctx;
    ssize_t r = decomp_read(src->dc, buf, n);
    if (r > 0 && src->tar_hash)
        digester_update(src->tar_hash, buf, (size_t)r);
    return r;
}

/* Read what follows the tar's end marker (padding, or anything at all: the
 * digests cover the whole stream) through the hashes. */
static int drain(struct layer_src *src)
{
    char junk[64 * 1024];
    for (;;) {
        ssize_t r = read_decomp(src, junk, sizeof(junk));
        if (r < 0)
            return (int)r;
        if (r == 0)
            return 0;
    }
}

/* Compare the finished hashes and size with what was expected. */
static int check_expect(const struct unpack_expect *x, struct digester *blob_hash,
                        struct digester *tar_hash, int64_t blob_bytes)
{
    struct digest got;
    if (blob_hash) {
        digester_final(blob_hash, &got);
        if (!digest_equal(&got, x->blob))
            return berr_set(BERR_DIGEST_INVALID, "the stored blob is corrupt: its content is %s",
                            got.str);
    }
    if (x->blob_size >= 0 && blob_bytes != x->blob_size)
        return berr_set(BERR_SIZE_INVALID, "the stored blob is %lld bytes, not %lld",
                        (long long)blob_bytes, (long long)x->blob_size);
    if (tar_hash) {
        digester_final(tar_hash, &got);
        if (!digest_equal(&got, x->diff_id))
            return berr_set(BERR_DIGEST_INVALID,
                            "uncompressed content is %s, but the image config's diff_id is %s",
                            got.str, x->diff_id->str);
    }
    return 0;
}

int unpack_layer(int root_fd, int layer_fd, const struct unpack_expect *expect,
                 const struct unpack_opts *opts)
{
    struct layer_src src = {0};
    struct digester *blob_hash = NULL;
    struct apply a;
    memset(&a, 0, sizeof(a));
    a.root_fd = root_fd;
    a.o = opts;
    int rc = decomp_open(&src.dc, layer_fd);
    if (rc < 0)
        return rc;
    if (expect && expect->blob) {
        rc = digester_new(&blob_hash, expect->blob->alg);
        if (rc == 0)
            decomp_hash_input(src.dc, blob_hash);
    }
    if (rc == 0 && expect && expect->diff_id)
        rc = digester_new(&src.tar_hash, expect->diff_id->alg);
    if (rc < 0)
        goto cleanup;
    a.tar = tar_reader_new(read_decomp, &src);
    for (;;) {
        struct tar_entry e;
        rc = tar_next(a.tar, &e);
        if (rc <= 0)
            break;
        rc = apply_entry(&a, &e);
        tar_entry_release(&e);
        if (rc < 0)
            break;
    }
    if (rc == 0 && expect) {
        rc = drain(&src);
        if (rc == 0)
            rc = check_expect(expect, blob_hash, src.tar_hash, decomp_input_bytes(src.dc));
    }
cleanup:
    tar_reader_free(a.tar);
    digester_free(src.tar_hash);
    digester_free(blob_hash);
    decomp_free(src.dc);
    pathset_release(&a.created);
    return rc < 0 ? rc : 0;
}

int unpack_image(const char *dest, struct layout *l, const struct manifest *m,
                 char *const *diff_ids, size_t n_diff_ids, const struct unpack_opts *opts)
{
    if (n_diff_ids != m->n_layers)
        return berr_set(BERR_MANIFEST_INVALID,
                        "image config lists %zu diff_ids for the manifest's %zu layers", n_diff_ids,
                        m->n_layers);
    struct digest *ids = xcalloc(n_diff_ids ? n_diff_ids : 1, sizeof(*ids));
    for (size_t i = 0; i < n_diff_ids; i++) {
        if (digest_parse_cstr(&ids[i], diff_ids[i]) < 0) {
            free(ids);
            return berr_set(BERR_DIGEST_INVALID,
                            "image config: rootfs.diff_ids[%zu] '%.80s' is not a digest", i,
                            diff_ids[i]);
        }
    }
    char *tmp = xasprintf("%s.tmp.XXXXXX", dest);
    int root_fd = -1;
    int rc = 0;
    if (!mkdtemp(tmp)) {
        rc = berr_set(BERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
        free(tmp);
        free(ids);
        return rc;
    }
    chmod(tmp, 0755);
    root_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0) {
        rc = berr_set(BERR_IO, "cannot open '%s': %s", tmp, strerror(errno));
        goto cleanup;
    }
    for (size_t i = 0; i < m->n_layers; i++) {
        const struct descriptor *d = &m->layers[i];
        if (mediatype_layer_compression(d->media_type) < 0) {
            rc = berr_set(BERR_UNSUPPORTED, "layer %s has unsupported media type '%s'",
                          d->digest.str, d->media_type);
            goto cleanup;
        }
        int fd = -1;
        rc = layout_blob_open(&fd, NULL, l, &d->digest);
        if (rc < 0)
            goto cleanup;
        struct unpack_expect x = {.blob = &d->digest, .blob_size = d->size, .diff_id = &ids[i]};
        rc = unpack_layer(root_fd, fd, &x, opts);
        close(fd);
        if (rc < 0) {
            char why[400];
            snprintf(why, sizeof(why), "%s", berr_message());
            rc = berr_set(rc, "layer %s: %s", d->digest.str, why);
            goto cleanup;
        }
    }
    if (rename(tmp, dest) < 0) {
        if (errno == EEXIST || errno == ENOTEMPTY) {
            log_debug("root filesystem '%s' appeared meanwhile; keeping it", dest);
            unpack_remove_tree(tmp);
        } else {
            rc = berr_set(BERR_IO, "cannot rename '%s': %s", tmp, strerror(errno));
        }
    }
cleanup:
    if (root_fd >= 0)
        close(root_fd);
    if (rc < 0)
        unpack_remove_tree(tmp);
    free(tmp);
    free(ids);
    return rc;
}
