/*
 * htpasswd.c - bcrypt users from an htpasswd file, reloaded on change.
 *
 * Invariants: the table is sorted by user name with no duplicates, and
 * every hash in it is a well-formed bcrypt string (60 bytes, $2y$/$2b$);
 * a table is replaced whole under the mutex, never edited. Passwords and
 * hashes never reach a log line. The verified-login cache stores only
 * HMAC-SHA256(process key, user NUL password NUL hash) and an expiry.
 */
#include "auth/htpasswd.h"

#include "image/base/buf.h"
#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HTP_FILE_MAX    (16u << 20)
#define HTP_BCRYPT_LEN  60
#define HTP_CACHE_SLOTS 1024

/* Hashed with cost 10 when no user exists, so an unknown user costs a
 * bcrypt as well. Not a secret: the password behind it is irrelevant. */
static const char htp_dummy_hash[] = "$2b$10$E5IFj2d1Pvwt3a7x.s9brOLxoJiqBJIxhrgnlmNatVodU74IgQfJa";

struct htp_entry {
    char *user;
    char *hash;
    size_t line; /* first entry of a user wins */
};

struct htp_table {
    struct htp_entry *v;
    size_t n;
};

struct htp_slot {
    unsigned char mac[32];
    time_t expires; /* 0 = empty */
};

struct htpasswd {
    char *path;
    pthread_mutex_t mu;
    struct htp_table table;
    int have_id; /* the identity below describes the loaded file */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
    time_t checked; /* last stat() */
    unsigned cache_ttl;
    unsigned char cache_key[32];
    struct htp_slot cache[HTP_CACHE_SLOTS];
};

static void table_release(struct htp_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].user);
        OPENSSL_cleanse(t->v[i].hash, strlen(t->v[i].hash));
        free(t->v[i].hash);
    }
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

static int entry_cmp(const void *a, const void *b)
{
    const struct htp_entry *x = a, *y = b;
    return strcmp(x->user, y->user);
}

/* By user, then by line, so the first entry of a user sorts first. */
static int entry_line_cmp(const void *a, const void *b)
{
    const struct htp_entry *x = a, *y = b;
    int c = strcmp(x->user, y->user);
    if (c)
        return c;
    return x->line < y->line ? -1 : x->line > y->line;
}

static int bcrypt_valid(const char *h, size_t len)
{
    if (len != HTP_BCRYPT_LEN)
        return 0;
    if (memcmp(h, "$2y$", 4) != 0 && memcmp(h, "$2b$", 4) != 0)
        return 0;
    if (h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9' || h[6] != '$')
        return 0;
    int cost = (h[4] - '0') * 10 + (h[5] - '0');
    if (cost < 4 || cost > 31)
        return 0;
    for (size_t i = 7; i < len; i++) {
        char c = h[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '/'))
            return 0;
    }
    return 1;
}

/* A name for a refused hash kind, for the log line. */
static const char *hash_kind(const char *h, size_t len)
{
    static const struct {
        const char *prefix;
        const char *name;
    } kinds[] = {
        {"$2y$", "malformed bcrypt"}, {"$2b$", "malformed bcrypt"}, {"$2a$", "bcrypt $2a$"},
        {"$2x$", "bcrypt $2x$"},      {"$apr1$", "apr1-md5"},       {"{SHA}", "sha1"},
        {"$1$", "md5-crypt"},         {"$5$", "sha256-crypt"},      {"$6$", "sha512-crypt"},
        {"$y$", "yescrypt"},          {"$argon2", "argon2"},
    };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        size_t pl = strlen(kinds[i].prefix);
        if (len >= pl && memcmp(h, kinds[i].prefix, pl) == 0)
            return kinds[i].name;
    }
    return len == 13 ? "des-crypt" : "plain text or unknown";
}

static int user_printable(const char *s, size_t len)
{
    if (len == 0 || len > 255)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7f || c == '"' || c == '\\' || c == ',')
            return 0;
    }
    return 1;
}

/* Parse the file's text into a sorted table, logging refused lines. */
static void table_parse(struct htp_table *t, const char *path, const char *text, size_t len)
{
    size_t lineno = 0, cap = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        const char *line = p;
        size_t ll = (size_t)(eol - line);
        p = nl ? nl + 1 : end;
        lineno++;
        if (ll && line[ll - 1] == '\r')
            ll--;
        if (ll == 0 || line[0] == '#')
            continue;
        const char *colon = memchr(line, ':', ll);
        if (!colon) {
            log_warn("auth: %s:%zu: not \"user:hash\"; line ignored", path, lineno);
            continue;
        }
        size_t ul = (size_t)(colon - line);
        const char *hash = colon + 1;
        size_t hl = ll - ul - 1;
        if (!user_printable(line, ul)) {
            log_warn("auth: %s:%zu: invalid user name; line ignored", path, lineno);
            continue;
        }
        if ((ul == 9 && memcmp(line, "anonymous", 9) == 0) || line[0] == '@' ||
            (ul == 1 && line[0] == '*')) {
            log_warn("auth: %s:%zu: user name \"%.*s\" is reserved; line ignored", path, lineno,
                     (int)ul, line);
            continue;
        }
        if (!bcrypt_valid(hash, hl)) {
            log_warn("auth: %s:%zu: user \"%.*s\" has an unsupported password hash (%s); only "
                     "bcrypt $2y$/$2b$ is accepted (htpasswd -B); entry ignored",
                     path, lineno, (int)ul, line, hash_kind(hash, hl));
            continue;
        }
        if (t->n == cap) {
            cap = cap ? cap * 2 : 16;
            t->v = xrealloc(t->v, cap * sizeof(*t->v));
        }
        t->v[t->n].user = xstrndup(line, ul);
        t->v[t->n].hash = xstrndup(hash, hl);
        t->v[t->n].line = lineno;
        t->n++;
    }
    if (t->n > 1)
        qsort(t->v, t->n, sizeof(*t->v), entry_line_cmp);
    size_t kept = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (kept && strcmp(t->v[kept - 1].user, t->v[i].user) == 0) {
            log_warn("auth: %s:%zu: user \"%s\" appears again; the first entry is used", path,
                     t->v[i].line, t->v[i].user);
            free(t->v[i].user);
            OPENSSL_cleanse(t->v[i].hash, strlen(t->v[i].hash));
            free(t->v[i].hash);
            continue;
        }
        t->v[kept++] = t->v[i];
    }
    t->n = kept;
}

/* Read and parse the file; on success replace h->table and the identity.
 * Caller holds mu (or is the only user). */
static int htp_load(struct htpasswd *h)
{
    struct buf text;
    char chunk[8192];
    buf_init(&text, HTP_FILE_MAX);
    int rc = 0;
    int fd = open(h->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = berr_set(BERR_CONFIG, "cannot open htpasswd file %s: %s", h->path, strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = berr_set(BERR_CONFIG, "htpasswd file %s is not a regular file", h->path);
        goto close_fd;
    }
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc =
                berr_set(BERR_CONFIG, "cannot read htpasswd file %s: %s", h->path, strerror(errno));
            goto close_fd;
        }
        if (n == 0)
            break;
        rc = buf_append(&text, chunk, (size_t)n);
        if (rc < 0) {
            rc = berr_set(BERR_CONFIG, "htpasswd file %s is over %u bytes", h->path, HTP_FILE_MAX);
            goto close_fd;
        }
    }
    struct htp_table t = {NULL, 0};
    table_parse(&t, h->path, buf_cstr(&text), text.len);
    if (t.n == 0)
        log_warn("auth: htpasswd file %s has no usable entry; every login will fail", h->path);
    table_release(&h->table);
    h->table = t;
    h->have_id = 1;
    h->dev = st.st_dev;
    h->ino = st.st_ino;
    h->size = st.st_size;
    h->mtime = st.st_mtim;
    h->ctime = st.st_ctim;
close_fd:
    close(fd);
out:
    OPENSSL_cleanse(chunk, sizeof(chunk));
    if (text.data)
        OPENSSL_cleanse(text.data, text.cap);
    buf_release(&text);
    return rc;
}

int htpasswd_open(struct htpasswd **out, const char *path, unsigned cache_ttl, time_t now)
{
    struct htpasswd *h = xcalloc(1, sizeof(*h));
    h->path = xstrdup(path);
    pthread_mutex_init(&h->mu, NULL);
    h->cache_ttl = cache_ttl;
    h->checked = now;
    if (RAND_bytes(h->cache_key, sizeof(h->cache_key)) != 1)
        h->cache_ttl = 0;
    int rc = htp_load(h);
    if (rc < 0) {
        htpasswd_free(h);
        return rc;
    }
    log_info("auth: htpasswd file %s: %zu user(s)", path, h->table.n);
    *out = h;
    return 0;
}

void htpasswd_free(struct htpasswd *h)
{
    if (!h)
        return;
    table_release(&h->table);
    OPENSSL_cleanse(h->cache, sizeof(h->cache));
    OPENSSL_cleanse(h->cache_key, sizeof(h->cache_key));
    pthread_mutex_destroy(&h->mu);
    free(h->path);
    free(h);
}

/* Reload when the file changed; at most one stat() a second. Caller holds
 * mu. */
static void htp_refresh(struct htpasswd *h, time_t now)
{
    if (now == h->checked)
        return;
    h->checked = now;
    struct stat st;
    if (stat(h->path, &st) < 0) {
        if (h->have_id) {
            log_error("auth: htpasswd file %s: %s; every login fails until it is back", h->path,
                      strerror(errno));
            table_release(&h->table);
            h->have_id = 0;
        }
        return;
    }
    if (h->have_id && st.st_dev == h->dev && st.st_ino == h->ino && st.st_size == h->size &&
        st.st_mtim.tv_sec == h->mtime.tv_sec && st.st_mtim.tv_nsec == h->mtime.tv_nsec &&
        st.st_ctim.tv_sec == h->ctime.tv_sec && st.st_ctim.tv_nsec == h->ctime.tv_nsec)
        return;
    if (htp_load(h) < 0) {
        log_error("auth: %s; every login fails until it is fixed", berr_message());
        table_release(&h->table);
        h->have_id = 0;
        return;
    }
    log_info("auth: htpasswd file %s reloaded: %zu user(s)", h->path, h->table.n);
}

static const struct htp_entry *htp_find(const struct htpasswd *h, const char *user)
{
    struct htp_entry key = {(char *)user, NULL, 0};
    if (!h->table.n)
        return NULL;
    return bsearch(&key, h->table.v, h->table.n, sizeof(key), entry_cmp);
}

/* A copy of the user's hash (NULL when unknown) and, for unknown users, a
 * hash to burn a bcrypt on. */
static char *htp_lookup(struct htpasswd *h, const char *user, time_t now, char **decoy)
{
    char *hash = NULL;
    pthread_mutex_lock(&h->mu);
    htp_refresh(h, now);
    const struct htp_entry *e = htp_find(h, user);
    if (e)
        hash = xstrdup(e->hash);
    else if (decoy)
        *decoy = xstrdup(h->table.n ? h->table.v[0].hash : htp_dummy_hash);
    pthread_mutex_unlock(&h->mu);
    return hash;
}

static void cache_mac(const struct htpasswd *h, unsigned char mac[32], const char *user,
                      const char *password, const char *hash)
{
    struct buf msg;
    buf_init(&msg, 0);
    buf_append(&msg, user, strlen(user) + 1);
    buf_append(&msg, password, strlen(password) + 1);
    buf_puts(&msg, hash);
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), h->cache_key, (int)sizeof(h->cache_key),
              (const unsigned char *)msg.data, msg.len, mac, &len) ||
        len != 32)
        RAND_bytes(mac, 32); /* matches nothing stored */
    OPENSSL_cleanse(msg.data, msg.cap);
    buf_release(&msg);
}

/* 1 when the MAC is cached and fresh. */
static int cache_hit(struct htpasswd *h, const unsigned char mac[32], time_t now)
{
    size_t slot = ((size_t)mac[0] << 8 | mac[1]) % HTP_CACHE_SLOTS;
    pthread_mutex_lock(&h->mu);
    int hit = h->cache[slot].expires > now && CRYPTO_memcmp(h->cache[slot].mac, mac, 32) == 0;
    pthread_mutex_unlock(&h->mu);
    return hit;
}

static void cache_put(struct htpasswd *h, const unsigned char mac[32], time_t now)
{
    size_t slot = ((size_t)mac[0] << 8 | mac[1]) % HTP_CACHE_SLOTS;
    pthread_mutex_lock(&h->mu);
    memcpy(h->cache[slot].mac, mac, 32);
    h->cache[slot].expires = now + (time_t)h->cache_ttl;
    pthread_mutex_unlock(&h->mu);
}

/* bcrypt `password` with `hash` as salt; 1 when the result equals hash. */
static int bcrypt_matches(const char *password, const char *hash)
{
    struct crypt_data *cd = xcalloc(1, sizeof(*cd));
    const char *res = crypt_rn(password, hash, cd, (int)sizeof(*cd));
    size_t hl = strlen(hash);
    int ok = res && strlen(res) == hl && CRYPTO_memcmp(res, hash, hl) == 0;
    OPENSSL_cleanse(cd, sizeof(*cd));
    free(cd);
    return ok;
}

int htpasswd_verify(struct htpasswd *h, const char *user, const char *password, time_t now,
                    int *known)
{
    char *decoy = NULL;
    char *hash = htp_lookup(h, user, now, &decoy);
    int rc = 0;
    *known = hash != NULL;
    if (!hash) {
        bcrypt_matches(password, decoy);
        rc = berr_set(BERR_UNAUTHORIZED, "unknown user");
        goto out;
    }
    unsigned char mac[32];
    if (h->cache_ttl) {
        cache_mac(h, mac, user, password, hash);
        if (cache_hit(h, mac, now))
            goto out;
    }
    if (!bcrypt_matches(password, hash)) {
        rc = berr_set(BERR_UNAUTHORIZED, "wrong password");
        goto out;
    }
    if (h->cache_ttl)
        cache_put(h, mac, now);
out:
    if (hash)
        OPENSSL_cleanse(hash, strlen(hash));
    free(hash);
    free(decoy);
    return rc;
}

int htpasswd_fingerprint(struct htpasswd *h, const char *user, unsigned char out[HTPASSWD_FP_LEN],
                         time_t now)
{
    char *hash = htp_lookup(h, user, now, NULL);
    if (!hash)
        return berr_set(BERR_UNAUTHORIZED, "unknown user");
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)hash, strlen(hash), md);
    memcpy(out, md, HTPASSWD_FP_LEN);
    OPENSSL_cleanse(hash, strlen(hash));
    free(hash);
    return 0;
}

size_t htpasswd_count(struct htpasswd *h)
{
    pthread_mutex_lock(&h->mu);
    size_t n = h->table.n;
    pthread_mutex_unlock(&h->mu);
    return n;
}
