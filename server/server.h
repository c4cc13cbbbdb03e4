/*
 * server.h - the long-lived server context shared by every request.
 *
 * Built once at start-up from the frozen config; everything in it is either
 * immutable after server_open or internally synchronized (metadb keeps a
 * connection per thread, upload_mgr locks its table).
 */
#ifndef BERTH_SERVER_H
#define BERTH_SERVER_H

#include <stdatomic.h>

#include "config/config.h"
#include "storage/blobstore.h"
#include "storage/driver.h"
#include "storage/metadb.h"
#include "storage/upload.h"

struct auth;
struct http;
struct listcache;
struct worker;

struct server {
    const struct config *cfg;
    struct driver *drv;
    struct blobstore *bs;
    struct metadb *db;
    struct upload_mgr *uploads;
    struct auth *auth;       /* NULL when auth.mode = none */
    struct listcache *lists; /* rendered tag lists and catalog pages */
    struct http *http;
    struct worker *worker; /* libuv loop and pool (server/worker.c) */
    atomic_long inflight;  /* requests between first callback and completion */
    atomic_ullong next_id; /* request ids for logs */
};

/* Open the data directory (creating it), the storage driver, the metadata
 * database and the upload manager. Returns 0 or a BERR_* code. */
int server_open(struct server **out, const struct config *cfg);
/* Free everything server_open made. Accepts NULL. */
void server_free(struct server *srv);

#endif
