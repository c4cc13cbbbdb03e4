/*
 * worker.h - the libuv loop that owns signals, timers and background work
 * (upload expiry; online garbage collection). Runs on the main thread while
 * libmicrohttpd's threads serve requests.
 */
#ifndef BERTH_WORKER_H
#define BERTH_WORKER_H

#include "server/server.h"

typedef void (*worker_fn)(void *arg);

/* Size libuv's thread pool for berthd (one thread: collections never
 * overlap), unless UV_THREADPOOL_SIZE is set. Call before any thread starts:
 * it changes the environment. */
void worker_prepare(void);

/* Create the loop and the (empty) io pool, set srv->worker; worker_defer
 * works from then on. Returns 0 or BERR_IO. */
int worker_open(struct server *srv);

/* Run run(arg) on an io thread (cfg->io_threads at most, started on
 * demand), soon. Callable from any thread. Returns 0, or BERR_BUSY once the
 * worker is stopping (or no io thread could be started): the caller must
 * then do the work itself. A job handed over always runs, shutdown
 * included. */
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
