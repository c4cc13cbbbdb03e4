/*
 * cmd_images.c - the local store's commands: `berth images`, `berth rmi`,
 * `berth tag`. They read and change tags only; blobs stay in the store.
 */
#include "client/cmds.h"

#include "client/progress.h"
#include "client/store.h"
#include "client/unpack.h"
#include "image/base/err.h"
#include "image/base/xalloc.h"
#include "image/layout.h"
#include "image/manifest.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse a user reference into the store's name for it (caller frees). */
static int local_name(char **out, const struct cli *cli, const char *s)
{
    struct reference ref;
    int r = cli_ref_parse(&ref, cli, s);
    if (r < 0)
        return r;
    *out = cli_ref_string(&ref);
    reference_release(&ref);
    return 0;
}

/* Total bytes of an image: manifest + config + layers. */
static int64_t image_size(struct store *s, const struct descriptor *d)
{
    struct manifest *m = NULL;
    int64_t total = d->size;
    if (store_manifest(&m, NULL, NULL, s, d) < 0)
        return total;
    if (m->has_config)
        total += m->config.size;
    for (size_t i = 0; i < m->n_layers; i++)
        total += m->layers[i].size;
    manifest_free(m);
    return total;
}

int cmd_images(struct cli *cli, int argc, char **argv)
{
    struct store *s = NULL;
    struct layout_entry *e = NULL;
    size_t n = 0;
    if (argc > 1 && strcmp(argv[1], "-q") == 0)
        cli->quiet = 1;
    else if (argc > 1)
        return cli_usage("images", "takes no arguments");
    int r = store_open(&s, cli->home);
    if (r == 0)
        r = layout_entries(&e, &n, s->layout);
    if (r < 0) {
        store_free(s);
        return cli_fail(r);
    }
    if (!cli->quiet)
        printf("%-50s %-19s %10s\n", "REFERENCE", "DIGEST", "SIZE");
    for (size_t i = 0; i < n; i++) {
        char *name = store_entry_name(&e[i]);
        if (!name)
            continue;
        if (cli->quiet) {
            printf("%s\n", name);
        } else {
            char sz[32];
            progress_human(sz, sizeof(sz), image_size(s, &e[i].desc));
            printf("%-50s %.19s %10s\n", name, e[i].desc.digest.str, sz);
        }
        free(name);
    }
    layout_entries_free(e, n);
    store_free(s);
    return CLI_EXIT_OK;
}

/* Drop the unpacked root filesystem of digest dg unless another tag uses it. */
static void drop_rootfs(struct store *s, const struct digest *dg)
{
    struct layout_entry *e = NULL;
    size_t n = 0;
    if (layout_entries(&e, &n, s->layout) < 0)
        return;
    int used = 0;
    for (size_t i = 0; i < n; i++)
        used |= digest_equal(&e[i].desc.digest, dg);
    layout_entries_free(e, n);
    if (used)
        return;
    char *sub = xasprintf("rootfs/%s", dg->hex);
    char *path = store_path(s, sub);
    unpack_remove_tree(path);
    free(path);
    free(sub);
}

int cmd_rmi(struct cli *cli, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage("rmi", "expects at least one image reference");
    struct store *s = NULL;
    int r = store_open(&s, cli->home);
    if (r == 0)
        r = store_lock(s, 1);
    if (r < 0) {
        store_free(s);
        return cli_fail(r);
    }
    int status = CLI_EXIT_OK;
    for (int i = 1; i < argc; i++) {
        char *name = NULL;
        struct descriptor d;
        memset(&d, 0, sizeof(d));
        r = local_name(&name, cli, argv[i]);
        if (r == 0)
            r = store_resolve(&d, s, name);
        if (r == 0)
            r = store_untag(s, name);
        if (r == 0) {
            drop_rootfs(s, &d.digest);
            if (!cli->quiet)
                printf("untagged %s\n", name);
        } else {
            status = cli_fail(r);
        }
        descriptor_release(&d);
        free(name);
    }
    store_free(s);
    return status;
}

int cmd_tag(struct cli *cli, int argc, char **argv)
{
    if (argc != 3)
        return cli_usage("tag", "expects SRC DST");
    struct store *s = NULL;
    char *src = NULL;
    char *dst = NULL;
    struct descriptor d;
    memset(&d, 0, sizeof(d));
    int r = local_name(&src, cli, argv[1]);
    if (r == 0)
        r = local_name(&dst, cli, argv[2]);
    if (r == 0)
        r = store_open(&s, cli->home);
    if (r == 0)
        r = store_resolve(&d, s, src);
    if (r == 0)
        r = store_tag(s, dst, &d);
    descriptor_release(&d);
    store_free(s);
    free(src);
    free(dst);
    return r < 0 ? cli_fail(r) : CLI_EXIT_OK;
}
