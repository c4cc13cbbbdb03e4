/*
 * worker.c - libuv loop: SIGTERM/SIGINT drain, periodic upload expiry,
 * online garbage collection, and the pool that finishes writes.
 *
 * The loop thread runs the upload sweep itself. libuv's pool runs two kinds
 * of work: a collection (uv_queue_work, at most one at a time: gc_running,
 * touched only on the loop thread) and deferred request handlers
 * (worker_defer): the end of every request that writes waits for the disk
 * (a blob's fsync, its directory's, the WAL commit), and it waits on a pool
 * thread, not on an HTTP thread that other connections share. The pool has
 * io-threads + 1 threads, so a collection never holds up writes.
 * worker_defer may be called from any thread: jobs go on a locked list and an
 * async handle wakes the loop, which queues them (uv_queue_work is loop-only).
 * Collections run with no SQLite connection kept between runs; a pool thread
 * keeps the one deferred handlers open (metadb: one per thread).
 * Work is short (SQL in small transactions, renames, unlinks) and never holds
 * a lock a request waits on for long: gc commits every gc.batch items or
 * GC_TX_BUDGET_MS (trash/ recovery runs before the listeners start, in
 * main.c). A signal cancels a running collection at its next transaction
 * boundary. Deferred jobs are never dropped: at shutdown the loop runs until
 * every job handed to it has finished, and worker_defer refuses new ones
 * (the caller then does the work itself) from then on.
 */
#include "server/worker.h"

#include "gc/gc.h"
#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"
#include "server/http.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <uv.h>

#define DRAIN_POLL_MS 20

/* One deferred call: queued by worker_defer, run on a pool thread. */
struct worker_job {
    uv_work_t work;
    struct worker *w;
    worker_fn run;
    void *arg;
    struct worker_job *next;
};

struct worker {
    struct server *srv;
    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    uv_timer_t sweep, drain, gc;
    uint64_t drain_deadline; /* loop ms */
    int draining;
    int result;
    /* online collection (gc_work runs on a pool thread, the rest on the loop) */
    uv_work_t gc_work;
    int gc_running;
    atomic_int gc_cancel;
    struct gc_report gc_report;
    int gc_rc;
    char gc_error[256];
    /* deferred calls: the list is filled by any thread, emptied by the loop */
    uv_async_t defer_wake;
    uv_mutex_t defer_lock;
    struct worker_job *defer_head, *defer_tail; /* under defer_lock */
    int defer_closed;                           /* under defer_lock */
    atomic_long defer_pending;                  /* handed over, not yet finished */
};

/* On a pool thread: one collection with the configured policy. */
static void gc_work(uv_work_t *req)
{
    struct worker *w = req->data;
    const struct config *cfg = w->srv->cfg;
    struct gc_store st = {w->srv->bs, w->srv->db, w->srv->uploads};
    struct gc_options o;
    gc_options_init(&o);
    o.grace = cfg->gc_grace;
    o.batch = cfg->gc_batch;
    o.delete_untagged = cfg->gc_delete_untagged;
    o.upload_expiry = -1; /* the upload sweep timer does that */
    o.cancel = &w->gc_cancel;
    w->gc_rc = gc_run(&w->gc_report, &st, &o);
    if (w->gc_rc < 0)
        snprintf(w->gc_error, sizeof(w->gc_error), "%s", berr_message());
    metadb_thread_done(w->srv->db); /* pool threads are shared: leave no connection */
}

static void gc_done(uv_work_t *req, int status)
{
    struct worker *w = req->data;
    w->gc_running = 0;
    if (status == 0) {
        gc_report_log(&w->gc_report);
        if (w->gc_rc < 0)
            log_warn("gc: stopped by an error (the next run finishes the job): %s", w->gc_error);
    }
    gc_report_release(&w->gc_report);
}

static void on_gc(uv_timer_t *t)
{
    struct worker *w = t->data;
    if (w->gc_running || w->draining)
        return;
    w->gc_running = 1;
    w->gc_work.data = w;
    if (uv_queue_work(&w->loop, &w->gc_work, gc_work, gc_done) != 0) {
        w->gc_running = 0;
        log_warn("gc: cannot start a collection");
    }
}

static void on_sweep(uv_timer_t *t)
{
    struct worker *w = t->data;
    int64_t before = (int64_t)time(NULL) - w->srv->cfg->upload_expiry;
    int n = upload_expire(w->srv->uploads, before);
    if (n > 0)
        log_info("expired %d idle upload session(s)", n);
    else if (n < 0)
        log_warn("upload expiry failed: %s", berr_message());
    /* Sweeps are upload.sweep apart (1 h by default): the loop thread keeps
     * no connection in between (see release_startup_memory in main.c). */
    metadb_thread_done(w->srv->db);
}

static void stop_all(struct worker *w)
{
    uv_signal_stop(&w->sigterm);
    uv_signal_stop(&w->sigint);
    uv_timer_stop(&w->sweep);
    uv_timer_stop(&w->drain);
    uv_timer_stop(&w->gc);
    atomic_store(&w->gc_cancel, 1);
    uv_stop(&w->loop);
}

static void on_drain(uv_timer_t *t)
{
    struct worker *w = t->data;
    long inflight = atomic_load(&w->srv->inflight);
    if (inflight == 0) {
        log_info("drained, exiting");
        stop_all(w);
    } else if (uv_now(&w->loop) >= w->drain_deadline) {
        log_warn("shutdown timeout with %ld request(s) in flight", inflight);
        w->result = 1;
        stop_all(w);
    }
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct worker *w = s->data;
    if (w->draining) {
        log_warn("second signal %d: stopping now", signum);
        w->result = 1;
        stop_all(w);
        return;
    }
    w->draining = 1;
    atomic_store(&w->gc_cancel, 1);
    log_info("signal %d: no new connections, draining %ld request(s)", signum,
             (long)atomic_load(&w->srv->inflight));
    http_quiesce(w->srv);
    w->drain_deadline = uv_now(&w->loop) + (uint64_t)w->srv->cfg->shutdown_timeout * 1000;
    uv_timer_start(&w->drain, on_drain, 0, DRAIN_POLL_MS);
}

static void close_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* On a pool thread. */
static void job_work(uv_work_t *req)
{
    struct worker_job *job = req->data;
    job->run(job->arg);
}

/* On the loop thread, after job_work (status is 0: jobs are never cancelled). */
static void job_done(uv_work_t *req, int status)
{
    struct worker_job *job = req->data;
    struct worker *w = job->w;
    (void)status;
    free(job);
    atomic_fetch_sub(&w->defer_pending, 1);
}

/* On the loop thread: queue every job handed over since the last wake-up. */
static void on_defer_wake(uv_async_t *a)
{
    struct worker *w = a->data;
    uv_mutex_lock(&w->defer_lock);
    struct worker_job *job = w->defer_head;
    w->defer_head = w->defer_tail = NULL;
    uv_mutex_unlock(&w->defer_lock);
    while (job) {
        struct worker_job *next = job->next;
        job->work.data = job;
        if (uv_queue_work(&w->loop, &job->work, job_work, job_done) != 0) {
            job->run(job->arg); /* cannot happen with a live loop; never drop a job */
            free(job);
            atomic_fetch_sub(&w->defer_pending, 1);
        }
        job = next;
    }
}

int worker_defer(struct worker *w, worker_fn run, void *arg)
{
    struct worker_job *job = xcalloc(1, sizeof(*job));
    job->w = w;
    job->run = run;
    job->arg = arg;
    uv_mutex_lock(&w->defer_lock);
    if (w->defer_closed) {
        uv_mutex_unlock(&w->defer_lock);
        free(job);
        return berr_set(BERR_BUSY, "the worker pool is stopping");
    }
    if (w->defer_tail)
        w->defer_tail->next = job;
    else
        w->defer_head = job;
    w->defer_tail = job;
    atomic_fetch_add(&w->defer_pending, 1);
    uv_mutex_unlock(&w->defer_lock);
    uv_async_send(&w->defer_wake);
    return 0;
}

void worker_prepare(const struct config *cfg)
{
    /* libuv reads it once, when the first work item starts its pool: the
     * io threads plus one for a collection. */
    char n[24];
    snprintf(n, sizeof(n), "%lld", (long long)cfg->io_threads + 1);
    setenv("UV_THREADPOOL_SIZE", n, 0);
}

int worker_open(struct server *srv)
{
    struct worker *w = xcalloc(1, sizeof(*w));
    w->srv = srv;
    int rc = uv_loop_init(&w->loop);
    if (rc == 0)
        rc = uv_mutex_init(&w->defer_lock);
    if (rc == 0)
        rc = uv_async_init(&w->loop, &w->defer_wake, on_defer_wake);
    if (rc != 0) {
        free(w);
        return berr_set(BERR_IO, "cannot start the event loop: %s", uv_strerror(rc));
    }
    w->defer_wake.data = w;
    srv->worker = w;
    return 0;
}

/* After the loop stopped: refuse new jobs, then let the ones handed over
 * finish (their requests are suspended in the HTTP layer until they do). */
static void finish_deferred(struct worker *w)
{
    uv_mutex_lock(&w->defer_lock);
    w->defer_closed = 1;
    uv_mutex_unlock(&w->defer_lock);
    while (atomic_load(&w->defer_pending) > 0)
        uv_run(&w->loop, UV_RUN_ONCE);
}

int worker_run(struct server *srv)
{
    struct worker *w = srv->worker;
    uv_signal_init(&w->loop, &w->sigterm);
    uv_signal_init(&w->loop, &w->sigint);
    uv_timer_init(&w->loop, &w->sweep);
    uv_timer_init(&w->loop, &w->drain);
    uv_timer_init(&w->loop, &w->gc);
    w->sigterm.data = w->sigint.data = w->sweep.data = w->drain.data = w->gc.data = w;
    uv_signal_start(&w->sigterm, on_signal, SIGTERM);
    uv_signal_start(&w->sigint, on_signal, SIGINT);
    uint64_t sweep_ms = (uint64_t)srv->cfg->upload_sweep * 1000;
    uv_timer_start(&w->sweep, on_sweep, sweep_ms, sweep_ms);
    if (srv->cfg->gc_enabled) {
        uint64_t gc_ms = (uint64_t)srv->cfg->gc_interval * 1000;
        uv_timer_start(&w->gc, on_gc, gc_ms, gc_ms);
    }
    uv_run(&w->loop, UV_RUN_DEFAULT);
    finish_deferred(w);
    return w->result;
}

void worker_free(struct server *srv)
{
    struct worker *w = srv ? srv->worker : NULL;
    if (!w)
        return;
    uv_mutex_lock(&w->defer_lock);
    w->defer_closed = 1;
    uv_mutex_unlock(&w->defer_lock);
    uv_walk(&w->loop, close_cb, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_loop_close(&w->loop);
    uv_mutex_destroy(&w->defer_lock);
    free(w);
    srv->worker = NULL;
}
