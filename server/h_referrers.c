/*
 * h_referrers.c - GET /v2/<name>/referrers/<digest> (end-12a, end-12b).
 *
 * Always an OCI image index: an unknown subject gives an empty one, never
 * 404. ?artifactType= filters and is acknowledged with OCI-Filters-Applied.
 */
#include "server/handlers.h"

#include "image/base/xalloc.h"
#include "image/mediatype.h"
#include "server/respond.h"

#include <jansson.h>
#include <stdlib.h>

int h_referrers(struct request *r)
{
    const char *q = request_query(r, "artifactType");
    char *at = q && *q ? xstrdup(q) : NULL;
    struct meta_referrer *refs = NULL;
    size_t n = 0;
    /* A media type never holds a space: a client that sent '+' unescaped
     * had it decoded to ' ' by form rules; put it back. */
    for (char *p = at; p && *p; p++)
        if (*p == ' ')
            *p = '+';
    int filtered = at != NULL;
    int rc = meta_referrers(r->srv->db, r->name, r->digest.str, at, &refs, &n);
    free(at);
    if (rc < 0)
        return rc;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_pack("{s:s,s:s,s:I}", "mediaType", refs[i].media_type, "digest",
                              refs[i].digest, "size", (json_int_t)refs[i].size);
        if (refs[i].artifact_type)
            json_object_set_new(e, "artifactType", json_string(refs[i].artifact_type));
        if (refs[i].annotations) {
            json_t *a = json_loads(refs[i].annotations, 0, NULL);
            if (a)
                json_object_set_new(e, "annotations", a);
        }
        json_array_append_new(list, e);
    }
    meta_referrers_free(refs, n);
    if (filtered)
        respond_header(r, "OCI-Filters-Applied", "artifactType");
    respond_json(r, 200, MT_OCI_INDEX,
                 json_pack("{s:i,s:s,s:o}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX,
                           "manifests", list));
    return 0;
}
