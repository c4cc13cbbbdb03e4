/*
 * test_gc.c - the reachability rule and the reports of gc_run, on the fs
 * driver and a real metadb.
 *
 * Shared layers survive the deletion of one of two images (in one and in
 * two repositories); a multi-arch index keeps its children; referrers of a
 * kept manifest stay, referrers of a deleted subject go (transitively);
 * untagged manifests go only with delete_untagged; a dry run changes nothing
 * and predicts the real run; the grace period protects fresh uploads and
 * fresh manifests; orphan files, trash leftovers and expired uploads are
 * reclaimed; per-repository figures; cancellation.
 */
#include "gc_fixture.h"

#include <stdatomic.h>

/* ---- shared layers -------------------------------------------------------- */

static void test_shared_layers(void **state)
{
    struct fx *fx = *state;
    struct digest shared = fx_blob(fx, "app", "shared base layer");
    struct digest c1 = fx_blob(fx, "app", "config one");
    struct digest l1 = fx_blob(fx, "app", "layer one");
    struct digest c2 = fx_blob(fx, "app", "config two");
    struct digest l2 = fx_blob(fx, "app", "layer two");
    struct digest b1[] = {c1, shared, l1}, b2[] = {c2, shared, l2};
    struct digest m1 = fx_manifest(fx, "app", "v1", b1, 3, NULL, 0, NULL);
    struct digest m2 = fx_manifest(fx, "app", "v2", b2, 3, NULL, 0, NULL);
    /* The shared layer is also used by another repository. */
    struct digest c3 = fx_blob(fx, "other", "config three");
    struct digest sh2 = fx_blob(fx, "other", "shared base layer");
    assert_true(digest_equal(&sh2, &shared));
    struct digest b3[] = {c3, shared};
    struct digest m3 = fx_manifest(fx, "other", "latest", b3, 2, NULL, 0, NULL);

    struct gc_options o = fx_opts();
    struct gc_report r = fx_gc(fx, &o);
    assert_int_equal(r.manifests + r.links + r.blobs + r.orphans, 0);
    gc_report_release(&r);

    assert_int_equal(meta_manifest_delete(fx->db, "app", m2.str), 0);
    r = fx_gc(fx, &o);
    assert_int_equal(r.manifests, 0); /* deleted by the API, not by gc */
    assert_int_equal(r.links, 2);     /* c2, l2 in app */
    assert_int_equal(r.blobs, 2);
    assert_int_equal(r.blob_bytes, (int64_t)(strlen("config two") + strlen("layer two")));
    gc_report_release(&r);
    assert_true(fx_has_manifest(fx, "app", &m1));
    assert_true(fx_blob_intact(fx, &shared, "shared base layer"));
    assert_true(fx_blob_intact(fx, &c1, "config one"));
    assert_true(fx_blob_intact(fx, &l1, "layer one"));
    assert_true(fx_linked(fx, "app", &shared));
    assert_true(fx_blob_gone(fx, &c2));
    assert_true(fx_blob_gone(fx, &l2));

    /* Delete app's last image: its links go, the layer other uses stays. */
    assert_int_equal(meta_manifest_delete(fx->db, "app", m1.str), 0);
    r = fx_gc(fx, &o);
    assert_int_equal(r.links, 3);
    assert_int_equal(r.blobs, 2);
    gc_report_release(&r);
    assert_false(fx_linked(fx, "app", &shared));
    assert_true(fx_linked(fx, "other", &shared));
    assert_true(fx_blob_intact(fx, &shared, "shared base layer"));
    assert_true(fx_blob_intact(fx, &c3, "config three"));
    assert_true(fx_has_manifest(fx, "other", &m3));
    assert_true(fx_blob_gone(fx, &c1));
    assert_true(fx_blob_gone(fx, &l1));
    assert_int_equal(fx_rows_without_file(fx), 0);
    assert_int_equal(fx_trash_count(fx), 0);
    assert_int_equal(fx_file_count(fx), fx_row_count(fx));
}

/* ---- multi-arch index ------------------------------------------------------- */

static void test_index_children(void **state)
{
    struct fx *fx = *state;
    struct digest ca = fx_blob(fx, "multi", "amd64 config");
    struct digest la = fx_blob(fx, "multi", "amd64 layer");
    struct digest cb = fx_blob(fx, "multi", "arm64 config");
    struct digest lb = fx_blob(fx, "multi", "arm64 layer");
    struct digest ba[] = {ca, la}, bb[] = {cb, lb};
    struct digest amd = fx_manifest(fx, "multi", NULL, ba, 2, NULL, 0, NULL);
    struct digest arm = fx_manifest(fx, "multi", NULL, bb, 2, NULL, 0, NULL);
    struct digest kids[] = {amd, arm};
    struct digest idx = fx_manifest(fx, "multi", "latest", NULL, 0, kids, 2, NULL);

    /* Even with delete_untagged, the children of a tagged index stay. */
    struct gc_options o = fx_opts();
    o.delete_untagged = 1;
    struct gc_report r = fx_gc(fx, &o);
    assert_int_equal(r.manifests + r.links + r.blobs, 0);
    gc_report_release(&r);
    assert_true(fx_has_manifest(fx, "multi", &amd));
    assert_true(fx_has_manifest(fx, "multi", &arm));
    assert_true(fx_blob_intact(fx, &lb, "arm64 layer"));

    /* Untag the index: without the flag nothing goes (every manifest is a root). */
    assert_int_equal(meta_tag_delete(fx->db, "multi", "latest"), 0);
    o.delete_untagged = 0;
    r = fx_gc(fx, &o);
    assert_int_equal(r.manifests + r.links + r.blobs, 0);
    gc_report_release(&r);

    /* With it, the index, its children and their blobs go. */
    o.delete_untagged = 1;
    r = fx_gc(fx, &o);
    assert_int_equal(r.manifests, 3);
    assert_int_equal(r.links, 4);
    assert_int_equal(r.blobs, 4);
    gc_report_release(&r);
    assert_false(fx_has_manifest(fx, "multi", &idx));
    assert_false(fx_has_manifest(fx, "multi", &amd));
    assert_true(fx_blob_gone(fx, &la));
    assert_int_equal(fx_file_count(fx), 0);
}

/* A child tagged on its own stays when its index goes. */
static void test_index_child_tagged(void **state)
{
    struct fx *fx = *state;
    struct digest c = fx_blob(fx, "m", "cfg");
    struct digest b[] = {c};
    struct digest child = fx_manifest(fx, "m", "amd64", b, 1, NULL, 0, NULL);
    struct digest kids[] = {child};
    struct digest idx = fx_manifest(fx, "m", NULL, NULL, 0, kids, 1, NULL);
    struct gc_options o = fx_opts();
    o.delete_untagged = 1;
    struct gc_report r = fx_gc(fx, &o);
    assert_int_equal(r.manifests, 1);
    gc_report_release(&r);
    assert_false(fx_has_manifest(fx, "m", &idx));
    assert_true(fx_has_manifest(fx, "m", &child));
    assert_true(fx_blob_intact(fx, &c, "cfg"));
}

/* ---- referrers ---------------------------------------------------------------- */

static void test_referrers(void **state)
{
    struct fx *fx = *state;
    struct digest cfg = fx_blob(fx, "img", "image config");
    struct digest lay = fx_blob(fx, "img", "image layer");
    struct digest empty = fx_blob(fx, "img", "{}");
    struct digest sigblob = fx_blob(fx, "img", "signature bytes");
    struct digest sbomblob = fx_blob(fx, "img", "sbom bytes");
    struct digest bi[] = {cfg, lay}, bs[] = {empty, sigblob}, bo[] = {empty, sbomblob};
    struct digest image = fx_manifest(fx, "img", "latest", bi, 2, NULL, 0, NULL);
    struct digest sig = fx_manifest(fx, "img", NULL, bs, 2, NULL, 0, &image);
    /* a referrer of the referrer (an attestation of the signature) */
    struct digest sbom = fx_manifest(fx, "img", NULL, bo, 2, NULL, 0, &sig);

    /* Kept subject: its referrers stay, even when untagged manifests go. */
    struct gc_options o = fx_opts();
    o.delete_untagged = 1;
    struct gc_report r = fx_gc(fx, &o);
    assert_int_equal(r.manifests + r.links + r.blobs, 0);
    gc_report_release(&r);
    assert_true(fx_has_manifest(fx, "img", &sig));
    assert_true(fx_has_manifest(fx, "img", &sbom));
    assert_true(fx_blob_intact(fx, &sigblob, "signature bytes"));

    /* Subject deleted: its referrers go, transitively - without the flag. */
    assert_int_equal(meta_manifest_delete(fx->db, "img", image.str), 0);
    o.delete_untagged = 0;
    r = fx_gc(fx, &o);
    assert_int_equal(r.manifests, 2);
    assert_int_equal(r.blobs, 5);
    gc_report_release(&r);
    assert_false(fx_has_manifest(fx, "img", &sig));
    assert_false(fx_has_manifest(fx, "img", &sbom));
    assert_true(fx_blob_gone(fx, &sigblob));
    assert_true(fx_blob_gone(fx, &empty));
    assert_int_equal(fx_file_count(fx), 0);
}

/* The subject is per repository: a referrer whose subject lives only in
 * another repository is dangling; a tagged referrer stays. */
static void test_referrer_other_repo_and_tagged(void **state)
{
    struct fx *fx = *state;
    struct digest c = fx_blob(fx, "a", "cfg a");
    struct digest b[] = {c};
    struct digest subject = fx_manifest(fx, "a", "latest", b, 1, NULL, 0, NULL);
    struct digest e = fx_blob(fx, "b", "{}");
    struct digest eb[] = {e};
    struct digest stray = fx_manifest(fx, "b", NULL, eb, 1, NULL, 0, &subject);
    struct digest tagged = fx_manifest(fx, "b", "sig", eb, 1, NULL, 0, &subject);
    struct gc_options o = fx_opts();
    struct gc_report r = fx_gc(fx, &o);
    assert_int_equal(r.manifests, 1);
    gc_report_release(&r);
    assert_false(fx_has_manifest(fx, "b", &stray));
    assert_true(fx_has_manifest(fx, "b", &tagged));
    assert_true(fx_blob_intact(fx, &e, "{}"));
}

/* ---- untagged ------------------------------------------------------------------ */

static void test_untagged_only_with_flag(void **state)
{
    struct fx *fx = *state;
    struct digest c = fx_blob(fx, "u", "untagged config");
    struct digest l = fx_blob(fx, "u", "untagged layer");
    struct digest b[] = {c, l};
    struct digest m = fx_manifest(fx, "u", NULL, b, 2, NULL, 0, NULL); /* pushed by digest */
    struct digest kc = fx_blob(fx, "u", "kept config");
    struct digest kb[] = {kc, l};
    struct digest kept = fx_manifest(fx, "u", "v1", kb, 2, NULL, 0, NULL);

    struct gc_options o = fx_opts();
    struct gc_report r = fx_gc(fx, &o);
    assert_int_equal(r.manifests + r.links + r.blobs, 0);
    gc_report_release(&r);
    assert_true(fx_has_manifest(fx, "u", &m));

    o.delete_untagged = 1;
    r = fx_gc(fx, &o);
    assert_int_equal(r.manifests, 1);
    assert_int_equal(r.manifest_bytes > 0, 1);
    assert_int_equal(r.links, 1); /* c; l is shared with the tagged image */
    assert_int_equal(r.blobs, 1);
    gc_report_release(&r);
    assert_false(fx_has_manifest(fx, "u", &m));
    assert_true(fx_has_manifest(fx, "u", &kept));
    assert_true(fx_blob_gone(fx, &c));
    assert_true(fx_blob_intact(fx, &l, "untagged layer"));
}

/* ---- dry run ------------------------------------------------------------------ */

static void build_garbage(struct fx *fx)
{
    struct digest c = fx_blob(fx, "d/one", "c1");
    struct digest l = fx_blob(fx, "d/one", "l1");
    struct digest b[] = {c, l};
    fx_manifest(fx, "d/one", NULL, b, 2, NULL, 0, NULL);
    struct digest c2 = fx_blob(fx, "d/two", "c2");
    struct digest b2[] = {c2, l};
    fx_blob(fx, "d/two", "l1"); /* link l into d/two */
    fx_manifest(fx, "d/two", "t", b2, 2, NULL, 0, NULL);
    fx_blob(fx, "d/two", "unreferenced upload");
}

static void test_dry_run(void **state)
{
    struct fx *fx = *state;
    build_garbage(fx);
    /* an orphan file */
    struct driver_writer *w;
    struct digest od;
    digest_of(&od, DIGEST_SHA256, "orphan", 6);
    assert_int_equal(driver_writer_open(fx->drv, "uploads/scratch", 0, &w), 0);
    assert_int_equal(driver_writer_append(w, "orphan", 6), 0);
    assert_int_equal(blobstore_commit(fx->bs, w, &od), 0);

    int rows = fx_row_count(fx), files = fx_file_count(fx);
    struct gc_options o = fx_opts();
    o.delete_untagged = 1;
    o.dry_run = 1;
    struct gc_report dry = fx_gc(fx, &o);
    assert_true(dry.dry_run);
    assert_int_equal(dry.manifests, 1);
    assert_int_equal(dry.links, 3); /* c1, l1 in d/one; unreferenced upload in d/two */
    assert_int_equal(dry.blobs, 2); /* c1, unreferenced upload (l1 stays for d/two) */
    assert_int_equal(dry.blob_bytes, (int64_t)(2 + strlen("unreferenced upload")));
    assert_int_equal(dry.orphans, 1);
    assert_int_equal(dry.transactions, 0);
    assert_int_equal(dry.n_repos, 2);
    assert_string_equal(dry.repos[0].name, "d/one");
    assert_int_equal(dry.repos[0].manifests, 1);
    assert_int_equal(dry.repos[0].links, 2);
    assert_int_equal(dry.repos[1].links, 1);
    /* nothing changed */
    assert_int_equal(fx_row_count(fx), rows);
    assert_int_equal(fx_file_count(fx), files);
    struct gc_report again = fx_gc(fx, &o);
    assert_int_equal(again.manifests, dry.manifests);
    assert_int_equal(again.blobs, dry.blobs);
    gc_report_release(&again);

    /* The real run does what the dry run said. */
    o.dry_run = 0;
    struct gc_report r = fx_gc(fx, &o);
    assert_int_equal(r.manifests, dry.manifests);
    assert_int_equal(r.links, dry.links);
    assert_int_equal(r.link_bytes, dry.link_bytes);
    assert_int_equal(r.blobs, dry.blobs);
    assert_int_equal(r.blob_bytes, dry.blob_bytes);
    assert_int_equal(r.orphans, dry.orphans);
    assert_int_equal(r.n_repos, dry.n_repos);
    assert_int_equal(r.repos[0].links, dry.repos[0].links);
    assert_true(r.transactions > 0);
    gc_report_release(&r);
    gc_report_release(&dry);
    assert_int_equal(fx_row_count(fx), rows - 2);
    assert_int_equal(fx_file_count(fx), files - 3);
}

/* ---- grace -------------------------------------------------------------------- */

static void test_grace(void **state)
{
    struct fx *fx = *state;
    int64_t now = (int64_t)time(NULL);
    /* A layer uploaded, its manifest not there yet. */
    struct digest l = fx_blob(fx, "g", "fresh layer");
    /* An untagged manifest just pushed (a multi-arch push in progress). */
    struct digest c = fx_blob(fx, "g", "fresh config");
    struct digest b[] = {c};
    struct digest m = fx_manifest(fx, "g", NULL, b, 1, NULL, 0, NULL);
    /* A referrer pushed before its subject. */
    struct digest e = fx_blob(fx, "g", "{}");
    struct digest eb[] = {e};
    struct digest future;
    digest_of(&future, DIGEST_SHA256, "subject not pushed yet", 22);
    struct digest ref = fx_manifest(fx, "g", NULL, eb, 1, NULL, 0, &future);

    struct gc_options o = fx_opts();
    o.delete_untagged = 1;
    o.grace = 3600;
    o.now = now + 60;
    struct gc_report r = fx_gc(fx, &o);
    assert_int_equal(r.manifests + r.links + r.blobs, 0);
    gc_report_release(&r);
    assert_true(fx_blob_intact(fx, &l, "fresh layer"));
    assert_true(fx_has_manifest(fx, "g", &m));
    assert_true(fx_has_manifest(fx, "g", &ref));

    /* The manifest arrives: the layer is referenced, it stays for good. */
    struct digest bl[] = {l};
    fx_manifest(fx, "g", "v1", bl, 1, NULL, 0, NULL);
    /* Two hours later, the rest is garbage. */
    o.now = now + 7200;
    r = fx_gc(fx, &o);
    assert_int_equal(r.manifests, 2);
    assert_int_equal(r.blobs, 2);
    gc_report_release(&r);
    assert_true(fx_blob_intact(fx, &l, "fresh layer"));
    assert_true(fx_blob_gone(fx, &c));
    assert_true(fx_blob_gone(fx, &e));
}

/* A re-upload renews a link's age (the grace counts from the last push). */
static void test_relink_renews_grace(void **state)
{
    struct fx *fx = *state;
    int64_t t = (int64_t)time(NULL);
    struct digest l = fx_blob(fx, "r", "layer");
    while ((int64_t)time(NULL) < t + 2)
        usleep(50 * 1000);
    /* cutoff t + 1: the first link (created at t) is older than the grace */
    struct gc_options o = fx_opts();
    o.now = t + 2;
    o.grace = 1;
    o.dry_run = 1;
    struct gc_report r = fx_gc(fx, &o);
    assert_int_equal(r.links, 1);
    assert_int_equal(r.blobs, 1);
    gc_report_release(&r);
    /* The client pushes the layer again (its manifest is about to follow). */
    struct digest again = fx_blob(fx, "r", "layer");
    assert_true(digest_equal(&again, &l));
    r = fx_gc(fx, &o);
    assert_int_equal(r.links, 0);
    assert_int_equal(r.blobs, 0);
    gc_report_release(&r);
    /* A mount renews it too: with a later cutoff only the mount is young. */
    while ((int64_t)time(NULL) < t + 4)
        usleep(50 * 1000);
    int64_t size;
    assert_int_equal(meta_blob_mount(fx->db, "r2", &l, "r", NULL, NULL, &size), 0);
    o.now = t + 4;
    o.grace = 0;
    o.now = t + 4;
    r = fx_gc(fx, &o);
    assert_int_equal(r.links, 1); /* r's link (t + 2) is older than t + 4; r2's is not */
    assert_int_equal(r.blobs, 0);
    gc_report_release(&r);
}

/* ---- orphans, trash, uploads ------------------------------------------------ */

static void test_orphans_and_trash(void **state)
{
    struct fx *fx = *state;
    struct digest kept = fx_blob(fx, "t", "kept blob");
    struct digest kb[] = {kept};
    fx_manifest(fx, "t", "v", kb, 1, NULL, 0, NULL);
    /* Leftovers of an interrupted run: the kept blob's file in trash/ (its
     * transaction never committed), and a trashed file whose row is gone. */
    char tk[PATHS_KEY_MAX], tk2[PATHS_KEY_MAX];
    assert_int_equal(blobstore_trash(fx->bs, &kept, tk), 0);
    assert_int_equal(fx_rows_without_file(fx), 1);
    struct digest g;
    digest_of(&g, DIGEST_SHA256, "garbage", 7);
    struct driver_writer *w;
    assert_int_equal(driver_writer_open(fx->drv, "uploads/x", 0, &w), 0);
    assert_int_equal(driver_writer_append(w, "garbage", 7), 0);
    assert_int_equal(blobstore_commit(fx->bs, w, &g), 0);
    assert_int_equal(blobstore_trash(fx->bs, &g, tk2), 0);
    /* A stray name in trash/. */
    assert_int_equal(driver_writer_open(fx->drv, "trash/junk", 0, &w), 0);
    assert_int_equal(driver_writer_close(w), 0);

    struct gc_report r = {0};
    assert_int_equal(gc_recover(&r, &fx->st, 10), 0);
    assert_int_equal(r.restored, 1);
    assert_int_equal(r.purged, 2);
    assert_int_equal(fx_rows_without_file(fx), 0);
    assert_int_equal(fx_trash_count(fx), 0);
    assert_true(fx_blob_intact(fx, &kept, "kept blob"));

    /* An orphan file: kept while young, removed when older than the grace. */
    struct digest od;
    digest_of(&od, DIGEST_SHA256, "orphan", 6);
    assert_int_equal(driver_writer_open(fx->drv, "uploads/y", 0, &w), 0);
    assert_int_equal(driver_writer_append(w, "orphan", 6), 0);
    assert_int_equal(blobstore_commit(fx->bs, w, &od), 0);
    struct gc_options o = fx_opts();
    o.grace = 3600;
    o.now = (int64_t)time(NULL);
    r = fx_gc(fx, &o);
    assert_int_equal(r.orphans, 0);
    gc_report_release(&r);
    o.now += 7200;
    r = fx_gc(fx, &o);
    assert_int_equal(r.orphans, 1);
    assert_int_equal(r.orphan_bytes, 6);
    gc_report_release(&r);
    int64_t size;
    assert_int_equal(blobstore_stat(fx->bs, &od, &size), BERR_BLOB_UNKNOWN);
    assert_true(fx_blob_intact(fx, &kept, "kept blob"));
}

static void test_uploads_expire(void **state)
{
    struct fx *fx = *state;
    char id[UPLOAD_ID_LEN + 1];
    struct upload *u;
    assert_int_equal(upload_start(fx->m, "up", id), 0);
    assert_int_equal(upload_open(fx->m, "up", id, 0, &u, NULL), 0);
    assert_int_equal(upload_write(u, "partial", 7), 0);
    assert_int_equal(upload_close(u), 0);
    struct gc_options o = fx_opts();
    o.upload_expiry = 3600;
    o.now = (int64_t)time(NULL) + 60;
    struct gc_report r = fx_gc(fx, &o);
    assert_int_equal(r.uploads, 0);
    gc_report_release(&r);
    o.now += 7200;
    o.dry_run = 1;
    r = fx_gc(fx, &o);
    assert_int_equal(r.uploads, 1);
    gc_report_release(&r);
    assert_int_equal(meta_upload_exists(fx->db, id), 1);
    o.dry_run = 0;
    r = fx_gc(fx, &o);
    assert_int_equal(r.uploads, 1);
    gc_report_release(&r);
    assert_int_equal(meta_upload_exists(fx->db, id), 0);
}

/* ---- batches and cancellation ------------------------------------------------- */

static void test_many_batches(void **state)
{
    struct fx *fx = *state;
    char data[64];
    for (int i = 0; i < 50; i++) {
        snprintf(data, sizeof(data), "blob %d", i);
        struct digest d = fx_blob(fx, "many", data);
        if (i % 2 == 0) {
            struct digest b[] = {d};
            struct digest m = fx_manifest(fx, "many", NULL, b, 1, NULL, 0, NULL);
            (void)m;
        }
    }
    struct gc_options o = fx_opts();
    o.delete_untagged = 1;
    o.batch = 7;
    struct gc_report r = fx_gc(fx, &o);
    assert_int_equal(r.manifests, 25);
    assert_int_equal(r.links, 50);
    assert_int_equal(r.blobs, 50);
    assert_true(r.transactions >= 4 + 8 + 8);
    gc_report_release(&r);
    assert_int_equal(fx_file_count(fx), 0);
    assert_int_equal(fx_row_count(fx), 0);
}

struct cancel_ctx {
    atomic_int *flag;
    int commits;
};

static void cancel_hook(void *ctx, enum gc_point point, const struct digest *d)
{
    struct cancel_ctx *c = ctx;
    (void)d;
    if (point == GC_POINT_COMMITTED && ++c->commits == 2)
        atomic_store(c->flag, 1);
}

static void test_cancel(void **state)
{
    struct fx *fx = *state;
    char data[64];
    for (int i = 0; i < 20; i++) {
        snprintf(data, sizeof(data), "cancel %d", i);
        fx_blob(fx, "c", data);
    }
    atomic_int flag = 0;
    struct cancel_ctx cc = {&flag, 0};
    struct gc_options o = fx_opts();
    o.batch = 2;
    o.cancel = &flag;
    o.hook = cancel_hook;
    o.hook_ctx = &cc;
    struct gc_report r = fx_gc(fx, &o);
    assert_true(r.cancelled);
    assert_int_equal(r.links, 4); /* two transactions of two */
    assert_int_equal(r.blobs, 0);
    gc_report_release(&r);
    /* The next run finishes the job. */
    o.cancel = NULL;
    o.hook = NULL;
    r = fx_gc(fx, &o);
    assert_false(r.cancelled);
    assert_int_equal(r.links, 16);
    assert_int_equal(r.blobs, 20);
    gc_report_release(&r);
}

static void test_report_print(void **state)
{
    struct fx *fx = *state;
    build_garbage(fx);
    struct gc_options o = fx_opts();
    o.delete_untagged = 1;
    struct gc_report r = fx_gc(fx, &o);
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    gc_report_print(&r, fp, 1);
    fclose(fp);
    assert_non_null(strstr(text, "deleted\nmanifests: 1 ("));
    assert_non_null(strstr(text, "\nblobs: 2 ("));
    assert_non_null(strstr(text, "repository d/one: manifests 1"));
    gc_report_log(&r);
    free(text);
    gc_report_release(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shared_layers, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_index_children, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_index_child_tagged, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_referrers, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_referrer_other_repo_and_tagged, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_untagged_only_with_flag, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_dry_run, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_grace, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_relink_renews_grace, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_orphans_and_trash, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_uploads_expire, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_many_batches, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_cancel, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_report_print, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
