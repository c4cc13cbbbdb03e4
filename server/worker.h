/*
 * worker.h - the libuv loop that owns signals, timers and background work
 * (upload expiry; online garbage collection). Runs on the main thread while
 * libmicrohttpd's threads serve requests.
 */
#ifndef BERTH_WORKER_H
#define BERTH_WORKER_H

#include "server/server.h"

/* Size libuv's thread pool for berthd (one thread: collections never
 * overlap), unless UV_THREADPOOL_SIZE is set. Call before any thread starts:
 * it changes the environment. */
void worker_prepare(void);

/* Run until SIGTERM/SIGINT, then drain: stop accepting, wait for in-flight
 * requests up to cfg->shutdown_timeout. Returns 0 on a clean drain, 1 when
 * requests were still running at the deadline, or a BERR_* code. */
int worker_run(struct server *srv);

#endif
