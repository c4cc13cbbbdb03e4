/*
 * cmd_inspect.c - `berth inspect [--remote] [--raw|--config] REF`: the
 * manifest, config, layers and sizes of an image, from the local store when
 * it is there (unless --remote), else from its registry. --raw prints the
 * exact manifest bytes, --config the config blob.
 */
#include "client/cmds.h"

#include "image/imgconfig.h"
#include "client/progress.h"
#include "client/regclient.h"
#include "client/store.h"
#include "image/base/buf.h"
#include "image/base/err.h"
#include "image/base/xalloc.h"
#include "image/layout.h"
#include "image/manifest.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INSPECT_MAX (16u << 20)

/* Where the bytes come from: the store, or a registry. */
struct source {
    struct store *st;
    struct regclient *rc;
    const char *repo;
};

static int get_manifest(struct source *src, const struct descriptor *local, const char *ref,
                        struct buf *out, char **mt, struct digest *dg)
{
    if (src->rc)
        return regclient_manifest_get(src->rc, src->repo, ref, out, mt, dg);
    char *data = NULL;
    size_t len = 0;
    int r = layout_blob_read(&data, &len, src->st->layout, &local->digest, INSPECT_MAX);
    if (r == 0) {
        buf_reset(out);
        r = buf_append(out, data, len);
        *mt = xstrdup(local->media_type);
        digest_copy(dg, &local->digest);
    }
    free(data);
    return r;
}

static int get_blob(struct source *src, const struct digest *dg, struct buf *out)
{
    if (src->rc)
        return regclient_blob_get(src->rc, src->repo, dg, INSPECT_MAX, out);
    char *data = NULL;
    size_t len = 0;
    int r = layout_blob_read(&data, &len, src->st->layout, dg, INSPECT_MAX);
    if (r == 0) {
        buf_reset(out);
        r = buf_append(out, data, len);
    }
    free(data);
    return r;
}

static void print_list(const char *label, char **v)
{
    if (!v)
        return;
    printf("%-12s", label);
    for (size_t i = 0; v[i]; i++)
        printf("%s%s", i ? " " : "", v[i]);
    printf("\n");
}

static void print_image(const struct manifest *m, const struct imgconfig *ic)
{
    char sz[32];
    int64_t total = m->config.size;
    if (ic->os)
        printf("%-12s%s/%s%s%s\n", "Platform", ic->os, ic->architecture ? ic->architecture : "?",
               ic->variant ? "/" : "", ic->variant ? ic->variant : "");
    if (ic->created)
        printf("%-12s%s\n", "Created", ic->created);
    print_list("Entrypoint", ic->entrypoint);
    print_list("Cmd", ic->cmd);
    for (size_t i = 0; ic->env && ic->env[i]; i++)
        printf("%-12s%s\n", "Env", ic->env[i]);
    if (ic->working_dir && *ic->working_dir)
        printf("%-12s%s\n", "WorkingDir", ic->working_dir);
    if (ic->user && *ic->user)
        printf("%-12s%s\n", "User", ic->user);
    progress_human(sz, sizeof(sz), m->config.size);
    printf("%-12s%s %s %s\n", "Config", m->config.digest.str, sz, m->config.media_type);
    printf("Layers:\n");
    for (size_t i = 0; i < m->n_layers; i++) {
        progress_human(sz, sizeof(sz), m->layers[i].size);
        printf("  %s %10s %s\n", m->layers[i].digest.str, sz, m->layers[i].media_type);
        total += m->layers[i].size;
    }
    progress_human(sz, sizeof(sz), total);
    printf("%-12s%s\n", "Size", sz);
}

int cmd_inspect(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"remote", no_argument, NULL, 'R'},
        {"raw", no_argument, NULL, 'r'},
        {"config", no_argument, NULL, 'c'},
        {"platform", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    int remote = 0, raw = 0, config_only = 0;
    for (;;) {
        int c = getopt_long(argc, argv, "+", opts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'R':
            remote = 1;
            break;
        case 'r':
            raw = 1;
            break;
        case 'c':
            config_only = 1;
            break;
        case 'p':
            cli->platform = optarg;
            break;
        default:
            return cli_usage("inspect", "unknown option");
        }
    }
    if (optind + 1 != argc)
        return cli_usage("inspect", "expects one image reference");
    struct reference ref;
    struct source src = {NULL, NULL, NULL};
    struct descriptor local;
    struct buf body = BUF_INIT;
    struct buf cfg = BUF_INIT;
    struct manifest *m = NULL;
    struct manifest *child = NULL;
    struct imgconfig ic;
    char *mt = NULL;
    char *name = NULL;
    struct digest dg;
    memset(&local, 0, sizeof(local));
    memset(&ic, 0, sizeof(ic));
    int r = cli_ref_parse(&ref, cli, argv[optind]);
    if (r < 0)
        return cli_fail(r);
    name = cli_ref_string(&ref);
    src.repo = ref.name;
    if (!remote) {
        r = store_open(&src.st, cli->home);
        if (r == 0)
            r = store_resolve(&local, src.st, name);
        if (r == BERR_MANIFEST_UNKNOWN)
            remote = 1;
        else if (r < 0)
            goto cleanup;
    }
    if (remote) {
        struct regclient_opts ro = {.host = ref.host,
                                    .plain_http = cli_host_plain_http(cli, ref.host),
                                    .limit_rate = cli->limit_rate};
        r = regclient_new(&src.rc, &ro);
        if (r < 0)
            goto cleanup;
    }
    r = get_manifest(&src, &local, ref.digest ? ref.digest : ref.tag, &body, &mt, &dg);
    if (r == 0)
        r = manifest_parse(&m, body.data, body.len, mt);
    if (r < 0)
        goto cleanup;
    if (raw) {
        fwrite(body.data, 1, body.len, stdout);
        printf("\n");
        goto cleanup;
    }
    if (!config_only) {
        printf("%-12s%s\n", "Reference", name);
        printf("%-12s%s\n", "Digest", dg.str);
        printf("%-12s%s\n", "MediaType", m->media_type);
    }
    const struct manifest *img = m;
    if (m->kind == MT_KIND_INDEX) {
        int pick = -1;
        if (!config_only)
            printf("Manifests:\n");
        for (size_t i = 0; i < m->n_manifests; i++) {
            const struct descriptor *d = &m->manifests[i];
            if (!config_only)
                printf("  %s %s/%s%s%s\n", d->digest.str, d->platform.os ? d->platform.os : "?",
                       d->platform.architecture ? d->platform.architecture : "?",
                       d->platform.variant ? "/" : "",
                       d->platform.variant ? d->platform.variant : "");
            if (pick < 0 && (!src.st || layout_blob_stat(NULL, src.st->layout, &d->digest) == 0))
                pick = (int)i;
        }
        if (pick < 0)
            goto cleanup;
        struct descriptor cd;
        descriptor_copy(&cd, &m->manifests[pick]);
        free(mt);
        mt = NULL;
        r = get_manifest(&src, &cd, cd.digest.str, &body, &mt, &dg);
        descriptor_release(&cd);
        if (r == 0)
            r = manifest_parse(&child, body.data, body.len, mt);
        if (r < 0)
            goto cleanup;
        img = child;
        if (!config_only)
            printf("%-12s%s\n", "Image", dg.str);
    }
    if (img->kind != MT_KIND_IMAGE || !img->has_config)
        goto cleanup;
    r = get_blob(&src, &img->config.digest, &cfg);
    if (r < 0)
        goto cleanup;
    if (config_only) {
        fwrite(cfg.data, 1, cfg.len, stdout);
        printf("\n");
        goto cleanup;
    }
    r = imgconfig_parse(&ic, cfg.data ? cfg.data : "", cfg.len);
    if (r == 0)
        print_image(img, &ic);
cleanup:
    imgconfig_release(&ic);
    manifest_free(m);
    manifest_free(child);
    buf_release(&body);
    buf_release(&cfg);
    descriptor_release(&local);
    free(mt);
    free(name);
    regclient_free(src.rc);
    store_free(src.st);
    reference_release(&ref);
    return r < 0 ? cli_fail(r) : CLI_EXIT_OK;
}
