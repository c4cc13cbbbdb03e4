/*
 * h_manifest.c - manifests GET / HEAD / PUT / DELETE (end-3, end-7, end-9).
 *
 * The bytes received are the bytes stored and served: the digest is computed
 * over the exact body, the parsed form is used only to find references.
 * Reference checks and the tag move happen in one metadata transaction
 * (meta_manifest_put), the ordering point against the garbage collector.
 */
#include "server/handlers.h"

#include "image/base/err.h"
#include "image/base/xalloc.h"
#include "image/manifest.h"
#include "server/respond.h"

#include <stdlib.h>
#include <string.h>

static const char *ref_key(struct request *r)
{
    return r->ref_is_digest ? r->digest.str : r->ref;
}

static void manifest_headers(struct request *r, struct meta_manifest *m)
{
    respond_header(r, "Docker-Content-Digest", "%s", m->digest);
    respond_header(r, "ETag", "\"%s\"", m->digest);
    r->resp.ct_owned = m->media_type; /* ownership moves to the response */
    m->media_type = NULL;
}

int h_manifest_get(struct request *r)
{
    struct meta_manifest m;
    int rc = meta_manifest_get(r->srv->db, r->name, ref_key(r), r->ref_is_digest, &m);
    if (rc < 0)
        return rc;
    manifest_headers(r, &m);
    respond_body(r, 200, r->resp.ct_owned, m.payload, m.payload_len);
    m.payload = NULL;
    meta_manifest_release(&m);
    return 0;
}

int h_manifest_head(struct request *r)
{
    struct meta_manifest m;
    int rc = meta_manifest_head(r->srv->db, r->name, ref_key(r), r->ref_is_digest, &m);
    if (rc < 0)
        return rc;
    manifest_headers(r, &m);
    respond_head(r, 200, r->resp.ct_owned, (int64_t)m.payload_len);
    meta_manifest_release(&m);
    return 0;
}

/* Layers that live elsewhere by design are not required in the repository. */
static int descriptor_is_foreign(const struct descriptor *d)
{
    return strstr(d->media_type, "foreign") || strstr(d->media_type, "nondistributable");
}

int h_manifest_put(struct request *r)
{
    struct manifest *m = NULL;
    struct digest d, *blobs = NULL, *children = NULL;
    size_t nb = 0, nc = 0;
    const char *body = buf_cstr(&r->body);
    int rc;

    digest_of(&d, r->ref_is_digest ? r->digest.alg : DIGEST_SHA256, body, r->body.len);
    if (r->ref_is_digest && !digest_equal(&d, &r->digest)) {
        rc = berr_set(BERR_DIGEST_INVALID, "manifest body has digest %s, not %s", d.str,
                      r->digest.str);
        goto cleanup;
    }
    rc = manifest_parse(&m, body, r->body.len, request_header(r, "Content-Type"));
    if (rc == BERR_DIGEST_INVALID)
        rc = BERR_MANIFEST_INVALID; /* a bad descriptor is a bad manifest; keep the message */
    if (rc < 0)
        goto cleanup;

    if (m->kind == MT_KIND_IMAGE) {
        blobs = xcalloc(m->n_layers + 1, sizeof(*blobs));
        if (m->has_config)
            digest_copy(&blobs[nb++], &m->config.digest);
        for (size_t i = 0; i < m->n_layers; i++)
            if (!descriptor_is_foreign(&m->layers[i]))
                digest_copy(&blobs[nb++], &m->layers[i].digest);
    } else {
        children = xcalloc(m->n_manifests + 1, sizeof(*children));
        for (size_t i = 0; i < m->n_manifests; i++)
            digest_copy(&children[nc++], &m->manifests[i].digest);
    }
    struct meta_manifest_put p = {
        .repo = r->name,
        .digest = &d,
        .media_type = m->media_type,
        .payload = body,
        .payload_len = r->body.len,
        .artifact_type = manifest_effective_artifact_type(m),
        .subject = m->has_subject ? m->subject.digest.str : NULL,
        .annotations = m->annotations,
        .tag = r->ref_is_digest ? NULL : r->ref,
        .blobs = blobs,
        .n_blobs = nb,
        .children = children,
        .n_children = nc,
    };
    rc = meta_manifest_put(r->srv->db, &p);
    if (rc < 0)
        goto cleanup;
    respond_header(r, "Location", "/v2/%s/manifests/%s", r->name, d.str);
    respond_header(r, "Docker-Content-Digest", "%s", d.str);
    if (m->has_subject)
        respond_header(r, "OCI-Subject", "%s", m->subject.digest.str);
    respond_status(r, 201);
cleanup:
    free(blobs);
    free(children);
    manifest_free(m);
    return rc;
}

int h_manifest_delete(struct request *r)
{
    int rc = r->ref_is_digest ? meta_manifest_delete(r->srv->db, r->name, r->digest.str)
                              : meta_tag_delete(r->srv->db, r->name, r->ref);
    if (rc < 0)
        return rc;
    respond_status(r, 202);
    return 0;
}
