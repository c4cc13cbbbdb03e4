/*
 * listcache.h - rendered listing pages (tag lists, catalog pages) kept in
 * memory, each under a key and the generation of the data it was rendered
 * from (storage/metadb.h: meta_tags_gen, meta_catalog_gen).
 *
 * A page is handed out only when the caller's generation, read from the
 * database for this request, equals the stored one: the database decides
 * freshness on every use, so changes made by any process are seen at once.
 * Memory is bounded by an entry count and a byte total (least recently used
 * pages go first); nothing is allocated before the first page is stored.
 * All functions are thread-safe; the lock is held for table and list
 * updates only, never while a page is copied.
 */
#ifndef BERTH_LISTCACHE_H
#define BERTH_LISTCACHE_H

#include <stddef.h>
#include <stdint.h>

/* Defaults for berthd: 256 pages, 4 MiB in all, none over 1 MiB. A tag
 * list of 1 000 short tags is about 8 KiB. */
#define LISTCACHE_ENTRIES  256
#define LISTCACHE_BYTES    ((size_t)4 << 20)
#define LISTCACHE_MAX_PAGE ((size_t)1 << 20)

struct listcache;

/* A rendered page as handed out. */
struct listcache_page {
    char *body; /* owned (free), NUL-terminated */
    size_t body_len;
    char *link; /* owned Link header value, or NULL when there is no next page */
};

struct listcache_stats {
    uint64_t hits, misses, stores, evictions;
    size_t entries, bytes;
};

/* A cache of at most max_entries pages and max_bytes bytes (entry overhead
 * counted); pages over max_page bytes are not kept. Returns 0 (allocation
 * failures abort). */
int listcache_new(struct listcache **out, size_t max_entries, size_t max_bytes, size_t max_page);
/* Free the cache and every page. No other thread may use it. Accepts NULL. */
void listcache_free(struct listcache *c);
/* Look up key[0..key_len) at generation gen: 1 and *out holds copies of
 * the page (release with listcache_page_release), or 0 when there is no
 * page of that generation (a page of an older one is dropped). */
int listcache_get(struct listcache *c, const char *key, size_t key_len, int64_t gen,
                  struct listcache_page *out);
/* Keep a copy of body[0..body_len) and link (may be NULL) under key at
 * generation gen, replacing a page of the same or an older generation
 * (a page of a newer one stays). Evicts least recently used pages to stay
 * within the bounds. */
void listcache_put(struct listcache *c, const char *key, size_t key_len, int64_t gen,
                   const char *body, size_t body_len, const char *link);
/* Counters and current size. */
void listcache_stats(struct listcache *c, struct listcache_stats *out);
/* Free what a page owns and clear it. Accepts NULL. */
void listcache_page_release(struct listcache_page *p);

#endif
