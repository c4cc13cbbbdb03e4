/*
 * cli.h - what every `berth` subcommand shares: the global options, the
 * documented exit codes, and the one place that turns a BERR_* code into an
 * exit status and a one-line message on stderr.
 */
#ifndef BERTH_CLIENT_CLI_H
#define BERTH_CLIENT_CLI_H

#include "image/reference.h"

/* Exit statuses of `berth` (docs/client.md lists them). `berth run` exits
 * with the container's own status once the container has started. */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAIL = 1,      /* any other failure (includes a refused layer) */
    CLI_EXIT_USAGE = 2,     /* bad command line or malformed reference */
    CLI_EXIT_NOTFOUND = 3,  /* manifest, blob, repository or local image unknown */
    CLI_EXIT_AUTH = 4,      /* authentication required / failed, or access denied */
    CLI_EXIT_NETWORK = 5,   /* registry unreachable, transport or I/O failure */
    CLI_EXIT_VERIFY = 6,    /* content does not match its digest or size */
    CLI_EXIT_RUN_FAIL = 125 /* `berth run` failed before the container started */
};

/* The global options, parsed once by main and passed to every command. */
struct cli {
    const char *home;     /* $BERTH_HOME, default ~/.local/share/berth */
    const char *registry; /* default registry host: --registry, $BERTH_REGISTRY, localhost:5000 */
    const char *insecure; /* comma list of hosts reached over plain http ($BERTH_INSECURE) */
    const char *platform; /* --platform os/arch[/variant] or NULL (this host) */
    long limit_rate;      /* bytes per second per transfer, 0 = unlimited */
    int quiet;            /* --quiet: no progress, only results */
    int verbose;          /* --verbose: debug log */
    int tty;              /* stderr is a terminal (progress bars) */
};

/* Turn a BERR_* code into a cli_exit status. */
int cli_exit_code(int rc);

/* Print "berth: <message>" for the failure `rc` (the thread-local message,
 * else the code's name) and return cli_exit_code(rc). */
int cli_fail(int rc);

/* Print "berth: <cmd>: <message>" plus the command's usage line and return
 * CLI_EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse a user reference and apply the default registry when it names
 * none. On success *out is owned by the caller (reference_release).
 * Returns 0 or the reference_parse code. */
int cli_ref_parse(struct reference *out, const struct cli *cli, const char *s);

/* "host/name:tag" or "host/name@digest" for ref (caller frees). */
char *cli_ref_string(const struct reference *ref);

/* 1 when `host` is reached over plain http: loopback hosts and those listed
 * in cli->insecure. */
int cli_host_plain_http(const struct cli *cli, const char *host);

#endif
