/*
 * ratelimit.c - failed-login counting per client address.
 *
 * A chained hash table keyed by the binary address (family byte + 16
 * bytes), with a random seed so that clients cannot aim collisions at one
 * bucket. Entries live until their window has closed and the table needs
 * the room; the count of entries never exceeds RATELIMIT_MAX_ADDRS.
 */
#include "auth/ratelimit.h"

#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"

#include <arpa/inet.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define RL_BUCKETS 4096
#define RL_KEY_LEN 17

#define RL_SEEN 8 /* distinct failed attempts remembered per address */

struct rl_entry {
    struct rl_entry *next;
    unsigned char key[RL_KEY_LEN];
    time_t first;           /* the window opened at the first failure */
    unsigned count;         /* failures in the window */
    uint64_t seen[RL_SEEN]; /* fingerprints of the attempts counted in the window */
    unsigned nseen;         /* attempts recorded (the ring keeps the last RL_SEEN) */
};

struct ratelimit {
    pthread_mutex_t mu;
    unsigned limit;
    unsigned window;
    uint64_t seed;
    unsigned char fp_key[32]; /* keys the attempt fingerprints */
    size_t count;
    int has_warned;
    time_t warned; /* last "table full" warning, to log it once a minute */
    struct rl_entry *buckets[RL_BUCKETS];
};

void ratelimit_new(struct ratelimit **out, unsigned limit, unsigned window)
{
    struct ratelimit *rl = xcalloc(1, sizeof(*rl));
    pthread_mutex_init(&rl->mu, NULL);
    rl->limit = limit;
    rl->window = window ? window : 1;
    if (RAND_bytes((unsigned char *)&rl->seed, sizeof(rl->seed)) != 1)
        rl->seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull;
    if (RAND_bytes(rl->fp_key, sizeof(rl->fp_key)) != 1)
        memcpy(rl->fp_key, &rl->seed, sizeof(rl->seed));
    *out = rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    for (size_t i = 0; i < RL_BUCKETS; i++) {
        struct rl_entry *e = rl->buckets[i];
        while (e) {
            struct rl_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

/* The binary key of a numeric address; IPv6 keeps its /64. 0 or -1. */
static int rl_key(unsigned char key[RL_KEY_LEN], const char *addr)
{
    memset(key, 0, RL_KEY_LEN);
    if (!addr || !*addr)
        return -1;
    unsigned char a6[16];
    if (inet_pton(AF_INET, addr, key + 1) == 1) {
        key[0] = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, addr, a6) != 1)
        return -1;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a6, mapped, sizeof(mapped)) == 0) {
        key[0] = 4;
        memcpy(key + 1, a6 + 12, 4);
        return 0;
    }
    key[0] = 6;
    memcpy(key + 1, a6, 8);
    return 0;
}

static size_t rl_hash(const struct ratelimit *rl, const unsigned char key[RL_KEY_LEN])
{
    uint64_t h = 0xcbf29ce484222325ull ^ rl->seed;
    for (size_t i = 0; i < RL_KEY_LEN; i++) {
        h ^= key[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 29;
    return (size_t)(h % RL_BUCKETS);
}

static struct rl_entry *rl_find(struct ratelimit *rl, const unsigned char key[RL_KEY_LEN],
                                size_t bucket)
{
    for (struct rl_entry *e = rl->buckets[bucket]; e; e = e->next)
        if (memcmp(e->key, key, RL_KEY_LEN) == 0)
            return e;
    return NULL;
}

/* Drop every entry whose window has closed. Caller holds mu. */
static void rl_sweep(struct ratelimit *rl, time_t now)
{
    for (size_t i = 0; i < RL_BUCKETS; i++) {
        struct rl_entry **pp = &rl->buckets[i];
        while (*pp) {
            struct rl_entry *e = *pp;
            if (now - e->first >= (time_t)rl->window) {
                *pp = e->next;
                free(e);
                rl->count--;
            } else {
                pp = &e->next;
            }
        }
    }
}

int ratelimit_check(struct ratelimit *rl, const char *addr, time_t now, unsigned *retry_after)
{
    unsigned char key[RL_KEY_LEN];
    if (rl->limit == 0 || rl_key(key, addr) < 0)
        return 0;
    size_t bucket = rl_hash(rl, key);
    int rc = 0;
    pthread_mutex_lock(&rl->mu);
    struct rl_entry *e = rl_find(rl, key, bucket);
    if (e && e->count >= rl->limit && now - e->first < (time_t)rl->window) {
        time_t left = e->first + (time_t)rl->window - now;
        *retry_after = left < 1 ? 1 : (unsigned)left;
        rc = berr_set(BERR_TOOMANY, "too many failed logins from this address");
    }
    pthread_mutex_unlock(&rl->mu);
    return rc;
}

/* A keyed fingerprint of a failed attempt (HMAC-SHA256, first 8 bytes). */
static uint64_t rl_fingerprint(const struct ratelimit *rl, const void *attempt, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    uint64_t fp = 0;
    if (HMAC(EVP_sha256(), rl->fp_key, (int)sizeof(rl->fp_key), attempt, len, md, &mdlen))
        memcpy(&fp, md, sizeof(fp));
    OPENSSL_cleanse(md, sizeof(md));
    return fp;
}

/* 1 when fingerprint fp was counted in e's window; else remember it. */
static int rl_seen(struct rl_entry *e, uint64_t fp)
{
    unsigned n = e->nseen < RL_SEEN ? e->nseen : RL_SEEN;
    for (unsigned i = 0; i < n; i++)
        if (e->seen[i] == fp)
            return 1;
    e->seen[e->nseen++ % RL_SEEN] = fp;
    return 0;
}

int ratelimit_fail(struct ratelimit *rl, const char *addr, const void *attempt, size_t len,
                   time_t now)
{
    unsigned char key[RL_KEY_LEN];
    if (rl->limit == 0 || rl_key(key, addr) < 0)
        return 0;
    uint64_t fp = attempt ? rl_fingerprint(rl, attempt, len) : 0;
    size_t bucket = rl_hash(rl, key);
    int blocked = 0;
    pthread_mutex_lock(&rl->mu);
    struct rl_entry *e = rl_find(rl, key, bucket);
    if (e && now - e->first >= (time_t)rl->window) {
        e->first = now;
        e->count = 0;
        e->nseen = 0;
    }
    if (!e) {
        if (rl->count >= RATELIMIT_MAX_ADDRS)
            rl_sweep(rl, now);
        if (rl->count >= RATELIMIT_MAX_ADDRS) {
            int warn = !rl->has_warned || now - rl->warned >= 60;
            if (warn) {
                rl->has_warned = 1;
                rl->warned = now;
            }
            pthread_mutex_unlock(&rl->mu);
            if (warn)
                log_warn("auth: failed-login table full (%d addresses); new ones are not counted",
                         RATELIMIT_MAX_ADDRS);
            return 0;
        }
        e = xcalloc(1, sizeof(*e));
        memcpy(e->key, key, RL_KEY_LEN);
        e->first = now;
        e->next = rl->buckets[bucket];
        rl->buckets[bucket] = e;
        rl->count++;
    }
    if (attempt && rl_seen(e, fp)) {
        pthread_mutex_unlock(&rl->mu);
        return 0; /* the same credentials again: already counted */
    }
    e->count++;
    blocked = e->count == rl->limit;
    pthread_mutex_unlock(&rl->mu);
    return blocked;
}
