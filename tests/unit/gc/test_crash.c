/*
 * test_crash.c - a collection interrupted anywhere leaves a store the next
 * run completes, and never a blob row whose file is gone for good.
 *
 * Two ways to interrupt:
 *  - driver_faulty fails the Nth storage operation of a run (once, or that
 *    one and every later one), for every N the run performs;
 *  - a child process runs the collection and dies (_exit, no cleanup) at the
 *    k-th occurrence of a hook point: a row deleted but its file not moved,
 *    the file moved but not committed, a transaction committed but its trash
 *    not purged.
 * After the interruption every blob row has its file under blobs/ or in
 * trash/ (put back by recovery); after the next run every row has its file
 * under blobs/, trash/ is empty, every kept blob is intact and every garbage
 * blob is gone.
 */
#include "gc_fixture.h"

#include <sys/wait.h>

#define N_KEPT    3
#define N_GARBAGE 8

static const char *const kept_data[N_KEPT] = {"kept config", "kept layer a", "kept layer b"};

/* A tagged image (kept) and garbage: untagged manifests, unreferenced blobs. */
static void scenario(struct fx *fx)
{
    struct digest k[N_KEPT];
    char data[64];
    for (int i = 0; i < N_KEPT; i++)
        k[i] = fx_blob(fx, "crash", kept_data[i]);
    fx_manifest(fx, "crash", "latest", k, N_KEPT, NULL, 0, NULL);
    for (int i = 0; i < N_GARBAGE; i++) {
        snprintf(data, sizeof(data), "garbage %d", i);
        struct digest g = fx_blob(fx, "crash", data);
        if (i % 3 == 0) {
            struct digest b[] = {g, k[0]};
            fx_manifest(fx, "crash", NULL, b, 2, NULL, 0, NULL);
        }
    }
}

static struct gc_options crash_opts(void)
{
    struct gc_options o = fx_opts();
    o.delete_untagged = 1;
    o.batch = 2;
    o.now += 60;
    return o;
}

struct find_trash {
    const struct digest *d;
    int found;
};

static int find_trash_cb(void *ctx, const char *key, const struct digest *d,
                         const struct driver_stat *st)
{
    struct find_trash *ft = ctx;
    (void)key;
    (void)st;
    if (d != NULL && digest_equal(d, ft->d))
        ft->found = 1;
    return 0;
}

/* Every row's bytes exist, under blobs/ or (to be put back) in trash/. */
static void assert_no_row_lost(struct fx *fx)
{
    struct meta_blob_row rows[64];
    char after[DIGEST_MAX_STR] = "";
    size_t n;
    for (;;) {
        assert_int_equal(meta_blob_rows(fx->db, after, 64, rows, &n), 0);
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            struct digest d;
            int64_t size;
            assert_int_equal(digest_parse_cstr(&d, rows[i].digest), 0);
            if (blobstore_stat(fx->bs, &d, &size) == 0)
                continue;
            struct find_trash ft = {&d, 0};
            assert_int_equal(blobstore_walk_trash(fx->bs, find_trash_cb, &ft), 0);
            if (!ft.found)
                fail_msg("row %s has no file anywhere", d.str);
        }
        snprintf(after, sizeof(after), "%s", rows[n - 1].digest);
    }
}

/* The state a complete collection leaves. */
static void assert_complete(struct fx *fx)
{
    assert_int_equal(fx_rows_without_file(fx), 0);
    assert_int_equal(fx_trash_count(fx), 0);
    for (int i = 0; i < N_KEPT; i++) {
        struct digest d;
        digest_of(&d, DIGEST_SHA256, kept_data[i], strlen(kept_data[i]));
        assert_true(fx_blob_intact(fx, &d, kept_data[i]));
    }
    assert_int_equal(fx_row_count(fx), N_KEPT);
    assert_int_equal(fx_file_count(fx), N_KEPT);
}

/* The next run, on a healthy store. */
static void next_run_completes(struct fx *fx)
{
    struct gc_options o = crash_opts();
    struct gc_report r = fx_gc(fx, &o);
    gc_report_release(&r);
    assert_complete(fx);
}

/* ---- faulty storage ------------------------------------------------------------ */

/* Run a collection whose Nth storage operation fails; returns the run's code
 * and the number of operations it performed. */
static int faulty_run(int fail_at, int sticky, int *ops)
{
    struct fx *fx = fx_new();
    scenario(fx);
    fx_close(fx);
    struct driver *inner, *f;
    assert_int_equal(driver_fs_new(&inner, fx->root), 0);
    assert_int_equal(driver_faulty_new(&f, inner, fail_at, sticky), 0);
    fx_open(fx, f);
    struct gc_options o = crash_opts();
    struct gc_report r;
    int rc = gc_run(&r, &fx->st, &o);
    gc_report_release(&r);
    *ops = driver_faulty_count(f);
    if (rc != 0)
        assert_int_equal(rc, BERR_IO);
    fx_close(fx);
    fx_open(fx, NULL);
    assert_no_row_lost(fx);
    next_run_completes(fx);
    fx_free(fx);
    return rc;
}

static void test_faulty_every_operation(void **state)
{
    (void)state;
    int ops, seen;
    assert_int_equal(faulty_run(0, 0, &ops), 0);
    assert_true(ops > 2 * N_GARBAGE); /* walks, moves, removes */
    int failed = 0;
    for (int sticky = 0; sticky <= 1; sticky++) {
        for (int n = 1; n <= ops; n++) {
            if (faulty_run(n, sticky, &seen) != 0)
                failed++;
        }
    }
    assert_true(failed > 0);
}

/* ---- process death at hook points ------------------------------------------------ */

struct die_at {
    enum gc_point point;
    int k, seen;
};

static void die_hook(void *ctx, enum gc_point point, const struct digest *d)
{
    struct die_at *da = ctx;
    (void)d;
    if (point == da->point && ++da->seen == da->k)
        _exit(42); /* no cleanup, no rollback, no unlink: a crash */
}

/* Fork a collection that dies at the k-th `point`; 1 when it died there,
 * 0 when it ran to the end (no k-th occurrence). */
static int crash_once(enum gc_point point, int k)
{
    struct fx *fx = fx_new();
    scenario(fx);
    fx_close(fx);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fx_open(fx, NULL);
        struct die_at da = {point, k, 0};
        struct gc_options o = crash_opts();
        o.hook = die_hook;
        o.hook_ctx = &da;
        struct gc_report r;
        int rc = gc_run(&r, &fx->st, &o);
        _exit(rc == 0 ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    int died = WEXITSTATUS(status) == 42;
    if (!died)
        assert_int_equal(WEXITSTATUS(status), 0);
    fx_open(fx, NULL);
    assert_no_row_lost(fx);
    if (died) {
        /* Start-up recovery alone restores every row's file. */
        struct gc_report r = {0};
        assert_int_equal(gc_recover(&r, &fx->st, 100), 0);
        assert_int_equal(fx_rows_without_file(fx), 0);
        assert_int_equal(fx_trash_count(fx), 0);
    }
    next_run_completes(fx);
    fx_free(fx);
    return died;
}

static void crash_all(enum gc_point point, int min_points)
{
    int k = 1;
    while (crash_once(point, k))
        k++;
    assert_true(k - 1 >= min_points);
}

static void test_crash_after_row_delete(void **state)
{
    (void)state;
    crash_all(GC_POINT_BLOB_DELETED, N_GARBAGE);
}

static void test_crash_after_trash_move(void **state)
{
    (void)state;
    crash_all(GC_POINT_BLOB_TRASHED, N_GARBAGE);
}

static void test_crash_after_commit(void **state)
{
    (void)state;
    crash_all(GC_POINT_COMMITTED, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_faulty_every_operation),
        cmocka_unit_test(test_crash_after_row_delete),
        cmocka_unit_test(test_crash_after_trash_move),
        cmocka_unit_test(test_crash_after_commit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
