/*
 * cmd_login.c - `berth login [-u USER] [-p PASS | --password-stdin] [HOST]`
 * checks the credentials against the registry (GET /v2/, through the Basic
 * or token flow) and only then saves them (creds.c: with the credential
 * helper Docker's config names for HOST, else in Berth's file, mode 0600);
 * `berth logout [HOST]` forgets them (both places). The password is read without echo
 * from the terminal when not given, and never printed or logged.
 */
#include "client/cmds.h"

#include "client/creds.h"
#include "client/regclient.h"
#include "image/base/err.h"
#include "image/base/xalloc.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* Read one line from f (without its newline) into a new string, or NULL. */
static char *read_line(FILE *f)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    if (n < 0) {
        free(line);
        return NULL;
    }
    line[strcspn(line, "\r\n")] = '\0';
    return line;
}

static char *prompt(const char *what, int echo)
{
    struct termios old, quiet;
    int tty = isatty(STDIN_FILENO);
    fprintf(stderr, "%s: ", what);
    fflush(stderr);
    if (tty && !echo && tcgetattr(STDIN_FILENO, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
        char *s = read_line(stdin);
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fprintf(stderr, "\n");
        return s;
    }
    return read_line(stdin);
}

int cmd_login(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"username", required_argument, NULL, 'u'},
        {"password", required_argument, NULL, 'p'},
        {"password-stdin", no_argument, NULL, 'S'},
        {NULL, 0, NULL, 0},
    };
    char *user = NULL;
    char *pass = NULL;
    int from_stdin = 0;
    for (;;) {
        int c = getopt_long(argc, argv, "+u:p:", opts, NULL);
        if (c == -1)
            break;
        switch (c) {
        case 'u':
            free(user);
            user = xstrdup(optarg);
            break;
        case 'p':
            free(pass);
            pass = xstrdup(optarg);
            break;
        case 'S':
            from_stdin = 1;
            break;
        default:
            free(user);
            free(pass);
            return cli_usage("login", "unknown option");
        }
    }
    if (argc - optind > 1) {
        free(user);
        free(pass);
        return cli_usage("login", "expects at most one registry host");
    }
    const char *host = optind < argc ? argv[optind] : cli->registry;
    struct regclient *rc = NULL;
    int r = 0;
    if (!user)
        user = prompt("Username", 1);
    if (!pass)
        pass = from_stdin ? read_line(stdin) : prompt("Password", 0);
    if (!user || !*user || !pass) {
        r = berr_set(BERR_INVALID, "login needs a username and a password");
        goto cleanup;
    }
    struct regclient_opts ro = {.host = host,
                                .plain_http = cli_host_plain_http(cli, host),
                                .username = user,
                                .password = pass};
    r = regclient_new(&rc, &ro);
    if (r == 0)
        r = regclient_ping(rc);
    if (r == 0)
        r = creds_store(host, user, pass);
    if (r == 0 && !cli->quiet) {
        char *helper = creds_helper_for(host);
        if (helper)
            printf("logged in to %s (credentials kept by docker-credential-%s)\n", host, helper);
        else
            printf("logged in to %s\n", host);
        free(helper);
    }
cleanup:
    regclient_free(rc);
    free(user);
    if (pass) {
        explicit_bzero(pass, strlen(pass));
        free(pass);
    }
    return r < 0 ? cli_fail(r) : CLI_EXIT_OK;
}

int cmd_logout(struct cli *cli, int argc, char **argv)
{
    if (argc > 2)
        return cli_usage("logout", "expects at most one registry host");
    const char *host = argc == 2 ? argv[1] : cli->registry;
    int r = creds_erase(host);
    if (r == 0 && !cli->quiet)
        printf("logged out of %s\n", host);
    return r < 0 ? cli_fail(r) : CLI_EXIT_OK;
}
