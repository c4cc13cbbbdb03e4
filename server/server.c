/*
 * server.c - assembles the storage stack behind one struct server.
 *
 * Data directory layout: DATA/metadata.db (SQLite, WAL) and the driver's
 * tree (blobs/, uploads/, trash/) - see docs/storage.md.
 */
#include "server/server.h"

#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"
#include "server/authz.h"
#include "server/listcache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int mkdir_p(const char *path)
{
    char *p = xstrdup(path);
    int rc = 0;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            rc = berr_set(BERR_IO, "cannot create '%s': %s", p, strerror(errno));
            goto out;
        }
        *s = '/';
    }
    if (mkdir(p, 0755) < 0 && errno != EEXIST)
        rc = berr_set(BERR_IO, "cannot create '%s': %s", p, strerror(errno));
out:
    free(p);
    return rc;
}

int server_open(struct server **out, const struct config *cfg)
{
    struct server *srv = xcalloc(1, sizeof(*srv));
    char *dbpath = NULL;
    int rc;
    srv->cfg = cfg;
    rc = mkdir_p(cfg->data_dir);
    if (rc < 0)
        goto fail;
    if (strcmp(cfg->storage_driver, "mem") == 0) {
        log_warn("storage.driver mem: blobs live in memory and are lost at exit (tests only)");
        rc = driver_mem_new(&srv->drv);
    } else {
        rc = driver_fs_new(&srv->drv, cfg->data_dir);
    }
    if (rc < 0)
        goto fail;
    rc = blobstore_new(&srv->bs, srv->drv);
    if (rc < 0)
        goto fail;
    dbpath = xasprintf("%s/metadata.db", cfg->data_dir);
    rc = metadb_open(&srv->db, dbpath);
    if (rc < 0)
        goto fail;
    rc = upload_mgr_new(&srv->uploads, srv->bs, srv->db);
    if (rc < 0)
        goto fail;
    rc = authz_open(srv);
    if (rc < 0)
        goto fail;
    rc = listcache_new(&srv->lists, LISTCACHE_ENTRIES, LISTCACHE_BYTES, LISTCACHE_MAX_PAGE);
    if (rc < 0)
        goto fail;
    free(dbpath);
    *out = srv;
    return 0;
fail:
    free(dbpath);
    server_free(srv);
    return rc;
}

void server_free(struct server *srv)
{
    if (!srv)
        return;
    listcache_free(srv->lists);
    authz_close(srv);
    upload_mgr_free(srv->uploads);
    metadb_free(srv->db);
    blobstore_free(srv->bs);
    driver_free(srv->drv);
    free(srv);
}
