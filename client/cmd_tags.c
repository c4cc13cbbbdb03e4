/*
 * cmd_tags.c - listing commands that ask a registry: `berth tags REPO`
 * (every page of tags/list) and `berth catalog [HOST]` (every page of
 * _catalog). One name per line on stdout.
 */
#include "client/cmds.h"

#include "client/regclient.h"
#include "image/base/strlist.h"
#include "image/base/err.h"
#include "image/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int open_client(struct regclient **out, const struct cli *cli, const char *host)
{
    struct regclient_opts ro = {
        .host = host, .plain_http = cli_host_plain_http(cli, host), .limit_rate = cli->limit_rate};
    return regclient_new(out, &ro);
}

static void print_list(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        printf("%s\n", v[i]);
}

int cmd_tags(struct cli *cli, int argc, char **argv)
{
    if (argc != 2)
        return cli_usage("tags", "expects one repository (host/repo)");
    struct reference ref;
    struct regclient *rc = NULL;
    char **tags = NULL;
    int r = cli_ref_parse(&ref, cli, argv[1]);
    if (r < 0)
        return cli_fail(r);
    r = open_client(&rc, cli, ref.host);
    if (r == 0)
        r = regclient_tags(rc, ref.name, &tags, NULL);
    if (r == 0)
        print_list(tags);
    strlist_free(tags);
    regclient_free(rc);
    reference_release(&ref);
    return r < 0 ? cli_fail(r) : CLI_EXIT_OK;
}

int cmd_catalog(struct cli *cli, int argc, char **argv)
{
    if (argc > 2)
        return cli_usage("catalog", "expects at most one registry host");
    const char *host = argc == 2 ? argv[1] : cli->registry;
    struct regclient *rc = NULL;
    char **repos = NULL;
    int r = open_client(&rc, cli, host);
    if (r == 0)
        r = regclient_catalog(rc, &repos, NULL);
    if (r == 0)
        print_list(repos);
    strlist_free(repos);
    regclient_free(rc);
    return r < 0 ? cli_fail(r) : CLI_EXIT_OK;
}
