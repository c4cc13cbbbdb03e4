/*
 * upload.c - blob upload sessions: staged bytes, a running hash, metadata rows.
 *
 * A persistent session is a metadata row (id, repository, started/touched),
 * its staged bytes under paths_upload(id), and - in this process - an entry
 * in the session table holding the running SHA-256 of exactly the staged
 * bytes. Bytes are hashed as they arrive (upload_write) and never re-read,
 * except: (a) after a restart or a failed write, when the table entry has no
 * valid hash, the staged bytes are hashed once to rebuild it; (b) when the
 * client's digest is not SHA-256, the staged bytes are hashed once with that
 * algorithm at finish. Ephemeral (monolithic) sessions have no row; their
 * hash uses the algorithm the caller names.
 *
 * Invariants:
 *  - the table mutex guards the table and each session's in_use flag; the
 *    holder of in_use (one request) is the only one touching the session's
 *    hash, size and staged bytes, so no lock is taken per chunk and no
 *    database or storage I/O happens under the mutex.
 *  - session->hash != NULL  =>  it covers exactly session->size staged bytes.
 *  - finish verifies size and digest before anything is published. A digest
 *    the metadata does not know yet is then put in place directly (fsync,
 *    rename to its key, fsync of the directory: outside any lock, so
 *    publishes flush in parallel) and its row and link are inserted in one
 *    write transaction that first checks the file is still there. No
 *    collector decides about such a file: the collector only takes files of
 *    rows older than the grace period (none), or orphans older than it (it
 *    re-checks the age under the lock, and the publish's check catches the
 *    rare loss). A digest that has a row may be collected at any moment, so
 *    its bytes are made durable under uploads/<id>.sealed and the choice is
 *    made under the write lock (meta_blob_publish): the sealed file is
 *    renamed into place when the blob's file is missing, or dropped when it
 *    is there, and the row and link are inserted before COMMIT. The
 *    collector deletes a row and moves its file aside under the same lock,
 *    so a re-upload of a digest being collected either finds the file gone
 *    and puts its own in place, or keeps the file alive with its link - it
 *    never records a row whose file the collector then takes (DESIGN.md,
 *    "Collector vs. re-upload"). The session row goes last. Two sessions
 *    finishing the same digest are harmless: each proved its bytes by digest
 *    before anything was renamed.
 *  - expiry treats uploads/<id>.sealed as part of session <id>.
 *  - ephemeral sessions are in the table too (in use for their whole life), so
 *    expiry never removes the staged file of a monolithic upload in flight.
 */
#include "storage/upload.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"
#include "storage/metadb_gc.h"

/* Record activity in the database at most this often per session (seconds);
 * between touches the in-memory last_active protects a session from expiry. */
#define TOUCH_INTERVAL 30
/* Read size when hashing staged bytes (restart rebuild, sha512 finish). */
#define REHASH_BUF (1024 * 1024)

/* How long a request waits for another one to release a session (default). */
#define UPLOAD_BUSY_WAIT_MS 5000

struct session {
    struct session *next; /* hash chain */
    char id[UPLOAD_ID_LEN + 1];
    char *repo;            /* NULL for a placeholder taken by cancel/expiry */
    struct digester *hash; /* over the first `size` staged bytes; NULL = unknown */
    enum digest_alg alg;   /* of hash */
    int64_t size;          /* staged bytes covered by hash */
    int64_t last_active;   /* unix seconds */
    int64_t touched;       /* last time the row was touched */
    int in_use;
    int ephemeral;
};

struct upload_mgr {
    struct blobstore *bs;
    struct driver *drv;
    struct metadb *db;
    pthread_mutex_t mu;
    pthread_cond_t released; /* broadcast when a session stops being in use */
    int busy_wait_ms;
    struct session **buckets;
    size_t nbuckets; /* power of two */
    size_t count;
};

struct upload {
    struct upload_mgr *m;
    struct session *s; /* held (in_use) */
    struct driver_writer *w;
    int64_t size;
    int failed; /* a write failed: staged bytes may be ahead of the hash */
    char key[PATHS_KEY_MAX];
};

static int64_t now_seconds(void)
{
    return (int64_t)time(NULL);
}

/* ---- session table (mutex held for every function in this block) ------- */

static size_t id_bucket(const struct upload_mgr *m, const char *id)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = id; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ull;
    }
    return (size_t)(h & (m->nbuckets - 1));
}

static struct session *table_find(struct upload_mgr *m, const char *id)
{
    for (struct session *s = m->buckets[id_bucket(m, id)]; s != NULL; s = s->next)
        if (strcmp(s->id, id) == 0)
            return s;
    return NULL;
}

static void table_grow(struct upload_mgr *m)
{
    struct session **old = m->buckets;
    size_t oldn = m->nbuckets;
    m->nbuckets *= 2;
    m->buckets = xcalloc(m->nbuckets, sizeof(*m->buckets));
    for (size_t i = 0; i < oldn; i++) {
        struct session *s = old[i];
        while (s != NULL) {
            struct session *next = s->next;
            size_t b = id_bucket(m, s->id);
            s->next = m->buckets[b];
            m->buckets[b] = s;
            s = next;
        }
    }
    free(old);
}

static void table_insert(struct upload_mgr *m, struct session *s)
{
    if (m->count >= m->nbuckets)
        table_grow(m);
    size_t b = id_bucket(m, s->id);
    s->next = m->buckets[b];
    m->buckets[b] = s;
    m->count++;
}

static void table_remove(struct upload_mgr *m, struct session *s)
{
    for (struct session **pp = &m->buckets[id_bucket(m, s->id)]; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            m->count--;
            return;
        }
    }
}

/* ---- sessions ------------------------------------------------------------ */

static struct session *session_new(const char *id, const char *repo, int64_t now)
{
    struct session *s = xcalloc(1, sizeof(*s));
    memcpy(s->id, id, UPLOAD_ID_LEN);
    s->id[UPLOAD_ID_LEN] = '\0';
    s->repo = repo != NULL ? xstrdup(repo) : NULL;
    s->alg = DIGEST_SHA256;
    s->last_active = now;
    s->touched = now;
    return s;
}

static void session_free(struct session *s)
{
    if (s == NULL)
        return;
    digester_free(s->hash);
    free(s->repo);
    free(s);
}

static void session_forget_hash(struct session *s)
{
    digester_free(s->hash);
    s->hash = NULL;
    s->size = 0;
}

/* Give the session back (bytes stay); returns 1 when the row is due a touch. */
static int session_release(struct upload_mgr *m, struct session *s)
{
    int64_t now = now_seconds();
    int touch = 0;
    pthread_mutex_lock(&m->mu);
    s->in_use = 0;
    s->last_active = now;
    pthread_cond_broadcast(&m->released);
    if (!s->ephemeral && s->repo != NULL && now - s->touched >= TOUCH_INTERVAL) {
        s->touched = now;
        touch = 1;
    }
    pthread_mutex_unlock(&m->mu);
    return touch;
}

/* Remove a held session from the table and free it. */
static void session_drop(struct upload_mgr *m, struct session *s)
{
    pthread_mutex_lock(&m->mu);
    table_remove(m, s);
    pthread_cond_broadcast(&m->released);
    pthread_mutex_unlock(&m->mu);
    session_free(s);
}

/* The table entry for id once nobody writes to it (mutex held), or NULL.
 * A client whose connection dropped mid-chunk asks again at once, often
 * before its old request has noticed the drop and released the session:
 * wait for the release (bounded) rather than answer "busy". The entry is
 * looked up again after every wake-up: it may have been freed meanwhile. */
static struct session *session_wait_idle(struct upload_mgr *m, const char *id)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    long long ns = deadline.tv_nsec + (long long)m->busy_wait_ms * 1000000LL;
    deadline.tv_sec += (time_t)(ns / 1000000000LL);
    deadline.tv_nsec = (long)(ns % 1000000000LL);
    struct session *s;
    while ((s = table_find(m, id)) != NULL && s->in_use && !s->ephemeral) {
        if (pthread_cond_timedwait(&m->released, &m->mu, &deadline) != 0)
            return table_find(m, id);
    }
    return s;
}

/* Take a live table entry for (repo, id) (mutex held). 0, BUSY or UPLOAD_UNKNOWN. */
static int session_take_locked(struct session *s, const char *repo)
{
    if (s->ephemeral || (s->repo != NULL && strcmp(s->repo, repo) != 0))
        return berr_set(BERR_UPLOAD_UNKNOWN, "upload \"%s\" unknown", s->id);
    if (s->in_use)
        return berr_set(BERR_BUSY, "upload \"%s\" is in use", s->id);
    s->in_use = 1;
    return 0;
}

/* Acquire session id of repo for exclusive use, creating its table entry
 * (hash unknown) when this process has none but the row exists. */
static int session_acquire(struct upload_mgr *m, const char *repo, const char *id,
                           struct session **out)
{
    struct session *s;
    int rc;
    *out = NULL;
    if (id == NULL || !paths_upload_id_valid(id, strnlen(id, UPLOAD_ID_LEN + 1)))
        return berr_set(BERR_UPLOAD_UNKNOWN, "upload id invalid");
    pthread_mutex_lock(&m->mu);
    s = session_wait_idle(m, id);
    if (s != NULL) {
        rc = session_take_locked(s, repo);
        pthread_mutex_unlock(&m->mu);
        if (rc == 0)
            *out = s;
        return rc;
    }
    pthread_mutex_unlock(&m->mu);

    int64_t started = now_seconds();
    rc = meta_upload_get(m->db, id, repo, &started);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&m->mu);
    s = table_find(m, id);
    if (s != NULL) {
        /* Someone created the entry meanwhile. */
        rc = session_take_locked(s, repo);
    } else {
        s = session_new(id, repo, now_seconds());
        s->touched = started;
        s->in_use = 1;
        table_insert(m, s);
        rc = 0;
    }
    pthread_mutex_unlock(&m->mu);
    if (rc == 0)
        *out = s;
    return rc;
}

/* A random version-4 UUID in canonical lowercase text. */
static int uuid_new(char out[UPLOAD_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char r[16];
    if (RAND_bytes(r, sizeof(r)) != 1)
        return berr_set(BERR_INTERNAL, "random generator failed");
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[r[i] >> 4];
        out[o++] = hex[r[i] & 0x0f];
    }
    out[o] = '\0';
    return 0;
}

/* Hash the object under key with alg, reading it once. *size_out = bytes read. */
static int hash_object(struct driver *drv, const char *key, enum digest_alg alg,
                       struct digester **out, int64_t *size_out)
{
    struct digester *h = NULL;
    struct driver_reader *rd = NULL;
    char *buf = NULL;
    int64_t total = 0;
    int rc = digester_new(&h, alg);
    if (rc < 0)
        return rc;
    rc = driver_reader_open(drv, key, &rd);
    if (rc == BERR_NOT_FOUND) {
        rc = 0; /* nothing staged yet */
        goto done;
    }
    if (rc < 0)
        goto free_hash;
    buf = xmalloc(REHASH_BUF);
    for (;;) {
        size_t n;
        rc = driver_reader_read_at(rd, total, buf, REHASH_BUF, &n);
        if (rc < 0)
            goto free_hash;
        if (n == 0)
            break;
        digester_update(h, buf, n);
        total += (int64_t)n;
    }
done:
    *out = h;
    *size_out = total;
    h = NULL;
free_hash:
    digester_free(h);
    free(buf);
    driver_reader_free(rd);
    return rc;
}

/* Rebuild a held session's hash from its staged bytes. */
static int session_rebuild(struct upload_mgr *m, struct session *s, const char *key)
{
    struct digester *h;
    int64_t size;
    session_forget_hash(s);
    int rc = hash_object(m->drv, key, DIGEST_SHA256, &h, &size);
    if (rc < 0)
        return rc;
    s->hash = h;
    s->alg = DIGEST_SHA256;
    s->size = size;
    return 0;
}

/* ---- public ------------------------------------------------------------- */

int upload_mgr_new(struct upload_mgr **out, struct blobstore *bs, struct metadb *db)
{
    struct upload_mgr *m = xcalloc(1, sizeof(*m));
    m->bs = bs;
    m->drv = blobstore_driver(bs);
    m->db = db;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->released, NULL);
    m->busy_wait_ms = UPLOAD_BUSY_WAIT_MS;
    m->nbuckets = 64;
    m->buckets = xcalloc(m->nbuckets, sizeof(*m->buckets));
    *out = m;
    return 0;
}

void upload_mgr_free(struct upload_mgr *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct session *s = m->buckets[i];
        while (s != NULL) {
            struct session *next = s->next;
            session_free(s);
            s = next;
        }
    }
    free(m->buckets);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->released);
    free(m);
}

void upload_mgr_set_busy_wait(struct upload_mgr *m, int ms)
{
    pthread_mutex_lock(&m->mu);
    m->busy_wait_ms = ms;
    pthread_mutex_unlock(&m->mu);
}

int upload_start(struct upload_mgr *m, const char *repo, char id_out[UPLOAD_ID_LEN + 1])
{
    char id[UPLOAD_ID_LEN + 1];
    struct digester *h;
    int64_t now = now_seconds();
    int rc = uuid_new(id);
    if (rc < 0)
        return rc;
    rc = digester_new(&h, DIGEST_SHA256);
    if (rc < 0)
        return rc;
    rc = meta_upload_create(m->db, id, repo, now);
    if (rc < 0) {
        digester_free(h);
        return rc;
    }
    struct session *s = session_new(id, repo, now);
    s->hash = h;
    pthread_mutex_lock(&m->mu);
    table_insert(m, s);
    pthread_mutex_unlock(&m->mu);
    memcpy(id_out, id, sizeof(id));
    return 0;
}

int upload_open(struct upload_mgr *m, const char *repo, const char *id, int64_t expect_start,
                struct upload **out, int64_t *offset_out)
{
    struct session *s;
    struct driver_writer *w = NULL;
    char key[PATHS_KEY_MAX];
    *out = NULL;
    int rc = session_acquire(m, repo, id, &s);
    if (rc < 0)
        return rc;
    rc = paths_upload(key, id);
    if (rc < 0)
        goto release;
    for (int attempt = 0;; attempt++) {
        if (s->hash == NULL) {
            rc = session_rebuild(m, s, key);
            if (rc < 0)
                goto release;
        }
        rc = driver_writer_open(m->drv, key, 1, &w);
        if (rc < 0)
            goto release;
        if (driver_writer_size(w) == s->size)
            break;
        /* The staged bytes are not what the hash covers (a write failed
         * half-way, or someone changed the file): hash them again, once. */
        driver_writer_close(w);
        w = NULL;
        session_forget_hash(s);
        if (attempt > 0) {
            rc = berr_set(BERR_IO, "upload \"%s\": staged bytes keep changing", id);
            goto release;
        }
    }
    if (offset_out != NULL)
        *offset_out = s->size;
    if (expect_start >= 0 && expect_start != s->size) {
        rc = berr_set(BERR_RANGE, "upload \"%s\" is at offset %lld, not %lld", id,
                      (long long)s->size, (long long)expect_start);
        goto close_writer;
    }
    struct upload *u = xcalloc(1, sizeof(*u));
    u->m = m;
    u->s = s;
    u->w = w;
    u->size = s->size;
    memcpy(u->key, key, sizeof(key));
    *out = u;
    return 0;
close_writer:
    driver_writer_close(w);
release:
    session_release(m, s);
    return rc;
}

int upload_open_ephemeral(struct upload_mgr *m, const char *repo, enum digest_alg alg,
                          struct upload **out)
{
    char id[UPLOAD_ID_LEN + 1];
    struct digester *h;
    struct session *s = NULL;
    struct upload *u;
    *out = NULL;
    int rc = digester_new(&h, alg);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&m->mu);
    do {
        rc = uuid_new(id);
    } while (rc == 0 && table_find(m, id) != NULL);
    if (rc == 0) {
        s = session_new(id, repo, now_seconds());
        s->ephemeral = 1;
        s->in_use = 1;
        s->hash = h;
        s->alg = alg;
        table_insert(m, s);
    }
    pthread_mutex_unlock(&m->mu);
    if (rc < 0) {
        digester_free(h);
        return rc;
    }
    u = xcalloc(1, sizeof(*u));
    u->m = m;
    u->s = s;
    /* Unnamed: a monolithic upload is never resumed, and a crash or a
     * disconnect leaves nothing to expire. */
    rc = paths_upload(u->key, id);
    if (rc == 0)
        rc = driver_writer_open_unnamed(m->drv, PATHS_UPLOADS_DIR, &u->w);
    if (rc < 0) {
        session_drop(m, s);
        free(u);
        return rc;
    }
    *out = u;
    return 0;
}

int upload_write(struct upload *u, const void *data, size_t len)
{
    if (u->failed)
        return berr_set(BERR_IO, "upload \"%s\": an earlier write failed", u->s->id);
    int rc = driver_writer_append(u->w, data, len);
    if (rc < 0) {
        u->failed = 1;
        return rc;
    }
    digester_update(u->s->hash, data, len);
    u->size += (int64_t)len;
    return 0;
}

int64_t upload_offset(const struct upload *u)
{
    return u->size;
}

const char *upload_id(const struct upload *u)
{
    return u->s->ephemeral ? "" : u->s->id;
}

/* End a session for good: discard staged bytes (when w is still open),
 * delete the row, drop the table entry, free u. */
static void upload_end(struct upload *u)
{
    struct upload_mgr *m = u->m;
    struct session *s = u->s;
    if (u->w != NULL)
        driver_writer_cancel(u->w);
    if (!s->ephemeral) {
        int rc = meta_upload_delete(m->db, s->id);
        if (rc < 0 && rc != BERR_UPLOAD_UNKNOWN)
            log_warn("upload %s: cannot delete session row: %s", s->id, berr_message());
    }
    session_drop(m, s);
    free(u);
}

int upload_close(struct upload *u)
{
    struct upload_mgr *m = u->m;
    struct session *s = u->s;
    if (s->ephemeral) {
        upload_end(u);
        return 0;
    }
    int rc = driver_writer_close(u->w);
    u->w = NULL;
    if (u->failed || rc < 0)
        session_forget_hash(s); /* rebuilt from the staged bytes on next open */
    else
        s->size = u->size;
    char id[UPLOAD_ID_LEN + 1];
    memcpy(id, s->id, sizeof(id));
    free(u);
    if (session_release(m, s)) {
        int trc = meta_upload_touch(m->db, id, now_seconds());
        if (trc < 0)
            log_warn("upload %s: cannot record activity: %s", id, berr_message());
    }
    return rc;
}

struct publish {
    struct blobstore *bs;
    const char *sealed; /* NULL: the bytes are already in place (fresh digest) */
    const struct digest *d;
    int64_t size;
    int placed;
};

/* meta_blob_publish's callback: runs with the metadata write lock held. A
 * sealed upload is put in place (or dropped when the blob is there); bytes
 * already put in place outside the lock are checked to be still there - an
 * orphan sweep or a collection with no grace may have taken them since. */
static int publish_place(void *ctx)
{
    struct publish *p = ctx;
    if (p->sealed != NULL)
        return blobstore_place(p->bs, p->sealed, p->d, p->size, &p->placed);
    int64_t size;
    int rc = blobstore_stat(p->bs, p->d, &size);
    if (rc == BERR_BLOB_UNKNOWN || (rc == 0 && size != p->size))
        return berr_set(BERR_IO,
                        "blob %s was removed while it was published (a concurrent "
                        "collection): push it again",
                        p->d->str);
    return rc;
}

/* Put verified bytes in place and record them. A digest without a blob row
 * goes straight to its key outside any lock (fsync, rename, fsync of the
 * blob's directory, in parallel with other publishes; no collector decides
 * about a file without a young row), then the transaction only checks the
 * file is still there. A digest with a row may be one the collector is about
 * to take: its bytes are sealed and the decision is made under the lock. */
static int publish(struct upload *u, const struct digest *d)
{
    struct upload_mgr *m = u->m;
    struct publish pub = {m->bs, NULL, d, u->size, 0};
    char key[PATHS_KEY_MAX], msg[512];
    int rc = meta_blob_row(m->db, d->str, NULL);
    if (rc == 0) {
        rc = paths_blob(key, d);
        if (rc < 0)
            return rc;
        rc = driver_writer_commit(u->w, key);
        u->w = NULL;
        if (rc == 0)
            rc = meta_blob_publish(m->db, u->s->repo, d, u->size, publish_place, &pub);
        /* A failure leaves at most a file without a row: an orphan the
         * collector removes after the grace period (another publish of the
         * same digest may be using it now). */
        return rc;
    }
    if (rc < 0)
        return rc;
    rc = paths_upload_sealed(key, u->s->id);
    if (rc < 0)
        return rc;
    rc = driver_writer_commit(u->w, key);
    u->w = NULL;
    if (rc == 0) {
        pub.sealed = key;
        rc = meta_blob_publish(m->db, u->s->repo, d, u->size, publish_place, &pub);
        if (rc == 0 || pub.placed)
            return rc;
    }
    /* A failed commit may still have renamed the bytes (only the directory
     * fsync failed), a failed publish leaves them sealed: nothing refers to
     * them. Keep the first failure's message. */
    snprintf(msg, sizeof(msg), "%s", berr_message());
    driver_remove(m->drv, key);
    return berr_set(rc, "%s", msg);
}

int upload_finish(struct upload *u, const struct digest *expected, int64_t expect_size)
{
    struct upload_mgr *m = u->m;
    struct session *s = u->s;
    struct digest actual;
    int rc;
    if (u->failed) {
        rc = berr_set(BERR_IO, "upload \"%s\": an earlier write failed", s->id);
        upload_close(u);
        return rc;
    }
    if (expect_size >= 0 && expect_size != u->size) {
        rc = berr_set(BERR_SIZE_INVALID, "upload has %lld bytes, not %lld", (long long)u->size,
                      (long long)expect_size);
        goto end;
    }
    if (expected->alg == s->alg) {
        digester_final(s->hash, &actual);
        session_forget_hash(s);
    } else {
        /* Another algorithm than the running hash: read the staged bytes once. */
        struct digester *h;
        int64_t n;
        rc = hash_object(m->drv, u->key, expected->alg, &h, &n);
        if (rc < 0)
            goto end;
        digester_final(h, &actual);
        digester_free(h);
        if (n != u->size) {
            rc = berr_set(BERR_IO, "upload: staged bytes changed under the writer");
            goto end;
        }
    }
    if (!digest_equal(&actual, expected)) {
        rc = berr_set(BERR_DIGEST_INVALID, "content digest is %s, not %s", actual.str,
                      expected->str);
        goto end;
    }
    rc = publish(u, expected);
end:
    upload_end(u);
    return rc;
}

void upload_abandon(struct upload *u)
{
    upload_end(u);
}

int upload_status(struct upload_mgr *m, const char *repo, const char *id, int64_t *offset_out)
{
    char key[PATHS_KEY_MAX];
    struct driver_stat st;
    int rc = paths_upload(key, id);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&m->mu);
    struct session *s = session_wait_idle(m, id);
    if (s != NULL && (s->ephemeral || s->repo == NULL || strcmp(s->repo, repo) != 0)) {
        pthread_mutex_unlock(&m->mu);
        return berr_set(BERR_UPLOAD_UNKNOWN, "upload \"%s\" unknown", id);
    }
    if (s != NULL && !s->in_use && s->hash != NULL) {
        *offset_out = s->size;
        pthread_mutex_unlock(&m->mu);
        return 0;
    }
    pthread_mutex_unlock(&m->mu);
    int64_t started;
    rc = meta_upload_get(m->db, id, repo, &started);
    if (rc < 0)
        return rc;
    rc = driver_stat(m->drv, key, &st);
    if (rc == BERR_NOT_FOUND) {
        *offset_out = 0;
        return 0;
    }
    if (rc < 0)
        return rc;
    *offset_out = st.size;
    return 0;
}

/* Remove a held session's row and staged bytes and drop it. */
static int session_destroy(struct upload_mgr *m, struct session *s)
{
    char key[PATHS_KEY_MAX];
    int rc = meta_upload_delete(m->db, s->id);
    if (rc < 0 && rc != BERR_UPLOAD_UNKNOWN) {
        session_release(m, s);
        return rc;
    }
    rc = paths_upload(key, s->id);
    if (rc == 0)
        rc = driver_remove(m->drv, key);
    if (rc < 0 && rc != BERR_NOT_FOUND)
        log_warn("upload %s: cannot remove staged bytes: %s", s->id, berr_message());
    session_drop(m, s);
    return 0;
}

int upload_cancel(struct upload_mgr *m, const char *repo, const char *id)
{
    struct session *s;
    int rc = session_acquire(m, repo, id, &s);
    if (rc < 0)
        return rc;
    return session_destroy(m, s);
}

struct orphan_walk {
    int64_t before;
    char **keys;
    size_t n, cap;
};

static int collect_old(void *ctx, const char *key, const struct driver_stat *st)
{
    struct orphan_walk *ow = ctx;
    if (st->mtime >= ow->before)
        return 0;
    if (ow->n == ow->cap) {
        ow->cap = ow->cap ? ow->cap * 2 : 16;
        ow->keys = xrealloc(ow->keys, ow->cap * sizeof(*ow->keys));
    }
    ow->keys[ow->n++] = xstrdup(key);
    return 0;
}

int upload_expire(struct upload_mgr *m, int64_t before)
{
    struct meta_list l = {0};
    struct orphan_walk ow = {before, NULL, 0, 0};
    int removed = 0;
    int rc = meta_upload_expired(m->db, before, &l);
    if (rc < 0)
        return rc;
    /* 1. Sessions idle since before `before` (unless active in this process). */
    for (size_t i = 0; i < l.n; i++) {
        const char *id = l.items[i];
        struct session *s;
        if (!paths_upload_id_valid(id, strlen(id)))
            continue;
        pthread_mutex_lock(&m->mu);
        s = table_find(m, id);
        if (s != NULL && (s->in_use || s->last_active >= before)) {
            s = NULL; /* active in this process */
        } else if (s != NULL) {
            s->in_use = 1;
        } else {
            s = session_new(id, NULL, now_seconds()); /* placeholder: BUSY to others */
            s->in_use = 1;
            table_insert(m, s);
        }
        pthread_mutex_unlock(&m->mu);
        if (s != NULL && session_destroy(m, s) == 0)
            removed++;
    }
    meta_list_release(&l);

    /* 2. Staged files with no row and no live session, older than `before`. */
    rc = driver_walk(m->drv, "uploads/", collect_old, &ow);
    for (size_t i = 0; i < ow.n && rc == 0; i++) {
        char id[UPLOAD_ID_LEN + 1];
        int known = 0;
        if (paths_parse_upload(id, ow.keys[i]) < 0) {
            berr_clear(); /* not a session's file: stray, remove it */
        } else {
            pthread_mutex_lock(&m->mu);
            known = table_find(m, id) != NULL;
            pthread_mutex_unlock(&m->mu);
            if (!known) {
                known = meta_upload_exists(m->db, id);
                if (known < 0) {
                    rc = known;
                    break;
                }
            }
        }
        if (known)
            continue;
        int r = driver_remove(m->drv, ow.keys[i]);
        if (r == 0)
            removed++;
        else if (r != BERR_NOT_FOUND)
            rc = r;
    }
    for (size_t i = 0; i < ow.n; i++)
        free(ow.keys[i]);
    free(ow.keys);
    return rc < 0 ? rc : removed;
}
