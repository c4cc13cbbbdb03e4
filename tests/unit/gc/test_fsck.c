/*
 * test_fsck.c - fsck_run finds each kind of inconsistency and repairs only
 * what is provably safe.
 *
 * A clean store has no findings; a missing file, a wrong size, a corrupt
 * content (--deep only), a file in trash/ with a row, a dangling manifest
 * reference are errors; orphan files, trash leftovers and stray names are
 * warnings. Repair puts trashed files back, purges leftovers, removes
 * orphans older than the grace - and never a file whose digest has a row.
 */
#include "gc_fixture.h"

#include <sqlite3.h>

#include "gc/fsck.h"

static struct fsck_options fsck_opts(int deep, int repair)
{
    struct fsck_options o = {.deep = deep, .repair = repair, .grace = 3600, .batch = 4};
    o.now = (int64_t)time(NULL) + 7200;
    return o;
}

static struct fsck_report fsck(struct fx *fx, int deep, int repair)
{
    struct fsck_options o = fsck_opts(deep, repair);
    struct fsck_report r;
    int rc = fsck_run(&r, &fx->st, &o);
    if (rc != 0)
        fail_msg("fsck_run: %s", berr_message());
    return r;
}

/* Overwrite the file of blob d (same key) with `data`. */
static void clobber(struct fx *fx, const struct digest *d, const char *data)
{
    char key[PATHS_KEY_MAX];
    struct driver_writer *w;
    assert_int_equal(paths_blob(key, d), 0);
    assert_int_equal(driver_writer_open(fx->drv, "uploads/clobber", 0, &w), 0);
    assert_int_equal(driver_writer_append(w, data, strlen(data)), 0);
    assert_int_equal(driver_writer_commit(w, key), 0);
}

static void test_clean(void **state)
{
    struct fx *fx = *state;
    struct digest a = fx_blob(fx, "f", "alpha");
    struct digest b[] = {a};
    fx_manifest(fx, "f", "v", b, 1, NULL, 0, NULL);
    fx_blob(fx, "f", "beta");
    struct fsck_report r = fsck(fx, 1, 0);
    assert_int_equal(r.rows, 2);
    assert_int_equal(r.files, 2);
    assert_int_equal(r.hashed_bytes, 9);
    assert_int_equal(fsck_errors(&r), 0);
    assert_int_equal(r.orphans + r.trash_leftovers + r.stray + r.repaired, 0);
}

static void test_missing_size_corrupt(void **state)
{
    struct fx *fx = *state;
    struct digest gone = fx_blob(fx, "f", "this file will vanish");
    struct digest shrunk = fx_blob(fx, "f", "this file will shrink");
    struct digest bad = fx_blob(fx, "f", "this file will rot");
    assert_int_equal(blobstore_remove(fx->bs, &gone), 0);
    clobber(fx, &shrunk, "short");
    clobber(fx, &bad, "THIS FILE WILL ROT");
    struct fsck_report r = fsck(fx, 0, 0);
    assert_int_equal(r.missing, 1);
    assert_int_equal(r.size_mismatch, 1);
    assert_int_equal(r.digest_mismatch, 0); /* not without --deep */
    assert_int_equal(fsck_errors(&r), 2);
    r = fsck(fx, 1, 0);
    assert_int_equal(r.digest_mismatch, 1);
    assert_int_equal(fsck_errors(&r), 3);
    /* Repair never touches a row's file (nor the row). */
    r = fsck(fx, 1, 1);
    assert_int_equal(fsck_errors(&r), 3);
    assert_int_equal(r.repaired, 0);
    assert_int_equal(meta_blob_row(fx->db, gone.str, NULL), 1);
    int64_t size;
    assert_int_equal(blobstore_stat(fx->bs, &bad, &size), 0);
}

/* --deep hashes through the reader's read_at when the driver has no files
 * (the mem driver, as an object store would be). */
static void test_deep_without_fd(void **state)
{
    struct fx *fx = *state;
    struct driver *mem;
    fx_close(fx);
    assert_int_equal(driver_mem_new(&mem), 0);
    fx_open(fx, mem);
    struct digest good = fx_blob(fx, "f", "hashed from memory");
    struct digest bad = fx_blob(fx, "f", "this blob will rot");
    clobber(fx, &bad, "THIS BLOB WILL ROT");
    struct fsck_report r = fsck(fx, 1, 0);
    assert_int_equal(r.rows, 2);
    assert_int_equal(r.hashed_bytes, 36);
    assert_int_equal(r.digest_mismatch, 1);
    assert_int_equal(fsck_errors(&r), 1);
    assert_true(fx_blob_intact(fx, &good, "hashed from memory"));
}

static void test_trash_with_row_repaired(void **state)
{
    struct fx *fx = *state;
    struct digest d = fx_blob(fx, "f", "moved aside by a collection that died");
    char key[PATHS_KEY_MAX], leftover[PATHS_KEY_MAX];
    assert_int_equal(blobstore_trash(fx->bs, &d, key), 0);
    struct digest g;
    digest_of(&g, DIGEST_SHA256, "gone", 4);
    struct driver_writer *w;
    assert_int_equal(driver_writer_open(fx->drv, "uploads/t", 0, &w), 0);
    assert_int_equal(driver_writer_append(w, "gone", 4), 0);
    assert_int_equal(blobstore_commit(fx->bs, w, &g), 0);
    assert_int_equal(blobstore_trash(fx->bs, &g, leftover), 0);

    struct fsck_report r = fsck(fx, 0, 0);
    assert_int_equal(r.in_trash, 1);
    assert_int_equal(r.missing, 0); /* counted once, as in trash */
    assert_int_equal(r.trash_leftovers, 1);
    assert_int_equal(fsck_errors(&r), 1);
    r = fsck(fx, 0, 1);
    assert_int_equal(r.in_trash, 1);
    assert_int_equal(r.repaired, 2);
    assert_int_equal(fsck_errors(&r), 0);
    assert_true(fx_blob_intact(fx, &d, "moved aside by a collection that died"));
    assert_int_equal(fx_trash_count(fx), 0);
    r = fsck(fx, 1, 0);
    assert_int_equal(fsck_errors(&r) + r.trash_leftovers, 0);
}

static void test_orphans_and_strays(void **state)
{
    struct fx *fx = *state;
    struct digest kept = fx_blob(fx, "f", "kept");
    struct digest od;
    digest_of(&od, DIGEST_SHA256, "orphan", 6);
    struct driver_writer *w;
    assert_int_equal(driver_writer_open(fx->drv, "uploads/o", 0, &w), 0);
    assert_int_equal(driver_writer_append(w, "orphan", 6), 0);
    assert_int_equal(blobstore_commit(fx->bs, w, &od), 0);
    assert_int_equal(driver_writer_open(fx->drv, "blobs/sha256/zz/not-a-digest", 0, &w), 0);
    assert_int_equal(driver_writer_close(w), 0);

    struct fsck_report r = fsck(fx, 0, 0);
    assert_int_equal(r.orphans, 1);
    assert_int_equal(r.orphan_bytes, 6);
    assert_int_equal(r.stray, 1);
    assert_int_equal(fsck_errors(&r), 0); /* wasted space, not an error */

    /* Young orphans are reported, not removed. */
    struct fsck_options o = fsck_opts(0, 1);
    o.now = (int64_t)time(NULL);
    assert_int_equal(fsck_run(&r, &fx->st, &o), 0);
    assert_int_equal(r.orphans, 1);
    assert_int_equal(r.repaired, 0);
    /* Old ones go; the stray name and the kept blob stay. */
    r = fsck(fx, 0, 1);
    assert_int_equal(r.repaired, 1);
    int64_t size;
    assert_int_equal(blobstore_stat(fx->bs, &od, &size), BERR_BLOB_UNKNOWN);
    assert_true(fx_blob_intact(fx, &kept, "kept"));
    struct driver_stat st;
    assert_int_equal(driver_stat(fx->drv, "blobs/sha256/zz/not-a-digest", &st), 0);
}

static void test_dangling_reference(void **state)
{
    struct fx *fx = *state;
    struct digest c = fx_blob(fx, "f", "config");
    struct digest b[] = {c};
    struct digest m = fx_manifest(fx, "f", "v", b, 1, NULL, 0, NULL);
    /* Damage the metadata behind the API's back: drop the blob row. */
    sqlite3 *h;
    char *path = xasprintf("%s/metadata.db", fx->dir);
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    char *sql = sqlite3_mprintf("DELETE FROM blobs WHERE digest = %Q", c.str);
    assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_free(sql);
    sqlite3_close(h);
    free(path);

    char *text = NULL;
    size_t len = 0;
    struct fsck_options o = fsck_opts(0, 0);
    o.out = open_memstream(&text, &len);
    struct fsck_report r;
    assert_int_equal(fsck_run(&r, &fx->st, &o), 0);
    fclose(o.out);
    assert_int_equal(r.dangling, 1);
    assert_int_equal(r.orphans, 1); /* the file lost its row */
    assert_int_equal(fsck_errors(&r), 1);
    assert_non_null(strstr(text, "dangling f@"));
    assert_non_null(strstr(text, m.str));
    free(text);
    fsck_report_print(&r, stdout);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_clean, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_missing_size_corrupt, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_deep_without_fd, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_trash_with_row_repaired, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_orphans_and_strays, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_dangling_reference, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
