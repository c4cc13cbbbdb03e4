/*
 * test_listpage.c - server/listpage.c against a real metadata database:
 * pages equal jansson's rendering of the listing, pagination links, and
 * the cache never serves a stale page: tag put, tag delete, manifest
 * delete in this process, changes made through a second metadb handle and
 * a raw SQLite connection (other processes: berthd gc, the sqlite3 shell),
 * and readers racing a writer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "image/base/err.h"
#include "image/base/xalloc.h"
#include "image/digest.h"
#include "server/listcache.h"
#include "server/listpage.h"
#include "storage/metadb.h"

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"

struct fixture {
    char dir[64];
    char path[96];
    struct metadb *db;
    struct listcache *cache;
};

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_listpage.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/meta.db", f->dir);
    if (metadb_open(&f->db, f->path) != 0)
        return -1;
    listcache_new(&f->cache, LISTCACHE_ENTRIES, LISTCACHE_BYTES, LISTCACHE_MAX_PAGE);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char p[128];
    listcache_free(f->cache);
    metadb_free(f->db);
    unlink(f->path);
    snprintf(p, sizeof(p), "%s-wal", f->path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", f->path);
    unlink(p);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "PRAGMA foreign_keys = ON", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
}

/* Put payload as a manifest of repo under tag (may be NULL); *out gets its digest. */
static void put(struct metadb *db, const char *repo, const char *payload, const char *tag,
                struct digest *out)
{
    struct meta_manifest_put p;
    digest_of(out, DIGEST_SHA256, payload, strlen(payload));
    memset(&p, 0, sizeof(p));
    p.repo = repo;
    p.digest = out;
    p.media_type = MT_MANIFEST;
    p.payload = payload;
    p.payload_len = strlen(payload);
    p.tag = tag;
    assert_int_equal(meta_manifest_put(db, &p), 0);
}

static void put_tag(struct metadb *db, const char *repo, const char *tag)
{
    struct digest d;
    put(db, repo, "{}", tag, &d);
}

/* The document jansson makes of the listing meta_*_list returns (the
 * pre-cache implementation), and the Link it implies. */
static char *reference(struct metadb *db, const char *repo, long n, const char *last,
                       char **link_out)
{
    struct meta_list l;
    json_t *arr = json_array(), *doc;
    if (repo)
        assert_int_equal(meta_tags_list(db, repo, last, n, &l), 0);
    else
        assert_int_equal(meta_catalog(db, last, n, NULL, NULL, &l), 0);
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(arr, json_string(l.items[i]));
    *link_out = NULL;
    if (l.more && l.n > 0) {
        if (repo)
            *link_out = xasprintf("</v2/%s/tags/list?n=%ld&last=%s>; rel=\"next\"", repo, n,
                                  l.items[l.n - 1]);
        else
            *link_out =
                xasprintf("</v2/_catalog?n=%ld&last=%s>; rel=\"next\"", n, l.items[l.n - 1]);
    }
    if (repo)
        doc = json_pack("{s:s,s:o}", "name", repo, "tags", arr);
    else
        doc = json_pack("{s:o}", "repositories", arr);
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    meta_list_release(&l);
    return s;
}

/* The page (through the cache) equals the reference rendering of the
 * database's current state. */
static void check_tags(struct fixture *f, const char *repo, long n, const char *last)
{
    struct listcache_page p;
    char *link, *want = reference(f->db, repo, n, last, &link);
    assert_int_equal(listpage_tags(&p, f->db, f->cache, repo, n, last), 0);
    assert_string_equal(p.body, want);
    assert_int_equal(p.body_len, strlen(want));
    if (link)
        assert_string_equal(p.link, link);
    else
        assert_null(p.link);
    listcache_page_release(&p);
    free(want);
    free(link);
}

static void check_catalog(struct fixture *f, long n, const char *last)
{
    struct listcache_page p;
    char *link, *want = reference(f->db, NULL, n, last, &link);
    assert_int_equal(listpage_catalog(&p, f->db, f->cache, n, last, NULL, NULL), 0);
    assert_string_equal(p.body, want);
    if (link)
        assert_string_equal(p.link, link);
    else
        assert_null(p.link);
    listcache_page_release(&p);
    free(want);
    free(link);
}

static uint64_t hits(struct fixture *f)
{
    struct listcache_stats st;
    listcache_stats(f->cache, &st);
    return st.hits;
}

static void test_pages_and_links(void **state)
{
    struct fixture *f = *state;
    static const char *const tags[] = {"latest", "B", "a", "10", "Z", "2", "1", "v1.0", "_x"};
    struct listcache_page p;

    for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
        put_tag(f->db, "team/app", tags[i]);
    for (int round = 0; round < 2; round++) { /* rendered, then from the cache */
        uint64_t h0 = hits(f);
        check_tags(f, "team/app", -1, NULL);
        check_tags(f, "team/app", 3, NULL);
        check_tags(f, "team/app", 3, "2");
        check_tags(f, "team/app", 3, "_x");
        check_tags(f, "team/app", 2, "C");
        check_tags(f, "team/app", 9, NULL);
        check_tags(f, "team/app", 0, NULL);
        check_tags(f, "team/app", 2, "zzz");
        assert_int_equal(hits(f) - h0, round == 0 ? 0 : 8);
    }
    /* the Link of a page names its last tag */
    assert_int_equal(listpage_tags(&p, f->db, f->cache, "team/app", 2, "a"), 0);
    assert_string_equal(p.body, "{\"name\":\"team/app\",\"tags\":[\"latest\",\"v1.0\"]}");
    assert_null(p.link);
    listcache_page_release(&p);
    assert_int_equal(listpage_tags(&p, f->db, f->cache, "team/app", 2, "B"), 0);
    assert_string_equal(p.body, "{\"name\":\"team/app\",\"tags\":[\"Z\",\"_x\"]}");
    assert_string_equal(p.link, "</v2/team/app/tags/list?n=2&last=_x>; rel=\"next\"");
    listcache_page_release(&p);
    /* "" and NULL list the same page */
    check_tags(f, "team/app", 3, "");

    /* unknown repository: cached or not */
    assert_int_equal(listpage_tags(&p, f->db, f->cache, "ghost", -1, NULL), BERR_NAME_UNKNOWN);
    assert_null(p.body);
    assert_int_equal(listpage_tags(&p, f->db, NULL, "ghost", -1, NULL), BERR_NAME_UNKNOWN);
    put_tag(f->db, "ghost", "boo");
    check_tags(f, "ghost", -1, NULL);

    /* the catalog */
    for (int round = 0; round < 2; round++) {
        check_catalog(f, 1000, NULL);
        check_catalog(f, 1, NULL);
        check_catalog(f, 1, "ghost");
        check_catalog(f, 0, NULL);
    }
    /* without a cache */
    assert_int_equal(listpage_catalog(&p, f->db, NULL, 1, NULL, NULL, NULL), 0);
    assert_string_equal(p.body, "{\"repositories\":[\"ghost\"]}");
    assert_string_equal(p.link, "</v2/_catalog?n=1&last=ghost>; rel=\"next\"");
    listcache_page_release(&p);
}

/* Every change between two lists in the same process shows in the second. */
static void test_no_stale_page_same_process(void **state)
{
    struct fixture *f = *state;
    struct digest m1, m2;

    put(f->db, "app", "{\"v\":1}", "a", &m1);
    put(f->db, "app", "{\"v\":1}", "b", &m1);
    put(f->db, "app", "{\"v\":2}", "c", &m2);
    check_tags(f, "app", -1, NULL);
    check_tags(f, "app", 2, NULL);
    check_tags(f, "app", -1, NULL); /* from the cache */

    put_tag(f->db, "app", "d"); /* tag put */
    check_tags(f, "app", -1, NULL);
    check_tags(f, "app", 2, NULL);

    assert_int_equal(meta_tag_delete(f->db, "app", "c"), 0); /* tag delete */
    check_tags(f, "app", -1, NULL);

    assert_int_equal(meta_manifest_delete(f->db, "app", m1.str), 0); /* its tags a, b go */
    check_tags(f, "app", -1, NULL);
    check_tags(f, "app", 2, NULL);

    uint64_t h0 = hits(f);
    put(f->db, "app", "{\"v\":3}", "d", &m1); /* a tag move changes no name: still a hit */
    check_tags(f, "app", -1, NULL);
    assert_int_equal(hits(f), h0 + 1);

    check_catalog(f, 10, NULL);
    put_tag(f->db, "app2", "x"); /* a new repository */
    check_catalog(f, 10, NULL);
}

/* Changes made by other processes between two lists show in the second. */
static void test_no_stale_page_other_process(void **state)
{
    struct fixture *f = *state;
    struct metadb *other = NULL;
    struct digest m;

    put_tag(f->db, "app", "a");
    put_tag(f->db, "app", "b");
    check_tags(f, "app", -1, NULL);
    check_catalog(f, 10, NULL);

    assert_int_equal(metadb_open(&other, f->path), 0);
    put_tag(other, "app", "c");
    check_tags(f, "app", -1, NULL);
    assert_int_equal(meta_tag_delete(other, "app", "a"), 0);
    check_tags(f, "app", -1, NULL);
    put(other, "app", "{\"other\":1}", "z", &m);
    check_tags(f, "app", -1, NULL);
    assert_int_equal(meta_manifest_delete(other, "app", m.str), 0);
    check_tags(f, "app", -1, NULL);
    put_tag(other, "other/repo", "x");
    check_catalog(f, 10, NULL);
    metadb_free(other);

    /* raw SQL, as the collector or an operator's shell would: cascades included */
    raw_exec(f->path, "DELETE FROM tags WHERE name = 'b'");
    check_tags(f, "app", -1, NULL);
    raw_exec(f->path, "DELETE FROM repos WHERE name = 'app'");
    struct listcache_page p;
    assert_int_equal(listpage_tags(&p, f->db, f->cache, "app", -1, NULL), BERR_NAME_UNKNOWN);
    check_catalog(f, 10, NULL);
    /* the name comes back with other tags: never the old page */
    put_tag(f->db, "app", "c");
    check_tags(f, "app", -1, NULL);
}

/* Without a generation row (edited by hand) pages are rendered, never kept. */
static void test_no_generation_no_cache(void **state)
{
    struct fixture *f = *state;
    struct listcache_stats st;
    put_tag(f->db, "app", "a");
    raw_exec(f->path, "DELETE FROM tag_gen");
    check_tags(f, "app", -1, NULL);
    check_tags(f, "app", -1, NULL);
    put_tag(f->db, "app", "b");
    check_tags(f, "app", -1, NULL);
    listcache_stats(f->cache, &st);
    assert_int_equal(st.stores + st.hits, 0);
}

static int hide_private(void *ctx, const char *repo)
{
    (void)ctx;
    return strncmp(repo, "private/", 8) != 0;
}

static void test_filtered_catalog_not_cached(void **state)
{
    struct fixture *f = *state;
    struct listcache_page p;
    struct listcache_stats st;
    put_tag(f->db, "a", "t");
    put_tag(f->db, "private/b", "t");
    put_tag(f->db, "c", "t");
    for (int i = 0; i < 2; i++) {
        assert_int_equal(listpage_catalog(&p, f->db, f->cache, 1, NULL, hide_private, NULL), 0);
        assert_string_equal(p.body, "{\"repositories\":[\"a\"]}");
        assert_string_equal(p.link, "</v2/_catalog?n=1&last=a>; rel=\"next\"");
        listcache_page_release(&p);
        assert_int_equal(listpage_catalog(&p, f->db, f->cache, 5, "a", hide_private, NULL), 0);
        assert_string_equal(p.body, "{\"repositories\":[\"c\"]}");
        assert_null(p.link);
        listcache_page_release(&p);
    }
    listcache_stats(f->cache, &st);
    assert_int_equal(st.stores + st.hits + st.misses, 0);
}

/* Readers racing one writer: once a tag's put has returned, every list
 * started afterwards contains it. */
#define RACE_TAGS    150
#define RACE_READERS 3

struct race {
    struct fixture *f;
    atomic_int done; /* tags whose put has returned */
    int bad;
};

static void *race_reader(void *arg)
{
    struct race *r = arg;
    int bad = 0;
    for (;;) {
        int done = atomic_load(&r->done);
        struct listcache_page p;
        if (listpage_tags(&p, r->f->db, r->f->cache, "race", -1, NULL) != 0) {
            bad++;
            break;
        }
        json_t *doc = json_loadb(p.body, p.body_len, 0, NULL);
        int n = (int)json_array_size(json_object_get(doc, "tags"));
        json_decref(doc);
        listcache_page_release(&p);
        if (n < done)
            bad++;
        if (done == RACE_TAGS)
            break;
    }
    metadb_thread_done(r->f->db);
    __atomic_add_fetch(&r->bad, bad, __ATOMIC_RELAXED);
    return NULL;
}

static void test_readers_race_writer(void **state)
{
    struct fixture *f = *state;
    struct race r = {.f = f, .bad = 0};
    pthread_t th[RACE_READERS];
    char tag[16];

    atomic_init(&r.done, 0);
    put_tag(f->db, "race", "seed");
    atomic_store(&r.done, 1);
    for (int i = 0; i < RACE_READERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, race_reader, &r), 0);
    for (int i = 1; i < RACE_TAGS; i++) {
        snprintf(tag, sizeof(tag), "t%04d", i);
        put_tag(f->db, "race", tag);
        atomic_store(&r.done, i + 1);
    }
    for (int i = 0; i < RACE_READERS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(r.bad, 0);
    check_tags(f, "race", -1, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pages_and_links, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_stale_page_same_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_stale_page_other_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_generation_no_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filtered_catalog_not_cached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readers_race_writer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
