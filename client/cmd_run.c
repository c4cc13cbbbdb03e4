/*
 * cmd_run.c - `berth run [opts] REF [CMD ARG...]`: find the image locally
 * (pulling it when missing, or always with --pull always), unpack it once
 * into the root filesystem cache ($BERTH_HOME/rootfs/<manifest hex>), then
 * run it with the OCI runtime and exit with the container's status.
 */
#include "client/cmds.h"

#include "image/imgconfig.h"
#include "client/run.h"
#include "client/store.h"
#include "image/base/strlist.h"
#include "client/unpack.h"
#include "image/base/err.h"
#include "image/base/xalloc.h"
#include "image/layout.h"
#include "image/manifest.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RUN_CONFIG_MAX (16u << 20)

enum pull_policy { PULL_MISSING, PULL_ALWAYS, PULL_NEVER };

/* Make sure the image is local; its manifest descriptor goes to *out. */
static int run_resolve(struct descriptor *out, struct cli *cli, struct store *s,
                       const struct reference *ref, enum pull_policy policy)
{
    char *name = cli_ref_string(ref);
    int r = policy == PULL_ALWAYS ? BERR_MANIFEST_UNKNOWN : store_resolve(out, s, name);
    if (r == BERR_MANIFEST_UNKNOWN && policy != PULL_NEVER) {
        int was_quiet = cli->quiet;
        r = pull_ref(out, NULL, cli, s, ref);
        cli->quiet = was_quiet;
    }
    free(name);
    return r;
}

int cmd_run(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"rm", no_argument, NULL, 'R'},
        {"interactive", no_argument, NULL, 'i'},
        {"tty", no_argument, NULL, 't'},
        {"env", required_argument, NULL, 'e'},
        {"workdir", required_argument, NULL, 'w'},
        {"user", required_argument, NULL, 'u'},
        {"entrypoint", required_argument, NULL, 'E'},
        {"read-only", no_argument, NULL, 'O'},
        {"pull", required_argument, NULL, 'P'},
        {"runtime", required_argument, NULL, 'T'},
        {"hostname", required_argument, NULL, 'h'},
        {"platform", required_argument, NULL, 'p'},
        {"quiet", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    struct run_opts ro;
    char **env = NULL;
    enum pull_policy policy = PULL_MISSING;
    memset(&ro, 0, sizeof(ro));
    ro.runtime = getenv("BERTH_RUNTIME");
    if (ro.runtime && !*ro.runtime)
        ro.runtime = NULL;
    for (;;) {
        int c = getopt_long(argc, argv, "+ite:w:u:h:q", opts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'R':
            ro.rm = 1;
            break;
        case 'i':
            break; /* stdin is always passed through */
        case 't':
            ro.tty = 1;
            break;
        case 'e':
            strlist_push(&env, optarg);
            break;
        case 'w':
            ro.workdir = optarg;
            break;
        case 'u':
            ro.user = optarg;
            break;
        case 'E':
            ro.entrypoint = optarg;
            break;
        case 'O':
            ro.read_only = 1;
            break;
        case 'T':
            ro.runtime = optarg;
            break;
        case 'h':
            ro.hostname = optarg;
            break;
        case 'p':
            cli->platform = optarg;
            break;
        case 'q':
            cli->quiet = 1;
            break;
        case 'P':
            if (strcmp(optarg, "always") == 0)
                policy = PULL_ALWAYS;
            else if (strcmp(optarg, "never") == 0)
                policy = PULL_NEVER;
            else if (strcmp(optarg, "missing") == 0)
                policy = PULL_MISSING;
            else {
                strlist_free(env);
                return cli_usage("run", "--pull takes missing, always or never");
            }
            break;
        default:
            strlist_free(env);
            return cli_usage("run", "unknown option");
        }
    }
    if (optind >= argc) {
        strlist_free(env);
        return cli_usage("run", "expects an image reference");
    }
    if (ro.tty && !isatty(STDIN_FILENO)) {
        strlist_free(env);
        fprintf(stderr, "berth: run -t needs a terminal on standard input\n");
        return CLI_EXIT_RUN_FAIL;
    }
    ro.env = env;
    ro.cmd = argv + optind + 1;

    struct reference ref;
    struct store *s = NULL;
    struct descriptor desc;
    struct manifest *m = NULL;
    struct imgconfig ic;
    char *cfg = NULL;
    size_t cfg_len = 0;
    char *rootfs = NULL;
    int status = CLI_EXIT_RUN_FAIL;
    memset(&desc, 0, sizeof(desc));
    memset(&ic, 0, sizeof(ic));
    int r = cli_ref_parse(&ref, cli, argv[optind]);
    if (r < 0) {
        cli_fail(r);
        strlist_free(env);
        return CLI_EXIT_RUN_FAIL;
    }
    r = store_open(&s, cli->home);
    /* shared from the lookup to the end of the unpack: a prune cannot take
     * the image's blobs or the half-unpacked root filesystem meanwhile */
    if (r == 0)
        r = store_lock(s, 0);
    if (r == 0)
        r = run_resolve(&desc, cli, s, &ref, policy);
    if (r == 0)
        r = store_manifest(&m, NULL, NULL, s, &desc);
    if (r == 0 && (m->kind != MT_KIND_IMAGE || !m->has_config))
        r = berr_set(BERR_UNSUPPORTED, "%s is not a runnable image", argv[optind]);
    if (r == 0)
        r = layout_blob_read(&cfg, &cfg_len, s->layout, &m->config.digest, RUN_CONFIG_MAX);
    if (r == 0)
        r = imgconfig_parse(&ic, cfg, cfg_len);
    if (r < 0)
        goto cleanup;
    char *sub = xasprintf("rootfs/%s", desc.digest.hex);
    rootfs = store_path(s, sub);
    free(sub);
    struct stat st;
    if (stat(rootfs, &st) != 0) {
        struct unpack_opts uo = {.allow_devices = 0, .keep_owner = geteuid() == 0};
        r = unpack_image(rootfs, s->layout, m, ic.diff_ids, ic.n_diff_ids, &uo);
        if (r < 0)
            goto cleanup;
    }
    /* the container runs on its own overlay: rmi and prune need not wait */
    store_unlock(s);
    int exit_status = CLI_EXIT_RUN_FAIL;
    r = run_container(&exit_status, cli->home, rootfs, &ic, &ro);
    if (r == 0)
        status = exit_status;
cleanup:
    if (r < 0)
        cli_fail(r);
    free(rootfs);
    free(cfg);
    imgconfig_release(&ic);
    manifest_free(m);
    descriptor_release(&desc);
    store_free(s);
    reference_release(&ref);
    strlist_free(env);
    return status;
}
