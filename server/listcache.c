/*
 * listcache.c - bounded LRU of rendered listing pages (see listcache.h).
 *
 * Structure: a fixed array of hash buckets (chained, power-of-two count
 * >= max_entries, allocated on the first store) and a doubly linked LRU
 * list with a sentinel, most recently used first. Each entry is one
 * allocation: header, key, body + NUL, link + NUL.
 *
 * Invariants:
 * - c->mu guards the buckets, the list, the counters and every entry's
 *   links; an entry is in the table iff it is in the list.
 * - refs counts the table's reference (1 while the entry is in the table)
 *   plus readers copying it. A reader takes its reference under c->mu, so
 *   an entry is never freed while found; whoever drops the last reference
 *   frees it, outside the lock. Readers touch only the immutable part
 *   (gen, key, body, link) after unlocking.
 * - entries <= max_entries and bytes <= max_bytes after every store.
 */
#include "server/listcache.h"

#include "image/base/xalloc.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    struct entry *hnext;       /* bucket chain; the victims list once out of the table */
    struct entry *prev, *next; /* LRU list */
    atomic_int refs;
    uint64_t hash;
    int64_t gen;
    size_t size; /* bytes counted against max_bytes */
    size_t key_len, body_len;
    size_t link_len; /* SIZE_MAX: no link */
    char data[];     /* key, body, '\0', link, '\0' */
};

struct listcache {
    pthread_mutex_t mu;
    size_t max_entries, max_bytes, max_page;
    struct entry **buckets; /* NULL until the first store */
    size_t mask;            /* bucket count - 1 */
    struct entry lru;       /* sentinel: lru.next is the most recent */
    size_t entries, bytes;
    uint64_t hits, misses, stores, evictions;
};

/* FNV-1a, 64 bits. */
static uint64_t key_hash(const char *key, size_t len)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    return h;
}

static const char *entry_key(const struct entry *e)
{
    return e->data;
}

static const char *entry_body(const struct entry *e)
{
    return e->data + e->key_len;
}

static const char *entry_link(const struct entry *e)
{
    return e->link_len == SIZE_MAX ? NULL : e->data + e->key_len + e->body_len + 1;
}

static void entry_unref(struct entry *e)
{
    if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1)
        free(e);
}

/* The entry stored under key, or NULL. Under c->mu. */
static struct entry *find(struct listcache *c, uint64_t hash, const char *key, size_t key_len)
{
    if (!c->buckets)
        return NULL;
    for (struct entry *e = c->buckets[hash & c->mask]; e; e = e->hnext) {
        if (e->hash == hash && e->key_len == key_len && memcmp(entry_key(e), key, key_len) == 0)
            return e;
    }
    return NULL;
}

static void lru_unlink(struct entry *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
}

static void lru_push_front(struct listcache *c, struct entry *e)
{
    e->prev = &c->lru;
    e->next = c->lru.next;
    c->lru.next->prev = e;
    c->lru.next = e;
}

/* Take e out of the table and the list; the table's reference is passed to
 * the caller through the victims list (*victims), to drop after unlocking.
 * Under c->mu. */
static void detach(struct listcache *c, struct entry *e, struct entry **victims)
{
    struct entry **pp = &c->buckets[e->hash & c->mask];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(e);
    c->entries--;
    c->bytes -= e->size;
    e->hnext = *victims;
    *victims = e;
}

static void drop_victims(struct entry *victims)
{
    while (victims) {
        struct entry *next = victims->hnext;
        entry_unref(victims);
        victims = next;
    }
}

int listcache_new(struct listcache **out, size_t max_entries, size_t max_bytes, size_t max_page)
{
    struct listcache *c = xcalloc(1, sizeof(*c));
    assert(max_entries > 0);
    pthread_mutex_init(&c->mu, NULL);
    c->max_entries = max_entries;
    c->max_bytes = max_bytes;
    c->max_page = max_page;
    c->lru.prev = c->lru.next = &c->lru;
    *out = c;
    return 0;
}

void listcache_free(struct listcache *c)
{
    if (!c)
        return;
    for (struct entry *e = c->lru.next, *next; e != &c->lru; e = next) {
        next = e->next;
        entry_unref(e);
    }
    free(c->buckets);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

int listcache_get(struct listcache *c, const char *key, size_t key_len, int64_t gen,
                  struct listcache_page *out)
{
    uint64_t hash = key_hash(key, key_len);
    struct entry *e, *victims = NULL;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&c->mu);
    e = find(c, hash, key, key_len);
    if (!e || e->gen != gen) {
        if (e && e->gen < gen) /* stale for good: generations never go back */
            detach(c, e, &victims);
        c->misses++;
        pthread_mutex_unlock(&c->mu);
        drop_victims(victims);
        return 0;
    }
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    lru_unlink(e);
    lru_push_front(c, e);
    c->hits++;
    pthread_mutex_unlock(&c->mu);

    out->body = xmalloc(e->body_len + 1);
    memcpy(out->body, entry_body(e), e->body_len + 1);
    out->body_len = e->body_len;
    if (entry_link(e))
        out->link = xstrdup(entry_link(e));
    entry_unref(e);
    return 1;
}

void listcache_put(struct listcache *c, const char *key, size_t key_len, int64_t gen,
                   const char *body, size_t body_len, const char *link)
{
    size_t link_len = link ? strlen(link) : 0;
    size_t data_len = key_len + body_len + 1 + (link ? link_len + 1 : 0);
    size_t size = sizeof(struct entry) + data_len;
    struct entry *e, *old, *victims = NULL;

    if (body_len > c->max_page || size > c->max_bytes)
        return;
    e = xmalloc(size);
    memset(e, 0, sizeof(*e));
    atomic_init(&e->refs, 1);
    e->hash = key_hash(key, key_len);
    e->gen = gen;
    e->size = size;
    e->key_len = key_len;
    e->body_len = body_len;
    e->link_len = link ? link_len : SIZE_MAX;
    memcpy(e->data, key, key_len);
    memcpy(e->data + key_len, body, body_len);
    e->data[key_len + body_len] = '\0';
    if (link)
        memcpy(e->data + key_len + body_len + 1, link, link_len + 1);

    pthread_mutex_lock(&c->mu);
    if (!c->buckets) {
        size_t n = 16;
        while (n < c->max_entries)
            n *= 2;
        c->buckets = xcalloc(n, sizeof(*c->buckets));
        c->mask = n - 1;
    }
    old = find(c, e->hash, key, key_len);
    if (old && old->gen > gen) { /* a newer page is already here */
        pthread_mutex_unlock(&c->mu);
        free(e);
        return;
    }
    if (old)
        detach(c, old, &victims);
    e->hnext = c->buckets[e->hash & c->mask];
    c->buckets[e->hash & c->mask] = e;
    lru_push_front(c, e);
    c->entries++;
    c->bytes += size;
    c->stores++;
    while (c->entries > c->max_entries || c->bytes > c->max_bytes) {
        assert(c->lru.prev != e); /* size <= max_bytes: e itself always fits */
        detach(c, c->lru.prev, &victims);
        c->evictions++;
    }
    pthread_mutex_unlock(&c->mu);
    drop_victims(victims);
}

void listcache_stats(struct listcache *c, struct listcache_stats *out)
{
    pthread_mutex_lock(&c->mu);
    out->hits = c->hits;
    out->misses = c->misses;
    out->stores = c->stores;
    out->evictions = c->evictions;
    out->entries = c->entries;
    out->bytes = c->bytes;
    pthread_mutex_unlock(&c->mu);
}

void listcache_page_release(struct listcache_page *p)
{
    if (!p)
        return;
    free(p->body);
    free(p->link);
    memset(p, 0, sizeof(*p));
}
