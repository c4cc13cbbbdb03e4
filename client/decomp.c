/*
 * decomp.c - decompressing reader (see decomp.h): gzip through zlib, zstd
 * through libzstd's streaming API, plain tar passed through. The format is
 * recognized from the first bytes, not trusted from the media type.
 */
#include "client/decomp.h"

#include "image/base/err.h"
#include "image/base/xalloc.h"
#include "image/digest.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define DECOMP_IN_SIZE (128u * 1024)

/* ---- the reader ------------------------------------------------------------------- */

struct decomp {
    int fd;
    enum decomp_kind kind;
    unsigned char *in;
    size_t in_len; /* bytes in `in` */
    size_t in_pos; /* bytes consumed */
    int in_eof;
    z_stream z;
    int z_end; /* a gzip member just ended */
    ZSTD_DStream *zctx;
    int done;
    struct digester *hash; /* of the compressed input, or NULL (not owned) */
    int64_t in_total;      /* compressed bytes read from fd */
};

static int fill(struct decomp *d)
{
    if (d->in_pos < d->in_len || d->in_eof)
        return 0;
    ssize_t r;
    do
        r = read(d->fd, d->in, DECOMP_IN_SIZE);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return berr_set(BERR_IO, "cannot read layer: %s", strerror(errno));
    d->in_len = (size_t)r;
    d->in_pos = 0;
    d->in_total += r;
    if (d->hash && r > 0)
        digester_update(d->hash, d->in, (size_t)r);
    if (r == 0)
        d->in_eof = 1;
    return 0;
}

int decomp_open(struct decomp **out, int fd)
{
    struct decomp *d = xcalloc(1, sizeof(*d));
    d->fd = fd;
    d->in = xmalloc(DECOMP_IN_SIZE);
    int rc = 0;
    /* read at least 4 bytes to recognize the format */
    while (d->in_len < 4 && !d->in_eof) {
        ssize_t r = read(fd, d->in + d->in_len, DECOMP_IN_SIZE - d->in_len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = berr_set(BERR_IO, "cannot read layer: %s", strerror(errno));
            goto fail;
        }
        if (r == 0)
            d->in_eof = 1;
        d->in_len += (size_t)r;
        d->in_total += r;
    }
    if (d->in_len >= 2 && d->in[0] == 0x1f && d->in[1] == 0x8b) {
        d->kind = DECOMP_GZIP;
        if (inflateInit2(&d->z, 15 + 16) != Z_OK) {
            rc = berr_set(BERR_INTERNAL, "cannot initialize zlib");
            goto fail;
        }
    } else if (d->in_len >= 4 && d->in[0] == 0x28 && d->in[1] == 0xb5 && d->in[2] == 0x2f &&
               d->in[3] == 0xfd) {
        d->kind = DECOMP_ZSTD;
        d->zctx = ZSTD_createDStream();
        if (!d->zctx) {
            rc = berr_set(BERR_INTERNAL, "cannot create a zstd stream");
            goto fail;
        }
    }
    *out = d;
    return 0;
fail:
    free(d->in);
    free(d);
    return rc;
}

void decomp_hash_input(struct decomp *d, struct digester *h)
{
    /* right after decomp_open: the buffer holds all that was read, none used */
    assert(!d->hash && d->in_pos == 0 && d->in_total == (int64_t)d->in_len);
    d->hash = h;
    digester_update(h, d->in, d->in_len);
}

int64_t decomp_input_bytes(const struct decomp *d)
{
    return d->in_total;
}

enum decomp_kind decomp_kind(const struct decomp *d)
{
    return d->kind;
}

static ssize_t read_none(struct decomp *d, void *buf, size_t n)
{
    int rc = fill(d);
    if (rc < 0)
        return rc;
    size_t avail = d->in_len - d->in_pos;
    size_t k = avail < n ? avail : n;
    memcpy(buf, d->in + d->in_pos, k);
    d->in_pos += k;
    return (ssize_t)k;
}

static ssize_t read_gzip(struct decomp *d, void *buf, size_t n)
{
    d->z.next_out = buf;
    d->z.avail_out = (uInt)(n > UINT32_MAX ? UINT32_MAX : n);
    while (d->z.avail_out > 0 && !d->done) {
        int rc = fill(d);
        if (rc < 0)
            return rc;
        if (d->in_pos == d->in_len && d->in_eof) {
            if (!d->z_end)
                return berr_set(BERR_INVALID, "layer: truncated gzip stream");
            d->done = 1;
            break;
        }
        if (d->z_end) {
            /* another gzip member follows */
            inflateReset(&d->z);
            d->z_end = 0;
        }
        d->z.next_in = d->in + d->in_pos;
        d->z.avail_in = (uInt)(d->in_len - d->in_pos);
        int zr = inflate(&d->z, Z_NO_FLUSH);
        d->in_pos = d->in_len - d->z.avail_in;
        if (zr == Z_STREAM_END)
            d->z_end = 1;
        else if (zr != Z_OK && zr != Z_BUF_ERROR)
            return berr_set(BERR_INVALID, "layer: corrupt gzip data (%s)",
                            d->z.msg ? d->z.msg : "inflate failed");
        if ((size_t)d->z.avail_out < n)
            break; /* return what we have */
    }
    return (ssize_t)(n - d->z.avail_out);
}

static ssize_t read_zstd(struct decomp *d, void *buf, size_t n)
{
    ZSTD_outBuffer out = {buf, n, 0};
    while (out.pos == 0 && !d->done) {
        int rc = fill(d);
        if (rc < 0)
            return rc;
        if (d->in_pos == d->in_len && d->in_eof) {
            if (!d->z_end)
                return berr_set(BERR_INVALID, "layer: truncated zstd stream");
            d->done = 1;
            break;
        }
        ZSTD_inBuffer in = {d->in + d->in_pos, d->in_len - d->in_pos, 0};
        size_t r = ZSTD_decompressStream(d->zctx, &out, &in);
        d->in_pos += in.pos;
        if (ZSTD_isError(r))
            return berr_set(BERR_INVALID, "layer: corrupt zstd data (%s)", ZSTD_getErrorName(r));
        d->z_end = r == 0; /* a frame is complete */
    }
    return (ssize_t)out.pos;
}

ssize_t decomp_read(struct decomp *d, void *buf, size_t n)
{
    if (n == 0)
        return 0;
    switch (d->kind) {
    case DECOMP_GZIP:
        return read_gzip(d, buf, n);
    case DECOMP_ZSTD:
        return read_zstd(d, buf, n);
    default:
        return read_none(d, buf, n);
    }
}

void decomp_free(struct decomp *d)
{
    if (!d)
        return;
    if (d->kind == DECOMP_GZIP)
        inflateEnd(&d->z);
    if (d->zctx)
        ZSTD_freeDStream(d->zctx);
    free(d->in);
    free(d);
}
