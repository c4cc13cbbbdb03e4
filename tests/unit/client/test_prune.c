/*
 * test_prune.c - the local store's mark and sweep: what tags reach stays
 * (configs, layers, index children, shared layers, root filesystems), the
 * rest goes (loose blobs, untagged images, stale root filesystems, leftovers
 * of killed commands); a tagged manifest that cannot be read stops the prune
 * before anything goes; a prune waits for a pull holding the store lock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/prune.h"
#include "client/store.h"
#include "client/unpack.h"
#include "image/base/buf.h"
#include "image/base/err.h"
#include "image/base/xalloc.h"
#include "image/layout.h"
#include "image/manifest.h"

struct fx {
    char *home;
    struct store *s;
};

static int setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));
    f->home = xstrdup("/tmp/berth-prune-XXXXXX");
    if (!mkdtemp(f->home))
        return -1;
    if (store_open(&f->s, f->home) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_free(f->s);
    unpack_remove_tree(f->home);
    free(f->home);
    free(f);
    return 0;
}

/* Store text as a blob; its digest in *out. */
static void put(struct digest *out, struct store *s, const char *text)
{
    assert_int_equal(layout_blob_write(out, s->layout, NULL, text, strlen(text)), 0);
}

static int has(struct store *s, const struct digest *d)
{
    return layout_blob_stat(NULL, s->layout, d) == 0;
}

/* Tag `name` -> (mt, d, size). */
static void tag(struct store *s, const char *name, const char *mt, const struct digest *d,
                size_t size)
{
    struct descriptor desc;
    memset(&desc, 0, sizeof(desc));
    desc.media_type = xstrdup(mt);
    digest_copy(&desc.digest, d);
    desc.size = (int64_t)size;
    assert_int_equal(store_tag(s, name, &desc), 0);
    descriptor_release(&desc);
}

/* An image: config text cfg, layers texts l1 and l2 (l2 may be NULL); the
 * manifest's digest in *out and its size in *size_out; tagged when name. */
struct img {
    struct digest manifest, config, l1, l2;
    size_t size;
};

static void image(struct img *out, struct store *s, const char *name, const char *cfg,
                  const char *l1, const char *l2)
{
    struct buf b;
    buf_init(&b, 0);
    put(&out->config, s, cfg);
    put(&out->l1, s, l1);
    buf_printf(&b,
               "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
               "\",\"config\":{\"mediaType\":"
               "\"" MT_OCI_CONFIG "\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
               "\"" MT_OCI_LAYER_TAR "\",\"digest\":\"%s\",\"size\":%zu}",
               out->config.str, strlen(cfg), out->l1.str, strlen(l1));
    if (l2) {
        put(&out->l2, s, l2);
        buf_printf(&b, ",{\"mediaType\":\"" MT_OCI_LAYER_TAR "\",\"digest\":\"%s\",\"size\":%zu}",
                   out->l2.str, strlen(l2));
    }
    buf_puts(&b, "]}");
    put(&out->manifest, s, buf_cstr(&b));
    out->size = b.len;
    if (name)
        tag(s, name, MT_OCI_MANIFEST, &out->manifest, out->size);
    buf_release(&b);
}

static char *home_path(struct fx *f, const char *rel)
{
    return xasprintf("%s/%s", f->home, rel);
}

static int path_exists(struct fx *f, const char *rel)
{
    char *p = home_path(f, rel);
    struct stat st;
    int r = lstat(p, &st) == 0;
    free(p);
    return r;
}

static void make_dir(struct fx *f, const char *rel)
{
    char *p = home_path(f, rel);
    assert_int_equal(mkdir(p, 0755), 0);
    free(p);
}

static void make_file(struct fx *f, const char *rel, const char *text)
{
    char *p = home_path(f, rel);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    free(p);
}

static int n_reported;

static void count_removed(void *ctx, const struct digest *d, int64_t size)
{
    (void)ctx;
    (void)d;
    assert_true(size > 0);
    n_reported++;
}

static void test_mark_and_sweep(void **state)
{
    struct fx *f = *state;
    struct store *s = f->s;
    struct img a, b, c;
    struct digest loose, absent;
    image(&a, s, "reg/a:1", "{\"cfg\":\"a\"}", "layer-a", "layer-shared");
    image(&b, s, "reg/b:1", "{\"cfg\":\"b\"}", "layer-shared", NULL);
    /* an index tagged as such: one child here (not tagged itself), one not */
    image(&c, s, NULL, "{\"cfg\":\"c\"}", "layer-c", NULL);
    assert_int_equal(digest_parse_cstr(&absent, "sha256:1111111111111111111111111111111111111111"
                                                "111111111111111111111111"),
                     0);
    char *idx = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":["
                          "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":%zu,"
                          "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
                          "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":7,"
                          "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}}]}",
                          c.manifest.str, c.size, absent.str);
    struct digest idx_d;
    put(&idx_d, s, idx);
    tag(s, "reg/idx:1", MT_OCI_INDEX, &idx_d, strlen(idx));
    free(idx);
    put(&loose, s, "nobody needs me");

    /* root filesystems: a's stays, a stale one and a half-unpacked one go */
    char *rootfs_a = xasprintf("rootfs/%s", a.manifest.hex);
    char *rootfs_a_tmp = xasprintf("rootfs/%s.tmp.AbC123", a.manifest.hex);
    char *rootfs_stale = xasprintf("rootfs/%s", loose.hex);
    make_dir(f, rootfs_a);
    make_dir(f, rootfs_a_tmp);
    make_dir(f, rootfs_stale);
    char *inner = xasprintf("%s/file", rootfs_stale);
    make_file(f, inner, "x");
    make_dir(f, "rootfs/not-a-digest");
    /* leftovers of killed commands */
    make_dir(f, "tmp-push-Zz9");
    make_file(f, "store/blobs/sha256/.tmp-00000000000000ee", "partial");

    struct prune_report r;
    n_reported = 0;
    assert_int_equal(prune_store(&r, s, count_removed, NULL), 0);
    assert_int_equal(r.blobs, 1);
    assert_int_equal(n_reported, 1);
    assert_int_equal(r.blob_bytes, (int64_t)strlen("nobody needs me"));
    assert_int_equal(r.rootfs, 1);
    assert_int_equal(r.leftovers, 3);
    assert_false(has(s, &loose));
    const struct digest *kept[] = {&a.manifest, &a.config,   &a.l1,     &a.l2, &b.manifest,
                                   &b.config,   &c.manifest, &c.config, &c.l1, &idx_d};
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
        assert_true(has(s, kept[i]));
    assert_true(path_exists(f, rootfs_a));
    assert_false(path_exists(f, rootfs_a_tmp));
    assert_false(path_exists(f, rootfs_stale));
    assert_true(path_exists(f, "rootfs/not-a-digest"));
    assert_false(path_exists(f, "tmp-push-Zz9"));
    assert_false(path_exists(f, "store/blobs/sha256/.tmp-00000000000000ee"));

    /* nothing more to do */
    assert_int_equal(prune_store(&r, s, NULL, NULL), 0);
    assert_int_equal(r.blobs + r.rootfs + r.leftovers, 0);

    /* a's tag goes: its own blobs and root filesystem go, the shared layer stays */
    assert_int_equal(store_untag(s, "reg/a:1"), 0);
    assert_int_equal(prune_store(&r, s, NULL, NULL), 0);
    assert_int_equal(r.blobs, 3);
    assert_int_equal(r.rootfs, 1);
    assert_false(has(s, &a.manifest));
    assert_false(has(s, &a.config));
    assert_false(has(s, &a.l1));
    assert_true(has(s, &a.l2)); /* b's layer too */
    assert_true(has(s, &b.manifest));
    assert_false(path_exists(f, rootfs_a));

    /* the index's tag goes: the child and its blobs go with it */
    assert_int_equal(store_untag(s, "reg/idx:1"), 0);
    assert_int_equal(prune_store(&r, s, NULL, NULL), 0);
    assert_int_equal(r.blobs, 4);
    assert_false(has(s, &c.l1));
    assert_true(has(s, &b.config));
    free(rootfs_a);
    free(rootfs_a_tmp);
    free(rootfs_stale);
    free(inner);
}

static void test_unreadable_manifest_stops(void **state)
{
    struct fx *f = *state;
    struct store *s = f->s;
    struct img a;
    struct digest loose;
    image(&a, s, "reg/a:1", "{}", "layer", NULL);
    put(&loose, s, "loose");
    /* a tag whose manifest is missing reaches nothing: not an error */
    struct digest gone;
    put(&gone, s, "{\"schemaVersion\":2}");
    assert_int_equal(layout_blob_remove(s->layout, &gone), 0);
    tag(s, "reg/gone:1", MT_OCI_MANIFEST, &gone, 19);
    struct prune_report r;
    assert_int_equal(prune_store(&r, s, NULL, NULL), 0);
    assert_int_equal(r.blobs, 1);
    assert_true(has(s, &a.l1));

    /* a's manifest rots on disk: what it needs is unknown, nothing may go */
    put(&loose, s, "loose");
    char *rel = xasprintf("store/blobs/sha256/%s", a.manifest.hex);
    make_file(f, rel, "{\"schemaVersion\":2,\"garbage\":");
    free(rel);
    int rc = prune_store(&r, s, NULL, NULL);
    assert_int_equal(rc, BERR_DIGEST_INVALID);
    assert_non_null(strstr(berr_message(), "nothing was removed"));
    assert_int_equal(r.blobs, 0);
    assert_true(has(s, &loose));
    assert_true(has(s, &a.l1));

    /* a manifest with the right digest that does not parse stops it too */
    struct digest bad;
    put(&bad, s, "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\"}");
    assert_int_equal(store_untag(s, "reg/a:1"), 0);
    tag(s, "reg/bad:1", MT_OCI_MANIFEST, &bad, 10);
    assert_int_equal(prune_store(&r, s, NULL, NULL), BERR_MANIFEST_INVALID);
    assert_true(has(s, &loose));
}

/* A "pull" in another process: takes the store lock shared, writes a blob,
 * tells the parent, dawdles, then writes and tags the manifest. */
static void child_pull(const char *home, int ready_fd)
{
    struct store *s = NULL;
    struct img a;
    if (store_open(&s, home) < 0 || store_lock(s, 0) < 0)
        _exit(1);
    struct digest layer;
    if (layout_blob_write(&layer, s->layout, NULL, "layer-pulled", 12) < 0)
        _exit(1);
    if (write(ready_fd, "x", 1) != 1)
        _exit(1);
    usleep(300 * 1000);
    image(&a, s, "reg/pulled:1", "{\"pulled\":1}", "layer-pulled", NULL);
    store_free(s);
    _exit(0);
}

static void test_waits_for_a_pull(void **state)
{
    struct fx *f = *state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        child_pull(f->home, p[1]);
    }
    close(p[1]);
    char c;
    assert_int_equal(read(p[0], &c, 1), 1);
    close(p[0]);
    /* the layer is in the store, untagged, while the pull holds the lock */
    struct digest layer;
    digest_of(&layer, DIGEST_SHA256, "layer-pulled", 12);
    assert_true(has(f->s, &layer));
    assert_int_equal(store_trylock(f->s, 1), BERR_BUSY);
    struct prune_report r;
    assert_int_equal(prune_store(&r, f->s, NULL, NULL), 0);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* the prune ran after the pull: the layer is tagged and kept */
    assert_int_equal(r.blobs, 0);
    assert_true(has(f->s, &layer));
    struct descriptor d;
    assert_int_equal(store_resolve(&d, f->s, "reg/pulled:1"), 0);
    descriptor_release(&d);
    store_unlock(f->s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mark_and_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_manifest_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_waits_for_a_pull, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
