/*
 * errmap.c - BERR_* code -> (HTTP status, OCI error code, default message).
 *
 * Error bodies are always {"errors":[{"code","message","detail"}]}; internal
 * failures are logged with the request id and reported without detail.
 */
#include "server/errmap.h"

#include "image/base/err.h"
#include "image/base/log.h"
#include "server/respond.h"

#include <jansson.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

struct errmap_entry {
    int code;
    int status;
    const char *oci;
    const char *message;
};

static const struct errmap_entry errmap_table[] = {
    {BERR_INTERNAL, 500, "UNKNOWN", "internal server error"},
    {BERR_IO, 500, "UNKNOWN", "storage error"},
    {BERR_DB, 500, "UNKNOWN", "metadata error"},
    {BERR_INVALID, 400, "UNSUPPORTED", "invalid request"},
    {BERR_NOT_FOUND, 404, "NOT_FOUND", "not found"},
    {BERR_EXISTS, 409, "UNSUPPORTED", "already exists"},
    {BERR_NAME_INVALID, 400, "NAME_INVALID", "invalid repository name"},
    {BERR_NAME_UNKNOWN, 404, "NAME_UNKNOWN", "repository name not known to registry"},
    {BERR_TAG_INVALID, 400, "TAG_INVALID", "invalid tag"},
    {BERR_DIGEST_INVALID, 400, "DIGEST_INVALID", "provided digest did not match uploaded content"},
    {BERR_UNSUPPORTED, 400, "UNSUPPORTED", "the operation is unsupported"},
    {BERR_BLOB_UNKNOWN, 404, "BLOB_UNKNOWN", "blob unknown to registry"},
    {BERR_UPLOAD_UNKNOWN, 404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry"},
    {BERR_UPLOAD_INVALID, 400, "BLOB_UPLOAD_INVALID", "blob upload invalid"},
    {BERR_RANGE, 416, "BLOB_UPLOAD_INVALID", "chunk out of order or overlapping"},
    {BERR_SIZE_INVALID, 400, "SIZE_INVALID", "provided length did not match content length"},
    {BERR_MANIFEST_UNKNOWN, 404, "MANIFEST_UNKNOWN", "manifest unknown"},
    {BERR_MANIFEST_INVALID, 400, "MANIFEST_INVALID", "manifest invalid"},
    {BERR_MANIFEST_BLOB_UNKNOWN, 400, "MANIFEST_BLOB_UNKNOWN",
     "manifest references a blob or manifest unknown to the repository"},
    {BERR_TOO_LARGE, 413, "SIZE_INVALID", "request body too large"},
    {BERR_UNAUTHORIZED, 401, "UNAUTHORIZED", "authentication required"},
    {BERR_DENIED, 403, "DENIED", "requested access to the resource is denied"},
    {BERR_TOOMANY, 429, "TOOMANYREQUESTS", "too many requests"},
    {BERR_CONFIG, 500, "UNKNOWN", "configuration error"},
    {BERR_BUSY, 409, "BLOB_UPLOAD_INVALID", "upload is in use by another request"},
    {BERR_RANGE_NOT_SATISFIABLE, 416, "BLOB_UNKNOWN", "requested range not satisfiable"},
};

static const struct errmap_entry *errmap_find(int code)
{
    for (size_t i = 0; i < sizeof(errmap_table) / sizeof(errmap_table[0]); i++)
        if (errmap_table[i].code == code)
            return &errmap_table[i];
    return &errmap_table[0];
}

int errmap_status(int code)
{
    return errmap_find(code)->status;
}

const char *errmap_code(int code)
{
    return errmap_find(code)->oci;
}

void errmap_respond(struct request *r, int code)
{
    const struct errmap_entry *e = errmap_find(code);
    const char *msg = berr_message();
    if (e->status >= 500) {
        log_error("req=%llu %s %s: %s: %s", r->id, r->method_str, r->path, berr_name(code),
                  *msg ? msg : "(no detail)");
        msg = e->message;
    } else if (!*msg) {
        msg = e->message;
    }
    json_t *detail = json_object();
    if (r->name)
        json_object_set_new(detail, "name", json_string(r->name));
    if (r->ref)
        json_object_set_new(detail, "reference", json_string(r->ref));
    else if (r->digest.str[0])
        json_object_set_new(detail, "digest", json_string(r->digest.str));
    json_t *err = json_pack("{s:s,s:s,s:o}", "code", e->oci, "message", msg, "detail", detail);
    json_t *body = json_pack("{s:[o]}", "errors", err);
    /* An error replaces whatever the handler had prepared, headers included,
     * except challenge/range headers the handler set for this error. */
    struct response keep = r->resp;
    r->resp.body = NULL;
    respond_json(r, e->status, "application/json", body);
    r->resp.nheaders = keep.nheaders;
    if (keep.fd >= 0) {
        close(keep.fd);
        r->resp.fd = -1;
    }
    driver_reader_free(keep.reader);
    r->resp.reader = NULL;
    free(keep.body);
    r->resp.head_length = -1;
    berr_clear();
}
