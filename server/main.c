/*
 * main.c - berthd: `berthd [serve] [options]`, plus the admin commands
 * `berthd gc` and `berthd fsck` (docs/gc.md).
 *
 * Start-up order: configuration (frozen from here on) -> logging -> storage
 * stack (data dir, driver, metadata, uploads, auth) -> trash/ recovery (an
 * interrupted garbage collection) -> start-up memory given back (this thread's
 * SQLite connection closed, heap trimmed) -> listeners -> libuv loop on this
 * thread until SIGTERM, then drain and exit 0.
 *
 * The admin commands take their own flags out of argv and hand the rest
 * (--config, --data, any option) to config_load, then open the storage stack
 * without listeners or auth - safe while a server runs on the same data
 * directory: every change goes through the metadata write lock.
 */
#include "config/config.h"
#include "gc/fsck.h"
#include "gc/gc.h"
#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"
#include "server/http.h"
#include "server/routes.h"
#include "server/server.h"
#include "server/worker.h"

#include <malloc.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- admin commands (gc, fsck) ----------------------------------------------- */

/* Exit codes (docs/gc.md). */
enum {
    ADMIN_OK = 0,       /* gc: done; fsck: no errors (warnings possible) */
    ADMIN_FAILED = 1,   /* gc: stopped by an error or a signal; fsck: errors remain */
    ADMIN_USAGE = 2,    /* bad flag, bad configuration */
    ADMIN_NO_STORE = 3, /* no registry there, or the check could not run */
};

static atomic_int admin_cancel;

static void admin_on_signal(int sig)
{
    (void)sig;
    atomic_store(&admin_cancel, 1);
}

/* First SIGINT/SIGTERM: stop at the next transaction; the second kills. */
static void admin_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = admin_on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

struct admin {
    struct config cfg;
    int cfg_loaded;
    struct driver *drv;
    struct blobstore *bs;
    struct metadb *db;
    struct upload_mgr *uploads;
    struct gc_store st;
};

static void admin_close(struct admin *a)
{
    upload_mgr_free(a->uploads);
    metadb_free(a->db);
    blobstore_free(a->bs);
    driver_free(a->drv);
    if (a->cfg_loaded)
        config_release(&a->cfg);
}

/* Load the configuration from the leftover args and open the store (never
 * creating one). Returns an exit code, ADMIN_OK to go on. */
static int admin_open(struct admin *a, const char *cmd, int nargs, char **args)
{
    struct stat sb;
    a->cfg_loaded = 1; /* config_release is safe after a failed load too */
    if (config_load(&a->cfg, nargs, args) < 0) {
        fprintf(stderr, "berthd %s: %s\n", cmd, berr_message());
        return ADMIN_USAGE;
    }
    log_set_level((enum log_level)log_level_parse(a->cfg.log_level));
    if (strcmp(a->cfg.storage_driver, "fs") != 0) {
        fprintf(stderr, "berthd %s: storage.driver %s keeps no blobs outside a running berthd\n",
                cmd, a->cfg.storage_driver);
        return ADMIN_USAGE;
    }
    char *dbpath = xasprintf("%s/metadata.db", a->cfg.data_dir);
    int found = stat(dbpath, &sb) == 0;
    int rc = 0;
    if (!found) {
        fprintf(stderr, "berthd %s: no registry in %s (no metadata.db)\n", cmd, a->cfg.data_dir);
        free(dbpath);
        return ADMIN_NO_STORE;
    }
    rc = driver_fs_new(&a->drv, a->cfg.data_dir);
    if (rc == 0)
        rc = blobstore_new(&a->bs, a->drv);
    if (rc == 0)
        rc = metadb_open(&a->db, dbpath);
    if (rc == 0)
        rc = upload_mgr_new(&a->uploads, a->bs, a->db);
    free(dbpath);
    if (rc < 0) {
        fprintf(stderr, "berthd %s: cannot open %s: %s\n", cmd, a->cfg.data_dir, berr_message());
        return ADMIN_NO_STORE;
    }
    a->st = (struct gc_store){a->bs, a->db, a->uploads};
    return ADMIN_OK;
}

static void gc_usage(FILE *fp)
{
    fprintf(
        fp,
        "usage: berthd gc [--dry-run] [--delete-untagged] [--grace DURATION] [-v]\n"
        "                 [--config FILE] [--data DIR] [--OPTION VALUE...]\n"
        "one full garbage collection of a data directory (safe while berthd runs on it).\n"
        "  --dry-run          report what would be deleted, change nothing\n"
        "  --delete-untagged  also collect manifests no tag reaches (default: gc.delete-untagged)\n"
        "  --grace DURATION   keep blobs, links and manifests younger than this (default: "
        "gc.grace)\n"
        "  -v, --verbose      figures per repository\n"
        "exit: 0 done, 1 stopped by an error or a signal (run it again), 2 usage,\n"
        "      3 no registry in the data directory\n");
}

static void fsck_usage(FILE *fp)
{
    fprintf(fp, "usage: berthd fsck [--deep] [--repair] [--config FILE] [--data DIR]\n"
                "check that every blob row has its file with the right size (and digest with\n"
                "--deep); report missing, orphan and misplaced files.\n"
                "  --deep     hash every blob and compare with its digest\n"
                "  --repair   put back files an interrupted collection left in trash/, remove\n"
                "             trash leftovers and orphan files older than gc.grace (never a file\n"
                "             that has a row)\n"
                "exit: 0 no errors, 1 errors remain, 2 usage, 3 no registry / check failed\n");
}

static int cmd_gc(int argc, char **argv)
{
    struct admin a = {0};
    struct gc_options o;
    struct gc_report r;
    const char *grace = NULL;
    int dry = 0, untagged = 0, verbose = 0, nargs = 0, code;
    char **args = xcalloc((size_t)argc + 1, sizeof(*args));
    gc_options_init(&o);
    for (int i = 0; i < argc; i++) {
        const char *x = argv[i];
        if (!strcmp(x, "--help") || !strcmp(x, "-h")) {
            gc_usage(stdout);
            free(args);
            return ADMIN_OK;
        } else if (!strcmp(x, "--dry-run")) {
            dry = 1;
        } else if (!strcmp(x, "--delete-untagged")) {
            untagged = 1;
        } else if (!strcmp(x, "-v") || !strcmp(x, "--verbose")) {
            verbose = 1;
        } else if (!strcmp(x, "--grace") && i + 1 < argc) {
            grace = argv[++i];
        } else if (!strncmp(x, "--grace=", 8)) {
            grace = x + 8;
        } else if (!strcmp(x, "--grace")) {
            fprintf(stderr, "berthd gc: --grace needs a duration (e.g. 24h)\n");
            free(args);
            return ADMIN_USAGE;
        } else {
            args[nargs++] = argv[i];
        }
    }
    code = admin_open(&a, "gc", nargs, args);
    free(args);
    if (code != ADMIN_OK)
        goto close;
    o.grace = a.cfg.gc_grace;
    if (grace != NULL && config_parse_duration(grace, &o.grace) < 0) {
        fprintf(stderr, "berthd gc: --grace: %s\n", berr_message());
        code = ADMIN_USAGE;
        goto close;
    }
    o.batch = a.cfg.gc_batch;
    o.delete_untagged = untagged || a.cfg.gc_delete_untagged;
    o.dry_run = dry;
    o.upload_expiry = a.cfg.upload_expiry;
    o.per_repo = verbose;
    o.cancel = &admin_cancel;
    admin_signals();
    int rc = gc_run(&r, &a.st, &o);
    gc_report_print(&r, stdout, verbose);
    gc_report_release(&r);
    if (rc < 0) {
        fprintf(stderr, "berthd gc: %s (run it again to finish)\n", berr_message());
        code = ADMIN_FAILED;
    } else if (r.cancelled) {
        fprintf(stderr, "berthd gc: interrupted (run it again to finish)\n");
        code = ADMIN_FAILED;
    }
close:
    admin_close(&a);
    return code;
}

static int cmd_fsck(int argc, char **argv)
{
    struct admin a = {0};
    struct fsck_options o = {0};
    struct fsck_report r;
    int nargs = 0, code;
    char **args = xcalloc((size_t)argc + 1, sizeof(*args));
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fsck_usage(stdout);
            free(args);
            return ADMIN_OK;
        } else if (!strcmp(argv[i], "--deep")) {
            o.deep = 1;
        } else if (!strcmp(argv[i], "--repair")) {
            o.repair = 1;
        } else {
            args[nargs++] = argv[i];
        }
    }
    code = admin_open(&a, "fsck", nargs, args);
    free(args);
    if (code != ADMIN_OK)
        goto close;
    o.grace = a.cfg.gc_grace;
    o.batch = a.cfg.gc_batch;
    o.out = stdout;
    int rc = fsck_run(&r, &a.st, &o);
    fsck_report_print(&r, stdout);
    if (rc < 0) {
        fprintf(stderr, "berthd fsck: check failed: %s\n", berr_message());
        code = ADMIN_NO_STORE;
    } else if (fsck_errors(&r) > 0) {
        code = ADMIN_FAILED;
    }
close:
    admin_close(&a);
    return code;
}

/* Before listening: put back the blob files an interrupted collection moved
 * to trash/ (their rows exist), remove the rest (docs/gc.md, crash order).
 * Runs whatever gc.enabled says; a failure is logged, the next collection
 * retries. */
static void recover_trash(struct server *srv)
{
    struct gc_store st = {srv->bs, srv->db, srv->uploads};
    struct gc_report r = {0};
    if (gc_recover(&r, &st, srv->cfg->gc_batch) < 0)
        log_warn("gc: start-up recovery of trash/ failed: %s", berr_message());
    else if (r.restored > 0 || r.purged > 0)
        log_info("gc: start-up recovery: %lld blob file(s) put back, %lld purged",
                 (long long)r.restored, (long long)r.purged);
}

/* Start-up is done with the database: this thread keeps no SQLite connection
 * while it idles (page cache, schema, lookaside: ~160 KiB of heap, plus the
 * WAL index mapping; the upload sweep opens one for the time it runs), and
 * the heap pages that connection and the start-up queries used go back to the
 * system (malloc_trim returns whole free pages inside the heap, not only its
 * top, which live allocations above them pin). Idle VmRSS -130 KiB. */
static void release_startup_memory(struct server *srv)
{
    metadb_thread_done(srv->db);
    malloc_trim(0);
}

static int serve(struct config *cfg)
{
    struct server *srv = NULL;
    int rc;
    if (strcmp(cfg->auth_mode, "none") == 0 && !cfg->auth_force_open && !http_loopback_only(cfg)) {
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
    recover_trash(srv);
    release_startup_memory(srv);
    worker_prepare(); /* before the listeners start the first threads */
    rc = worker_open(srv);
    if (rc == 0)
        rc = http_start(srv);
    if (rc < 0) {
        log_error("%s", berr_message());
        http_stop(srv);
        worker_free(srv);
        server_free(srv);
        return 1;
    }
    http_log_addresses(srv);
    rc = worker_run(srv);
    http_stop(srv);
    worker_free(srv);
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
    if (!strcmp(cmd, "gc"))
        return cmd_gc(argc - first, argv + first);
    if (!strcmp(cmd, "fsck"))
        return cmd_fsck(argc - first, argv + first);
    for (int i = first; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            config_usage(stdout, "berthd");
            printf("\ncommands: serve (the default), gc, fsck (berthd gc --help, berthd fsck "
                   "--help)\n");
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
