/*
 * test_blobstore.c - blob data by digest, on the mem and fs drivers: commit,
 * place (the publish step run under the metadata lock), trash and restore
 * (the collector's move aside and its undo), walks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/base/err.h"
#include "image/base/xalloc.h"
#include "image/digest.h"
#include "storage/blobstore.h"
#include "storage/paths.h"

struct fixture {
    struct driver *drv;
    struct blobstore *bs;
    char *dir;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup_mem(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof(*fx));
    assert_int_equal(driver_mem_new(&fx->drv), 0);
    assert_int_equal(blobstore_new(&fx->bs, fx->drv), 0);
    *state = fx;
    return 0;
}

static int setup_fs(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof(*fx));
    fx->dir = xstrdup("/tmp/berth-test-blobstore-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    assert_int_equal(driver_fs_new(&fx->drv, fx->dir), 0);
    assert_int_equal(blobstore_new(&fx->bs, fx->drv), 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    blobstore_free(fx->bs);
    driver_free(fx->drv);
    if (fx->dir != NULL) {
        nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(fx->dir);
    }
    free(fx);
    return 0;
}

/* Stage `data` under uploads/ and return the writer. */
static struct driver_writer *stage(struct fixture *fx, const char *data)
{
    struct driver_writer *w;
    assert_int_equal(
        driver_writer_open(fx->drv, "uploads/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", 0, &w), 0);
    assert_int_equal(driver_writer_append(w, data, strlen(data)), 0);
    return w;
}

static void assert_staged_gone(struct fixture *fx)
{
    struct driver_stat st;
    assert_int_equal(driver_stat(fx->drv, "uploads/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", &st),
                     BERR_NOT_FOUND);
}

static void assert_blob(struct fixture *fx, const struct digest *d, const char *want)
{
    struct driver_reader *rd = NULL;
    char buf[256];
    size_t n;
    assert_int_equal(blobstore_open_read(fx->bs, d, &rd), 0);
    int64_t size = rd->size;
    assert_int_equal(size, (int64_t)strlen(want));
    assert_int_equal(driver_reader_read_at(rd, 0, buf, sizeof(buf), &n), 0);
    driver_reader_free(rd);
    assert_int_equal(n, size);
    assert_memory_equal(buf, want, n);
    int64_t st_size = -1;
    assert_int_equal(blobstore_stat(fx->bs, d, &st_size), 0);
    assert_int_equal(st_size, size);
}

static void test_commit_and_read(void **state)
{
    struct fixture *fx = *state;
    struct digest d;
    const char *data = "layer bytes";
    digest_of(&d, DIGEST_SHA256, data, strlen(data));
    assert_int_equal(blobstore_stat(fx->bs, &d, NULL), BERR_BLOB_UNKNOWN);
    assert_int_equal(blobstore_commit(fx->bs, stage(fx, data), &d), 0);
    assert_staged_gone(fx);
    assert_blob(fx, &d, data);

    /* The data lives under the key paths.c gives. */
    char key[PATHS_KEY_MAX];
    struct driver_stat st;
    assert_int_equal(paths_blob(key, &d), 0);
    assert_int_equal(driver_stat(blobstore_driver(fx->bs), key, &st), 0);
    assert_int_equal(st.size, (int64_t)strlen(data));
}

static void test_commit_sha512(void **state)
{
    struct fixture *fx = *state;
    struct digest d;
    const char *data = "sha512 layer";
    digest_of(&d, DIGEST_SHA512, data, strlen(data));
    assert_int_equal(blobstore_commit(fx->bs, stage(fx, data), &d), 0);
    assert_blob(fx, &d, data);
}

static void test_commit_twice(void **state)
{
    struct fixture *fx = *state;
    struct digest d;
    const char *data = "same bytes twice";
    digest_of(&d, DIGEST_SHA256, data, strlen(data));
    assert_int_equal(blobstore_commit(fx->bs, stage(fx, data), &d), 0);
    /* The second identical commit is dropped, staged bytes discarded. */
    assert_int_equal(blobstore_commit(fx->bs, stage(fx, data), &d), 0);
    assert_staged_gone(fx);
    assert_blob(fx, &d, data);
}

static void test_unknown(void **state)
{
    struct fixture *fx = *state;
    struct digest d;
    struct driver_reader *rd = NULL;
    digest_of(&d, DIGEST_SHA256, "absent", 6);
    assert_int_equal(blobstore_stat(fx->bs, &d, NULL), BERR_BLOB_UNKNOWN);
    assert_int_equal(blobstore_open_read(fx->bs, &d, &rd), BERR_BLOB_UNKNOWN);
    assert_null(rd);
    assert_int_equal(blobstore_remove(fx->bs, &d), BERR_BLOB_UNKNOWN);
    assert_non_null(strstr(berr_message(), d.str));
}

/* A blob's reader serves any range by offset (what a 206 needs), with or
 * without a file descriptor, and keeps its bytes after the blob is removed. */
static void test_read_ranges(void **state)
{
    struct fixture *fx = *state;
    struct digest d;
    const size_t total = 700 * 1024 + 3;
    char *data = xmalloc(total);
    for (size_t i = 0; i < total; i++)
        data[i] = (char)(i * 13 + i / 251);
    digest_of(&d, DIGEST_SHA256, data, total);
    struct driver_writer *w;
    assert_int_equal(
        driver_writer_open(fx->drv, "uploads/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", 0, &w), 0);
    assert_int_equal(driver_writer_append(w, data, total), 0);
    assert_int_equal(blobstore_commit(fx->bs, w, &d), 0);

    struct driver_reader *rd;
    assert_int_equal(blobstore_open_read(fx->bs, &d, &rd), 0);
    assert_int_equal(rd->size, (int64_t)total);
    /* fs hands out an fd for sendfile; mem only reads by offset. */
    assert_int_equal(rd->fd >= 0, fx->dir != NULL);
    assert_int_equal(blobstore_remove(fx->bs, &d), 0);
    static const size_t offs[] = {0, 1, 4095, 4096, 256 * 1024, 512 * 1024 - 7};
    char *buf = xmalloc(total);
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
        size_t n;
        assert_int_equal(driver_reader_read_at(rd, (int64_t)offs[i], buf, total, &n), 0);
        assert_int_equal(n, total - offs[i]); /* short: the end */
        assert_memory_equal(buf, data + offs[i], n);
    }
    size_t n;
    assert_int_equal(driver_reader_read_at(rd, (int64_t)total - 1, buf, 10, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(buf[0], data[total - 1]);
    assert_int_equal(driver_reader_read_at(rd, (int64_t)total, buf, 10, &n), 0);
    assert_int_equal(n, 0);
    driver_reader_free(rd);
    free(buf);
    free(data);
}

static void test_remove(void **state)
{
    struct fixture *fx = *state;
    struct digest d;
    digest_of(&d, DIGEST_SHA256, "gone", 4);
    assert_int_equal(blobstore_commit(fx->bs, stage(fx, "gone"), &d), 0);
    assert_int_equal(blobstore_remove(fx->bs, &d), 0);
    assert_int_equal(blobstore_stat(fx->bs, &d, NULL), BERR_BLOB_UNKNOWN);
    assert_int_equal(blobstore_remove(fx->bs, &d), BERR_BLOB_UNKNOWN);
}

static void test_bad_digest(void **state)
{
    struct fixture *fx = *state;
    struct digest d;
    digest_of(&d, DIGEST_SHA256, "x", 1);
    d.str[10] = 'A'; /* uppercase hex: refused, never a key */
    assert_int_equal(blobstore_commit(fx->bs, stage(fx, "x"), &d), BERR_DIGEST_INVALID);
    assert_staged_gone(fx);
    assert_int_equal(blobstore_stat(fx->bs, &d, NULL), BERR_DIGEST_INVALID);
    assert_int_equal(blobstore_remove(fx->bs, &d), BERR_DIGEST_INVALID);
}

static void test_commit_failure(void **state)
{
    (void)state;
    /* A driver whose every operation fails: nothing published. */
    struct driver *inner, *f;
    struct blobstore *bs;
    struct driver_writer *w;
    struct digest d;
    assert_int_equal(driver_mem_new(&inner), 0);
    assert_int_equal(driver_faulty_new(&f, inner, 3, 1), 0);
    assert_int_equal(blobstore_new(&bs, f), 0);
    digest_of(&d, DIGEST_SHA256, "data", 4);
    assert_int_equal(driver_writer_open(f, "uploads/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", 0, &w),
                     0);
    assert_int_equal(driver_writer_append(w, "data", 4), 0);
    /* op 3 = stat in commit fails */
    assert_int_equal(blobstore_commit(bs, w, &d), BERR_IO);
    struct driver_stat st;
    char key[PATHS_KEY_MAX];
    assert_int_equal(paths_blob(key, &d), 0);
    assert_int_equal(driver_stat(inner, key, &st), BERR_NOT_FOUND);
    assert_int_equal(driver_stat(inner, "uploads/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", &st),
                     BERR_NOT_FOUND);
    blobstore_free(bs);
    driver_free(f);
}

/* Stage `data` durably under `key` (what upload_finish does before publishing). */
static void seal(struct fixture *fx, const char *key, const char *data)
{
    struct driver_writer *w;
    assert_int_equal(
        driver_writer_open(fx->drv, "uploads/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", 0, &w), 0);
    assert_int_equal(driver_writer_append(w, data, strlen(data)), 0);
    assert_int_equal(driver_writer_commit(w, key), 0);
}

static const char sealed_key[] = "uploads/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9.sealed";

static void test_place(void **state)
{
    struct fixture *fx = *state;
    struct digest d;
    struct driver_stat st;
    const char *data = "placed bytes";
    int placed = -1;
    digest_of(&d, DIGEST_SHA256, data, strlen(data));
    /* Absent: renamed into place. */
    seal(fx, sealed_key, data);
    assert_int_equal(blobstore_place(fx->bs, sealed_key, &d, (int64_t)strlen(data), &placed), 0);
    assert_int_equal(placed, 1);
    assert_int_equal(driver_stat(fx->drv, sealed_key, &st), BERR_NOT_FOUND);
    assert_blob(fx, &d, data);
    /* Present: the sealed copy is dropped, the stored one stays. */
    seal(fx, sealed_key, data);
    assert_int_equal(blobstore_place(fx->bs, sealed_key, &d, (int64_t)strlen(data), &placed), 0);
    assert_int_equal(placed, 0);
    assert_int_equal(driver_stat(fx->drv, sealed_key, &st), BERR_NOT_FOUND);
    assert_blob(fx, &d, data);
    /* A sealed key that vanished: the error is the driver's. */
    struct digest d2;
    digest_of(&d2, DIGEST_SHA256, "other", 5);
    assert_int_equal(blobstore_place(fx->bs, sealed_key, &d2, 5, &placed), BERR_NOT_FOUND);
    assert_int_equal(placed, 0);
}

struct seen {
    int blobs, stray;
    struct digest last;
};

static int count_walk(void *ctx, const char *key, const struct digest *d,
                      const struct driver_stat *st)
{
    struct seen *s = ctx;
    (void)key;
    (void)st;
    if (d == NULL) {
        s->stray++;
        return 0;
    }
    s->blobs++;
    digest_copy(&s->last, d);
    return 0;
}

static void test_trash_restore(void **state)
{
    struct fixture *fx = *state;
    struct digest d;
    const char *data = "collected, then wanted again";
    char t1[PATHS_KEY_MAX], t2[PATHS_KEY_MAX];
    digest_of(&d, DIGEST_SHA256, data, strlen(data));
    assert_int_equal(blobstore_trash(fx->bs, &d, t1), BERR_BLOB_UNKNOWN);
    assert_int_equal(blobstore_commit(fx->bs, stage(fx, data), &d), 0);
    assert_int_equal(blobstore_trash(fx->bs, &d, t1), 0);
    assert_int_equal(strncmp(t1, "trash/sha256/", 13), 0);
    assert_int_equal(blobstore_stat(fx->bs, &d, NULL), BERR_BLOB_UNKNOWN);
    struct seen s = {0};
    assert_int_equal(blobstore_walk_trash(fx->bs, count_walk, &s), 0);
    assert_int_equal(s.blobs, 1);
    assert_true(digest_equal(&s.last, &d));
    /* Back in place. */
    assert_int_equal(blobstore_restore(fx->bs, t1, &d), 0);
    assert_blob(fx, &d, data);
    assert_int_equal(blobstore_restore(fx->bs, t1, &d), BERR_NOT_FOUND);
    /* Two moves of one digest never share a key. */
    assert_int_equal(blobstore_trash(fx->bs, &d, t1), 0);
    assert_int_equal(blobstore_commit(fx->bs, stage(fx, data), &d), 0); /* re-uploaded */
    assert_int_equal(blobstore_trash(fx->bs, &d, t2), 0);
    assert_string_not_equal(t1, t2);
    /* Restore while stored again: the trashed copy is dropped instead. */
    assert_int_equal(blobstore_restore(fx->bs, t2, &d), 0);
    assert_int_equal(blobstore_restore(fx->bs, t1, &d), 0);
    struct driver_stat st;
    assert_int_equal(driver_stat(fx->drv, t1, &st), BERR_NOT_FOUND);
    assert_blob(fx, &d, data);
    assert_int_equal(blobstore_trash(fx->bs, &d, t1), 0);
    assert_int_equal(blobstore_purge(fx->bs, t1), 0);
    assert_int_equal(blobstore_purge(fx->bs, t1), BERR_NOT_FOUND);
    memset(&s, 0, sizeof(s));
    assert_int_equal(blobstore_walk_trash(fx->bs, count_walk, &s), 0);
    assert_int_equal(s.blobs + s.stray, 0);
}

static void test_walk(void **state)
{
    struct fixture *fx = *state;
    struct digest a, b;
    digest_of(&a, DIGEST_SHA256, "a", 1);
    digest_of(&b, DIGEST_SHA512, "b", 1);
    assert_int_equal(blobstore_commit(fx->bs, stage(fx, "a"), &a), 0);
    assert_int_equal(blobstore_commit(fx->bs, stage(fx, "b"), &b), 0);
    struct driver_writer *w;
    assert_int_equal(driver_writer_open(fx->drv, "blobs/sha256/ab/not-a-digest", 0, &w), 0);
    assert_int_equal(driver_writer_close(w), 0);
    struct seen s = {0};
    assert_int_equal(blobstore_walk(fx->bs, count_walk, &s), 0);
    assert_int_equal(s.blobs, 2);
    assert_int_equal(s.stray, 1);
}

#define SUITE(setup)                                                                               \
    cmocka_unit_test_setup_teardown(test_commit_and_read, setup, teardown),                        \
        cmocka_unit_test_setup_teardown(test_commit_sha512, setup, teardown),                      \
        cmocka_unit_test_setup_teardown(test_commit_twice, setup, teardown),                       \
        cmocka_unit_test_setup_teardown(test_unknown, setup, teardown),                            \
        cmocka_unit_test_setup_teardown(test_read_ranges, setup, teardown),                        \
        cmocka_unit_test_setup_teardown(test_remove, setup, teardown),                             \
        cmocka_unit_test_setup_teardown(test_bad_digest, setup, teardown),                         \
        cmocka_unit_test_setup_teardown(test_place, setup, teardown),                              \
        cmocka_unit_test_setup_teardown(test_trash_restore, setup, teardown),                      \
        cmocka_unit_test_setup_teardown(test_walk, setup, teardown)

int main(void)
{
    const struct CMUnitTest mem_tests[] = {SUITE(setup_mem), cmocka_unit_test(test_commit_failure)};
    const struct CMUnitTest fs_tests[] = {SUITE(setup_fs)};
    int failed = cmocka_run_group_tests_name("blobstore_mem", mem_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("blobstore_fs", fs_tests, NULL, NULL);
    return failed == 0 ? 0 : 1;
}
