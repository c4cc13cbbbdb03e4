/*
 * listpage.h - one page of a listing (a repository's tags, the catalog) as
 * the response body and Link header the handlers send: served from the
 * listing cache when its generation is current, else rendered from the
 * metadata as the rows stream in and kept for the next request.
 *
 * Pagination is the metadata's (keyset: names after `last`, at most n, n < 0
 * for all); when more names follow, link is
 *   </v2/<repo>/tags/list?n=N&last=X>; rel="next"   or
 *   </v2/_catalog?n=N&last=X>; rel="next"
 * with X the page's last name.
 */
#ifndef BERTH_LISTPAGE_H
#define BERTH_LISTPAGE_H

#include "server/listcache.h"
#include "storage/metadb.h"

/* Largest listing body rendered (a page of LIST_MAX_N names is ~1.3 MiB at
 * most; only an unpaginated list of half a million long tags reaches this). */
#define LISTPAGE_MAX_BODY ((size_t)64 << 20)

/* The page of repo's tag list: {"name":repo,"tags":[...]}. cache may be
 * NULL (no caching). BERR_NAME_UNKNOWN for an unknown repository, BERR_DB,
 * BERR_TOO_LARGE. The caller owns *out (listcache_page_release). */
int listpage_tags(struct listcache_page *out, struct metadb *db, struct listcache *cache,
                  const char *repo, long n, const char *last);
/* The page of the catalog: {"repositories":[...]}, names accepted by filter
 * (NULL: all). Only unfiltered pages are cached (a filter's answer depends
 * on the caller). Errors as above, without BERR_NAME_UNKNOWN. */
int listpage_catalog(struct listcache_page *out, struct metadb *db, struct listcache *cache, long n,
                     const char *last, meta_repo_filter filter, void *filter_ctx);

#endif
