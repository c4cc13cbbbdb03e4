/*
 * test_layout.c - OCI image layout: create/open, blobs (write, verify, read,
 * caps, corruption), index.json tags (set, replace, remove, preservation).
 * Each test runs in a fresh temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "image/layout.h"
#include "image/base/err.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HELLO_HEX    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define HELLO_SHA256 "sha256:" HELLO_HEX
#define HEX_X        "1111111111111111111111111111111111111111111111111111111111111111"

struct fixture {
    char root[64];
    char dir[128]; /* root/lay */
};

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->root, sizeof(f->root), "/tmp/berth-layout-XXXXXX");
    if (!mkdtemp(f->root))
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/lay", f->root);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    nftw(f->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

static char *read_text(const char *dir, const char *name)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *fp = fopen(p, "r");
    assert_non_null(fp);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

/* Number of entries in dir/sub (excluding . and ..), -1 if missing. */
static int count_entries(const char *dir, const char *sub)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, sub);
    DIR *d = opendir(p);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    }
    closedir(d);
    return n;
}

static void test_create_open(void **state)
{
    struct fixture *f = *state;
    struct layout *l = NULL;
    assert_int_equal(layout_open(&l, f->dir), BERR_NOT_FOUND);
    assert_null(l);
    assert_int_equal(layout_create(&l, f->dir), 0);
    assert_non_null(l);
    assert_string_equal(layout_path(l), f->dir);
    assert_non_null(strstr(read_text(f->dir, "oci-layout"), "\"imageLayoutVersion\":\"1.0.0\""));
    assert_int_equal(count_entries(f->dir, "blobs"), 0);
    assert_int_equal(count_entries(f->dir, ""), 3); /* oci-layout index.json blobs */
    struct layout_entry *e = (struct layout_entry *)1;
    size_t n = 99;
    assert_int_equal(layout_entries(&e, &n, l), 0);
    assert_int_equal(n, 0);
    assert_null(e);
    layout_entries_free(e, n);
    layout_free(l);

    /* open and create again both work on an existing layout */
    assert_int_equal(layout_open(&l, f->dir), 0);
    layout_free(l);
    assert_int_equal(layout_create(&l, f->dir), 0);
    layout_free(l);
    layout_free(NULL);

    /* an existing empty directory is initialised */
    char empty[160];
    snprintf(empty, sizeof(empty), "%s/empty", f->root);
    assert_int_equal(mkdir(empty, 0755), 0);
    assert_int_equal(layout_create(&l, empty), 0);
    layout_free(l);
}

static void test_not_a_layout(void **state)
{
    struct fixture *f = *state;
    struct layout *l = NULL;
    assert_int_equal(mkdir(f->dir, 0755), 0);
    write_text(f->dir, "notes.txt", "hello");
    /* not empty and not a layout: refuse to scribble into it */
    assert_int_equal(layout_create(&l, f->dir), BERR_EXISTS);
    assert_null(l);
    assert_int_equal(count_entries(f->dir, ""), 1);
    assert_int_equal(layout_open(&l, f->dir), BERR_INVALID);
    /* wrong version */
    write_text(f->dir, "oci-layout", "{\"imageLayoutVersion\":\"2.0.0\"}");
    write_text(f->dir, "index.json", "{\"schemaVersion\":2,\"manifests\":[]}");
    assert_int_equal(layout_open(&l, f->dir), BERR_INVALID);
    write_text(f->dir, "oci-layout", "not json");
    assert_int_equal(layout_open(&l, f->dir), BERR_INVALID);
    /* right version, no index.json */
    write_text(f->dir, "oci-layout", "{\"imageLayoutVersion\": \"1.0.0\"}");
    char p[256];
    snprintf(p, sizeof(p), "%s/index.json", f->dir);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(layout_open(&l, f->dir), BERR_INVALID);
    write_text(f->dir, "index.json", "{\"schemaVersion\":2,\"manifests\":[]}");
    assert_int_equal(layout_open(&l, f->dir), 0);
    layout_free(l);
    /* a parent that does not exist */
    char deep[200];
    snprintf(deep, sizeof(deep), "%s/no/such", f->root);
    assert_int_equal(layout_create(&l, deep), BERR_IO);
    assert_null(l);
}

static void test_blob_write_read(void **state)
{
    struct fixture *f = *state;
    struct layout *l;
    struct digest want, got;
    assert_int_equal(layout_create(&l, f->dir), 0);
    assert_int_equal(digest_parse_cstr(&want, HELLO_SHA256), 0);

    int64_t size = -7;
    assert_int_equal(layout_blob_stat(&size, l, &want), BERR_BLOB_UNKNOWN);
    assert_int_equal(layout_blob_write(&got, l, &want, "hello", 5), 0);
    assert_true(digest_equal(&got, &want));
    assert_int_equal(layout_blob_stat(&size, l, &want), 0);
    assert_int_equal(size, 5);
    assert_int_equal(layout_blob_stat(NULL, l, &want), 0);
    assert_string_equal(read_text(f->dir, "blobs/sha256/" HELLO_HEX), "hello");
    assert_int_equal(count_entries(f->dir, "blobs/sha256"), 1); /* no temp left */

    char *data = NULL;
    size_t len = 0;
    assert_int_equal(layout_blob_read(&data, &len, l, &want, 5), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(data, "hello", 5);
    assert_int_equal(data[5], '\0');
    free(data);
    assert_int_equal(layout_blob_read(&data, &len, l, &want, 4), BERR_TOO_LARGE);
    assert_null(data);

    int fd = -1;
    assert_int_equal(layout_blob_open(&fd, &size, l, &want), 0);
    assert_true(fd >= 0);
    char b[8] = {0};
    assert_int_equal(read(fd, b, sizeof(b)), 5);
    assert_string_equal(b, "hello");
    close(fd);

    /* idempotent rewrite */
    assert_int_equal(layout_blob_write(NULL, l, &want, "hello", 5), 0);
    /* no expected digest: computed, sha256 */
    assert_int_equal(layout_blob_write(&got, l, NULL, "", 0), 0);
    assert_string_equal(got.str,
                        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(layout_blob_stat(&size, l, &got), 0);
    assert_int_equal(size, 0);
    /* sha512 goes to blobs/sha512 */
    struct digest d512;
    digest_of(&d512, DIGEST_SHA512, "abc", 3);
    assert_int_equal(layout_blob_write(&got, l, &d512, "abc", 3), 0);
    assert_int_equal(count_entries(f->dir, "blobs/sha512"), 1);
    assert_int_equal(layout_blob_read(&data, &len, l, &d512, 100), 0);
    free(data);

    /* unknown blob */
    struct digest other;
    assert_int_equal(digest_parse_cstr(&other, "sha256:" HEX_X), 0);
    assert_int_equal(layout_blob_read(&data, &len, l, &other, 100), BERR_BLOB_UNKNOWN);
    assert_int_equal(layout_blob_open(&fd, NULL, l, &other), BERR_BLOB_UNKNOWN);
    assert_int_equal(fd, -1);
    layout_free(l);
}

static void test_blob_verification(void **state)
{
    struct fixture *f = *state;
    struct layout *l;
    struct digest want, wrong;
    assert_int_equal(layout_create(&l, f->dir), 0);
    assert_int_equal(digest_parse_cstr(&want, HELLO_SHA256), 0);
    assert_int_equal(digest_parse_cstr(&wrong, "sha256:" HEX_X), 0);

    /* content does not match the expected digest: nothing is published */
    assert_int_equal(layout_blob_write(NULL, l, &wrong, "hello", 5), BERR_DIGEST_INVALID);
    assert_int_equal(layout_blob_stat(NULL, l, &wrong), BERR_BLOB_UNKNOWN);
    assert_int_equal(count_entries(f->dir, "blobs/sha256"), 0);

    /* streaming writer: sizes */
    struct layout_writer *w;
    assert_int_equal(layout_writer_open(&w, l, &want, 5), 0);
    assert_int_equal(count_entries(f->dir, "blobs/sha256"), 1); /* the temp file */
    assert_int_equal(layout_writer_write(w, "hel", 3), 0);
    assert_int_equal(layout_writer_write(w, "lo!", 3), BERR_SIZE_INVALID);
    assert_int_equal(layout_writer_commit(NULL, w), BERR_INTERNAL);
    layout_writer_free(w);
    assert_int_equal(count_entries(f->dir, "blobs/sha256"), 0);

    assert_int_equal(layout_writer_open(&w, l, &want, 6), 0);
    assert_int_equal(layout_writer_write(w, "hello", 5), 0);
    assert_int_equal(layout_writer_commit(NULL, w), BERR_SIZE_INVALID);
    layout_writer_free(w);
    assert_int_equal(count_entries(f->dir, "blobs/sha256"), 0);

    /* streaming in pieces, unknown size */
    struct digest got;
    assert_int_equal(layout_writer_open(&w, l, &want, -1), 0);
    assert_int_equal(layout_writer_write(w, "h", 1), 0);
    assert_int_equal(layout_writer_write(w, "", 0), 0);
    assert_int_equal(layout_writer_write(w, "ello", 4), 0);
    assert_int_equal(layout_writer_commit(&got, w), 0);
    assert_true(digest_equal(&got, &want));
    assert_int_equal(layout_writer_commit(&got, w), BERR_INTERNAL); /* once only */
    layout_writer_free(w);
    layout_writer_free(NULL);
    assert_int_equal(count_entries(f->dir, "blobs/sha256"), 1);

    /* corruption on disk is caught when reading into memory */
    write_text(f->dir, "blobs/sha256/" HELLO_HEX, "HELLO");
    char *data = NULL;
    size_t len;
    assert_int_equal(layout_blob_read(&data, &len, l, &want, 100), BERR_DIGEST_INVALID);
    assert_null(data);
    assert_non_null(strstr(berr_message(), "corrupt"));

    /* a hand-filled digest cannot become a path */
    struct digest evil;
    memset(&evil, 0, sizeof(evil));
    evil.alg = DIGEST_SHA256;
    snprintf(evil.str, sizeof(evil.str), "sha256:../../../../etc/passwd");
    evil.hex = evil.str + 7;
    assert_int_equal(layout_blob_stat(NULL, l, &evil), BERR_DIGEST_INVALID);
    assert_int_equal(layout_blob_read(&data, &len, l, &evil, 100), BERR_DIGEST_INVALID);
    int fd;
    assert_int_equal(layout_blob_open(&fd, NULL, l, &evil), BERR_DIGEST_INVALID);
    assert_int_equal(layout_writer_open(&w, l, &evil, -1), BERR_DIGEST_INVALID);
    assert_null(w);
    memset(evil.str, 'a', sizeof(evil.str)); /* unterminated */
    assert_int_equal(layout_blob_stat(NULL, l, &evil), BERR_DIGEST_INVALID);
    layout_free(l);
}

static void test_blob_write_fd(void **state)
{
    struct fixture *f = *state;
    struct layout *l;
    assert_int_equal(layout_create(&l, f->dir), 0);
    size_t n = 300 * 1024 + 17;
    char *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 7 + 3);
    char src[200];
    snprintf(src, sizeof(src), "%s/src.bin", f->root);
    FILE *fp = fopen(src, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(big, 1, n, fp), n);
    fclose(fp);
    struct digest want, got;
    digest_of(&want, DIGEST_SHA256, big, n);

    int fd = open(src, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(layout_blob_write_fd(&got, l, &want, (int64_t)n, fd), 0);
    close(fd);
    assert_true(digest_equal(&got, &want));

    char *data;
    size_t len;
    assert_int_equal(layout_blob_read(&data, &len, l, &want, n), 0);
    assert_int_equal(len, n);
    assert_memory_equal(data, big, n);
    free(data);

    /* wrong declared size */
    fd = open(src, O_RDONLY);
    assert_int_equal(layout_blob_write_fd(NULL, l, &want, (int64_t)n - 1, fd), BERR_SIZE_INVALID);
    close(fd);
    free(big);
    assert_int_equal(count_entries(f->dir, "blobs/sha256"), 1);
    layout_free(l);
}

static void make_desc(struct descriptor *d, const char *digest, int64_t size, const char *ann)
{
    memset(d, 0, sizeof(*d));
    d->media_type = strdup(MT_OCI_MANIFEST);
    assert_int_equal(digest_parse_cstr(&d->digest, digest), 0);
    d->size = size;
    d->annotations = ann ? strdup(ann) : NULL;
}

static void test_tags(void **state)
{
    struct fixture *f = *state;
    struct layout *l;
    struct descriptor d1, d2, got;
    assert_int_equal(layout_create(&l, f->dir), 0);
    make_desc(&d1, HELLO_SHA256, 5, "{\"org.example\":\"x\"}");
    make_desc(&d2, "sha256:" HEX_X, 42, NULL);

    assert_int_equal(layout_resolve(&got, l, "v1"), BERR_MANIFEST_UNKNOWN);
    assert_int_equal(layout_tag_set(l, "v1", &d1), 0);
    assert_int_equal(layout_tag_set(l, "latest", &d1), 0);
    assert_int_equal(layout_tag_set(l, "v2", &d2), 0);

    struct layout_entry *e;
    size_t n;
    assert_int_equal(layout_entries(&e, &n, l), 0);
    assert_int_equal(n, 3);
    assert_string_equal(e[0].tag, "v1");
    assert_string_equal(e[1].tag, "latest");
    assert_string_equal(e[2].tag, "v2");
    assert_string_equal(e[0].desc.digest.str, HELLO_SHA256);
    assert_string_equal(e[0].desc.annotations,
                        "{\"org.example\":\"x\",\"org.opencontainers.image.ref.name\":\"v1\"}");
    layout_entries_free(e, n);

    assert_int_equal(layout_resolve(&got, l, "v2"), 0);
    assert_string_equal(got.digest.str, "sha256:" HEX_X);
    assert_int_equal(got.size, 42);
    assert_string_equal(got.media_type, MT_OCI_MANIFEST);
    descriptor_release(&got);

    /* move v1 to d2: replaced in place, nothing else changes */
    assert_int_equal(layout_tag_set(l, "v1", &d2), 0);
    assert_int_equal(layout_entries(&e, &n, l), 0);
    assert_int_equal(n, 3);
    assert_string_equal(e[0].tag, "v1");
    assert_string_equal(e[0].desc.digest.str, "sha256:" HEX_X);
    assert_string_equal(e[1].desc.digest.str, HELLO_SHA256);
    layout_entries_free(e, n);

    /* remove */
    assert_int_equal(layout_tag_remove(l, "latest"), 0);
    assert_int_equal(layout_tag_remove(l, "latest"), BERR_MANIFEST_UNKNOWN);
    assert_int_equal(layout_resolve(&got, l, "latest"), BERR_MANIFEST_UNKNOWN);
    assert_int_equal(layout_entries(&e, &n, l), 0);
    assert_int_equal(n, 2);
    layout_entries_free(e, n);

    /* tag grammar */
    assert_int_equal(layout_tag_set(l, "../x", &d1), BERR_TAG_INVALID);
    assert_int_equal(layout_tag_set(l, "", &d1), BERR_TAG_INVALID);
    assert_int_equal(layout_tag_set(l, NULL, &d1), BERR_TAG_INVALID);
    assert_int_equal(layout_tag_remove(l, "a b"), BERR_TAG_INVALID);
    assert_int_equal(layout_resolve(&got, l, ".x"), BERR_TAG_INVALID);
    char long_tag[130];
    memset(long_tag, 't', 129);
    long_tag[129] = '\0';
    assert_int_equal(layout_tag_set(l, long_tag, &d1), BERR_TAG_INVALID);
    long_tag[128] = '\0';
    assert_int_equal(layout_tag_set(l, long_tag, &d1), 0);
    assert_int_equal(layout_resolve(&got, l, long_tag), 0);
    descriptor_release(&got);

    /* a second handle sees the same data */
    struct layout *l2;
    assert_int_equal(layout_open(&l2, f->dir), 0);
    assert_int_equal(layout_resolve(&got, l2, "v2"), 0);
    descriptor_release(&got);
    layout_free(l2);

    descriptor_release(&d1);
    descriptor_release(&d2);
    layout_free(l);
}

static void test_index_preserved(void **state)
{
    struct fixture *f = *state;
    struct layout *l;
    struct descriptor d1, got;
    assert_int_equal(mkdir(f->dir, 0755), 0);
    write_text(f->dir, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
    /* as written by other tools: an untagged entry, a full-reference ref.name,
     * a platform, top-level annotations */
    write_text(f->dir, "index.json",
               "{\"schemaVersion\":2,\"manifests\":["
               "{\"mediaType\":\"" MT_OCI_INDEX "\",\"digest\":\"sha256:" HEX_X "\",\"size\":9,"
               "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
               "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" HELLO_SHA256 "\","
               "\"size\":5,\"annotations\":{\"io.containerd.image.name\":\"docker.io/lib/a:1\","
               "\"org.opencontainers.image.ref.name\":\"1\"}}],"
               "\"annotations\":{\"keep\":\"me\"}}");
    assert_int_equal(layout_open(&l, f->dir), 0);
    struct layout_entry *e;
    size_t n;
    assert_int_equal(layout_entries(&e, &n, l), 0);
    assert_int_equal(n, 2);
    assert_null(e[0].tag);
    assert_string_equal(e[0].desc.platform.architecture, "amd64");
    assert_string_equal(e[1].tag, "1");
    layout_entries_free(e, n);
    assert_int_equal(layout_resolve(&got, l, "1"), 0);
    assert_int_equal(got.size, 5);
    descriptor_release(&got);

    make_desc(&d1, "sha256:" HEX_X, 9, NULL);
    assert_int_equal(layout_tag_set(l, "new", &d1), 0);
    const char *text = read_text(f->dir, "index.json");
    assert_non_null(strstr(text, "\"keep\": \"me\""));
    assert_non_null(strstr(text, "io.containerd.image.name"));
    assert_int_equal(layout_entries(&e, &n, l), 0);
    assert_int_equal(n, 3);
    assert_null(e[0].tag);
    assert_string_equal(e[2].tag, "new");
    layout_entries_free(e, n);
    assert_int_equal(count_entries(f->dir, ""), 2); /* no temp file left behind */

    /* a broken index.json is reported, and not overwritten */
    write_text(f->dir, "index.json", "{\"schemaVersion\":2,\"manifests\":[{\"size\":1}]}");
    assert_int_equal(layout_entries(&e, &n, l), BERR_MANIFEST_INVALID);
    assert_int_equal(layout_tag_set(l, "x", &d1), BERR_MANIFEST_INVALID);
    assert_int_equal(layout_tag_remove(l, "x"), BERR_MANIFEST_INVALID);
    assert_non_null(strstr(read_text(f->dir, "index.json"), "{\"size\":1}"));
    write_text(f->dir, "index.json", "[]");
    assert_int_equal(layout_resolve(&got, l, "x"), BERR_MANIFEST_INVALID);
    descriptor_release(&d1);
    layout_free(l);
}

/* layout_blob_walk callback: count blobs, remember whether "hello" was seen
 * with its size. */
struct walk_seen {
    int n;
    int hello;
    int stop_after;
};

static int walk_count(void *ctx, const struct layout_blob_info *b)
{
    struct walk_seen *w = ctx;
    w->n++;
    if (strcmp(b->digest.str, HELLO_SHA256) == 0 && b->size == 5 && b->mtime > 0)
        w->hello = 1;
    return w->stop_after && w->n == w->stop_after ? 42 : 0;
}

static void test_blob_walk_remove(void **state)
{
    struct fixture *f = *state;
    struct layout *l;
    struct digest hello, other, bad;
    assert_int_equal(layout_create(&l, f->dir), 0);
    struct walk_seen w = {0};
    /* an empty layout; and one without blobs/sha256 at all */
    assert_int_equal(layout_blob_walk(l, walk_count, &w), 0);
    assert_int_equal(w.n, 0);
    assert_int_equal(layout_blob_write(&hello, l, NULL, "hello", 5), 0);
    assert_int_equal(layout_blob_write(&other, l, NULL, "other", 5), 0);
    /* what is not a blob is not walked: temporary files, strays, directories,
     * names of the wrong length, upper-case hex */
    write_text(f->dir, "blobs/sha256/.tmp-0123456789abcdef", "partial");
    write_text(f->dir, "blobs/sha256/notes", "x");
    write_text(f->dir, "blobs/sha256/" HEX_X "00", "x");
    write_text(f->dir,
               "blobs/sha256/2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824",
               "x");
    char p[256];
    snprintf(p, sizeof(p), "%s/blobs/sha256/%s", f->dir, HEX_X);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/blobs/sha512", f->dir);
    assert_int_equal(mkdir(p, 0755), 0);
    write_text(f->dir, "blobs/sha512/" HELLO_HEX, "a sha256-length name under sha512");
    assert_int_equal(layout_blob_walk(l, walk_count, &w), 0);
    assert_int_equal(w.n, 2);
    assert_true(w.hello);
    /* a non-zero return stops the walk and is passed on */
    struct walk_seen stop = {.stop_after = 1};
    assert_int_equal(layout_blob_walk(l, walk_count, &stop), 42);
    assert_int_equal(stop.n, 1);

    assert_int_equal(layout_blob_remove(l, &hello), 0);
    assert_int_equal(layout_blob_stat(NULL, l, &hello), BERR_BLOB_UNKNOWN);
    assert_int_equal(layout_blob_remove(l, &hello), BERR_BLOB_UNKNOWN);
    assert_int_equal(layout_blob_stat(NULL, l, &other), 0);
    memset(&w, 0, sizeof(w));
    assert_int_equal(layout_blob_walk(l, walk_count, &w), 0);
    assert_int_equal(w.n, 1);
    assert_false(w.hello);
    /* a hand-filled digest cannot name a path */
    memset(&bad, 0, sizeof(bad));
    snprintf(bad.str, sizeof(bad.str), "sha256:../../oci-layout");
    bad.hex = bad.str + 7;
    assert_int_equal(layout_blob_remove(l, &bad), BERR_DIGEST_INVALID);
    assert_int_equal(access(p, F_OK), 0);
    snprintf(p, sizeof(p), "%s/oci-layout", f->dir);
    assert_int_equal(access(p, F_OK), 0);
    layout_free(l);
}

/* Set the times of dir/name to `age` seconds ago. */
static void age_file(const char *dir, const char *name, int age)
{
    char p[256];
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= age;
    ts[1] = ts[0];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static void test_tmp_clean(void **state)
{
    struct fixture *f = *state;
    struct layout *l;
    struct digest d;
    assert_int_equal(layout_create(&l, f->dir), 0);
    assert_int_equal(layout_blob_write(&d, l, NULL, "hello", 5), 0);
    write_text(f->dir, "blobs/sha256/.tmp-00000000000000aa", "old partial");
    write_text(f->dir, "blobs/sha256/.tmp-00000000000000bb", "fresh");
    write_text(f->dir, ".tmp-00000000000000cc", "an index.json being written");
    write_text(f->dir, "blobs/sha256/keep-me", "not ours");
    age_file(f->dir, "blobs/sha256/.tmp-00000000000000aa", 7200);
    age_file(f->dir, "blobs/sha256/keep-me", 7200);
    /* a live writer's file: in use while the clean runs */
    struct layout_writer *w;
    assert_int_equal(layout_writer_open(&w, l, NULL, -1), 0);
    assert_int_equal(layout_writer_write(w, "abc", 3), 0);

    size_t files = 99;
    int64_t bytes = -1;
    /* an hour: the old leftover goes; the fresh one, the live writer's file and
     * a file that is not a temporary stay; at the top every ".tmp-" goes, as
     * top-level files are only written under the index.json lock */
    assert_int_equal(layout_tmp_clean(&files, &bytes, l, 3600), 0);
    assert_int_equal(files, 2);
    assert_int_equal(bytes,
                     (int64_t)(strlen("old partial") + strlen("an index.json being written")));
    assert_int_equal(count_entries(f->dir, "blobs/sha256"), 4);
    assert_int_equal(count_entries(f->dir, ""), 3);
    assert_int_equal(layout_writer_write(w, "def", 3), 0);

    assert_int_equal(layout_tmp_clean(&files, NULL, l, 0), 0);
    assert_int_equal(files, 2); /* the fresh leftover and the writer's file */
    assert_int_equal(count_entries(f->dir, "blobs/sha256"), 2); /* the blob, keep-me */
    assert_int_equal(layout_blob_stat(NULL, l, &d), 0);
    /* the writer whose file went fails cleanly on commit */
    assert_int_not_equal(layout_writer_commit(NULL, w), 0);
    layout_writer_free(w);
    layout_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blob_write_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blob_verification, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blob_write_fd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_preserved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blob_walk_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tmp_clean, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
