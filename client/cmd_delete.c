/*
 * cmd_delete.c - `berth delete REF`: delete a manifest from a registry. A
 * digest reference deletes that manifest; a tag reference first tries to
 * delete the tag alone (OCI 1.1) and, when the registry does not support
 * that, resolves the tag and deletes the manifest it names.
 */
#include "client/cmds.h"

#include "client/regclient.h"
#include "image/base/err.h"

#include <stdio.h>
#include <string.h>

int cmd_delete(struct cli *cli, int argc, char **argv)
{
    if (argc != 2)
        return cli_usage("delete", "expects one image reference");
    struct reference ref;
    struct regclient *rc = NULL;
    int r = cli_ref_parse(&ref, cli, argv[1]);
    if (r < 0)
        return cli_fail(r);
    struct regclient_opts ro = {.host = ref.host,
                                .plain_http = cli_host_plain_http(cli, ref.host),
                                .limit_rate = cli->limit_rate};
    r = regclient_new(&rc, &ro);
    if (r < 0)
        goto cleanup;
    if (ref.digest) {
        r = regclient_manifest_delete(rc, ref.name, ref.digest);
    } else {
        r = regclient_manifest_delete(rc, ref.name, ref.tag);
        if (r == BERR_UNSUPPORTED || r == BERR_DIGEST_INVALID || r == BERR_INVALID) {
            struct digest dg;
            r = regclient_manifest_get(rc, ref.name, ref.tag, NULL, NULL, &dg);
            if (r == 0)
                r = regclient_manifest_delete(rc, ref.name, dg.str);
        }
    }
    if (r == 0 && !cli->quiet)
        printf("deleted %s\n", argv[1]);
cleanup:
    regclient_free(rc);
    reference_release(&ref);
    return r < 0 ? cli_fail(r) : CLI_EXIT_OK;
}
