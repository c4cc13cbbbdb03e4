/*
 * h_tags.c - GET /v2/<name>/tags/list (end-8a, end-8b), and the pagination
 * parameters shared with the catalog.
 *
 * Lexical (byte) order, keyset pagination: ?n= limits, ?last= resumes after
 * a value; when more remain, Link: </v2/...?n=N&last=X>; rel="next".
 */
#include "server/handlers.h"

#include "image/base/err.h"
#include "server/respond.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

#define LIST_MAX_N 10000

int list_params(struct request *r, long *n_out, const char **last_out)
{
    const char *n = request_query(r, "n");
    *last_out = request_query(r, "last");
    if (*last_out && !**last_out)
        *last_out = NULL;
    *n_out = -1;
    if (!n)
        return 0;
    char *end = NULL;
    errno = 0;
    long v = strtol(n, &end, 10);
    if (errno || end == n || *end || v < 0)
        return berr_set(BERR_INVALID, "n must be a non-negative integer, not '%.40s'", n);
    *n_out = v > LIST_MAX_N ? LIST_MAX_N : v;
    return 0;
}

int h_tags_list(struct request *r)
{
    long n;
    const char *last;
    struct meta_list l = {0};
    int rc = list_params(r, &n, &last);
    if (rc < 0)
        return rc;
    rc = meta_tags_list(r->srv->db, r->name, last, n, &l);
    if (rc < 0)
        return rc;
    json_t *tags = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(tags, json_string(l.items[i]));
    if (l.more && l.n > 0)
        respond_header(r, "Link", "</v2/%s/tags/list?n=%ld&last=%s>; rel=\"next\"", r->name, n,
                       l.items[l.n - 1]);
    respond_json(r, 200, "application/json", json_pack("{s:s,s:o}", "name", r->name, "tags", tags));
    meta_list_release(&l);
    return 0;
}
