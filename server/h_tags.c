/*
 * h_tags.c - GET /v2/<name>/tags/list (end-8a, end-8b), and the pagination
 * parameters shared with the catalog.
 *
 * Lexical (byte) order, keyset pagination: ?n= limits, ?last= resumes after
 * a value; when more remain, Link: </v2/...?n=N&last=X>; rel="next".
 * The page comes from server/listpage.c (cached, validated by the
 * repository's tag generation on every request).
 */
#include "server/handlers.h"

#include "image/base/err.h"
#include "server/listpage.h"
#include "server/respond.h"

#include <errno.h>
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
    struct listcache_page p;
    int rc = list_params(r, &n, &last);
    if (rc < 0)
        return rc;
    rc = listpage_tags(&p, r->srv->db, r->srv->lists, r->name, n, last);
    if (rc < 0)
        return rc;
    if (p.link)
        respond_header(r, "Link", "%s", p.link);
    respond_body(r, 200, "application/json", p.body, p.body_len); /* takes the body */
    p.body = NULL;
    listcache_page_release(&p);
    return 0;
}
