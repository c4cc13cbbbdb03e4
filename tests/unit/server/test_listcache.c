/*
 * test_listcache.c - server/listcache.c: generations decide every hit,
 * bounds (entries, bytes, page size) hold, LRU order of eviction, and
 * concurrent readers and writers (run under ASan by `make asan`).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/listcache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_s(struct listcache *c, const char *key, int64_t gen, const char *body,
                  const char *link)
{
    listcache_put(c, key, strlen(key), gen, body, strlen(body), link);
}

/* 1 and the body equals want, or 0 on a miss (want NULL). */
static void expect(struct listcache *c, const char *key, int64_t gen, const char *want,
                   const char *want_link)
{
    struct listcache_page p;
    int hit = listcache_get(c, key, strlen(key), gen, &p);
    if (!want) {
        assert_int_equal(hit, 0);
        assert_null(p.body);
        return;
    }
    assert_int_equal(hit, 1);
    assert_int_equal(p.body_len, strlen(want));
    assert_string_equal(p.body, want);
    if (want_link)
        assert_string_equal(p.link, want_link);
    else
        assert_null(p.link);
    listcache_page_release(&p);
}

static void test_generation_decides(void **state)
{
    (void)state;
    struct listcache *c = NULL;
    struct listcache_stats st;
    assert_int_equal(listcache_new(&c, 8, 1 << 20, 1 << 20), 0);
    expect(c, "k", 1, NULL, NULL); /* empty cache, no table yet */
    put_s(c, "k", 5, "v5", "</next>");
    expect(c, "k", 5, "v5", "</next>");
    expect(c, "k", 6, NULL, NULL); /* newer generation: stale, dropped */
    listcache_stats(c, &st);
    assert_int_equal(st.entries, 0);
    put_s(c, "k", 6, "v6", NULL);
    expect(c, "k", 5, NULL, NULL); /* an older reader does not get the newer page */
    expect(c, "k", 6, "v6", NULL);
    put_s(c, "k", 4, "v4", NULL); /* a late store of an older page does not win */
    expect(c, "k", 6, "v6", NULL);
    put_s(c, "k", 7, "v7", NULL);
    expect(c, "k", 7, "v7", NULL);
    /* keys differ by bytes, including embedded NULs */
    listcache_put(c, "a\0b", 3, 1, "x", 1, NULL);
    listcache_put(c, "a\0c", 3, 1, "y", 1, NULL);
    struct listcache_page p;
    assert_int_equal(listcache_get(c, "a\0b", 3, 1, &p), 1);
    assert_string_equal(p.body, "x");
    listcache_page_release(&p);
    assert_int_equal(listcache_get(c, "a", 1, 1, &p), 0);
    listcache_stats(c, &st);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.hits, 5);
    listcache_page_release(NULL);
    listcache_free(c);
    listcache_free(NULL);
}

static void test_bounds(void **state)
{
    (void)state;
    struct listcache *c = NULL;
    struct listcache_stats st;
    char key[16], body[200];

    /* entries: the least recently used goes */
    assert_int_equal(listcache_new(&c, 3, 1 << 20, 1 << 20), 0);
    put_s(c, "a", 1, "A", NULL);
    put_s(c, "b", 1, "B", NULL);
    put_s(c, "c", 1, "C", NULL);
    expect(c, "a", 1, "A", NULL); /* a is now the most recent */
    put_s(c, "d", 1, "D", NULL);  /* evicts b */
    expect(c, "b", 1, NULL, NULL);
    expect(c, "a", 1, "A", NULL);
    expect(c, "c", 1, "C", NULL);
    expect(c, "d", 1, "D", NULL);
    listcache_stats(c, &st);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.evictions, 1);
    listcache_free(c);

    /* bytes: never above the bound; a page over max_page is not kept */
    assert_int_equal(listcache_new(&c, 1000, 2000, 150), 0);
    memset(body, 'x', sizeof(body));
    body[sizeof(body) - 1] = '\0';
    put_s(c, "big", 1, body, NULL);
    expect(c, "big", 1, NULL, NULL);
    body[100] = '\0';
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        put_s(c, key, 1, body, NULL);
        listcache_stats(c, &st);
        assert_true(st.bytes <= 2000);
    }
    listcache_stats(c, &st);
    assert_true(st.entries > 5 && st.entries < 20);
    expect(c, "k99", 1, body, NULL);
    expect(c, "k0", 1, NULL, NULL);
    listcache_free(c);

    /* a page bigger than the whole cache is not kept either */
    assert_int_equal(listcache_new(&c, 10, 50, 1000), 0);
    put_s(c, "k", 1, body, NULL);
    expect(c, "k", 1, NULL, NULL);
    listcache_free(c);
}

#define N_THREADS 4
#define N_ROUNDS  20000

struct worker {
    struct listcache *c;
    int id;
    int bad;
};

/* Each key's page is "<key>:<gen>": every hit must carry the generation asked for. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char key[16], body[64], want[64];
    unsigned seed = (unsigned)w->id * 7919u + 1;
    for (int i = 0; i < N_ROUNDS; i++) {
        seed = seed * 1103515245u + 12345u;
        int k = (int)(seed >> 16) % 40;
        int64_t gen = (int64_t)((seed >> 8) % 4);
        snprintf(key, sizeof(key), "key%d", k);
        struct listcache_page p;
        if (listcache_get(w->c, key, strlen(key), gen, &p)) {
            snprintf(want, sizeof(want), "%s:%lld", key, (long long)gen);
            if (strcmp(p.body, want) != 0 || !p.link || strcmp(p.link, key) != 0)
                w->bad++;
            listcache_page_release(&p);
        } else {
            int len = snprintf(body, sizeof(body), "%s:%lld", key, (long long)gen);
            listcache_put(w->c, key, strlen(key), gen, body, (size_t)len, key);
        }
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    struct listcache *c = NULL;
    struct worker w[N_THREADS];
    pthread_t th[N_THREADS];
    struct listcache_stats st;
    assert_int_equal(listcache_new(&c, 16, 1 << 20, 1 << 20), 0); /* small: constant eviction */
    for (int i = 0; i < N_THREADS; i++) {
        w[i] = (struct worker){c, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].bad, 0);
    }
    listcache_stats(c, &st);
    assert_int_equal(st.hits + st.misses, (uint64_t)N_THREADS * N_ROUNDS);
    assert_true(st.hits > 0 && st.evictions > 0);
    assert_true(st.entries <= 16);
    listcache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generation_decides),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
