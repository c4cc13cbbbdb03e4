/*
 * listpage.c - listing pages through the cache (see listpage.h).
 *
 * A request reads the listing's generation (one indexed lookup), then
 * either copies the cached page of that generation or renders the page:
 * the metadata streams the names into the JSON writer (no per-row
 * allocation), and the result is kept under the generation the listing
 * reported. That generation is read before the rows, so a page is never
 * kept under a generation newer than its content (storage/metadb.h); a page
 * kept under an older one is merely never served again.
 *
 * Cache keys: kind byte ('t' tags, 'c' catalog), the bytes of n (a long), the
 * repository name and a NUL (tags), then `last` (NULL and "" list the
 * same page). Names and `last` values longer than any valid name are not
 * cached (the key has a fixed bound).
 */
#include "server/listpage.h"

#include "image/base/buf.h"
#include "image/base/xalloc.h"
#include "server/jsonlist.h"

#include <stdlib.h>
#include <string.h>

/* Longest repository name or `last` value of a cached page (names are at
 * most 255 bytes, tags 128). */
#define LISTPAGE_KEY_PART 255
#define LISTPAGE_KEY_MAX  (1 + sizeof(long) + 2 * (LISTPAGE_KEY_PART + 1))

/* Page being rendered from streamed names. */
struct render {
    struct buf body;
    size_t count;
    size_t last_off, last_len; /* the last name, verbatim in body */
    char *last_raw;            /* the last name when jansson encoded it, else NULL */
};

/* Build the cache key into key (LISTPAGE_KEY_MAX bytes); 0 when the page is
 * not cacheable. */
static size_t page_key(char *key, char kind, const char *repo, long n, const char *last)
{
    size_t repo_len = repo ? strlen(repo) : 0, last_len = last ? strlen(last) : 0, k = 0;
    if (repo_len > LISTPAGE_KEY_PART || last_len > LISTPAGE_KEY_PART)
        return 0;
    key[k++] = kind;
    memcpy(key + k, &n, sizeof(n));
    k += sizeof(n);
    if (repo) {
        memcpy(key + k, repo, repo_len + 1);
        k += repo_len + 1;
    }
    if (last_len)
        memcpy(key + k, last, last_len);
    return k + last_len;
}

static void render_init(struct render *rd)
{
    memset(rd, 0, sizeof(*rd));
    buf_init(&rd->body, LISTPAGE_MAX_BODY);
}

static void render_release(struct render *rd)
{
    buf_release(&rd->body);
    free(rd->last_raw);
}

/* meta_name_fn: append one name to the page. */
static int render_name(void *ctx, const char *name, size_t len)
{
    struct render *rd = ctx;
    int rc = jsonlist_item(&rd->body, rd->count, name, len);
    if (rc < 0)
        return rc;
    rd->count++;
    if (rd->last_raw) {
        free(rd->last_raw);
        rd->last_raw = NULL;
    }
    if (rc == 1) {
        rd->last_off = rd->body.len - len - 1;
        rd->last_len = len;
    } else {
        rd->last_raw = xstrndup(name, len);
    }
    return 0;
}

/* Finish rendering into out: the closing brackets, and the Link to the
 * next page when more names follow (a tag list's when repo is not NULL,
 * else the catalog's). */
static int render_finish(struct listcache_page *out, struct render *rd, int more, const char *repo,
                         long n)
{
    int err = jsonlist_end(&rd->body);
    if (err)
        return err;
    if (more && rd->count > 0) {
        const char *lastp = rd->last_raw ? rd->last_raw : rd->body.data + rd->last_off;
        int last_len = (int)(rd->last_raw ? strlen(rd->last_raw) : rd->last_len);
        if (repo)
            out->link = xasprintf("</v2/%s/tags/list?n=%ld&last=%.*s>; rel=\"next\"", repo, n,
                                  last_len, lastp);
        else
            out->link =
                xasprintf("</v2/_catalog?n=%ld&last=%.*s>; rel=\"next\"", n, last_len, lastp);
    }
    out->body = buf_detach(&rd->body, &out->body_len);
    return 0;
}

int listpage_tags(struct listcache_page *out, struct metadb *db, struct listcache *cache,
                  const char *repo, long n, const char *last)
{
    char key[LISTPAGE_KEY_MAX];
    size_t key_len = cache ? page_key(key, 't', repo, n, last) : 0;
    struct render rd;
    int64_t gen = 0;
    int more = 0, err;

    memset(out, 0, sizeof(*out));
    if (key_len) {
        err = meta_tags_gen(db, repo, &gen);
        if (err)
            return err;
        if (gen >= 0 && listcache_get(cache, key, key_len, gen, out))
            return 0;
    }
    render_init(&rd);
    err = jsonlist_begin(&rd.body, repo, "tags");
    if (err == 0)
        err = meta_tags_each(db, repo, last, n, render_name, &rd, &more, &gen);
    if (err == 0)
        err = render_finish(out, &rd, more, repo, n);
    render_release(&rd);
    if (err) {
        listcache_page_release(out);
        return err;
    }
    if (key_len && gen >= 0)
        listcache_put(cache, key, key_len, gen, out->body, out->body_len, out->link);
    return 0;
}

int listpage_catalog(struct listcache_page *out, struct metadb *db, struct listcache *cache, long n,
                     const char *last, meta_repo_filter filter, void *filter_ctx)
{
    char key[LISTPAGE_KEY_MAX];
    size_t key_len = cache && !filter ? page_key(key, 'c', NULL, n, last) : 0;
    struct render rd;
    int64_t gen = 0;
    int more = 0, err;

    memset(out, 0, sizeof(*out));
    if (key_len) {
        err = meta_catalog_gen(db, &gen);
        if (err)
            return err;
        if (gen >= 0 && listcache_get(cache, key, key_len, gen, out))
            return 0;
    }
    render_init(&rd);
    err = jsonlist_begin(&rd.body, NULL, "repositories");
    if (err == 0)
        err = meta_catalog_each(db, last, n, filter, filter_ctx, render_name, &rd, &more,
                                key_len ? &gen : NULL);
    if (err == 0)
        err = render_finish(out, &rd, more, NULL, n);
    render_release(&rd);
    if (err) {
        listcache_page_release(out);
        return err;
    }
    if (key_len && gen >= 0)
        listcache_put(cache, key, key_len, gen, out->body, out->body_len, out->link);
    return 0;
}
