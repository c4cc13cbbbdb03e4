/*
 * h_blob.c - blob GET / HEAD / DELETE (end-2, end-10).
 *
 * Visibility is metadata: a blob is readable in a repository only when it is
 * linked there. Bytes go out as a range of a storage reader handed to the
 * HTTP layer (sendfile when the driver has files, read_at otherwise).
 * DELETE removes the link only; the collector reclaims the bytes.
 */
#include "server/handlers.h"

#include "image/base/err.h"
#include "image/base/log.h"
#include "server/respond.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOB_CT "application/octet-stream"

/* Parse a single "bytes=a-b" / "bytes=a-" / "bytes=-n" range against size.
 * Returns 1 when a range applies (*off, *len set), 0 when the header should
 * be ignored (absent or multi-range), BERR_RANGE_NOT_SATISFIABLE otherwise. */
static int parse_range(const char *h, int64_t size, int64_t *off, int64_t *len)
{
    if (!h)
        return 0;
    if (strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return 0;
    const char *s = h + 6;
    char *end = NULL;
    int64_t a, b;
    if (*s == '-') {
        errno = 0;
        long long n = strtoll(s + 1, &end, 10);
        if (errno || end == s + 1 || *end || n <= 0)
            return berr_set(BERR_RANGE_NOT_SATISFIABLE, "bad range '%.100s'", h);
        a = n >= size ? 0 : size - n;
        b = size - 1;
    } else {
        errno = 0;
        a = strtoll(s, &end, 10);
        if (errno || end == s || *end != '-' || a < 0)
            return berr_set(BERR_RANGE_NOT_SATISFIABLE, "bad range '%.100s'", h);
        s = end + 1;
        if (*s == '\0') {
            b = size - 1;
        } else {
            b = strtoll(s, &end, 10);
            if (errno || *end || b < a)
                return berr_set(BERR_RANGE_NOT_SATISFIABLE, "bad range '%.100s'", h);
            if (b >= size)
                b = size - 1;
        }
    }
    if (size == 0 || a >= size)
        return berr_set(BERR_RANGE_NOT_SATISFIABLE, "range '%.100s' outside %" PRId64 " bytes", h,
                        size);
    *off = a;
    *len = b - a + 1;
    return 1;
}

static void blob_headers(struct request *r)
{
    respond_header(r, "Docker-Content-Digest", "%s", r->digest.str);
    respond_header(r, "ETag", "\"%s\"", r->digest.str);
    respond_header(r, "Accept-Ranges", "bytes");
    respond_header(r, "Cache-Control", "max-age=31536000");
}

/* When a client finds a blob whose link is older than half the grace period,
 * the link is renewed: a client that HEADs a layer and skips its upload relies
 * on the link until its manifest arrives, and the collector takes unreferenced
 * links older than the grace (docs/gc.md). At most one write per link per half
 * grace; a failure only loses the renewal. */
static void blob_renew(struct request *r, int64_t linked)
{
    int64_t half = r->srv->cfg->gc_grace / 2;
    int64_t older_than = (int64_t)time(NULL) - half;
    if (half <= 0 || linked >= older_than)
        return; /* no grace to keep, or young enough */
    if (meta_blob_renew(r->srv->db, r->name, &r->digest, older_than) < 0) {
        log_warn("%s in %s: cannot renew its link: %s", r->digest.str, r->name, berr_message());
        berr_clear();
    }
}

int h_blob_head(struct request *r)
{
    int64_t size, linked;
    int rc = meta_blob_get_link(r->srv->db, r->name, &r->digest, &size, &linked);
    if (rc < 0)
        return rc;
    blob_renew(r, linked);
    blob_headers(r);
    respond_head(r, 200, BLOB_CT, size);
    return 0;
}

int h_blob_get(struct request *r)
{
    int64_t size, off = 0, len, linked;
    struct driver_reader *rd = NULL;
    int rc = meta_blob_get_link(r->srv->db, r->name, &r->digest, &size, &linked);
    if (rc < 0)
        return rc;
    blob_renew(r, linked);
    rc = blobstore_open_read(r->srv->bs, &r->digest, &rd);
    if (rc == BERR_BLOB_UNKNOWN)
        return berr_set(BERR_IO, "blob %s has a row but no data", r->digest.str);
    if (rc < 0)
        return rc;
    if (rd->size != size) {
        rc = berr_set(BERR_IO, "blob %s: %" PRId64 " bytes stored, %" PRId64 " recorded",
                      r->digest.str, rd->size, size);
        goto free_reader;
    }
    len = size;
    rc = parse_range(request_header(r, "Range"), size, &off, &len);
    if (rc < 0) {
        respond_header(r, "Content-Range", "bytes */%" PRId64, size);
        goto free_reader;
    }
    blob_headers(r);
    if (rc == 1) {
        respond_header(r, "Content-Range", "bytes %" PRId64 "-%" PRId64 "/%" PRId64, off,
                       off + len - 1, size);
        respond_reader(r, 206, BLOB_CT, rd, off, len);
    } else {
        respond_reader(r, 200, BLOB_CT, rd, 0, size);
    }
    return 0;
free_reader:
    driver_reader_free(rd);
    return rc;
}

int h_blob_delete(struct request *r)
{
    int rc = meta_blob_unlink(r->srv->db, r->name, &r->digest);
    if (rc < 0)
        return rc;
    respond_status(r, 202);
    return 0;
}
