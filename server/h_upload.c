/*
 * h_upload.c - blob uploads (end-4a, end-4b, end-5, end-6, end-11, end-13,
 * cancel).
 *
 * Body bytes never touch a buffer here: h_upload_data hands each piece the
 * HTTP layer read straight to upload_write, which hashes and stages it. A
 * begin() callback runs at the headers so that a bad request (unknown
 * session, chunk out of order, bad digest) is answered before the body is
 * read; a mount waits for the end (it commits, so it runs on the io pool like
 * every writing handler). The upload handle hangs off the request; request_free releases it
 * when a client disconnects mid-body (staged bytes of a session stay,
 * single-request uploads are discarded).
 */
#include "server/handlers.h"

#include "image/base/err.h"
#include "image/reference.h"
#include "server/authz.h"
#include "server/respond.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Parse Content-Range "start-end" (also "bytes start-end/total" and
 * "bytes=start-end"). Returns 1 when present, 0 when absent, or an error. */
static int content_range(struct request *r, int64_t *start, int64_t *end)
{
    const char *h = request_header(r, "Content-Range");
    if (!h)
        return 0;
    const char *s = h;
    if (!strncmp(s, "bytes", 5)) {
        s += 5;
        if (*s == '=' || *s == ' ')
            s++;
    }
    char *e = NULL;
    errno = 0;
    long long a = strtoll(s, &e, 10);
    if (errno || e == s || *e != '-' || a < 0)
        return berr_set(BERR_UPLOAD_INVALID, "bad Content-Range '%.100s'", h);
    s = e + 1;
    long long b = strtoll(s, &e, 10);
    if (errno || e == s || (*e && *e != '/') || b < a)
        return berr_set(BERR_UPLOAD_INVALID, "bad Content-Range '%.100s'", h);
    if (r->content_length >= 0 && r->content_length != b - a + 1)
        return berr_set(BERR_UPLOAD_INVALID,
                        "Content-Range %lld-%lld does not match Content-Length %" PRId64, a, b,
                        r->content_length);
    *start = a;
    *end = b;
    return 1;
}

static void session_headers(struct request *r, int64_t offset)
{
    respond_header(r, "Location", "/v2/%s/blobs/uploads/%s", r->name, r->uuid);
    respond_header(r, "Range", "0-%" PRId64, offset > 0 ? offset - 1 : 0);
    respond_header(r, "Docker-Upload-UUID", "%s", r->uuid);
}

static void blob_created(struct request *r, const struct digest *d)
{
    respond_header(r, "Location", "/v2/%s/blobs/%s", r->name, d->str);
    respond_header(r, "Docker-Content-Digest", "%s", d->str);
    respond_status(r, 201);
}

/* Acquire the session for a PATCH/PUT at the headers. */
static int session_open(struct request *r)
{
    int64_t start = -1, end = -1, offset = 0;
    int rc = content_range(r, &start, &end);
    if (rc < 0)
        return rc;
    rc = upload_open(r->srv->uploads, r->name, r->uuid, start, &r->upload, &offset);
    if (rc == BERR_RANGE) {
        session_headers(r, offset);
        return berr_set(BERR_RANGE, "chunk starts at %" PRId64 ", upload is at %" PRId64, start,
                        offset);
    }
    return rc;
}

int h_upload_data(struct request *r, const char *data, size_t len)
{
    if (!r->upload)
        return 0; /* POST without ?digest=: a body, if any, is ignored */
    return upload_write(r->upload, data, len);
}

/* A cross-repository mount (end-11): 1 when done (201 set), 0 when the blob
 * cannot be mounted (the caller opens an ordinary session), or an error. */
static int try_mount(struct request *r, const char *mount)
{
    struct digest d;
    const char *from = request_query(r, "from");
    if (digest_parse_cstr(&d, mount) < 0 || (from && !ref_name_valid(from, strlen(from))) ||
        !authz_mount_allowed(r))
        return 0;
    int64_t size;
    int rc = meta_blob_mount(r->srv->db, r->name, &d, from, r->srv->auth ? authz_can_pull : NULL, r,
                             &size);
    if (rc == 0) {
        blob_created(r, &d);
        return 1;
    }
    if (rc != BERR_BLOB_UNKNOWN)
        return rc;
    berr_clear();
    return 0;
}

int h_upload_post_begin(struct request *r)
{
    const char *dg = request_query(r, "digest");
    int rc;
    if (request_query(r, "mount"))
        return 0; /* mounted in h_upload_post, on the io pool: it commits */
    if (dg) {
        rc = digest_parse_cstr(&r->digest, dg);
        if (rc < 0)
            return rc;
        r->ephemeral = 1;
        return upload_open_ephemeral(r->srv->uploads, r->name, r->digest.alg, &r->upload);
    }
    return 0;
}

int h_upload_post(struct request *r)
{
    int rc;
    const char *mount = request_query(r, "mount");
    if (mount) {
        rc = try_mount(r, mount);
        if (rc != 0)
            return rc < 0 ? rc : 0;
    } else if (r->upload) {
        struct upload *u = r->upload;
        r->upload = NULL;
        rc = upload_finish(u, &r->digest, -1);
        if (rc < 0)
            return rc;
        blob_created(r, &r->digest);
        return 0;
    }
    rc = upload_start(r->srv->uploads, r->name, r->uuid);
    if (rc < 0)
        return rc;
    session_headers(r, 0);
    respond_status(r, 202);
    return 0;
}

int h_upload_patch_begin(struct request *r)
{
    return session_open(r);
}

int h_upload_patch(struct request *r)
{
    struct upload *u = r->upload;
    int64_t offset = upload_offset(u);
    r->upload = NULL;
    int rc = upload_close(u);
    if (rc < 0)
        return rc;
    session_headers(r, offset);
    respond_status(r, 202);
    return 0;
}

int h_upload_put_begin(struct request *r)
{
    const char *dg = request_query(r, "digest");
    if (!dg)
        return berr_set(BERR_DIGEST_INVALID, "the digest query parameter is required");
    int rc = digest_parse_cstr(&r->digest, dg);
    if (rc < 0)
        return rc;
    return session_open(r);
}

int h_upload_put(struct request *r)
{
    struct upload *u = r->upload;
    r->upload = NULL;
    int rc = upload_finish(u, &r->digest, -1);
    if (rc < 0)
        return rc;
    blob_created(r, &r->digest);
    return 0;
}

int h_upload_status(struct request *r)
{
    int64_t offset;
    int rc = upload_status(r->srv->uploads, r->name, r->uuid, &offset);
    if (rc < 0)
        return rc;
    session_headers(r, offset);
    respond_status(r, 204);
    return 0;
}

int h_upload_cancel(struct request *r)
{
    int rc = upload_cancel(r->srv->uploads, r->name, r->uuid);
    if (rc < 0)
        return rc;
    respond_status(r, 204);
    return 0;
}
