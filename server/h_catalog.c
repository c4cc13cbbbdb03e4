/*
 * h_catalog.c - GET /v2/_catalog: repositories the caller may pull, in
 * lexical order, paginated like tags (default page: 1000). Unfiltered pages
 * (no authentication) are cached like tag lists (server/listpage.c).
 */
#include "server/handlers.h"

#include "server/authz.h"
#include "server/listpage.h"
#include "server/respond.h"

#define CATALOG_DEFAULT_N 1000

int h_catalog(struct request *r)
{
    long n;
    const char *last;
    struct listcache_page p;
    int rc = list_params(r, &n, &last);
    if (rc < 0)
        return rc;
    if (n < 0)
        n = CATALOG_DEFAULT_N;
    rc = listpage_catalog(&p, r->srv->db, r->srv->lists, n, last,
                          r->srv->auth ? authz_can_list : NULL, r);
    if (rc < 0)
        return rc;
    if (p.link)
        respond_header(r, "Link", "%s", p.link);
    respond_body(r, 200, "application/json", p.body, p.body_len); /* takes the body */
    p.body = NULL;
    listcache_page_release(&p);
    return 0;
}
