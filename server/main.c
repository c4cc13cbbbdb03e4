/*
 * main.c - berthd: `berthd [serve] [options]`, plus the admin commands.
 *
 * Start-up order: configuration (frozen from here on) -> logging -> storage
 * stack (data dir, driver, metadata, uploads, auth) -> listeners -> libuv
 * loop on this thread until SIGTERM, then drain and exit 0.
 */
#include "config/config.h"
#include "image/base/err.h"
#include "image/base/log.h"
#include "server/http.h"
#include "server/routes.h"
#include "server/server.h"
#include "server/worker.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static int serve(struct config *cfg)
{
    struct server *srv = NULL;
    int rc;
    if (strcmp(cfg->auth_mode, "none") == 0 && !cfg->auth_force_open &&
        !http_loopback_only(cfg)) {
        log_error("refusing to serve without authentication on a non-loopback address (%s); "
                  "configure auth.mode or set auth.force-open",
                  cfg->listen);
        return 2;
    }
    log_info("data directory %s", cfg->data_dir);
    rc = server_open(&srv, cfg);
    if (rc < 0) {
        log_error("cannot open storage: %s", berr_message());
        return 1;
    }
    rc = http_start(srv);
    if (rc < 0) {
        log_error("%s", berr_message());
        http_stop(srv);
        server_free(srv);
        return 1;
    }
    http_log_addresses(srv);
    rc = worker_run(srv);
    http_stop(srv);
    server_free(srv);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct config cfg;
    const char *cmd = "serve";
    int first = 1;
    signal(SIGPIPE, SIG_IGN);
    if (argc > 1 && argv[1][0] != '-') {
        cmd = argv[1];
        first = 2;
    }
    for (int i = first; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            config_usage(stdout, "berthd");
            return 0;
        }
        if (!strcmp(argv[i], "--print-config-doc")) {
            config_print_doc(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--print-routes")) {
            routes_print_doc(stdout);
            return 0;
        }
    }
    if (strcmp(cmd, "serve") != 0) {
        fprintf(stderr, "berthd: unknown command '%s' (see berthd --help)\n", cmd);
        return 2;
    }
    int print = 0;
    char *args[argc > 0 ? argc : 1];
    int nargs = 0;
    for (int i = first; i < argc; i++) {
        if (!strcmp(argv[i], "--print-config"))
            print = 1;
        else
            args[nargs++] = argv[i];
    }
    if (config_load(&cfg, nargs, args) < 0) {
        fprintf(stderr, "berthd: %s\n", berr_message());
        return 2;
    }
    if (print) {
        config_print(&cfg, stdout);
        config_release(&cfg);
        return 0;
    }
    log_set_level((enum log_level)log_level_parse(cfg.log_level));
    int rc = serve(&cfg);
    config_release(&cfg);
    return rc;
}
