/*
 * cmd_push.c - `berth push SRC [REF]`.
 *
 * SRC is a local image (a reference in the store), an OCI image layout
 * (oci:DIR[:TAG]) or a `docker save` / `podman save` archive
 * (docker-archive:FILE, or a path to a .tar file). Blobs go first (HEAD, then
 * a cross-repository mount when the store knows another repository of the
 * registry with the blob, then an upload), child manifests of an index next,
 * and the tagged manifest last, so the registry never sees a manifest whose
 * blobs are missing.
 */
#include "client/cmds.h"

#include "client/archive.h"
#include "client/progress.h"
#include "client/regclient.h"
#include "client/store.h"
#include "client/unpack.h"
#include "client/upload.h"
#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"
#include "image/layout.h"
#include "image/manifest.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PUSH_MANIFEST_MAX  (4u << 20)
#define PUSH_CHUNK_DEFAULT (16LL << 20)
#define PUSH_RETRIES       5

struct pusher {
    struct cli *cli;
    struct store *st;
    struct layout *src;
    struct regclient *rc;
    const char *host;
    const char *repo;
    struct progress *pg;
    int64_t chunk;
    int pid; /* progress id of the blob being sent */
};

static void on_upload_progress(void *ctx, int64_t done, int64_t total)
{
    struct pusher *p = ctx;
    (void)total;
    progress_update(p->pg, p->pid, done);
}

static int push_blob(struct pusher *p, const struct descriptor *d)
{
    char label[32];
    int fd = -1;
    char *from = NULL;
    char *state = NULL;
    snprintf(label, sizeof(label), "%.19s", d->digest.str);
    p->pid = progress_add(p->pg, label, d->size);
    int r = regclient_blob_head(p->rc, p->repo, &d->digest, NULL);
    if (r == 0) {
        progress_end(p->pg, p->pid, "exists");
        goto done;
    }
    if (r != BERR_BLOB_UNKNOWN)
        goto cleanup;
    int64_t size = 0;
    r = layout_blob_open(&fd, &size, p->src, &d->digest);
    if (r < 0)
        goto cleanup;
    if (size != d->size) {
        r = berr_set(BERR_SIZE_INVALID, "size invalid: local blob %s has %lld bytes, expected %lld",
                     d->digest.str, (long long)size, (long long)d->size);
        goto cleanup;
    }
    from = store_find_source(p->st, p->host, p->repo, &d->digest);
    if (from && !ref_name_valid(from, strlen(from))) {
        free(from);
        from = NULL;
    }
    state = store_upload_state_path(p->st, p->host, p->repo, &d->digest);
    struct upload_opts uo = {.chunk_size = p->chunk,
                             .state_path = state,
                             .mount_from = from,
                             .max_retries = PUSH_RETRIES,
                             .progress = on_upload_progress,
                             .progress_ctx = p};
    enum upload_how how;
    r = upload_blob(p->rc, p->repo, &d->digest, fd, size, &uo, &how);
    if (r < 0)
        goto cleanup;
    progress_end(p->pg, p->pid,
                 how == UPLOAD_MOUNTED   ? "mounted"
                 : how == UPLOAD_RESUMED ? "done (resumed)"
                                         : "done");
done:
    store_note_source(p->st, p->host, p->repo, &d->digest);
cleanup:
    if (r < 0)
        progress_end(p->pg, p->pid, "failed");
    if (fd >= 0)
        close(fd);
    free(from);
    free(state);
    return r;
}

/* Push the manifest d (and everything it references); `ref` is the tag to
 * put it under, or NULL to put it by digest. */
static int push_manifest(struct pusher *p, const struct descriptor *d, const char *ref, int depth)
{
    char *bytes = NULL;
    size_t len = 0;
    struct manifest *m = NULL;
    int r = layout_blob_read(&bytes, &len, p->src, &d->digest, PUSH_MANIFEST_MAX);
    if (r == 0)
        r = manifest_parse(&m, bytes, len, d->media_type);
    if (r < 0)
        goto cleanup;
    if (m->kind == MT_KIND_INDEX) {
        if (depth > 2) {
            r = berr_set(BERR_UNSUPPORTED, "index nesting too deep in %s", d->digest.str);
            goto cleanup;
        }
        for (size_t i = 0; i < m->n_manifests && r == 0; i++) {
            const struct descriptor *c = &m->manifests[i];
            if (layout_blob_stat(NULL, p->src, &c->digest) == 0) {
                r = push_manifest(p, c, NULL, depth + 1);
                continue;
            }
            /* a platform we never pulled: fine if the registry has it */
            r = regclient_manifest_get(p->rc, p->repo, c->digest.str, NULL, NULL, NULL);
            if (r < 0) {
                char why[300];
                snprintf(why, sizeof(why), "%s", berr_message());
                r = berr_set(BERR_MANIFEST_BLOB_UNKNOWN,
                             "image incomplete: %s is neither local nor in %s/%s (%s)",
                             c->digest.str, p->host, p->repo, why);
            }
        }
    } else {
        if (m->has_config)
            r = push_blob(p, &m->config);
        for (size_t i = 0; i < m->n_layers && r == 0; i++)
            r = push_blob(p, &m->layers[i]);
    }
    if (r == 0)
        r = regclient_manifest_put(p->rc, p->repo, ref ? ref : d->digest.str, m->media_type, bytes,
                                   len, NULL);
cleanup:
    manifest_free(m);
    free(bytes);
    return r;
}

/* What push reads from: a layout (the store's, or one opened or built for
 * the command) and the descriptor of the image in it. */
struct push_src {
    struct layout *layout; /* where blobs come from (not owned when the store's) */
    struct layout *own;    /* a layout this command opened, or NULL */
    struct descriptor desc;
    char *tmpdir;  /* a directory to remove afterwards, or NULL */
    char *repotag; /* the archive's own name for the image, or NULL */
};

static void src_release(struct push_src *ps)
{
    layout_free(ps->own);
    if (ps->tmpdir)
        unpack_remove_tree(ps->tmpdir);
    free(ps->tmpdir);
    free(ps->repotag);
    descriptor_release(&ps->desc);
}

/* oci:DIR[:TAG]; without TAG the layout must hold exactly one image. */
static int src_open_oci(struct push_src *ps, const char *spec)
{
    char *dir = xstrdup(spec);
    char *colon = strrchr(dir, ':');
    const char *tag = NULL;
    if (colon && !strchr(colon, '/')) {
        *colon = '\0';
        tag = colon + 1;
    }
    int r = layout_open(&ps->own, dir);
    if (r == 0 && tag) {
        r = layout_resolve(&ps->desc, ps->own, tag);
    } else if (r == 0) {
        struct layout_entry *e = NULL;
        size_t n = 0;
        r = layout_entries(&e, &n, ps->own);
        if (r == 0 && n != 1)
            r = berr_set(BERR_INVALID, "%s has %zu images; name one as oci:DIR:TAG", dir, n);
        if (r == 0)
            descriptor_copy(&ps->desc, &e[0].desc);
        layout_entries_free(e, n);
    }
    ps->layout = ps->own;
    free(dir);
    return r;
}

/* A docker save archive, imported into a temporary layout under home. */
static int src_open_archive(struct push_src *ps, const char *home, const char *path)
{
    ps->tmpdir = xasprintf("%s/tmp-push-XXXXXX", home);
    if (!mkdtemp(ps->tmpdir)) {
        free(ps->tmpdir);
        ps->tmpdir = NULL;
        return berr_set(BERR_IO, "cannot create a temporary directory in %s", home);
    }
    char *ldir = xasprintf("%s/layout", ps->tmpdir);
    int r = layout_create(&ps->own, ldir);
    free(ldir);
    if (r == 0)
        r = archive_import(&ps->desc, &ps->repotag, ps->own, path);
    ps->layout = ps->own;
    return r;
}

/* An image of the local store. */
static int src_open_local(struct push_src *ps, const struct cli *cli, struct store *st,
                          const char *ref)
{
    struct reference sref;
    int r = cli_ref_parse(&sref, cli, ref);
    if (r < 0)
        return r;
    char *name = cli_ref_string(&sref);
    reference_release(&sref);
    r = store_resolve(&ps->desc, st, name);
    free(name);
    ps->layout = st->layout;
    return r;
}

/* SRC of the form docker-archive:FILE, or an existing regular file. */
static const char *archive_path(const char *src)
{
    if (strncmp(src, "docker-archive:", 15) == 0)
        return src + 15;
    struct stat st;
    if (strchr(src, '/') && stat(src, &st) == 0 && S_ISREG(st.st_mode))
        return src;
    return NULL;
}

/* Push ps's image to dst. */
static int push_to(struct cli *cli, struct store *st, struct push_src *ps, const char *dst,
                   int64_t chunk)
{
    struct reference ref;
    struct pusher p;
    memset(&p, 0, sizeof(p));
    int r = cli_ref_parse(&ref, cli, dst);
    if (r < 0)
        return r;
    char *name = cli_ref_string(&ref);
    struct regclient_opts ro = {.host = ref.host,
                                .plain_http = cli_host_plain_http(cli, ref.host),
                                .limit_rate = cli->limit_rate};
    r = regclient_new(&p.rc, &ro);
    if (r < 0)
        goto cleanup;
    p.cli = cli;
    p.st = st;
    p.src = ps->layout;
    p.host = ref.host;
    p.repo = ref.name;
    p.chunk = chunk;
    p.pg = progress_new(cli_progress_mode(cli), stderr);
    progress_note(p.pg, "pushing %s (%s)", name, ps->desc.digest.str);
    if (ref.digest && strcmp(ref.digest, ps->desc.digest.str) != 0) {
        r = berr_set(BERR_DIGEST_INVALID, "digest invalid: the image is %s, not %s",
                     ps->desc.digest.str, ref.digest);
        goto cleanup;
    }
    r = push_manifest(&p, &ps->desc, ref.digest ? NULL : ref.tag, 0);
    if (r == 0) {
        progress_note(p.pg, "pushed %s", name);
        printf("%s\n", ps->desc.digest.str);
    }
cleanup:
    progress_free(p.pg);
    regclient_free(p.rc);
    free(name);
    reference_release(&ref);
    return r;
}

int cmd_push(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"chunk-size", required_argument, NULL, 'c'},
        {"quiet", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    int64_t chunk = PUSH_CHUNK_DEFAULT;
    const char *env_chunk = getenv("BERTH_CHUNK_SIZE");
    if (env_chunk && *env_chunk)
        chunk = strtoll(env_chunk, NULL, 10);
    for (;;) {
        int c = getopt_long(argc, argv, "+q", opts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'c':
            chunk = strtoll(optarg, NULL, 10);
            break;
        case 'q':
            cli->quiet = 1;
            break;
        default:
            return cli_usage("push", "unknown option");
        }
    }
    if (argc - optind < 1 || argc - optind > 2)
        return cli_usage("push", "expects SRC [REF]");
    if (chunk < 0)
        return cli_usage("push", "--chunk-size must be >= 0");
    const char *src = argv[optind];
    const char *dst = argc - optind == 2 ? argv[optind + 1] : NULL;
    const char *apath = archive_path(src);
    struct store *st = NULL;
    struct push_src ps;
    memset(&ps, 0, sizeof(ps));
    int r = store_open(&st, cli->home);
    if (r < 0)
        goto cleanup;
    /* a local image's blobs must not be pruned while they are read, nor a
     * temporary layout under home swept while it is in use */
    if (strncmp(src, "oci:", 4) != 0)
        r = store_lock(st, 0);
    if (r < 0)
        goto cleanup;
    if (strncmp(src, "oci:", 4) == 0) {
        r = src_open_oci(&ps, src + 4);
    } else if (apath) {
        r = src_open_archive(&ps, cli->home, apath);
        if (!dst)
            dst = ps.repotag;
    } else {
        r = src_open_local(&ps, cli, st, src);
        if (!dst)
            dst = src;
    }
    if (r == 0 && !dst)
        r = berr_set(BERR_INVALID, "push %s: give the destination REF", src);
    if (r == 0)
        r = push_to(cli, st, &ps, dst, chunk);
cleanup:
    src_release(&ps);
    store_free(st);
    return r < 0 ? cli_fail(r) : CLI_EXIT_OK;
}
