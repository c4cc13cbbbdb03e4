/*
 * worker.c - libuv loop: SIGTERM/SIGINT drain, periodic upload expiry,
 * online garbage collection; and the io pool that finishes writes.
 *
 * The loop thread runs the upload sweep itself; a collection runs on a libuv
 * pool thread (uv_queue_work) so signals and timers stay responsive, and at
 * most one runs at a time (gc_running, touched only on the loop thread), so
 * libuv's pool has one thread (worker_prepare). Collections keep no SQLite
 * connection between runs.
 *
 * The io pool (worker_defer) runs the end of every request that writes: it
 * waits for the disk (a blob's fsync, its directory's, the WAL commit), and
 * it waits there rather than on an HTTP thread that other connections share.
 * It is libuv threads, a mutex and a condition variable, fed directly by the
 * HTTP threads: libuv's own pool takes work only from its loop thread
 * (uv_queue_work is not thread-safe), and the hop through the loop (wake it,
 * queue, wake it again for the done callback) cost ~10 % more CPU per
 * manifest PUT and ~9 % fewer PUTs/s from 8 clients on a 2-core machine
 * (docs/benchmarks.md).
 * Threads start on demand, one when a job finds none idle, up to io-threads;
 * each keeps the SQLite connection its jobs open (metadb: one per thread).
 * Jobs are never dropped: at shutdown worker_run returns only after every job
 * handed over has run, and from then on worker_defer refuses (the caller
 * does the work itself).
 *
 * Work is short (SQL in small transactions, renames, unlinks) and never holds
 * a lock a request waits on for long: gc commits every gc.batch items or
 * GC_TX_BUDGET_MS (trash/ recovery runs before the listeners start, in
 * main.c). A signal cancels a running collection at its next transaction
 * boundary.
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
/* libuv's pool runs only collections, one at a time (gc_running): one thread
 * instead of libuv's default four, which would otherwise idle for the life
 * of the process after the first collection. */
#define WORKER_POOL_THREADS "1"

/* One deferred call: queued by worker_defer, run by an io thread. */
struct worker_job {
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
    /* the io pool; everything below is under io_lock */
    uv_mutex_t io_lock;
    uv_cond_t io_work;    /* a job was queued, or the threads must stop */
    uv_cond_t io_drained; /* the last pending job finished */
    struct worker_job *io_head, *io_tail;
    long io_pending; /* queued or running */
    int io_idle;     /* threads waiting for a job */
    int io_closed;   /* worker_defer refuses */
    int io_stop;     /* threads exit once the queue is empty */
    int io_threads;  /* started so far, at most io_max */
    int io_max;
    uv_thread_t *io_tids; /* io_max entries */
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

/* An io thread: run jobs until told to stop with the queue empty. */
static void io_main(void *arg)
{
    struct worker *w = arg;
    uv_mutex_lock(&w->io_lock);
    for (;;) {
        while (!w->io_head && !w->io_stop) {
            w->io_idle++;
            uv_cond_wait(&w->io_work, &w->io_lock);
            w->io_idle--;
        }
        struct worker_job *job = w->io_head;
        if (!job)
            break; /* stopping, nothing left */
        w->io_head = job->next;
        if (!w->io_head)
            w->io_tail = NULL;
        uv_mutex_unlock(&w->io_lock);
        job->run(job->arg);
        free(job);
        uv_mutex_lock(&w->io_lock);
        if (--w->io_pending == 0)
            uv_cond_broadcast(&w->io_drained);
    }
    uv_mutex_unlock(&w->io_lock);
}

int worker_defer(struct worker *w, worker_fn run, void *arg)
{
    struct worker_job *job = xcalloc(1, sizeof(*job));
    job->run = run;
    job->arg = arg;
    uv_mutex_lock(&w->io_lock);
    if (!w->io_closed && w->io_idle == 0 && w->io_threads < w->io_max &&
        uv_thread_create(&w->io_tids[w->io_threads], io_main, w) == 0)
        w->io_threads++;
    if (w->io_closed || w->io_threads == 0) {
        const char *why = w->io_closed ? "the io pool is stopping" : "cannot start an io thread";
        uv_mutex_unlock(&w->io_lock);
        free(job);
        return berr_set(BERR_BUSY, "%s", why);
    }
    if (w->io_tail)
        w->io_tail->next = job;
    else
        w->io_head = job;
    w->io_tail = job;
    w->io_pending++;
    uv_cond_signal(&w->io_work);
    uv_mutex_unlock(&w->io_lock);
    return 0;
}

void worker_prepare(void)
{
    /* libuv reads it once, when the first work item starts its pool. */
    setenv("UV_THREADPOOL_SIZE", WORKER_POOL_THREADS, 0);
}

int worker_open(struct server *srv)
{
    struct worker *w = xcalloc(1, sizeof(*w));
    w->srv = srv;
    w->io_max = (int)srv->cfg->io_threads;
    w->io_tids = xcalloc((size_t)w->io_max, sizeof(*w->io_tids));
    int rc = uv_loop_init(&w->loop);
    if (rc == 0)
        rc = uv_mutex_init(&w->io_lock);
    if (rc == 0)
        rc = uv_cond_init(&w->io_work);
    if (rc == 0)
        rc = uv_cond_init(&w->io_drained);
    if (rc != 0) {
        free(w->io_tids);
        free(w);
        return berr_set(BERR_IO, "cannot start the event loop: %s", uv_strerror(rc));
    }
    srv->worker = w;
    return 0;
}

/* Refuse new jobs, wait for every job handed over (their requests are
 * suspended in the HTTP layer until they run), then stop and join the io
 * threads. Idempotent. */
static void io_shutdown(struct worker *w)
{
    uv_mutex_lock(&w->io_lock);
    w->io_closed = 1;
    while (w->io_pending > 0)
        uv_cond_wait(&w->io_drained, &w->io_lock);
    w->io_stop = 1;
    uv_cond_broadcast(&w->io_work);
    int n = w->io_threads;
    w->io_threads = 0;
    uv_mutex_unlock(&w->io_lock);
    for (int i = 0; i < n; i++)
        uv_thread_join(&w->io_tids[i]);
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
    io_shutdown(w);
    return w->result;
}

void worker_free(struct server *srv)
{
    struct worker *w = srv ? srv->worker : NULL;
    if (!w)
        return;
    io_shutdown(w);
    uv_walk(&w->loop, close_cb, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_loop_close(&w->loop);
    uv_cond_destroy(&w->io_drained);
    uv_cond_destroy(&w->io_work);
    uv_mutex_destroy(&w->io_lock);
    free(w->io_tids);
    free(w);
    srv->worker = NULL;
}
