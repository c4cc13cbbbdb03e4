/*
 * cmd_pull.c - `berth pull REF`: manifest (choosing from an index by
 * platform), config, then every missing layer in parallel; everything is
 * verified against its digest and size before it enters the store, and the
 * tag is written last, so a failed pull leaves no tag pointing at missing
 * content. The store lock is held shared for the whole pull.
 */
#include "client/cmds.h"

#include "client/progress.h"
#include "client/regclient.h"
#include "client/store.h"
#include "client/transfer.h"
#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"
#include "image/layout.h"
#include "image/manifest.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#define PULL_CONFIG_MAX (16u << 20)
#define PULL_PARALLEL   4

int cli_progress_mode(const struct cli *cli)
{
    if (cli->quiet)
        return PROGRESS_QUIET;
    return cli->tty ? PROGRESS_TTY : PROGRESS_PLAIN;
}

/* This host's platform in OCI words, or the --platform value. */
static void pick_platform(char **os, char **arch, char **variant, const char *spec)
{
    if (spec) {
        char *copy = xstrdup(spec);
        char *a = strchr(copy, '/');
        char *v = a ? strchr(a + 1, '/') : NULL;
        if (a)
            *a++ = '\0';
        if (v)
            *v++ = '\0';
        *os = xstrdup(copy);
        *arch = xstrdup(a ? a : "amd64");
        *variant = v ? xstrdup(v) : NULL;
        free(copy);
        return;
    }
    struct utsname u;
    const char *m = uname(&u) == 0 ? u.machine : "x86_64";
    *os = xstrdup("linux");
    *variant = NULL;
    if (strcmp(m, "x86_64") == 0)
        *arch = xstrdup("amd64");
    else if (strcmp(m, "aarch64") == 0)
        *arch = xstrdup("arm64");
    else if (strncmp(m, "armv7", 5) == 0) {
        *arch = xstrdup("arm");
        *variant = xstrdup("v7");
    } else if (strcmp(m, "i686") == 0 || strcmp(m, "i386") == 0)
        *arch = xstrdup("386");
    else
        *arch = xstrdup(m);
}

/* Store a blob already in memory (verified by the layout writer). */
static int put_blob(struct store *s, const struct digest *dg, const char *data, size_t len)
{
    if (layout_blob_stat(NULL, s->layout, dg) == 0)
        return 0;
    return layout_blob_write(NULL, s->layout, dg, data, len);
}

static void short_digest(char *out, size_t size, const struct digest *dg)
{
    snprintf(out, size, "%.19s", dg->str);
}

/* Download the layers of m that the store lacks. */
static int pull_layers(struct cli *cli, struct store *s, struct regclient *rc, const char *repo,
                       const struct manifest *m, struct progress *pg)
{
    struct transfer_job *jobs = xcalloc(m->n_layers ? m->n_layers : 1, sizeof(*jobs));
    size_t n = 0;
    char *auth = NULL;
    char *scope = regclient_scope(repo, 0);
    int r = 0;
    for (size_t i = 0; i < m->n_layers; i++) {
        const struct descriptor *d = &m->layers[i];
        int dup = 0;
        for (size_t j = 0; j < n; j++)
            dup |= digest_equal(&jobs[j].digest, &d->digest);
        if (dup)
            continue;
        if (layout_blob_stat(NULL, s->layout, &d->digest) == 0) {
            char label[32];
            short_digest(label, sizeof(label), &d->digest);
            progress_end(pg, progress_add(pg, label, d->size), "exists");
            continue;
        }
        jobs[n].url = regclient_blob_url(rc, repo, &d->digest);
        digest_copy(&jobs[n].digest, &d->digest);
        jobs[n].size = d->size;
        n++;
    }
    for (int attempt = 0; n > 0 && attempt < 2; attempt++) {
        r = regclient_auth_header(&auth, rc, scope);
        if (r < 0)
            break;
        struct transfer_opts o = {.max_parallel = PULL_PARALLEL,
                                  .auth_header = auth,
                                  .limit_rate = cli->limit_rate,
                                  .progress = pg};
        r = transfer_run(s->layout, jobs, n, &o);
        free(auth);
        auth = NULL;
        if (r != BERR_UNAUTHORIZED)
            break;
        /* a token expired mid-way: get a new one, retry what failed */
        regclient_auth_forget(rc, scope);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (jobs[i].rc == 0) {
                transfer_job_release(&jobs[i]);
                continue;
            }
            if (k != i) {
                jobs[k] = jobs[i]; /* the digest is re-copied: it points into itself */
                digest_copy(&jobs[k].digest, &jobs[i].digest);
            }
            k++;
        }
        n = k;
    }
    for (size_t i = 0; i < n; i++)
        transfer_job_release(&jobs[i]);
    free(jobs);
    free(scope);
    return r;
}

int pull_ref(struct descriptor *out, struct digest *top_out, struct cli *cli, struct store *s,
             const struct reference *ref)
{
    struct regclient *rc = NULL;
    struct manifest *m = NULL;
    struct manifest *child = NULL;
    struct buf body = BUF_INIT;
    struct buf cfg = BUF_INIT;
    char *mt = NULL;
    char *name = cli_ref_string(ref);
    char *os = NULL, *arch = NULL, *variant = NULL;
    struct progress *pg = progress_new(cli_progress_mode(cli), stderr);
    struct digest top, dg;
    if (out)
        memset(out, 0, sizeof(*out));

    struct regclient_opts ro = {.host = ref->host,
                                .plain_http = cli_host_plain_http(cli, ref->host),
                                .limit_rate = cli->limit_rate};
    int r = regclient_new(&rc, &ro);
    if (r == 0)
        r = store_lock(s, 0);
    if (r < 0)
        goto cleanup;
    r = regclient_manifest_get(rc, ref->name, ref->digest ? ref->digest : ref->tag, &body, &mt,
                               &top);
    if (r < 0)
        goto cleanup;
    r = manifest_parse(&m, body.data, body.len, mt);
    if (r < 0)
        goto cleanup;
    digest_copy(&dg, &top);
    const struct manifest *img = m;
    if (m->kind == MT_KIND_INDEX) {
        pick_platform(&os, &arch, &variant, cli->platform);
        int i = manifest_index_match(m, os, arch, variant);
        if (i < 0) {
            r = berr_set(BERR_MANIFEST_UNKNOWN, "manifest unknown: %s has no image for %s/%s%s%s",
                         name, os, arch, variant ? "/" : "", variant ? variant : "");
            goto cleanup;
        }
        /* keep the index too: the image can be pushed again as it was */
        r = put_blob(s, &top, body.data, body.len);
        if (r < 0)
            goto cleanup;
        digest_copy(&dg, &m->manifests[i].digest);
        free(mt);
        mt = NULL;
        r = regclient_manifest_get(rc, ref->name, dg.str, &body, &mt, NULL);
        if (r == 0)
            r = manifest_parse(&child, body.data, body.len, mt);
        if (r == 0 && child->kind != MT_KIND_IMAGE)
            r = berr_set(BERR_UNSUPPORTED, "nested index in %s is not supported", name);
        if (r < 0)
            goto cleanup;
        img = child;
    }
    if (!img->has_config) {
        r = berr_set(BERR_MANIFEST_INVALID, "manifest invalid: %s has no config", name);
        goto cleanup;
    }
    progress_note(pg, "pulling %s (%s)", name, dg.str);
    if (layout_blob_stat(NULL, s->layout, &img->config.digest) != 0) {
        r = regclient_blob_get(rc, ref->name, &img->config.digest, PULL_CONFIG_MAX, &cfg);
        if (r == 0)
            r = put_blob(s, &img->config.digest, cfg.data ? cfg.data : "", cfg.len);
        if (r < 0)
            goto cleanup;
    }
    r = pull_layers(cli, s, rc, ref->name, img, pg);
    if (r < 0)
        goto cleanup;
    /* the manifest last: its presence means the content is complete */
    r = put_blob(s, &dg, body.data, body.len);
    if (r < 0)
        goto cleanup;
    store_note_source(s, ref->host, ref->name, &img->config.digest);
    for (size_t i = 0; i < img->n_layers; i++)
        store_note_source(s, ref->host, ref->name, &img->layers[i].digest);

    struct descriptor d;
    memset(&d, 0, sizeof(d));
    d.media_type = xstrdup(img->media_type);
    digest_copy(&d.digest, &dg);
    d.size = (int64_t)body.len;
    r = store_tag(s, name, &d);
    if (r == 0 && out)
        descriptor_copy(out, &d);
    descriptor_release(&d);
    if (r == 0 && !cli->quiet)
        progress_note(pg, "pulled %s", name);
cleanup:
    progress_free(pg);
    if (r == 0 && top_out)
        digest_copy(top_out, &top);
    manifest_free(m);
    manifest_free(child);
    buf_release(&body);
    buf_release(&cfg);
    free(mt);
    free(name);
    free(os);
    free(arch);
    free(variant);
    regclient_free(rc);
    return r;
}

int cmd_pull(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"platform", required_argument, NULL, 'p'},
        {"quiet", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    for (;;) {
        int c = getopt_long(argc, argv, "+q", opts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'p':
            cli->platform = optarg;
            break;
        case 'q':
            cli->quiet = 1;
            break;
        default:
            return cli_usage("pull", "unknown option");
        }
    }
    if (optind + 1 != argc)
        return cli_usage("pull", "expects one image reference");
    struct reference ref;
    struct store *s = NULL;
    int r = cli_ref_parse(&ref, cli, argv[optind]);
    if (r < 0)
        return cli_fail(r);
    struct digest top;
    r = store_open(&s, cli->home);
    if (r == 0)
        r = pull_ref(NULL, &top, cli, s, &ref);
    if (r == 0)
        printf("%s\n", top.str);
    store_free(s);
    reference_release(&ref);
    return r < 0 ? cli_fail(r) : CLI_EXIT_OK;
}
