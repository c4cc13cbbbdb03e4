/*
 * cmds.h - the `berth` subcommands. Each takes the global options and its
 * own argv (argv[0] is the command name) and returns an exit status
 * (cli.h). client/main.c holds the table that names them.
 */
#ifndef BERTH_CLIENT_CMDS_H
#define BERTH_CLIENT_CMDS_H

#include "client/cli.h"

struct store;
struct descriptor;
struct reference;
struct digest;

int cmd_pull(struct cli *cli, int argc, char **argv);
int cmd_push(struct cli *cli, int argc, char **argv);
int cmd_run(struct cli *cli, int argc, char **argv);
int cmd_images(struct cli *cli, int argc, char **argv);
int cmd_rmi(struct cli *cli, int argc, char **argv);
int cmd_prune(struct cli *cli, int argc, char **argv);
int cmd_tag(struct cli *cli, int argc, char **argv);
int cmd_inspect(struct cli *cli, int argc, char **argv);
int cmd_tags(struct cli *cli, int argc, char **argv);
int cmd_catalog(struct cli *cli, int argc, char **argv);
int cmd_delete(struct cli *cli, int argc, char **argv);
int cmd_login(struct cli *cli, int argc, char **argv);
int cmd_logout(struct cli *cli, int argc, char **argv);

/* Pull ref into the store s and tag it locally under its full reference;
 * the image manifest's descriptor goes to *out (may be NULL; release with
 * descriptor_release) and the digest of what the reference named (an index,
 * or the image manifest) to *top_out (may be NULL). Progress goes to stderr
 * per cli; nothing to stdout. Returns 0 or a BERR_* code. */
int pull_ref(struct descriptor *out, struct digest *top_out, struct cli *cli, struct store *s,
             const struct reference *ref);

/* The progress mode for cli (quiet / plain / tty). */
int cli_progress_mode(const struct cli *cli);

#endif
