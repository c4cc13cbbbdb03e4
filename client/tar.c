/*
 * tar.c - streaming tar reader (see tar.h).
 *
 * Invariants: `left` is the data of the current member not yet consumed and
 * `pad` the zero padding after it up to the next 512-byte boundary; both are
 * skipped before the next header is read. Metadata members (pax 'x'/'g', GNU
 * 'L'/'K') are consumed here and applied to the next real member. Every
 * metadata member is capped at 1 MiB.
 */
#include "client/tar.h"

#include "image/base/buf.h"
#include "image/base/err.h"
#include "image/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

#define TAR_RECORD   512
#define TAR_META_MAX (1u << 20)

struct tar_reader {
    tar_read_fn read;
    void *ctx;
    int64_t left;
    int64_t pad;
    int ended;
};

struct tar_reader *tar_reader_new(tar_read_fn read, void *ctx)
{
    struct tar_reader *t = xcalloc(1, sizeof(*t));
    t->read = read;
    t->ctx = ctx;
    return t;
}

void tar_reader_free(struct tar_reader *t)
{
    free(t);
}

void tar_entry_release(struct tar_entry *e)
{
    free(e->path);
    free(e->link);
    memset(e, 0, sizeof(*e));
}

/* Read exactly n bytes; BERR_INVALID when the stream ends first. */
static int read_full(struct tar_reader *t, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = t->read(t->ctx, (char *)buf + got, n - got);
        if (r < 0)
            return (int)r;
        if (r == 0)
            return berr_set(BERR_INVALID, "truncated tar archive");
        got += (size_t)r;
    }
    return 0;
}

static int skip(struct tar_reader *t, int64_t n)
{
    char junk[8192];
    while (n > 0) {
        size_t k = n < (int64_t)sizeof(junk) ? (size_t)n : sizeof(junk);
        int rc = read_full(t, junk, k);
        if (rc < 0)
            return rc;
        n -= (int64_t)k;
    }
    return 0;
}

/* A numeric header field: octal (spaces/NUL padded) or GNU base-256. */
static int parse_num(int64_t *out, const unsigned char *f, size_t len)
{
    if (f[0] & 0x80) {
        if (f[0] & 0x40)
            return berr_set(BERR_INVALID, "negative number in tar header");
        uint64_t v = f[0] & 0x3f;
        for (size_t i = 1; i < len; i++) {
            if (v >> 55)
                return berr_set(BERR_INVALID, "number too large in tar header");
            v = (v << 8) | f[i];
        }
        *out = (int64_t)v;
        return 0;
    }
    size_t i = 0;
    while (i < len && f[i] == ' ')
        i++;
    uint64_t v = 0;
    for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 60)
            return berr_set(BERR_INVALID, "number too large in tar header");
        v = v * 8 + (uint64_t)(f[i] - '0');
    }
    for (; i < len; i++)
        if (f[i] != ' ' && f[i] != '\0')
            return berr_set(BERR_INVALID, "malformed number in tar header");
    *out = (int64_t)v;
    return 0;
}

static int checksum_ok(const unsigned char *h)
{
    int64_t want;
    if (parse_num(&want, h + 148, 8) < 0)
        return 0;
    uint64_t sum = 0;
    for (int i = 0; i < TAR_RECORD; i++)
        sum += (i >= 148 && i < 156) ? ' ' : h[i];
    return (int64_t)sum == want;
}

static char *field_str(const unsigned char *f, size_t len)
{
    return xstrndup((const char *)f, len);
}

/* Read a metadata member's data (size n) into a new buffer. */
static int read_meta(struct tar_reader *t, int64_t n, struct buf *out)
{
    if (n < 0 || n > TAR_META_MAX)
        return berr_set(BERR_INVALID, "tar metadata member too large");
    buf_init(out, TAR_META_MAX + 1);
    char *tmp = xmalloc((size_t)n + 1);
    int rc = read_full(t, tmp, (size_t)n);
    if (rc == 0)
        rc = buf_append(out, tmp, (size_t)n);
    free(tmp);
    if (rc == 0)
        rc = skip(t, (TAR_RECORD - n % TAR_RECORD) % TAR_RECORD);
    return rc;
}

struct pax {
    char *path;
    char *linkpath;
    int64_t size, uid, gid, mtime;
    int has_size, has_uid, has_gid, has_mtime;
};

static void pax_release(struct pax *p)
{
    free(p->path);
    free(p->linkpath);
    memset(p, 0, sizeof(*p));
}

/* Records "LEN key=value\n". */
static int pax_parse(struct pax *p, const char *d, size_t n)
{
    size_t i = 0;
    while (i < n) {
        char *end;
        long len = strtol(d + i, &end, 10);
        if (len <= 0 || (size_t)len > n - i || *end != ' ' || d[i + (size_t)len - 1] != '\n')
            return berr_set(BERR_INVALID, "malformed pax record");
        const char *k = end + 1;
        const char *rec_end = d + i + len - 1;
        const char *eq = memchr(k, '=', (size_t)(rec_end - k));
        if (!eq)
            return berr_set(BERR_INVALID, "malformed pax record");
        size_t klen = (size_t)(eq - k);
        const char *v = eq + 1;
        size_t vlen = (size_t)(rec_end - v);
        char *val = xstrndup(v, vlen);
        if (strlen(val) != vlen) {
            free(val);
            return berr_set(BERR_INVALID, "NUL byte in pax record");
        }
#define KEY_IS(s) (klen == sizeof(s) - 1 && memcmp(k, s, klen) == 0)
        if (KEY_IS("path")) {
            free(p->path);
            p->path = val;
            val = NULL;
        } else if (KEY_IS("linkpath")) {
            free(p->linkpath);
            p->linkpath = val;
            val = NULL;
        } else if (KEY_IS("size")) {
            p->size = strtoll(val, NULL, 10);
            p->has_size = 1;
        } else if (KEY_IS("uid")) {
            p->uid = strtoll(val, NULL, 10);
            p->has_uid = 1;
        } else if (KEY_IS("gid")) {
            p->gid = strtoll(val, NULL, 10);
            p->has_gid = 1;
        } else if (KEY_IS("mtime")) {
            p->mtime = strtoll(val, NULL, 10);
            p->has_mtime = 1;
        }
#undef KEY_IS
        free(val);
        i += (size_t)len;
    }
    return 0;
}

int tar_next(struct tar_reader *t, struct tar_entry *e)
{
    unsigned char h[TAR_RECORD];
    struct pax pax;
    struct buf meta = BUF_INIT;
    char *longname = NULL;
    char *longlink = NULL;
    int rc;
    memset(e, 0, sizeof(*e));
    memset(&pax, 0, sizeof(pax));
    if (t->ended)
        return 0;
    rc = skip(t, t->left + t->pad);
    if (rc < 0)
        return rc;
    t->left = t->pad = 0;
    for (;;) {
        rc = read_full(t, h, TAR_RECORD);
        if (rc < 0)
            goto cleanup;
        int zero = 1;
        for (int i = 0; i < TAR_RECORD && zero; i++)
            zero = h[i] == 0;
        if (zero) {
            /* end of archive (the second zero block is optional for us) */
            t->ended = 1;
            rc = 0;
            goto cleanup;
        }
        if (!checksum_ok(h)) {
            rc = berr_set(BERR_INVALID, "tar header checksum mismatch");
            goto cleanup;
        }
        int64_t size;
        rc = parse_num(&size, h + 124, 12);
        if (rc < 0)
            goto cleanup;
        char type = (char)h[156];
        if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
            rc = read_meta(t, size, &meta);
            if (rc < 0)
                goto cleanup;
            if (type == 'x')
                rc = pax_parse(&pax, meta.data ? meta.data : "", meta.len);
            else if (type == 'L') {
                free(longname);
                longname = xstrdup(buf_cstr(&meta));
            } else if (type == 'K') {
                free(longlink);
                longlink = xstrdup(buf_cstr(&meta));
            }
            buf_release(&meta);
            if (rc < 0)
                goto cleanup;
            continue;
        }
        /* a real member */
        e->type = type == '\0' || type == '7' ? TAR_FILE : type;
        int64_t v;
        rc = parse_num(&v, h + 100, 8);
        e->mode = (unsigned)v & 07777;
        if (rc == 0)
            rc = parse_num(&e->uid, h + 108, 8);
        if (rc == 0)
            rc = parse_num(&e->gid, h + 116, 8);
        if (rc == 0)
            rc = parse_num(&e->mtime, h + 136, 12);
        if (rc == 0)
            rc = parse_num(&v, h + 329, 8);
        e->devmajor = (unsigned)v;
        if (rc == 0)
            rc = parse_num(&v, h + 337, 8);
        e->devminor = (unsigned)v;
        if (rc < 0)
            goto cleanup;
        e->size = size;
        if (pax.path)
            e->path = xstrdup(pax.path);
        else if (longname)
            e->path = xstrdup(longname);
        else if (memcmp(h + 257, "ustar\0", 6) == 0 && h[345]) {
            char *prefix = field_str(h + 345, 155);
            char *name = field_str(h, 100);
            e->path = xasprintf("%s/%s", prefix, name);
            free(prefix);
            free(name);
        } else
            e->path = field_str(h, 100);
        if (e->type == TAR_HARDLINK || e->type == TAR_SYMLINK)
            e->link = pax.linkpath ? xstrdup(pax.linkpath)
                      : longlink   ? xstrdup(longlink)
                                   : field_str(h + 157, 100);
        if (pax.has_size)
            e->size = pax.size;
        if (pax.has_uid)
            e->uid = pax.uid;
        if (pax.has_gid)
            e->gid = pax.gid;
        if (pax.has_mtime)
            e->mtime = pax.mtime;
        if (e->size < 0) {
            rc = berr_set(BERR_INVALID, "negative size in tar header");
            goto cleanup;
        }
        /* only regular files carry data; links and directories may not */
        int64_t data = (e->type == TAR_HARDLINK || e->type == TAR_SYMLINK || e->type == TAR_DIR ||
                        e->type == TAR_CHAR || e->type == TAR_BLOCK || e->type == TAR_FIFO)
                           ? 0
                           : e->size;
        e->size = data;
        t->left = data;
        t->pad = (TAR_RECORD - data % TAR_RECORD) % TAR_RECORD;
        rc = 1;
        goto cleanup;
    }
cleanup:
    if (rc < 0)
        tar_entry_release(e);
    pax_release(&pax);
    buf_release(&meta);
    free(longname);
    free(longlink);
    return rc;
}

ssize_t tar_read_data(struct tar_reader *t, void *buf, size_t n)
{
    if (t->left == 0)
        return 0;
    if ((int64_t)n > t->left)
        n = (size_t)t->left;
    ssize_t r = t->read(t->ctx, buf, n);
    if (r == 0)
        return berr_set(BERR_INVALID, "truncated tar archive");
    if (r > 0)
        t->left -= r;
    return r;
}
