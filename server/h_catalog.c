/*
 * h_catalog.c - GET /v2/_catalog: repositories the caller may pull, in
 * lexical order, paginated like tags (default page: 1000).
 */
#include "server/handlers.h"

#include "server/authz.h"
#include "server/respond.h"

#include <jansson.h>

#define CATALOG_DEFAULT_N 1000

int h_catalog(struct request *r)
{
    long n;
    const char *last;
    struct meta_list l = {0};
    int rc = list_params(r, &n, &last);
    if (rc < 0)
        return rc;
    if (n < 0)
        n = CATALOG_DEFAULT_N;
    rc = meta_catalog(r->srv->db, last, n, r->srv->auth ? authz_can_list : NULL, r, &l);
    if (rc < 0)
        return rc;
    json_t *repos = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(repos, json_string(l.items[i]));
    if (l.more && l.n > 0)
        respond_header(r, "Link", "</v2/_catalog?n=%ld&last=%s>; rel=\"next\"", n,
                       l.items[l.n - 1]);
    respond_json(r, 200, "application/json", json_pack("{s:o}", "repositories", repos));
    meta_list_release(&l);
    return 0;
}
