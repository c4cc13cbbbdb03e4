/*
 * test_driver.c - the storage driver conformance suite.
 *
 * One list of tests runs against every driver: fs (in a fresh mkdtemp
 * directory), mem, and faulty wrapping mem with failures disabled. Then the
 * faulty driver fails the Nth operation of a representative sequence (open
 * writer, append, append, commit, read back) for every N, sticky or not,
 * with and without an older object under the destination key: the error
 * must come back as BERR_IO, and the destination must hold either the old
 * object (or nothing) or the complete new one - never a partial write.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "image/base/err.h"
#include "image/base/xalloc.h"
#include "storage/driver.h"

enum kind { KIND_FS, KIND_MEM, KIND_FAULTY_MEM };

struct fixture {
    struct driver *d;
    char *dir; /* fs root's parent (mkdtemp), or NULL */
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *make_tmpdir(void)
{
    char *dir = xstrdup("/tmp/berth-test-driver-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        free(dir);
        return NULL;
    }
    return dir;
}

/* A new driver of `kind`; for fs, *dir_out is set to its temporary directory. */
static struct driver *driver_make(enum kind kind, char **dir_out)
{
    struct driver *d = NULL;
    *dir_out = NULL;
    if (kind == KIND_FS) {
        char *dir = make_tmpdir();
        assert_non_null(dir);
        /* A root that does not exist yet: the driver must create it. */
        char *root = xasprintf("%s/data/root", dir);
        assert_int_equal(driver_fs_new(&d, root), 0);
        free(root);
        *dir_out = dir;
    } else if (kind == KIND_MEM) {
        assert_int_equal(driver_mem_new(&d), 0);
    } else {
        struct driver *inner;
        assert_int_equal(driver_mem_new(&inner), 0);
        assert_int_equal(driver_faulty_new(&d, inner, 0, 0), 0);
    }
    return d;
}

static int setup_kind(void **state, enum kind kind)
{
    struct fixture *fx = xcalloc(1, sizeof(*fx));
    fx->d = driver_make(kind, &fx->dir);
    *state = fx;
    return 0;
}

static int setup_fs(void **state)
{
    return setup_kind(state, KIND_FS);
}

/* The fs driver where O_TMPFILE is unavailable: unnamed objects are named files. */
static int setup_fs_named(void **state)
{
    int rc = setup_kind(state, KIND_FS);
    driver_fs_no_tmpfile(((struct fixture *)*state)->d);
    return rc;
}

static int setup_mem(void **state)
{
    return setup_kind(state, KIND_MEM);
}

static int setup_faulty_mem(void **state)
{
    return setup_kind(state, KIND_FAULTY_MEM);
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    driver_free(fx->d);
    if (fx->dir != NULL) {
        rm_rf(fx->dir);
        free(fx->dir);
    }
    free(fx);
    return 0;
}

/* ---- helpers ----------------------------------------------------------- */

/* Write data to a staging key and commit it to `key`. */
static void put(struct driver *d, const char *key, const char *data)
{
    struct driver_writer *w;
    assert_int_equal(driver_writer_open(d, "staging/put", 0, &w), 0);
    assert_int_equal(driver_writer_append(w, data, strlen(data)), 0);
    assert_int_equal(driver_writer_commit(w, key), 0);
}

/* Read an object fully into a malloc'd NUL-terminated buffer (or NULL with
 * *rc_out), through read_at in uneven pieces, checking the reader's size. */
static char *get(struct driver *d, const char *key, size_t *len_out, int *rc_out)
{
    struct driver_reader *rd = NULL;
    int rc = driver_reader_open(d, key, &rd);
    if (rc_out != NULL)
        *rc_out = rc;
    if (rc < 0) {
        assert_null(rd);
        return NULL;
    }
    assert_true(rd->size >= 0);
    size_t size = (size_t)rd->size;
    char *buf = xmalloc(size + 2);
    size_t off = 0, piece = 1;
    for (;;) {
        size_t n = 12345;
        assert_int_equal(driver_reader_read_at(rd, (int64_t)off, buf + off, piece, &n), 0);
        assert_true(n <= piece);
        assert_true(off + n <= size);
        if (n == 0)
            break;
        if (off + piece <= size)
            assert_int_equal(n, piece); /* short only at the end */
        off += n;
        piece = piece * 5 + 3;
        if (piece > size + 1 - off)
            piece = size + 1 - off; /* one byte past the end at most (buf has room) */
    }
    assert_int_equal(off, size);
    buf[off] = '\0';
    driver_reader_free(rd);
    if (len_out != NULL)
        *len_out = off;
    return buf;
}

static void assert_content(struct driver *d, const char *key, const char *want)
{
    int rc;
    char *got = get(d, key, NULL, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(got, want);
    free(got);
}

static void assert_absent(struct driver *d, const char *key)
{
    struct driver_stat st;
    struct driver_reader *rd = NULL;
    assert_int_equal(driver_stat(d, key, &st), BERR_NOT_FOUND);
    assert_int_equal(driver_reader_open(d, key, &rd), BERR_NOT_FOUND);
    assert_null(rd);
}

/* ---- conformance tests --------------------------------------------------- */

static int walk_never(void *ctx, const char *key, const struct driver_stat *st)
{
    (void)ctx;
    (void)key;
    (void)st;
    fail_msg("walk visited %s", key);
    return 1;
}

static void test_missing(void **state)
{
    struct fixture *fx = *state;
    assert_absent(fx->d, "blobs/nope");
    assert_absent(fx->d, "nope");
    assert_int_equal(driver_remove(fx->d, "blobs/nope"), BERR_NOT_FOUND);
    assert_int_equal(driver_move(fx->d, "blobs/nope", "blobs/other"), BERR_NOT_FOUND);
    assert_absent(fx->d, "blobs/other");
    assert_int_equal(driver_walk(fx->d, "nothing/here/", walk_never, NULL), 0);
    assert_int_equal(driver_walk(fx->d, "", walk_never, NULL), 0);
}

static void test_write_commit_read(void **state)
{
    struct fixture *fx = *state;
    struct driver_writer *w;
    struct driver_stat st;
    assert_int_equal(driver_writer_open(fx->d, "uploads/a", 0, &w), 0);
    assert_int_equal(driver_writer_size(w), 0);
    assert_int_equal(driver_writer_append(w, "hello ", 6), 0);
    assert_int_equal(driver_writer_append(w, "", 0), 0);
    assert_int_equal(driver_writer_append(w, "world", 5), 0);
    assert_int_equal(driver_writer_size(w), 11);
    /* The staged object is visible while it grows. */
    assert_int_equal(driver_stat(fx->d, "uploads/a", &st), 0);
    assert_int_equal(st.size, 11);
    assert_absent(fx->d, "blobs/x/y/z");
    assert_int_equal(driver_writer_commit(w, "blobs/x/y/z"), 0);
    assert_absent(fx->d, "uploads/a");
    assert_int_equal(driver_stat(fx->d, "blobs/x/y/z", &st), 0);
    assert_int_equal(st.size, 11);
    assert_content(fx->d, "blobs/x/y/z", "hello world");

    /* Readers read by offset (ranges are served by offset). */
    struct driver_reader *rd;
    char buf[8] = {0};
    size_t n;
    assert_int_equal(driver_reader_open(fx->d, "blobs/x/y/z", &rd), 0);
    assert_int_equal(rd->size, 11);
    assert_int_equal(driver_reader_read_at(rd, 6, buf, 5, &n), 0);
    assert_int_equal(n, 5);
    assert_string_equal(buf, "world");
    driver_reader_free(rd);
}

/* read_at at every offset and length, short reads only at the end, and past it nothing. */
static void test_read_at(void **state)
{
    struct fixture *fx = *state;
    static const char data[] = "0123456789abcdefghij";
    const size_t len = sizeof(data) - 1;
    struct driver_reader *rd;
    char buf[64];
    size_t n;
    put(fx->d, "blobs/ra", data);
    assert_int_equal(driver_reader_open(fx->d, "blobs/ra", &rd), 0);
    assert_int_equal(rd->size, (int64_t)len);
    for (size_t off = 0; off <= len + 2; off++) {
        for (size_t want = 0; want <= len + 2; want++) {
            memset(buf, '#', sizeof(buf));
            n = 999;
            assert_int_equal(driver_reader_read_at(rd, (int64_t)off, buf, want, &n), 0);
            size_t expect = off >= len ? 0 : (want < len - off ? want : len - off);
            assert_int_equal(n, expect);
            assert_memory_equal(buf, data + (off < len ? off : 0), expect);
            assert_int_equal(buf[expect], '#'); /* nothing written beyond */
        }
    }
    /* Reads in any order: the reader keeps no position. */
    assert_int_equal(driver_reader_read_at(rd, 15, buf, 3, &n), 0);
    assert_memory_equal(buf, "fgh", 3);
    assert_int_equal(driver_reader_read_at(rd, 0, buf, 2, &n), 0);
    assert_memory_equal(buf, "01", 2);
    assert_int_equal(driver_reader_read_full(rd, 10, buf, 10), 0);
    assert_memory_equal(buf, "abcdefghij", 10);
    assert_int_equal(driver_reader_read_full(rd, 11, buf, 10), BERR_IO);
    driver_reader_free(rd);
    driver_reader_free(NULL);

    put(fx->d, "blobs/empty", "");
    assert_int_equal(driver_reader_open(fx->d, "blobs/empty", &rd), 0);
    assert_int_equal(rd->size, 0);
    assert_int_equal(driver_reader_read_at(rd, 0, buf, sizeof(buf), &n), 0);
    assert_int_equal(n, 0);
    driver_reader_free(rd);
}

/* A reader keeps the bytes it opened when the key is replaced meanwhile. */
static void test_read_survives_replace(void **state)
{
    struct fixture *fx = *state;
    struct driver_reader *rd;
    char buf[16] = {0};
    put(fx->d, "blobs/rr", "first");
    assert_int_equal(driver_reader_open(fx->d, "blobs/rr", &rd), 0);
    put(fx->d, "blobs/rr", "second version");
    assert_int_equal(rd->size, 5);
    assert_int_equal(driver_reader_read_full(rd, 0, buf, 5), 0);
    assert_string_equal(buf, "first");
    driver_reader_free(rd);
    assert_content(fx->d, "blobs/rr", "second version");
}

static void test_append_reopen(void **state)
{
    struct fixture *fx = *state;
    struct driver_writer *w;
    struct driver_stat st;
    assert_int_equal(driver_writer_open(fx->d, "uploads/b", 1, &w), 0);
    assert_int_equal(driver_writer_size(w), 0);
    assert_int_equal(driver_writer_append(w, "abc", 3), 0);
    assert_int_equal(driver_writer_close(w), 0);
    assert_int_equal(driver_stat(fx->d, "uploads/b", &st), 0);
    assert_int_equal(st.size, 3);

    assert_int_equal(driver_writer_open(fx->d, "uploads/b", 1, &w), 0);
    assert_int_equal(driver_writer_size(w), 3);
    assert_int_equal(driver_writer_append(w, "def", 3), 0);
    assert_int_equal(driver_writer_size(w), 6);
    assert_int_equal(driver_writer_close(w), 0);
    assert_content(fx->d, "uploads/b", "abcdef");

    /* append = 0 truncates. */
    assert_int_equal(driver_writer_open(fx->d, "uploads/b", 0, &w), 0);
    assert_int_equal(driver_writer_size(w), 0);
    assert_int_equal(driver_writer_append(w, "x", 1), 0);
    assert_int_equal(driver_writer_commit(w, "blobs/b"), 0);
    assert_content(fx->d, "blobs/b", "x");
    assert_absent(fx->d, "uploads/b");
}

static void test_cancel(void **state)
{
    struct fixture *fx = *state;
    struct driver_writer *w;
    put(fx->d, "blobs/c", "old");
    assert_int_equal(driver_writer_open(fx->d, "uploads/c", 0, &w), 0);
    assert_int_equal(driver_writer_append(w, "new", 3), 0);
    driver_writer_cancel(w);
    assert_absent(fx->d, "uploads/c");
    assert_content(fx->d, "blobs/c", "old");
    driver_writer_cancel(NULL);
}

static void test_commit_replaces(void **state)
{
    struct fixture *fx = *state;
    put(fx->d, "blobs/r", "old contents");
    put(fx->d, "blobs/r", "new!");
    assert_content(fx->d, "blobs/r", "new!");
}

static void test_move(void **state)
{
    struct fixture *fx = *state;
    put(fx->d, "blobs/m1", "one");
    put(fx->d, "blobs/m2", "two");
    assert_int_equal(driver_move(fx->d, "blobs/m1", "trash/deep/dir/m1.1"), 0);
    assert_absent(fx->d, "blobs/m1");
    assert_content(fx->d, "trash/deep/dir/m1.1", "one");
    assert_int_equal(driver_move(fx->d, "trash/deep/dir/m1.1", "blobs/m2"), 0);
    assert_content(fx->d, "blobs/m2", "one");
    assert_absent(fx->d, "trash/deep/dir/m1.1");
}

static void test_remove(void **state)
{
    struct fixture *fx = *state;
    put(fx->d, "blobs/rm", "x");
    assert_int_equal(driver_remove(fx->d, "blobs/rm"), 0);
    assert_absent(fx->d, "blobs/rm");
    assert_int_equal(driver_remove(fx->d, "blobs/rm"), BERR_NOT_FOUND);
}

struct seen {
    char keys[16][64];
    int64_t sizes[16];
    int n;
    int stop_after; /* 0 = never */
};

static int walk_collect(void *ctx, const char *key, const struct driver_stat *st)
{
    struct seen *s = ctx;
    assert_true(s->n < 16);
    assert_true(strlen(key) < sizeof(s->keys[0]));
    memcpy(s->keys[s->n], key, strlen(key) + 1);
    s->sizes[s->n] = st->size;
    s->n++;
    if (s->stop_after > 0 && s->n == s->stop_after)
        return 7;
    return 0;
}

static int seen_has(const struct seen *s, const char *key, int64_t size)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->keys[i], key) == 0)
            return size < 0 || s->sizes[i] == size;
    return 0;
}

/* Objects of every kind anywhere in the store. */
static int count_all(struct driver *d)
{
    struct seen s = {0};
    assert_int_equal(driver_walk(d, "", walk_collect, &s), 0);
    return s.n;
}

/* An unnamed writer: no key until commit (which creates directories and
 * replaces an existing object), nothing left by a cancel, no close. */
static void test_unnamed(void **state)
{
    struct fixture *fx = *state;
    struct driver_writer *w;
    put(fx->d, "blobs/u/old", "old");
    int before = count_all(fx->d);

    assert_int_equal(driver_writer_open_unnamed(fx->d, "uploads/", &w), 0);
    assert_int_equal(driver_writer_append(w, "fresh ", 6), 0);
    assert_int_equal(driver_writer_append(w, "bytes", 5), 0);
    assert_int_equal(driver_writer_size(w), 11);
    assert_int_equal(driver_writer_commit(w, "blobs/new/dir/n"), 0);
    assert_content(fx->d, "blobs/new/dir/n", "fresh bytes");
    assert_int_equal(count_all(fx->d), before + 1);

    assert_int_equal(driver_writer_open_unnamed(fx->d, "uploads/", &w), 0);
    assert_int_equal(driver_writer_append(w, "replaced", 8), 0);
    assert_int_equal(driver_writer_commit(w, "blobs/u/old"), 0);
    assert_content(fx->d, "blobs/u/old", "replaced");
    assert_int_equal(count_all(fx->d), before + 1);

    assert_int_equal(driver_writer_open_unnamed(fx->d, "uploads/", &w), 0);
    assert_int_equal(driver_writer_append(w, "dropped", 7), 0);
    driver_writer_cancel(w);
    assert_int_equal(count_all(fx->d), before + 1);

    assert_int_equal(driver_writer_open_unnamed(fx->d, "uploads/", &w), 0);
    assert_int_equal(driver_writer_append(w, "kept?", 5), 0);
    assert_int_equal(driver_writer_close(w), BERR_INTERNAL);
    assert_int_equal(count_all(fx->d), before + 1);

    assert_int_equal(driver_writer_open_unnamed(fx->d, "uploads", &w), BERR_INVALID);
    assert_int_equal(driver_writer_open_unnamed(fx->d, "../x/", &w), BERR_INVALID);
}

static void test_walk(void **state)
{
    struct fixture *fx = *state;
    struct seen s;
    put(fx->d, "blobs/sha256/aa/k1", "1");
    put(fx->d, "blobs/sha256/ab/k2", "22");
    put(fx->d, "blobs/sha512/cc/k3", "333");
    put(fx->d, "uploads/u1", "4444");
    put(fx->d, "top", "55555");

    memset(&s, 0, sizeof(s));
    assert_int_equal(driver_walk(fx->d, "blobs/sha256/", walk_collect, &s), 0);
    assert_int_equal(s.n, 2);
    assert_true(seen_has(&s, "blobs/sha256/aa/k1", 1));
    assert_true(seen_has(&s, "blobs/sha256/ab/k2", 2));

    memset(&s, 0, sizeof(s));
    assert_int_equal(driver_walk(fx->d, "blobs/sha256/a", walk_collect, &s), 0);
    assert_int_equal(s.n, 2);

    memset(&s, 0, sizeof(s));
    assert_int_equal(driver_walk(fx->d, "blobs/sha256/aa", walk_collect, &s), 0);
    assert_int_equal(s.n, 1);
    assert_true(seen_has(&s, "blobs/sha256/aa/k1", 1));

    memset(&s, 0, sizeof(s));
    assert_int_equal(driver_walk(fx->d, "uploads/", walk_collect, &s), 0);
    assert_int_equal(s.n, 1);
    assert_true(seen_has(&s, "uploads/u1", 4));

    memset(&s, 0, sizeof(s));
    assert_int_equal(driver_walk(fx->d, "", walk_collect, &s), 0);
    assert_int_equal(s.n, 5);
    assert_true(seen_has(&s, "top", 5));
    assert_true(seen_has(&s, "blobs/sha512/cc/k3", 3));
    assert_false(seen_has(&s, "staging/put", -1));

    /* A non-zero callback value stops the walk and is returned. */
    memset(&s, 0, sizeof(s));
    s.stop_after = 1;
    assert_int_equal(driver_walk(fx->d, "", walk_collect, &s), 7);
    assert_int_equal(s.n, 1);
}

static void test_bad_keys(void **state)
{
    struct fixture *fx = *state;
    static const char *bad[] = {
        "", "/abs", "../x", "a/../b", "a/..", "..", ".", "./a", "a//b", "a/", "a/./b",
    };
    put(fx->d, "blobs/good", "g");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct driver_stat st;
        struct driver_writer *w = (struct driver_writer *)1;
        struct driver_reader *rd = NULL;
        assert_int_equal(driver_stat(fx->d, bad[i], &st), BERR_INVALID);
        assert_int_equal(driver_reader_open(fx->d, bad[i], &rd), BERR_INVALID);
        assert_null(rd);
        assert_int_equal(driver_writer_open(fx->d, bad[i], 0, &w), BERR_INVALID);
        assert_null(w);
        assert_int_equal(driver_remove(fx->d, bad[i]), BERR_INVALID);
        assert_int_equal(driver_move(fx->d, "blobs/good", bad[i]), BERR_INVALID);
        assert_int_equal(driver_move(fx->d, bad[i], "blobs/other"), BERR_INVALID);
        /* A bad commit destination frees the writer and discards the bytes. */
        assert_int_equal(driver_writer_open(fx->d, "uploads/bad", 0, &w), 0);
        assert_int_equal(driver_writer_append(w, "zz", 2), 0);
        assert_int_equal(driver_writer_commit(w, bad[i]), BERR_INVALID);
        assert_absent(fx->d, "uploads/bad");
        assert_true(strlen(berr_message()) > 0);
    }
    assert_int_equal(driver_walk(fx->d, "../", walk_never, NULL), BERR_INVALID);
    assert_int_equal(driver_walk(fx->d, "/", walk_never, NULL), BERR_INVALID);
    assert_content(fx->d, "blobs/good", "g");
}

static void test_large(void **state)
{
    struct fixture *fx = *state;
    const size_t total = 5u * 1024 * 1024 + 17;
    char *data = xmalloc(total + 1);
    for (size_t i = 0; i < total; i++)
        data[i] = (char)('a' + (i * 7 + i / 4099) % 26);
    data[total] = '\0';
    struct driver_writer *w;
    assert_int_equal(driver_writer_open(fx->d, "uploads/large", 0, &w), 0);
    size_t off = 0, chunk = 1;
    while (off < total) {
        size_t n = chunk < total - off ? chunk : total - off;
        assert_int_equal(driver_writer_append(w, data + off, n), 0);
        off += n;
        chunk = chunk * 3 + 1;
    }
    assert_int_equal(driver_writer_size(w), (int64_t)total);
    assert_int_equal(driver_writer_commit(w, "blobs/large"), 0);
    size_t len;
    int rc;
    char *got = get(fx->d, "blobs/large", &len, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(len, total);
    assert_memory_equal(got, data, total);
    free(got);
    free(data);
}

/* Appends that a driver may buffer must all be on disk after close: a
 * session's chunks are closed between requests and continued later. */
static void test_large_close_reopen(void **state)
{
    struct fixture *fx = *state;
    const size_t total = 3u * 1024 * 1024 + 5, piece = 40000;
    char *data = xmalloc(total);
    for (size_t i = 0; i < total; i++)
        data[i] = (char)(i * 31 + i / 977);
    struct driver_writer *w;
    size_t off = 0;
    for (int round = 0; round < 3; round++) {
        assert_int_equal(driver_writer_open(fx->d, "uploads/chunks", round > 0, &w), 0);
        assert_int_equal(driver_writer_size(w), (int64_t)off);
        size_t end = round == 2 ? total : off + total / 3;
        while (off < end) {
            size_t n = piece < end - off ? piece : end - off;
            assert_int_equal(driver_writer_append(w, data + off, n), 0);
            off += n;
        }
        assert_int_equal(driver_writer_size(w), (int64_t)off);
        if (round < 2) {
            assert_int_equal(driver_writer_close(w), 0);
            struct driver_stat st;
            assert_int_equal(driver_stat(fx->d, "uploads/chunks", &st), 0);
            assert_int_equal(st.size, (int64_t)off); /* nothing left in a buffer */
        }
    }
    assert_int_equal(driver_writer_commit(w, "blobs/chunks"), 0);
    size_t len;
    int rc;
    char *got = get(fx->d, "blobs/chunks", &len, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(len, total);
    assert_memory_equal(got, data, total);
    free(got);
    free(data);
}

static void test_read_survives_remove(void **state)
{
    struct fixture *fx = *state;
    struct driver_reader *rd;
    size_t n;
    char buf[16] = {0};
    put(fx->d, "blobs/s", "still here");
    assert_int_equal(driver_reader_open(fx->d, "blobs/s", &rd), 0);
    assert_int_equal(driver_remove(fx->d, "blobs/s"), 0);
    assert_absent(fx->d, "blobs/s");
    assert_int_equal(driver_reader_read_at(rd, 0, buf, sizeof(buf) - 1, &n), 0);
    assert_int_equal(n, 10);
    assert_string_equal(buf, "still here");
    driver_reader_free(rd);
}

static void test_mtime(void **state)
{
    struct fixture *fx = *state;
    struct driver_stat st;
    int64_t before = (int64_t)time(NULL);
    put(fx->d, "blobs/t", "t");
    int64_t after = (int64_t)time(NULL);
    assert_int_equal(driver_stat(fx->d, "blobs/t", &st), 0);
    assert_true(st.mtime >= before - 1 && st.mtime <= after + 1);
}

struct thread_arg {
    struct driver *d;
    int id;
    int rc;
};

static void *writer_thread(void *p)
{
    struct thread_arg *a = p;
    char staging[64], dest[64], chunk[100];
    struct driver_writer *w;
    snprintf(staging, sizeof(staging), "uploads/t%d", a->id);
    snprintf(dest, sizeof(dest), "blobs/t/%d", a->id);
    memset(chunk, 'A' + a->id, sizeof(chunk));
    a->rc = driver_writer_open(a->d, staging, 0, &w);
    if (a->rc < 0)
        return NULL;
    for (int i = 0; i < 200 && a->rc == 0; i++)
        a->rc = driver_writer_append(w, chunk, sizeof(chunk));
    if (a->rc < 0) {
        driver_writer_cancel(w);
        return NULL;
    }
    a->rc = driver_writer_commit(w, dest);
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    struct fixture *fx = *state;
    pthread_t t[4];
    struct thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){fx->d, i, -1};
        assert_int_equal(pthread_create(&t[i], NULL, writer_thread, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(args[i].rc, 0);
    }
    for (int i = 0; i < 4; i++) {
        char dest[64];
        size_t len;
        int rc;
        snprintf(dest, sizeof(dest), "blobs/t/%d", i);
        char *got = get(fx->d, dest, &len, &rc);
        assert_int_equal(rc, 0);
        assert_int_equal(len, 20000);
        for (size_t j = 0; j < len; j++)
            assert_int_equal(got[j], 'A' + i);
        free(got);
    }
}

/* ---- the faulty driver ------------------------------------------------- */

#define SEQ_STAGING "uploads/seq"
#define SEQ_DEST    "blobs/sha256/de/dest"
#define SEQ_PART1   "first part, "
#define SEQ_PART2   "second part"
#define SEQ_OLD     "an older object"

/* open writer, append, append, commit, open reader, read: 6 counted operations. */
static int sequence(struct driver *d)
{
    struct driver_writer *w;
    struct driver_reader *rd;
    size_t n;
    char buf[64];
    int rc = driver_writer_open(d, SEQ_STAGING, 0, &w);
    if (rc < 0)
        return rc;
    rc = driver_writer_append(w, SEQ_PART1, strlen(SEQ_PART1));
    if (rc == 0)
        rc = driver_writer_append(w, SEQ_PART2, strlen(SEQ_PART2));
    if (rc < 0) {
        driver_writer_cancel(w);
        return rc;
    }
    rc = driver_writer_commit(w, SEQ_DEST);
    if (rc < 0)
        return rc;
    rc = driver_reader_open(d, SEQ_DEST, &rd);
    if (rc < 0)
        return rc;
    rc = driver_reader_read_at(rd, 0, buf, sizeof(buf), &n);
    int64_t size = rd->size;
    driver_reader_free(rd);
    if (rc < 0)
        return rc;
    assert_int_equal(n, size);
    assert_int_equal(size, strlen(SEQ_PART1 SEQ_PART2));
    assert_memory_equal(buf, SEQ_PART1 SEQ_PART2, (size_t)size);
    return 0;
}

#define SEQ_OPS    6
#define SEQ_COMMIT 4

static void test_faulty_counts(void **state)
{
    (void)state;
    struct driver *inner, *f;
    assert_int_equal(driver_mem_new(&inner), 0);
    assert_int_equal(driver_faulty_new(&f, inner, 0, 0), 0);
    assert_int_equal(driver_faulty_count(f), 0);
    assert_int_equal(sequence(f), 0);
    assert_int_equal(driver_faulty_count(f), SEQ_OPS);
    driver_free(f);
}

static void faulty_run(enum kind kind, int n, int sticky, int preexisting)
{
    char *dir;
    struct driver *inner = driver_make(kind, &dir);
    struct driver *f;
    if (preexisting)
        put(inner, SEQ_DEST, SEQ_OLD);
    assert_int_equal(driver_faulty_new(&f, inner, n, sticky), 0);
    berr_clear();
    int rc = sequence(f);
    assert_int_equal(rc, BERR_IO);
    assert_non_null(strstr(berr_message(), "injected"));
    assert_int_equal(driver_faulty_count(f), n);
    /* Look underneath the faulty layer. */
    assert_absent(inner, SEQ_STAGING);
    if (n <= SEQ_COMMIT) {
        if (preexisting)
            assert_content(inner, SEQ_DEST, SEQ_OLD);
        else
            assert_absent(inner, SEQ_DEST);
    } else {
        assert_content(inner, SEQ_DEST, SEQ_PART1 SEQ_PART2);
    }
    /* A sticky driver keeps failing; a one-shot driver works again. */
    struct driver_stat st;
    rc = driver_stat(f, SEQ_DEST, &st);
    if (sticky)
        assert_int_equal(rc, BERR_IO);
    else
        assert_int_not_equal(rc, BERR_IO);
    driver_free(f);
    if (dir != NULL) {
        rm_rf(dir);
        free(dir);
    }
}

static void test_faulty_nth(void **state)
{
    (void)state;
    static const enum kind kinds[] = {KIND_MEM, KIND_FS};
    for (size_t k = 0; k < 2; k++)
        for (int n = 1; n <= SEQ_OPS; n++)
            for (int sticky = 0; sticky <= 1; sticky++)
                for (int pre = 0; pre <= 1; pre++)
                    faulty_run(kinds[k], n, sticky, pre);
}

static void test_faulty_close_keeps_bytes(void **state)
{
    (void)state;
    struct driver *inner, *f;
    struct driver_writer *w;
    assert_int_equal(driver_mem_new(&inner), 0);
    assert_int_equal(driver_faulty_new(&f, inner, 3, 0), 0);
    assert_int_equal(driver_writer_open(f, "uploads/k", 0, &w), 0);
    assert_int_equal(driver_writer_append(w, "kept", 4), 0);
    assert_int_equal(driver_writer_close(w), BERR_IO);
    assert_content(inner, "uploads/k", "kept");
    /* Writer ops on every path are counted, cancel is not. */
    assert_int_equal(driver_writer_open(f, "uploads/k", 1, &w), 0);
    assert_int_equal(driver_writer_size(w), 4);
    driver_writer_cancel(w);
    assert_int_equal(driver_faulty_count(f), 4);
    assert_absent(inner, "uploads/k");
    driver_free(f);
}

static void test_faulty_other_ops(void **state)
{
    (void)state;
    struct driver *inner, *f;
    assert_int_equal(driver_mem_new(&inner), 0);
    put(inner, "blobs/a", "a");
    assert_int_equal(driver_faulty_new(&f, inner, 1, 1), 0);
    assert_int_equal(driver_move(f, "blobs/a", "blobs/b"), BERR_IO);
    assert_int_equal(driver_remove(f, "blobs/a"), BERR_IO);
    assert_int_equal(driver_walk(f, "", walk_never, NULL), BERR_IO);
    assert_content(inner, "blobs/a", "a");
    assert_absent(inner, "blobs/b");
    driver_free(f);
}

/* fs readers carry their file (for sendfile); taking it leaves the reader spent. */
static void test_fs_reader_fd(void **state)
{
    struct fixture *fx = *state;
    struct driver_reader *rd;
    char buf[8] = {0};
    size_t n;
    put(fx->d, "blobs/fd", "by offset");
    assert_int_equal(driver_reader_open(fx->d, "blobs/fd", &rd), 0);
    assert_true(rd->fd >= 0);
    int fd = driver_reader_take_fd(rd);
    assert_true(fd >= 0);
    assert_int_equal(driver_reader_take_fd(rd), -1);
    assert_int_equal(driver_reader_read_at(rd, 0, buf, 2, &n), BERR_INTERNAL);
    driver_reader_free(rd); /* does not close the fd taken */
    assert_int_equal(pread(fd, buf, 6, 3), 6);
    assert_string_equal(buf, "offset");
    close(fd);
}

/* mem readers (and faulty ones, whatever they wrap) have no fd: read_at only. */
static void reader_has_no_fd(struct driver *d)
{
    struct driver_reader *rd;
    char buf[8] = {0};
    put(d, "blobs/nofd", "no fd");
    assert_int_equal(driver_reader_open(d, "blobs/nofd", &rd), 0);
    assert_int_equal(rd->fd, -1);
    assert_int_equal(driver_reader_take_fd(rd), -1);
    assert_int_equal(driver_reader_read_full(rd, 3, buf, 2), 0);
    assert_string_equal(buf, "fd");
    driver_reader_free(rd);
}

static void test_reader_no_fd(void **state)
{
    (void)state;
    static const enum kind kinds[] = {KIND_MEM, KIND_FAULTY_MEM};
    for (size_t k = 0; k < 2; k++) {
        char *dir;
        struct driver *d = driver_make(kinds[k], &dir);
        reader_has_no_fd(d);
        driver_free(d);
    }
    char *dir;
    struct driver *inner = driver_make(KIND_FS, &dir), *f;
    assert_int_equal(driver_faulty_new(&f, inner, 0, 0), 0);
    reader_has_no_fd(f);
    driver_free(f);
    rm_rf(dir);
    free(dir);
}

/* A faulty reader counts every read and fails the Nth like any operation. */
static void test_faulty_read_at(void **state)
{
    (void)state;
    struct driver *inner, *f;
    struct driver_reader *rd;
    char buf[8];
    size_t n = 99;
    assert_int_equal(driver_mem_new(&inner), 0);
    put(inner, "blobs/fr", "abc");
    assert_int_equal(driver_faulty_new(&f, inner, 3, 0), 0);
    assert_int_equal(driver_reader_open(f, "blobs/fr", &rd), 0);
    assert_int_equal(driver_reader_read_at(rd, 0, buf, 1, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(driver_reader_read_at(rd, 1, buf, 2, &n), BERR_IO);
    assert_non_null(strstr(berr_message(), "injected"));
    assert_int_equal(driver_reader_read_at(rd, 1, buf, 2, &n), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(buf, "bc", 2);
    /* Reads past the end reach no driver and are not counted; free is not either. */
    assert_int_equal(driver_reader_read_at(rd, 3, buf, 2, &n), 0);
    assert_int_equal(n, 0);
    driver_reader_free(rd);
    assert_int_equal(driver_faulty_count(f), 4);
    driver_free(f);
}

#define CONFORMANCE(setup)                                                                         \
    cmocka_unit_test_setup_teardown(test_missing, setup, teardown),                                \
        cmocka_unit_test_setup_teardown(test_write_commit_read, setup, teardown),                  \
        cmocka_unit_test_setup_teardown(test_append_reopen, setup, teardown),                      \
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),                             \
        cmocka_unit_test_setup_teardown(test_unnamed, setup, teardown),                            \
        cmocka_unit_test_setup_teardown(test_commit_replaces, setup, teardown),                    \
        cmocka_unit_test_setup_teardown(test_move, setup, teardown),                               \
        cmocka_unit_test_setup_teardown(test_remove, setup, teardown),                             \
        cmocka_unit_test_setup_teardown(test_walk, setup, teardown),                               \
        cmocka_unit_test_setup_teardown(test_bad_keys, setup, teardown),                           \
        cmocka_unit_test_setup_teardown(test_large, setup, teardown),                              \
        cmocka_unit_test_setup_teardown(test_large_close_reopen, setup, teardown),                 \
        cmocka_unit_test_setup_teardown(test_read_survives_remove, setup, teardown),               \
        cmocka_unit_test_setup_teardown(test_read_at, setup, teardown),                            \
        cmocka_unit_test_setup_teardown(test_read_survives_replace, setup, teardown),              \
        cmocka_unit_test_setup_teardown(test_mtime, setup, teardown),                              \
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown)

int main(void)
{
    const struct CMUnitTest fs_tests[] = {
        CONFORMANCE(setup_fs),
        cmocka_unit_test_setup_teardown(test_fs_reader_fd, setup_fs, teardown),
    };
    const struct CMUnitTest fs_named_tests[] = {
        cmocka_unit_test_setup_teardown(test_unnamed, setup_fs_named, teardown),
    };
    const struct CMUnitTest mem_tests[] = {CONFORMANCE(setup_mem)};
    const struct CMUnitTest faulty_tests[] = {
        CONFORMANCE(setup_faulty_mem),           cmocka_unit_test(test_faulty_counts),
        cmocka_unit_test(test_faulty_nth),       cmocka_unit_test(test_faulty_close_keeps_bytes),
        cmocka_unit_test(test_faulty_other_ops), cmocka_unit_test(test_reader_no_fd),
        cmocka_unit_test(test_faulty_read_at),
    };
    int failed = 0;
    failed += cmocka_run_group_tests_name("driver_fs", fs_tests, NULL, NULL);
    failed +=
        cmocka_run_group_tests_name("driver_fs without O_TMPFILE", fs_named_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("driver_mem", mem_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("driver_faulty", faulty_tests, NULL, NULL);
    return failed == 0 ? 0 : 1;
}
