/*
 * test_upload.c - upload sessions over the fs driver and a real metadb.
 *
 * Covers chunked uploads, digest/size/range/busy errors (nothing published
 * on error), a restart (new manager on the same store and database: the
 * offset survives and the hash is rebuilt), sha512, ephemeral uploads,
 * expiry of idle sessions and orphaned staged files, and a fault-injection
 * sweep over finish proving the crash order: a blob row never exists
 * without the blob's bytes. Publishing runs under the metadata write lock:
 * a finish waits for a lock holder (the collector) with its bytes sealed but
 * not in place, and puts them in place when the holder took the old file
 * away; sealed leftovers are expired with their session.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"
#include "image/digest.h"
#include "storage/blobstore.h"
#include "storage/metadb.h"
#include "storage/metadb_gc.h"
#include "storage/paths.h"
#include "storage/upload.h"

#define REPO "library/alpine"

struct fixture {
    char *dir;
    struct driver *drv;
    struct blobstore *bs;
    struct metadb *db;
    struct upload_mgr *m;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Open store + db + manager in fx->dir; `drv` (if non-NULL) is used instead of fs. */
static void fixture_open(struct fixture *fx, struct driver *drv)
{
    char *root = xasprintf("%s/data", fx->dir);
    char *dbpath = xasprintf("%s/meta.db", fx->dir);
    if (drv != NULL)
        fx->drv = drv;
    else
        assert_int_equal(driver_fs_new(&fx->drv, root), 0);
    assert_int_equal(blobstore_new(&fx->bs, fx->drv), 0);
    assert_int_equal(metadb_open(&fx->db, dbpath), 0);
    assert_int_equal(upload_mgr_new(&fx->m, fx->bs, fx->db), 0);
    free(root);
    free(dbpath);
}

static void fixture_close(struct fixture *fx)
{
    upload_mgr_free(fx->m);
    metadb_free(fx->db);
    blobstore_free(fx->bs);
    driver_free(fx->drv);
    fx->m = NULL;
    fx->db = NULL;
    fx->bs = NULL;
    fx->drv = NULL;
}

static struct fixture *fixture_new(void)
{
    struct fixture *fx = xcalloc(1, sizeof(*fx));
    fx->dir = xstrdup("/tmp/berth-test-upload-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    return fx;
}

static void fixture_free(struct fixture *fx)
{
    fixture_close(fx);
    nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx->dir);
    free(fx);
}

static int setup(void **state)
{
    struct fixture *fx = fixture_new();
    fixture_open(fx, NULL);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture_free(*state);
    return 0;
}

/* ---- helpers ----------------------------------------------------------- */

static int64_t status(struct fixture *fx, const char *id)
{
    int64_t off = -1;
    assert_int_equal(upload_status(fx->m, REPO, id, &off), 0);
    return off;
}

static void write_chunk(struct fixture *fx, const char *id, int64_t start, const char *data)
{
    struct upload *u;
    int64_t off = -1;
    assert_int_equal(upload_open(fx->m, REPO, id, start, &u, &off), 0);
    assert_int_equal(off, upload_offset(u));
    assert_int_equal(upload_write(u, data, strlen(data)), 0);
    assert_int_equal(upload_close(u), 0);
}

static void assert_published(struct fixture *fx, const struct digest *d, const char *want)
{
    int64_t size = -1;
    struct driver_reader *rd = NULL;
    char buf[4096];
    size_t n;
    assert_int_equal(meta_blob_get(fx->db, REPO, d, &size), 0);
    assert_int_equal(size, (int64_t)strlen(want));
    assert_int_equal(blobstore_open_read(fx->bs, d, &rd), 0);
    assert_int_equal(rd->size, (int64_t)strlen(want));
    assert_int_equal(driver_reader_read_at(rd, 0, buf, sizeof(buf), &n), 0);
    driver_reader_free(rd);
    assert_int_equal(n, size);
    assert_memory_equal(buf, want, n);
}

static void assert_not_published(struct fixture *fx, const struct digest *d)
{
    int64_t size;
    assert_int_equal(meta_blob_get(fx->db, REPO, d, &size), BERR_BLOB_UNKNOWN);
    assert_int_equal(blobstore_stat(fx->bs, d, &size), BERR_BLOB_UNKNOWN);
}

static int count_cb(void *ctx, const char *key, const struct driver_stat *st)
{
    (void)key;
    (void)st;
    (*(int *)ctx)++;
    return 0;
}

static int staged_count(struct fixture *fx)
{
    int n = 0;
    assert_int_equal(driver_walk(fx->drv, "uploads/", count_cb, &n), 0);
    return n;
}

static void assert_session_gone(struct fixture *fx, const char *id)
{
    int64_t off;
    struct upload *u;
    assert_int_equal(upload_status(fx->m, REPO, id, &off), BERR_UPLOAD_UNKNOWN);
    assert_int_equal(upload_open(fx->m, REPO, id, -1, &u, NULL), BERR_UPLOAD_UNKNOWN);
    assert_int_equal(meta_upload_exists(fx->db, id), 0);
    char key[PATHS_KEY_MAX];
    struct driver_stat st;
    assert_int_equal(paths_upload(key, id), 0);
    assert_int_equal(driver_stat(fx->drv, key, &st), BERR_NOT_FOUND);
}

/* ---- tests --------------------------------------------------------------- */

static void test_start_id(void **state)
{
    struct fixture *fx = *state;
    char a[UPLOAD_ID_LEN + 1], b[UPLOAD_ID_LEN + 1];
    assert_int_equal(upload_start(fx->m, REPO, a), 0);
    assert_int_equal(upload_start(fx->m, REPO, b), 0);
    assert_true(paths_upload_id_valid(a, strlen(a)));
    assert_int_equal(a[14], '4'); /* version 4 */
    assert_non_null(strchr("89ab", a[19]));
    assert_string_not_equal(a, b);
    assert_int_equal(status(fx, a), 0);
    assert_int_equal(meta_upload_exists(fx->db, a), 1);
}

static void test_chunked(void **state)
{
    struct fixture *fx = *state;
    char id[UPLOAD_ID_LEN + 1];
    const char *c1 = "first chunk ", *c2 = "second chunk ", *c3 = "third";
    const char *all = "first chunk second chunk third";
    struct digest d;
    struct upload *u;
    digest_of(&d, DIGEST_SHA256, all, strlen(all));

    assert_int_equal(upload_start(fx->m, REPO, id), 0);
    write_chunk(fx, id, 0, c1);
    assert_int_equal(status(fx, id), (int64_t)strlen(c1));
    write_chunk(fx, id, (int64_t)strlen(c1), c2);
    assert_int_equal(status(fx, id), (int64_t)(strlen(c1) + strlen(c2)));
    assert_not_published(fx, &d);

    assert_int_equal(upload_open(fx->m, REPO, id, -1, &u, NULL), 0);
    assert_string_equal(upload_id(u), id);
    assert_int_equal(upload_write(u, c3, strlen(c3)), 0);
    assert_int_equal(upload_offset(u), (int64_t)strlen(all));
    assert_int_equal(upload_finish(u, &d, (int64_t)strlen(all)), 0);
    assert_published(fx, &d, all);
    assert_session_gone(fx, id);
}

static void test_empty_blob(void **state)
{
    struct fixture *fx = *state;
    char id[UPLOAD_ID_LEN + 1];
    struct digest d;
    struct upload *u;
    digest_of(&d, DIGEST_SHA256, "", 0);
    assert_int_equal(upload_start(fx->m, REPO, id), 0);
    assert_int_equal(upload_open(fx->m, REPO, id, 0, &u, NULL), 0);
    assert_int_equal(upload_finish(u, &d, 0), 0);
    assert_published(fx, &d, "");
}

static void test_wrong_digest(void **state)
{
    struct fixture *fx = *state;
    char id[UPLOAD_ID_LEN + 1];
    struct digest right, wrong;
    struct upload *u;
    const char *data = "some content";
    digest_of(&right, DIGEST_SHA256, data, strlen(data));
    digest_of(&wrong, DIGEST_SHA256, "other content", 13);
    assert_int_equal(upload_start(fx->m, REPO, id), 0);
    write_chunk(fx, id, 0, data);
    assert_int_equal(upload_open(fx->m, REPO, id, -1, &u, NULL), 0);
    assert_int_equal(upload_finish(u, &wrong, -1), BERR_DIGEST_INVALID);
    assert_not_published(fx, &wrong);
    assert_not_published(fx, &right);
    assert_session_gone(fx, id);
    assert_int_equal(staged_count(fx), 0);
}

static void test_wrong_size(void **state)
{
    struct fixture *fx = *state;
    char id[UPLOAD_ID_LEN + 1];
    struct digest d;
    struct upload *u;
    const char *data = "sized";
    digest_of(&d, DIGEST_SHA256, data, strlen(data));
    assert_int_equal(upload_start(fx->m, REPO, id), 0);
    assert_int_equal(upload_open(fx->m, REPO, id, 0, &u, NULL), 0);
    assert_int_equal(upload_write(u, data, strlen(data)), 0);
    assert_int_equal(upload_finish(u, &d, 4), BERR_SIZE_INVALID);
    assert_not_published(fx, &d);
    assert_session_gone(fx, id);
}

static void test_range(void **state)
{
    struct fixture *fx = *state;
    char id[UPLOAD_ID_LEN + 1];
    struct upload *u = (struct upload *)1;
    int64_t off = -1;
    assert_int_equal(upload_start(fx->m, REPO, id), 0);
    assert_int_equal(upload_open(fx->m, REPO, id, 5, &u, &off), BERR_RANGE);
    assert_null(u);
    assert_int_equal(off, 0);
    write_chunk(fx, id, 0, "0123456789");
    off = -1;
    assert_int_equal(upload_open(fx->m, REPO, id, 3, &u, &off), BERR_RANGE);
    assert_int_equal(off, 10);
    assert_int_equal(upload_open(fx->m, REPO, id, 11, &u, &off), BERR_RANGE);
    /* A refused open did not keep the session busy. */
    assert_int_equal(upload_open(fx->m, REPO, id, 10, &u, &off), 0);
    assert_int_equal(off, 10);
    upload_abandon(u);
    assert_session_gone(fx, id);
}

static void test_busy(void **state)
{
    struct fixture *fx = *state;
    char id[UPLOAD_ID_LEN + 1];
    struct upload *u, *u2 = (struct upload *)1;
    upload_mgr_set_busy_wait(fx->m, 20);
    assert_int_equal(upload_start(fx->m, REPO, id), 0);
    assert_int_equal(upload_open(fx->m, REPO, id, 0, &u, NULL), 0);
    assert_int_equal(upload_open(fx->m, REPO, id, 0, &u2, NULL), BERR_BUSY);
    assert_null(u2);
    assert_int_equal(upload_open(fx->m, REPO, id, -1, &u2, NULL), BERR_BUSY);
    assert_int_equal(upload_cancel(fx->m, REPO, id), BERR_BUSY);
    assert_int_equal(upload_write(u, "abc", 3), 0);
    assert_int_equal(status(fx, id), 3); /* status needs no ownership */
    assert_int_equal(upload_close(u), 0);
    assert_int_equal(upload_open(fx->m, REPO, id, 3, &u2, NULL), 0);
    assert_int_equal(upload_close(u2), 0);
    assert_int_equal(upload_cancel(fx->m, REPO, id), 0);
    assert_session_gone(fx, id);
    assert_int_equal(upload_cancel(fx->m, REPO, id), BERR_UPLOAD_UNKNOWN);
}

struct releaser {
    struct upload *u;
    int delay_ms;
};

static void *release_later(void *p)
{
    struct releaser *r = p;
    usleep((useconds_t)r->delay_ms * 1000);
    upload_write(r->u, "later", 5);
    upload_close(r->u);
    return NULL;
}

/* A second request for a session in use waits for the first to finish
 * (a client retrying after a dropped connection) and sees its bytes. */
static void test_busy_waits_for_release(void **state)
{
    struct fixture *fx = *state;
    char id[UPLOAD_ID_LEN + 1];
    struct upload *u, *u2;
    int64_t off = -1;
    assert_int_equal(upload_start(fx->m, REPO, id), 0);
    assert_int_equal(upload_open(fx->m, REPO, id, 0, &u, NULL), 0);
    struct releaser r = {u, 150};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, release_later, &r), 0);
    assert_int_equal(upload_status(fx->m, REPO, id, &off), 0);
    assert_int_equal(off, 5); /* waited for the writer, saw its bytes */
    assert_int_equal(upload_open(fx->m, REPO, id, 5, &u2, NULL), 0);
    assert_int_equal(upload_close(u2), 0);
    pthread_join(t, NULL);
    assert_int_equal(upload_cancel(fx->m, REPO, id), 0);
}

static void test_unknown(void **state)
{
    struct fixture *fx = *state;
    char id[UPLOAD_ID_LEN + 1];
    struct upload *u;
    int64_t off;
    assert_int_equal(upload_start(fx->m, REPO, id), 0);
    /* The session belongs to REPO only. */
    assert_int_equal(upload_open(fx->m, "other/repo", id, -1, &u, NULL), BERR_UPLOAD_UNKNOWN);
    assert_int_equal(upload_status(fx->m, "other/repo", id, &off), BERR_UPLOAD_UNKNOWN);
    assert_int_equal(upload_cancel(fx->m, "other/repo", id), BERR_UPLOAD_UNKNOWN);
    static const char *bad[] = {
        "../../../../../../../../../etc/passw", "0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9", "short", "",
        "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", /* valid form, never started */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(upload_open(fx->m, REPO, bad[i], -1, &u, NULL), BERR_UPLOAD_UNKNOWN);
        assert_int_equal(upload_status(fx->m, REPO, bad[i], &off), BERR_UPLOAD_UNKNOWN);
        assert_int_equal(upload_cancel(fx->m, REPO, bad[i]), BERR_UPLOAD_UNKNOWN);
    }
    /* Still usable from its own repository. */
    assert_int_equal(status(fx, id), 0);
}

static void test_restart(void **state)
{
    struct fixture *fx = *state;
    char id[UPLOAD_ID_LEN + 1], id2[UPLOAD_ID_LEN + 1];
    const char *c1 = "bytes before the restart, ", *c2 = "bytes after it";
    const char *all = "bytes before the restart, bytes after it";
    struct digest d, d2;
    struct upload *u;
    int64_t off = -1;
    digest_of(&d, DIGEST_SHA256, all, strlen(all));
    digest_of(&d2, DIGEST_SHA256, c1, strlen(c1));

    assert_int_equal(upload_start(fx->m, REPO, id), 0);
    write_chunk(fx, id, 0, c1);
    assert_int_equal(upload_start(fx->m, REPO, id2), 0);
    write_chunk(fx, id2, 0, c1);

    /* Restart: the in-memory state is gone, the store and rows remain. */
    fixture_close(fx);
    fixture_open(fx, NULL);

    assert_int_equal(status(fx, id), (int64_t)strlen(c1));
    assert_int_equal(upload_open(fx->m, REPO, id, 0, &u, &off), BERR_RANGE);
    assert_int_equal(off, (int64_t)strlen(c1));
    assert_int_equal(upload_open(fx->m, REPO, id, (int64_t)strlen(c1), &u, &off), 0);
    assert_int_equal(upload_write(u, c2, strlen(c2)), 0);
    assert_int_equal(upload_close(u), 0);
    assert_int_equal(status(fx, id), (int64_t)strlen(all));
    assert_int_equal(upload_open(fx->m, REPO, id, -1, &u, NULL), 0);
    assert_int_equal(upload_finish(u, &d, (int64_t)strlen(all)), 0);
    assert_published(fx, &d, all);
    assert_session_gone(fx, id);

    /* Finish right after a restart, without another chunk. */
    assert_int_equal(upload_open(fx->m, REPO, id2, -1, &u, NULL), 0);
    assert_int_equal(upload_finish(u, &d2, -1), 0);
    assert_published(fx, &d2, c1);
}

static void test_sha512(void **state)
{
    struct fixture *fx = *state;
    char id[UPLOAD_ID_LEN + 1];
    const char *data = "hashed with sha512 at the end";
    struct digest d, d256, wrong;
    struct upload *u;
    digest_of(&d, DIGEST_SHA512, data, strlen(data));
    digest_of(&d256, DIGEST_SHA256, data, strlen(data));
    digest_of(&wrong, DIGEST_SHA512, "x", 1);

    assert_int_equal(upload_start(fx->m, REPO, id), 0);
    write_chunk(fx, id, 0, "hashed with ");
    write_chunk(fx, id, -1, "sha512 at the end");
    assert_int_equal(upload_open(fx->m, REPO, id, -1, &u, NULL), 0);
    assert_int_equal(upload_finish(u, &wrong, -1), BERR_DIGEST_INVALID);
    assert_not_published(fx, &d);
    assert_not_published(fx, &wrong);

    assert_int_equal(upload_start(fx->m, REPO, id), 0);
    write_chunk(fx, id, 0, "hashed with ");
    write_chunk(fx, id, -1, "sha512 at the end");
    assert_int_equal(upload_open(fx->m, REPO, id, -1, &u, NULL), 0);
    assert_int_equal(upload_finish(u, &d, (int64_t)strlen(data)), 0);
    assert_published(fx, &d, data);
    assert_not_published(fx, &d256);
}

/* Monolithic uploads stage an unnamed file (O_TMPFILE): nothing under
 * uploads/ while they run, nothing left behind. `named`: the fallback where
 * O_TMPFILE is unavailable, a uniquely named file removed at the end. */
static void run_ephemeral(struct fixture *fx, int named)
{
    const char *data = "monolithic upload";
    struct digest d, d5, wrong;
    struct upload *u;
    digest_of(&d, DIGEST_SHA256, data, strlen(data));
    digest_of(&d5, DIGEST_SHA512, data, strlen(data));
    digest_of(&wrong, DIGEST_SHA256, "nope", 4);

    if (named)
        driver_fs_no_tmpfile(fx->drv);
    assert_int_equal(upload_open_ephemeral(fx->m, REPO, DIGEST_SHA256, &u), 0);
    assert_string_equal(upload_id(u), "");
    assert_int_equal(staged_count(fx), named);
    assert_int_equal(upload_write(u, data, 10), 0);
    assert_int_equal(upload_write(u, data + 10, strlen(data) - 10), 0);
    assert_int_equal(upload_finish(u, &d, (int64_t)strlen(data)), 0);
    assert_published(fx, &d, data);
    assert_int_equal(staged_count(fx), 0);

    assert_int_equal(upload_open_ephemeral(fx->m, REPO, DIGEST_SHA512, &u), 0);
    assert_int_equal(upload_write(u, data, strlen(data)), 0);
    assert_int_equal(upload_finish(u, &d5, -1), 0);
    assert_published(fx, &d5, data);

    assert_int_equal(upload_open_ephemeral(fx->m, REPO, DIGEST_SHA256, &u), 0);
    assert_int_equal(upload_write(u, data, strlen(data)), 0);
    assert_int_equal(upload_finish(u, &wrong, -1), BERR_DIGEST_INVALID);
    assert_not_published(fx, &wrong);
    assert_int_equal(staged_count(fx), 0);

    /* Closing an ephemeral session discards it. */
    assert_int_equal(upload_open_ephemeral(fx->m, REPO, DIGEST_SHA256, &u), 0);
    assert_int_equal(upload_write(u, data, strlen(data)), 0);
    assert_int_equal(upload_close(u), 0);
    assert_int_equal(staged_count(fx), 0);

    /* The digest is known now: a second upload takes the sealed path. */
    assert_int_equal(upload_open_ephemeral(fx->m, REPO, DIGEST_SHA256, &u), 0);
    assert_int_equal(staged_count(fx), named);
    assert_int_equal(upload_write(u, data, strlen(data)), 0);
    assert_int_equal(upload_finish(u, &d, (int64_t)strlen(data)), 0);
    assert_published(fx, &d, data);
    assert_int_equal(staged_count(fx), 0);
}

static void test_ephemeral(void **state)
{
    run_ephemeral(*state, 0);
}

static void test_ephemeral_named_fallback(void **state)
{
    run_ephemeral(*state, 1);
}

static void test_identical_concurrent(void **state)
{
    struct fixture *fx = *state;
    char a[UPLOAD_ID_LEN + 1], b[UPLOAD_ID_LEN + 1];
    const char *data = "the same layer";
    struct digest d;
    struct upload *ua, *ub;
    digest_of(&d, DIGEST_SHA256, data, strlen(data));
    assert_int_equal(upload_start(fx->m, REPO, a), 0);
    assert_int_equal(upload_start(fx->m, REPO, b), 0);
    assert_int_equal(upload_open(fx->m, REPO, a, 0, &ua, NULL), 0);
    assert_int_equal(upload_open(fx->m, REPO, b, 0, &ub, NULL), 0);
    assert_int_equal(upload_write(ua, data, strlen(data)), 0);
    assert_int_equal(upload_write(ub, data, strlen(data)), 0);
    assert_int_equal(upload_finish(ua, &d, -1), 0);
    assert_int_equal(upload_finish(ub, &d, -1), 0);
    assert_published(fx, &d, data);
    assert_int_equal(staged_count(fx), 0);
}

struct race {
    struct fixture *fx;
    const char *id;
    pthread_barrier_t *go;
    int rc;
    struct upload *u;
};

static void *race_open(void *p)
{
    struct race *r = p;
    pthread_barrier_wait(r->go);
    r->rc = upload_open(r->fx->m, REPO, r->id, -1, &r->u, NULL);
    metadb_thread_done(r->fx->db);
    return NULL;
}

static void test_one_writer(void **state)
{
    struct fixture *fx = *state;
    char id[UPLOAD_ID_LEN + 1];
    enum { N = 8 };
    pthread_t t[N];
    struct race r[N];
    pthread_barrier_t go;
    assert_int_equal(upload_start(fx->m, REPO, id), 0);
    for (int round = 0; round < 2; round++) {
        if (round == 1) {
            /* Second round after a restart: the table entry is created by the race. */
            fixture_close(fx);
            fixture_open(fx, NULL);
        }
        upload_mgr_set_busy_wait(fx->m, 50); /* the winner holds on: losers give up */
        pthread_barrier_init(&go, NULL, N);
        for (int i = 0; i < N; i++) {
            r[i] = (struct race){fx, id, &go, 1, NULL};
            assert_int_equal(pthread_create(&t[i], NULL, race_open, &r[i]), 0);
        }
        int won = 0;
        for (int i = 0; i < N; i++)
            pthread_join(t[i], NULL);
        for (int i = 0; i < N; i++) {
            if (r[i].rc == 0) {
                won++;
                assert_int_equal(upload_write(r[i].u, "x", 1), 0);
                assert_int_equal(upload_close(r[i].u), 0);
            } else {
                assert_int_equal(r[i].rc, BERR_BUSY);
            }
        }
        pthread_barrier_destroy(&go);
        assert_int_equal(won, 1);
    }
    assert_int_equal(status(fx, id), 2);
}

static void test_expire(void **state)
{
    struct fixture *fx = *state;
    char idle[UPLOAD_ID_LEN + 1], busy[UPLOAD_ID_LEN + 1], keep[UPLOAD_ID_LEN + 1];
    struct upload *u;
    int64_t now = (int64_t)time(NULL);
    assert_int_equal(upload_start(fx->m, REPO, idle), 0);
    write_chunk(fx, idle, 0, "idle bytes");
    assert_int_equal(upload_start(fx->m, REPO, busy), 0);
    write_chunk(fx, busy, 0, "busy bytes");
    assert_int_equal(upload_start(fx->m, REPO, keep), 0);

    /* An orphaned staged file (no row) and a stray file in uploads/. */
    const char *orphan = "uploads/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
    struct driver_writer *w;
    assert_int_equal(driver_writer_open(fx->drv, orphan, 0, &w), 0);
    assert_int_equal(driver_writer_append(w, "orphan", 6), 0);
    assert_int_equal(driver_writer_close(w), 0);
    assert_int_equal(driver_writer_open(fx->drv, "uploads/junk", 0, &w), 0);
    assert_int_equal(driver_writer_close(w), 0);

    /* Nothing is older than an hour ago. */
    assert_int_equal(upload_expire(fx->m, now - 3600), 0);
    assert_int_equal(staged_count(fx), 4);

    /* A session in use is never expired. */
    assert_int_equal(upload_open(fx->m, REPO, busy, -1, &u, NULL), 0);
    /* Everything else is idle relative to `now + 10`: idle, keep, orphan, junk. */
    assert_int_equal(upload_expire(fx->m, now + 10), 4);
    assert_session_gone(fx, idle);
    int64_t off;
    assert_int_equal(upload_status(fx->m, REPO, keep, &off), BERR_UPLOAD_UNKNOWN);
    struct driver_stat st;
    assert_int_equal(driver_stat(fx->drv, orphan, &st), BERR_NOT_FOUND);
    assert_int_equal(driver_stat(fx->drv, "uploads/junk", &st), BERR_NOT_FOUND);
    assert_int_equal(upload_write(u, " more", 5), 0);
    assert_int_equal(upload_close(u), 0);
    assert_int_equal(status(fx, busy), 15);

    /* After a restart (no in-memory activity), the idle row is expired too. */
    fixture_close(fx);
    fixture_open(fx, NULL);
    assert_int_equal(upload_expire(fx->m, now + 3600), 1);
    assert_session_gone(fx, busy);
    assert_int_equal(staged_count(fx), 0);
}

static void test_write_failure_rebuild(void **state)
{
    (void)state;
    /* mem driver wrapped by faulty: its 3rd op (the 2nd append) fails. */
    struct fixture *fx = fixture_new();
    struct driver *inner, *f;
    char id[UPLOAD_ID_LEN + 1];
    struct upload *u;
    struct digest d;
    const char *all = "chunk one|chunk two";
    digest_of(&d, DIGEST_SHA256, all, strlen(all));
    assert_int_equal(driver_mem_new(&inner), 0);
    assert_int_equal(driver_faulty_new(&f, inner, 3, 0), 0);
    fixture_open(fx, f);
    assert_int_equal(upload_start(fx->m, REPO, id), 0);
    assert_int_equal(upload_open(fx->m, REPO, id, 0, &u, NULL), 0); /* op 1: writer_open */
    assert_int_equal(upload_write(u, "chunk one|", 10), 0);         /* op 2 */
    assert_int_equal(upload_write(u, "chunk two", 9), BERR_IO);     /* op 3: fails */
    assert_int_equal(upload_write(u, "chunk two", 9), BERR_IO);     /* refused after */
    assert_int_equal(upload_finish(u, &d, -1), BERR_IO);            /* keeps the session */
    assert_int_equal(status(fx, id), 10);
    /* The hash is rebuilt from the staged bytes; the upload resumes. */
    assert_int_equal(upload_open(fx->m, REPO, id, 10, &u, NULL), 0);
    assert_int_equal(upload_write(u, "chunk two", 9), 0);
    assert_int_equal(upload_finish(u, &d, -1), 0);
    assert_published(fx, &d, all);
    fixture_free(fx);
}

/* Run start/write/write/finish with the Nth driver op failing. */
static int finish_with_fault(int n, int *ops_out)
{
    struct fixture *fx = fixture_new();
    struct driver *inner, *f;
    char id[UPLOAD_ID_LEN + 1];
    struct upload *u;
    struct digest d;
    const char *all = "faulty storage underneath";
    int rc;
    digest_of(&d, DIGEST_SHA256, all, strlen(all));
    char *root = xasprintf("%s/data", fx->dir);
    assert_int_equal(driver_fs_new(&inner, root), 0);
    free(root);
    assert_int_equal(driver_faulty_new(&f, inner, n, 1), 0);
    fixture_open(fx, f);
    assert_int_equal(upload_start(fx->m, REPO, id), 0);
    rc = upload_open(fx->m, REPO, id, 0, &u, NULL);
    if (rc == 0) {
        rc = upload_write(u, "faulty storage ", 15);
        if (rc == 0)
            rc = upload_write(u, "underneath", 10);
        if (rc == 0)
            rc = upload_finish(u, &d, -1);
        else
            upload_abandon(u);
    }
    if (rc != 0)
        assert_int_equal(rc, BERR_IO);
    *ops_out = driver_faulty_count(f);
    /* Crash order: a blob row only ever exists with the blob's complete bytes. */
    int64_t size = -1;
    int linked = meta_blob_get(fx->db, REPO, &d, &size) == 0;
    struct driver_stat st;
    char key[PATHS_KEY_MAX];
    assert_int_equal(paths_blob(key, &d), 0);
    int stored = driver_stat(inner, key, &st) == 0;
    if (linked) {
        assert_true(stored);
        assert_int_equal(st.size, (int64_t)strlen(all));
    }
    if (rc == 0)
        assert_true(linked);
    if (stored)
        assert_int_equal(st.size, (int64_t)strlen(all));
    fixture_free(fx);
    return rc;
}

static void test_finish_faults(void **state)
{
    (void)state;
    int ops;
    assert_int_equal(finish_with_fault(0, &ops), 0);
    assert_true(ops >= 5); /* open, append, append, stat, commit */
    int failures = 0;
    for (int n = 1; n <= ops; n++) {
        int seen;
        if (finish_with_fault(n, &seen) != 0)
            failures++;
    }
    assert_int_equal(failures, ops);
}

struct finisher {
    struct fixture *fx;
    const char *data;
    int rc;
    int done;
    pthread_mutex_t mu;
};

static void *finish_main(void *p)
{
    struct finisher *f = p;
    struct upload *u;
    struct digest d;
    digest_of(&d, DIGEST_SHA256, f->data, strlen(f->data));
    f->rc = upload_open_ephemeral(f->fx->m, REPO, DIGEST_SHA256, &u);
    if (f->rc == 0) {
        f->rc = upload_write(u, f->data, strlen(f->data));
        if (f->rc == 0)
            f->rc = upload_finish(u, &d, (int64_t)strlen(f->data));
        else
            upload_abandon(u);
    }
    metadb_thread_done(f->fx->db);
    pthread_mutex_lock(&f->mu);
    f->done = 1;
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

static int finisher_done(struct finisher *f)
{
    pthread_mutex_lock(&f->mu);
    int d = f->done;
    pthread_mutex_unlock(&f->mu);
    return d;
}

static int sealed_cb(void *ctx, const char *key, const struct driver_stat *st)
{
    (void)st;
    size_t n = strlen(key);
    if (n > 7 && strcmp(key + n - 7, ".sealed") == 0)
        (*(int *)ctx)++;
    return 0;
}

static int sealed_count(struct fixture *fx)
{
    int n = 0;
    assert_int_equal(driver_walk(fx->drv, "uploads/", sealed_cb, &n), 0);
    return n;
}

/* A finish waits for the write lock; under it, the collector's deletion of
 * the same digest (row gone, file moved aside) is seen, and the new bytes
 * are put in place. */
static void test_publish_under_lock(void **state)
{
    struct fixture *fx = *state;
    const char *data = "published while the lock is held";
    struct digest d;
    digest_of(&d, DIGEST_SHA256, data, strlen(data));
    /* The blob exists, linked nowhere: garbage for the collector. */
    struct upload *u;
    assert_int_equal(upload_open_ephemeral(fx->m, REPO, DIGEST_SHA256, &u), 0);
    assert_int_equal(upload_write(u, data, strlen(data)), 0);
    assert_int_equal(upload_finish(u, &d, -1), 0);
    assert_int_equal(meta_blob_unlink(fx->db, REPO, &d), 0);

    /* Play the collector: take the lock, delete the row, move the file. */
    struct meta_tx *tx;
    struct meta_gc_policy pol = {(int64_t)time(NULL) + 10, 0};
    char trash[PATHS_KEY_MAX];
    assert_int_equal(meta_tx_begin(fx->db, &tx), 0);
    assert_int_equal(meta_gc_blob_collect(tx, d.str, &pol), 1);

    /* The same digest is uploaded again meanwhile. */
    struct finisher f = {.fx = fx, .data = data, .rc = 1};
    pthread_mutex_init(&f.mu, NULL);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, finish_main, &f), 0);
    for (int i = 0; i < 100 && sealed_count(fx) == 0; i++)
        usleep(10 * 1000);
    usleep(100 * 1000);
    /* It sealed its bytes and now waits for the lock. */
    assert_false(finisher_done(&f));
    assert_int_equal(sealed_count(fx), 1);

    assert_int_equal(blobstore_trash(fx->bs, &d, trash), 0);
    assert_int_equal(meta_tx_commit(tx), 0);
    assert_int_equal(blobstore_purge(fx->bs, trash), 0);

    pthread_join(t, NULL);
    pthread_mutex_destroy(&f.mu);
    assert_int_equal(f.rc, 0);
    assert_published(fx, &d, data);
    assert_int_equal(staged_count(fx), 0);
}

/* A driver whose next stat of a blob key first removes the blob: plays a
 * collector (orphan sweep) that takes a fresh digest's file after the publish
 * put it in place outside the lock and before its transaction checked it. */
static struct driver_ops vanish_ops;
static const struct driver_ops *vanish_inner;
static int vanish_armed;

static int vanish_stat(struct driver *d, const char *key, struct driver_stat *out)
{
    if (vanish_armed && strncmp(key, "blobs/", 6) == 0) {
        vanish_armed = 0;
        assert_int_equal(vanish_inner->remove(d, key), 0);
    }
    return vanish_inner->stat(d, key, out);
}

static int finish_once(struct fixture *fx, const char *data, const struct digest *d)
{
    struct upload *u;
    assert_int_equal(upload_open_ephemeral(fx->m, REPO, DIGEST_SHA256, &u), 0);
    assert_int_equal(upload_write(u, data, strlen(data)), 0);
    return upload_finish(u, d, (int64_t)strlen(data));
}

/* A digest with no row is put in place before the transaction and checked
 * inside it: no sealed file, and when the file is gone by then the publish
 * fails cleanly (no row without its bytes) and a retry succeeds. */
static void test_fresh_publish_checks_file(void **state)
{
    struct fixture *fx = *state;
    const char *data = "fresh digest, placed outside the lock";
    struct digest d;
    digest_of(&d, DIGEST_SHA256, data, strlen(data));
    vanish_inner = fx->drv->ops;
    vanish_ops = *vanish_inner;
    vanish_ops.stat = vanish_stat;
    fx->drv->ops = &vanish_ops;

    vanish_armed = 1;
    assert_int_equal(finish_once(fx, data, &d), BERR_IO);
    assert_int_equal(vanish_armed, 0);
    assert_int_equal(meta_blob_row(fx->db, d.str, NULL), 0);
    assert_not_published(fx, &d);
    assert_int_equal(sealed_count(fx), 0);
    assert_int_equal(staged_count(fx), 0);

    assert_int_equal(finish_once(fx, data, &d), 0);
    assert_published(fx, &d, data);
    assert_int_equal(sealed_count(fx), 0);
    fx->drv->ops = vanish_inner;
}

/* A failed publish leaves no sealed file behind; a sealed leftover of a
 * dead process is expired with its session. */
static void test_sealed_leftovers(void **state)
{
    struct fixture *fx = *state;
    int64_t now = (int64_t)time(NULL);
    char id[UPLOAD_ID_LEN + 1], key[PATHS_KEY_MAX];
    struct driver_writer *w;
    assert_int_equal(upload_start(fx->m, REPO, id), 0);
    write_chunk(fx, id, 0, "live");
    assert_int_equal(paths_upload_sealed(key, id), 0);
    assert_int_equal(driver_writer_open(fx->drv, key, 0, &w), 0);
    assert_int_equal(driver_writer_close(w), 0);
    const char *dead = "uploads/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9.sealed";
    assert_int_equal(driver_writer_open(fx->drv, dead, 0, &w), 0);
    assert_int_equal(driver_writer_close(w), 0);
    /* The live session's sealed file stays with it; the dead one goes. */
    fixture_close(fx);
    fixture_open(fx, NULL);
    assert_int_equal(meta_upload_touch(fx->db, id, now + 100), 0);
    assert_int_equal(upload_expire(fx->m, now + 10), 1);
    struct driver_stat st;
    assert_int_equal(driver_stat(fx->drv, dead, &st), BERR_NOT_FOUND);
    assert_int_equal(driver_stat(fx->drv, key, &st), 0);
    assert_int_equal(sealed_count(fx), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_start_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_blob, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_waits_for_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sha512, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ephemeral, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ephemeral_named_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identical_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_under_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sealed_leftovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fresh_publish_checks_file, setup, teardown),
        cmocka_unit_test(test_write_failure_rebuild),
        cmocka_unit_test(test_finish_faults),
    };
    log_set_level(LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
