/*
 * worker.h - the libuv loop that owns signals, timers and background work
 * (upload expiry; online garbage collection). Runs on the main thread while
 * libmicrohttpd's threads serve requests.
 */
#ifndef BERTH_WORKER_H
#define BERTH_WORKER_H

#include "server/server.h"

typedef void (*worker_fn)(void *arg);

/* Size libuv's thread pool for berthd: cfg->io_threads for deferred calls
 * plus one for a collection, unless UV_THREADPOOL_SIZE is set. Call before
 * any thread starts: it changes the environment. */
void worker_prepare(const struct config *cfg);

/* Create the loop and sets srv->worker; worker_defer works from then on
 * (jobs wait for worker_run). Returns 0 or BERR_IO. */
int worker_open(struct server *srv);

/* Run run(arg) on a pool thread, soon. Callable from any thread. Returns 0,
 * or BERR_BUSY once the worker is stopping: the caller must then do the
 * work itself. A job handed over is always run, shutdown included. */
int worker_defer(struct worker *w, worker_fn run, void *arg);

/* Run until SIGTERM/SIGINT, then drain: stop accepting, wait for in-flight
 * requests up to cfg->shutdown_timeout, then for every deferred job. Returns
 * 0 on a clean drain, 1 when requests were still running at the deadline, or
 * a BERR_* code. */
int worker_run(struct server *srv);

/* Close the loop and free srv->worker (after the HTTP layer stopped).
 * Accepts a server without a worker. */
void worker_free(struct server *srv);

#endif
