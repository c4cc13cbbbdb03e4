/*
 * cmd_images.c - the local store's commands: `berth images`, `berth rmi`,
 * `berth prune`, `berth tag`. rmi removes tags, then (unless --no-prune)
 * every blob and cached root filesystem no remaining tag needs; prune does
 * the second part alone (prune.c). Both hold the exclusive store lock from
 * the first change to the last; tag holds it shared, so a prune cannot remove
 * the content of an image between the lookup of SRC and the new tag.
 */
#include "client/cmds.h"

#include "client/progress.h"
#include "client/prune.h"
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

/* Take the exclusive store lock, saying so when it means waiting. */
static int lock_exclusive(const struct cli *cli, struct store *s)
{
    int r = store_trylock(s, 1);
    if (r != BERR_BUSY)
        return r;
    if (!cli->quiet)
        fprintf(stderr, "berth: waiting for other berth processes to finish with the store\n");
    return store_lock(s, 1);
}

static void print_deleted(void *ctx, const struct digest *d, int64_t size)
{
    (void)ctx;
    (void)size;
    printf("deleted %s\n", d->str);
}

/* Prune s and print what went (one "deleted DIGEST" line per blob unless
 * quiet, then a total when `total`). */
static int prune_and_report(const struct cli *cli, struct store *s, int total)
{
    struct prune_report rep;
    int r = prune_store(&rep, s, cli->quiet ? NULL : print_deleted, NULL);
    if (r == 0 && total && !cli->quiet) {
        char sz[32];
        progress_human(sz, sizeof(sz), rep.blob_bytes);
        printf("%zu blob%s deleted, %s reclaimed", rep.blobs, rep.blobs == 1 ? "" : "s", sz);
        if (rep.rootfs)
            printf(", %zu root filesystem%s", rep.rootfs, rep.rootfs == 1 ? "" : "s");
        if (rep.leftovers)
            printf(", %zu leftover%s of interrupted commands", rep.leftovers,
                   rep.leftovers == 1 ? "" : "s");
        printf("\n");
    }
    return r;
}

int cmd_rmi(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"no-prune", no_argument, NULL, 'n'},
        {"quiet", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    int prune = 1;
    for (;;) {
        int c = getopt_long(argc, argv, "+q", opts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'n':
            prune = 0;
            break;
        case 'q':
            cli->quiet = 1;
            break;
        default:
            return cli_usage("rmi", "unknown option");
        }
    }
    if (optind >= argc)
        return cli_usage("rmi", "expects at least one image reference");
    struct store *s = NULL;
    int r = store_open(&s, cli->home);
    if (r == 0)
        r = lock_exclusive(cli, s);
    if (r < 0) {
        store_free(s);
        return cli_fail(r);
    }
    int status = CLI_EXIT_OK;
    int removed = 0;
    for (int i = optind; i < argc; i++) {
        char *name = NULL;
        struct descriptor d;
        memset(&d, 0, sizeof(d));
        r = local_name(&name, cli, argv[i]);
        if (r == 0)
            r = store_resolve(&d, s, name);
        if (r == 0)
            r = store_untag(s, name);
        if (r == 0) {
            removed++;
            drop_rootfs(s, &d.digest);
            if (!cli->quiet)
                printf("untagged %s\n", name);
        } else {
            status = cli_fail(r);
        }
        descriptor_release(&d);
        free(name);
    }
    if (prune && removed > 0) {
        fflush(stdout);
        r = prune_and_report(cli, s, 0);
        if (r < 0)
            status = cli_fail(r);
    }
    store_free(s);
    return status;
}

int cmd_prune(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"quiet", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    for (;;) {
        int c = getopt_long(argc, argv, "+q", opts, NULL);
        if (c == -1)
            break;
        if (c != 'q')
            return cli_usage("prune", "unknown option");
        cli->quiet = 1;
    }
    if (optind < argc)
        return cli_usage("prune", "takes no arguments");
    struct store *s = NULL;
    int r = store_open(&s, cli->home);
    if (r == 0)
        r = lock_exclusive(cli, s);
    if (r == 0)
        r = prune_and_report(cli, s, 1);
    store_free(s);
    return r < 0 ? cli_fail(r) : CLI_EXIT_OK;
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
        r = store_lock(s, 0);
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
