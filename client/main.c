/*
 * main.c - `berth`, the Berth client: global options, then one subcommand
 * from the table below (the table is the command list of `berth help`).
 *
 * Global options come before the subcommand; each subcommand parses its own.
 * Environment: BERTH_HOME (local store), BERTH_REGISTRY (default registry),
 * BERTH_INSECURE (hosts reached over plain http besides loopback).
 */
#include "client/cli.h"
#include "client/cmds.h"

#include "image/base/log.h"
#include "image/base/xalloc.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct command {
    const char *name;
    int (*fn)(struct cli *cli, int argc, char **argv);
    const char *usage;
    const char *summary;
};

static const struct command commands[] = {
    {"pull", cmd_pull, "pull [--platform OS/ARCH] REF", "download an image into the local store"},
    {"push", cmd_push, "push [--chunk-size BYTES] SRC [REF]",
     "upload an image (SRC: local REF, oci:DIR[:TAG], docker-archive:FILE)"},
    {"run", cmd_run,
     "run [--rm] [-i] [-t] [-e K=V]... [-w DIR] [-u USER] [--entrypoint CMD] [--read-only] "
     "[--pull missing|always|never] [--runtime BIN] REF [CMD ARG...]",
     "run a command in a new container of an image"},
    {"images", cmd_images, "images", "list the images of the local store"},
    {"rmi", cmd_rmi, "rmi [--no-prune] REF...",
     "remove local image tags, then the content no other tag needs"},
    {"prune", cmd_prune, "prune", "remove the content of the local store that no tag needs"},
    {"tag", cmd_tag, "tag SRC DST", "give a local image another name"},
    {"inspect", cmd_inspect, "inspect [--remote] [--raw|--config] REF",
     "show an image's manifest, config, layers and sizes"},
    {"tags", cmd_tags, "tags REPO", "list the tags of a repository"},
    {"catalog", cmd_catalog, "catalog [HOST]", "list the repositories of a registry"},
    {"delete", cmd_delete, "delete REF", "delete a manifest (or a tag) from a registry"},
    {"login", cmd_login, "login [-u USER] [-p PASS | --password-stdin] [HOST]",
     "save credentials for a registry"},
    {"logout", cmd_logout, "logout [HOST]", "forget the credentials of a registry"},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: berth [--home DIR] [--registry HOST] [--insecure HOSTS] [-q] [-v] "
               "[--limit-rate BYTES] COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nexit status: 0 ok, 1 failure, 2 usage, 3 not found, 4 authentication, "
               "5 network or I/O,\n6 verification failed; `run`: the container's status, "
               "125 when berth failed first\n");
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int cmd_help(const char *name)
{
    const struct command *c = name ? find_command(name) : NULL;
    if (!c) {
        usage(stdout);
        return name ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    printf("usage: berth %s\n%s\n", c->usage, c->summary);
    return CLI_EXIT_OK;
}

static char *default_home(void)
{
    const char *h = getenv("BERTH_HOME");
    if (h && *h)
        return xstrdup(h);
    const char *x = getenv("XDG_DATA_HOME");
    if (x && *x)
        return xasprintf("%s/berth", x);
    const char *home = getenv("HOME");
    return xasprintf("%s/.local/share/berth", home && *home ? home : "/root");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"home", required_argument, NULL, 'H'},     {"registry", required_argument, NULL, 'r'},
        {"insecure", required_argument, NULL, 'I'}, {"limit-rate", required_argument, NULL, 'L'},
        {"quiet", no_argument, NULL, 'q'},          {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    struct cli cli;
    memset(&cli, 0, sizeof(cli));
    char *home = default_home();
    const char *reg = getenv("BERTH_REGISTRY");
    cli.home = home;
    cli.registry = reg && *reg ? reg : "localhost:5000";
    cli.insecure = getenv("BERTH_INSECURE");
    cli.tty = isatty(STDERR_FILENO);
    for (;;) {
        int c = getopt_long(argc, argv, "+qvh", opts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'H':
            cli.home = optarg;
            break;
        case 'r':
            cli.registry = optarg;
            break;
        case 'I':
            cli.insecure = optarg;
            break;
        case 'L':
            cli.limit_rate = strtol(optarg, NULL, 10);
            break;
        case 'q':
            cli.quiet = 1;
            break;
        case 'v':
            cli.verbose = 1;
            break;
        case 'h':
            usage(stdout);
            free(home);
            return CLI_EXIT_OK;
        default:
            usage(stderr);
            free(home);
            return CLI_EXIT_USAGE;
        }
    }
    log_set_level(cli.verbose ? LOG_DEBUG : LOG_WARN);
    if (optind >= argc) {
        usage(stderr);
        free(home);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[optind];
    int rc;
    if (strcmp(name, "help") == 0) {
        rc = cmd_help(optind + 1 < argc ? argv[optind + 1] : NULL);
    } else {
        const struct command *cmd = find_command(name);
        if (!cmd) {
            fprintf(stderr, "berth: unknown command '%s'\n", name);
            usage(stderr);
            rc = CLI_EXIT_USAGE;
        } else {
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;
            optind = 1; /* each command runs getopt again on its own argv */
            rc = cmd->fn(&cli, sub_argc, sub_argv);
        }
    }
    free(home);
    return rc;
}
