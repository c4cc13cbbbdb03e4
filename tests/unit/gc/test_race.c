/*
 * test_race.c - the two hazards of DESIGN.md, driven step by step through
 * the collector's hook points.
 *
 * Collector vs. re-upload: a publish of the very digest being collected is
 * started while the collector holds the write lock - after it deleted the
 * row, and again after it moved the file to trash/. The publisher must wait
 * for the lock (it does not finish while the collector is paused), then find
 * the file gone and put its own in place: the blob is intact afterwards. A
 * negative control replays the old, unlocked publish (stat, then record) in
 * the same interleaving and shows it loses the blob - the situation the
 * lock prevents.
 *
 * Manifest PUT vs. collector: a PUT landing between the mark and the sweep
 * keeps the blobs it references (the sweep re-checks under the lock); a PUT
 * waiting on the lock while the collector deletes the blob fails cleanly with
 * MANIFEST_BLOB_UNKNOWN. A tag pushed between mark and sweep keeps an
 * untagged manifest.
 */
#include "gc_fixture.h"

#include <pthread.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/stat.h>

#define PAUSE_US (300 * 1000) /* long enough for a thread to reach the lock */

/* ---- a publisher thread ------------------------------------------------------ */

struct publisher {
    struct fx *fx;
    const char *repo;
    const char *data;
    int unlocked; /* replay the old publish: blobstore_commit, then meta_blob_link */
    int rc;
    atomic_int done;
    pthread_t t;
};

static void *publish_main(void *p)
{
    struct publisher *pub = p;
    struct fx *fx = pub->fx;
    struct digest d;
    digest_of(&d, DIGEST_SHA256, pub->data, strlen(pub->data));
    if (pub->unlocked) {
        struct driver_writer *w;
        pub->rc =
            driver_writer_open(fx->drv, "uploads/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", 0, &w);
        if (pub->rc == 0)
            pub->rc = driver_writer_append(w, pub->data, strlen(pub->data));
        if (pub->rc == 0)
            pub->rc = blobstore_commit(fx->bs, w, &d);
        if (pub->rc == 0)
            pub->rc = meta_blob_link(fx->db, pub->repo, &d, (int64_t)strlen(pub->data));
    } else {
        struct upload *u;
        pub->rc = upload_open_ephemeral(fx->m, pub->repo, DIGEST_SHA256, &u);
        if (pub->rc == 0) {
            pub->rc = upload_write(u, pub->data, strlen(pub->data));
            if (pub->rc == 0)
                pub->rc = upload_finish(u, &d, (int64_t)strlen(pub->data));
            else
                upload_abandon(u);
        }
    }
    metadb_thread_done(fx->db);
    atomic_store(&pub->done, 1);
    return NULL;
}

struct race {
    enum gc_point at;
    struct digest victim;
    struct publisher pub;
    int started;
    int done_during_pause;
};

static void race_hook(void *ctx, enum gc_point point, const struct digest *d)
{
    struct race *r = ctx;
    if (point != r->at || r->started || d == NULL || !digest_equal(d, &r->victim))
        return;
    r->started = 1;
    assert_int_equal(pthread_create(&r->pub.t, NULL, publish_main, &r->pub), 0);
    usleep(PAUSE_US);
    r->done_during_pause = atomic_load(&r->pub.done);
}

/* A garbage blob (uploaded, then unlinked) plus a second one, then a
 * collection during which the victim is published again at `at`. */
static void run_reupload_race(struct fx *fx, enum gc_point at, int unlocked)
{
    const char *data = "layer uploaded twice";
    struct digest d = fx_blob(fx, "race", data);
    fx_blob(fx, "race", "other garbage");
    assert_int_equal(meta_blob_unlink(fx->db, "race", &d), 0);

    struct race r = {.at = at};
    fx_dcopy(&r.victim, &d);
    r.pub = (struct publisher){.fx = fx, .repo = "race", .data = data, .unlocked = unlocked};
    struct gc_options o = fx_opts();
    o.hook = race_hook;
    o.hook_ctx = &r;
    struct gc_report rep = fx_gc(fx, &o);
    gc_report_release(&rep);
    assert_true(r.started);
    pthread_join(r.pub.t, NULL);
    assert_int_equal(r.pub.rc, 0);
    if (unlocked)
        return;
    /* The publisher waited for the collector's lock... */
    assert_false(r.done_during_pause);
    /* ...and the blob it published is there, row, link and bytes. */
    assert_true(fx_linked(fx, "race", &d));
    assert_true(fx_blob_intact(fx, &d, data));
    assert_int_equal(fx_rows_without_file(fx), 0);
    assert_int_equal(fx_trash_count(fx), 0);
    /* A later collection keeps it (linked, within the grace of its new link). */
    o = fx_opts();
    o.grace = 3600;
    o.now = (int64_t)time(NULL);
    o.hook = NULL;
    rep = fx_gc(fx, &o);
    gc_report_release(&rep);
    assert_true(fx_blob_intact(fx, &d, data));
}

static void test_reupload_after_row_deleted(void **state)
{
    run_reupload_race(*state, GC_POINT_BLOB_DELETED, 0);
}

static void test_reupload_after_file_trashed(void **state)
{
    run_reupload_race(*state, GC_POINT_BLOB_TRASHED, 0);
}

/* Negative control: the old publish order (file check outside the lock,
 * row inserted later) loses the blob in the same interleaving. */
static void test_unlocked_publish_loses_blob(void **state)
{
    struct fx *fx = *state;
    const char *data = "layer uploaded twice";
    struct digest d;
    digest_of(&d, DIGEST_SHA256, data, strlen(data));
    run_reupload_race(fx, GC_POINT_BLOB_DELETED, 1);
    assert_true(fx_linked(fx, "race", &d));
    assert_int_equal(meta_blob_row(fx->db, d.str, NULL), 1);
    int64_t size;
    assert_int_equal(blobstore_stat(fx->bs, &d, &size), BERR_BLOB_UNKNOWN);
    assert_int_equal(fx_rows_without_file(fx), 1);
}

/* ---- fresh publish vs. orphan sweep ------------------------------------------ */

static const char ORPHAN_DATA[] = "bytes left by a publish that never committed";

/* At the hook, play the first half of a fresh publish of the orphan's digest:
 * its verified bytes are renamed over the old file (fresh mtime), the row is
 * not committed yet. */
static void orphan_hook(void *ctx, enum gc_point point, const struct digest *d)
{
    struct fx *fx = ctx;
    (void)d;
    if (point != GC_POINT_ORPHANS_FOUND)
        return;
    struct digest od;
    struct driver_writer *w;
    digest_of(&od, DIGEST_SHA256, ORPHAN_DATA, strlen(ORPHAN_DATA));
    assert_int_equal(driver_writer_open(fx->drv, "uploads/fresh", 0, &w), 0);
    assert_int_equal(driver_writer_append(w, ORPHAN_DATA, strlen(ORPHAN_DATA)), 0);
    char key[PATHS_KEY_MAX];
    assert_int_equal(paths_blob(key, &od), 0);
    assert_int_equal(driver_writer_commit(w, key), 0);
}

/* The sweep found an old orphan; before it removes it, a publish puts fresh
 * bytes of the same digest in place. The sweep re-checks the age under the
 * lock and keeps them; the publish then commits its row. */
static void test_orphan_replaced_by_fresh_publish(void **state)
{
    struct fx *fx = *state;
    struct digest od;
    struct driver_writer *w;
    char key[PATHS_KEY_MAX];
    digest_of(&od, DIGEST_SHA256, ORPHAN_DATA, strlen(ORPHAN_DATA));
    assert_int_equal(paths_blob(key, &od), 0);
    assert_int_equal(driver_writer_open(fx->drv, "uploads/old", 0, &w), 0);
    assert_int_equal(driver_writer_append(w, ORPHAN_DATA, strlen(ORPHAN_DATA)), 0);
    assert_int_equal(driver_writer_commit(w, key), 0);
    char *path = xasprintf("%s/%s", fx->root, key);
    int64_t now = (int64_t)time(NULL);
    struct timespec old[2] = {{now - 7200, 0}, {now - 7200, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
    free(path);

    struct gc_options o = fx_opts();
    o.grace = 3600;
    o.now = now;
    o.hook = orphan_hook;
    o.hook_ctx = fx;
    struct gc_report rep = fx_gc(fx, &o);
    assert_int_equal(rep.orphans, 0);
    gc_report_release(&rep);
    assert_int_equal(meta_blob_link(fx->db, "fresh", &od, (int64_t)strlen(ORPHAN_DATA)), 0);
    assert_true(fx_blob_intact(fx, &od, ORPHAN_DATA));
    assert_int_equal(fx_rows_without_file(fx), 0);
}

/* ---- manifest PUT vs. collector ---------------------------------------------- */

struct put_ctx {
    struct fx *fx;
    struct digest blobs[2];
    size_t nb;
    const char *tag;
    struct digest tag_target;
    enum gc_point at;
    int fired;
    int rc;
    struct digest pushed;
};

static void put_hook(void *ctx, enum gc_point point, const struct digest *d)
{
    struct put_ctx *p = ctx;
    (void)d;
    if (point != p->at || p->fired)
        return;
    p->fired = 1;
    if (p->tag != NULL) {
        fx_tag(p->fx, "put", p->tag, &p->tag_target);
        return;
    }
    p->pushed = fx_manifest_rc(p->fx, &p->rc, "put", "latest", p->blobs, p->nb, NULL, 0, NULL);
}

static void test_manifest_put_between_mark_and_sweep(void **state)
{
    struct fx *fx = *state;
    struct digest c = fx_blob(fx, "put", "config pushed first");
    struct digest l = fx_blob(fx, "put", "layer pushed first");
    struct put_ctx p = {.fx = fx, .blobs = {c, l}, .nb = 2, .at = GC_POINT_MARKED};
    struct gc_options o = fx_opts();
    o.hook = put_hook;
    o.hook_ctx = &p;
    /* The mark sees two unreferenced links and blobs... */
    o.dry_run = 1;
    struct gc_report r = fx_gc(fx, &o);
    assert_int_equal(r.links, 2);
    assert_int_equal(r.blobs, 2);
    gc_report_release(&r);
    /* ...the manifest arrives after the mark: the sweep keeps them. */
    o.dry_run = 0;
    r = fx_gc(fx, &o);
    assert_true(p.fired);
    assert_int_equal(p.rc, 0);
    assert_int_equal(r.links, 0);
    assert_int_equal(r.blobs, 0);
    gc_report_release(&r);
    assert_true(fx_has_manifest(fx, "put", &p.pushed));
    assert_true(fx_blob_intact(fx, &c, "config pushed first"));
    assert_true(fx_blob_intact(fx, &l, "layer pushed first"));
}

struct put_thread {
    struct put_ctx *p;
    pthread_t t;
    atomic_int done;
};

static void *put_main(void *arg)
{
    struct put_thread *pt = arg;
    pt->p->pushed = fx_manifest_rc(pt->p->fx, &pt->p->rc, "put", "latest", pt->p->blobs, pt->p->nb,
                                   NULL, 0, NULL);
    metadb_thread_done(pt->p->fx->db);
    atomic_store(&pt->done, 1);
    return NULL;
}

static void put_thread_hook(void *ctx, enum gc_point point, const struct digest *d)
{
    struct put_thread *pt = ctx;
    (void)d;
    if (point != GC_POINT_BLOB_DELETED || pt->p->fired)
        return;
    pt->p->fired = 1;
    assert_int_equal(pthread_create(&pt->t, NULL, put_main, pt), 0);
    usleep(PAUSE_US);
    assert_int_equal(atomic_load(&pt->done), 0); /* waiting for the lock */
}

static void test_manifest_put_while_blob_collected(void **state)
{
    struct fx *fx = *state;
    struct digest c = fx_blob(fx, "put", "config");
    struct put_ctx p = {.fx = fx, .blobs = {c}, .nb = 1};
    struct put_thread pt = {.p = &p};
    struct gc_options o = fx_opts();
    o.batch = 100;
    o.hook = put_thread_hook;
    o.hook_ctx = &pt;
    struct gc_report r = fx_gc(fx, &o);
    assert_true(p.fired);
    pthread_join(pt.t, NULL);
    assert_int_equal(r.blobs, 1);
    gc_report_release(&r);
    /* Fails cleanly: nothing points at the deleted blob. */
    assert_int_equal(p.rc, BERR_MANIFEST_BLOB_UNKNOWN);
    assert_false(fx_has_manifest(fx, "put", &p.pushed));
    assert_true(fx_blob_gone(fx, &c));
}

static void test_tag_between_mark_and_sweep(void **state)
{
    struct fx *fx = *state;
    struct digest c = fx_blob(fx, "put", "untagged config");
    struct digest b[] = {c};
    struct digest m = fx_manifest(fx, "put", NULL, b, 1, NULL, 0, NULL);
    struct put_ctx p = {.fx = fx, .tag = "now-tagged", .at = GC_POINT_MARKED};
    fx_dcopy(&p.tag_target, &m);
    struct gc_options o = fx_opts();
    o.delete_untagged = 1;
    o.hook = put_hook;
    o.hook_ctx = &p;
    struct gc_report r = fx_gc(fx, &o);
    assert_true(p.fired);
    assert_int_equal(r.manifests + r.links + r.blobs, 0);
    gc_report_release(&r);
    assert_true(fx_has_manifest(fx, "put", &m));
    assert_true(fx_blob_intact(fx, &c, "untagged config"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reupload_after_row_deleted, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reupload_after_file_trashed, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_unlocked_publish_loses_blob, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_manifest_put_between_mark_and_sweep, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_manifest_put_while_blob_collected, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_tag_between_mark_and_sweep, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_orphan_replaced_by_fresh_publish, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
