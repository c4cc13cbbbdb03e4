/*
 * worker.c - libuv loop: SIGTERM/SIGINT drain, periodic upload expiry.
 *
 * The loop thread is the only one that runs background work, so sweeps never
 * overlap. Work is short (SQL in small transactions, unlinks) and never holds
 * a lock a request waits on for long.
 */
#include "server/worker.h"

#include "image/base/err.h"
#include "image/base/log.h"
#include "server/http.h"

#include <signal.h>
#include <time.h>
#include <uv.h>

#define DRAIN_POLL_MS 20

struct worker {
    struct server *srv;
    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    uv_timer_t sweep, drain;
    uint64_t drain_deadline; /* loop ms */
    int draining;
    int result;
};

static void on_sweep(uv_timer_t *t)
{
    struct worker *w = t->data;
    int64_t before = (int64_t)time(NULL) - w->srv->cfg->upload_expiry;
    int n = upload_expire(w->srv->uploads, before);
    if (n > 0)
        log_info("expired %d idle upload session(s)", n);
    else if (n < 0)
        log_warn("upload expiry failed: %s", berr_message());
}

static void stop_all(struct worker *w)
{
    uv_signal_stop(&w->sigterm);
    uv_signal_stop(&w->sigint);
    uv_timer_stop(&w->sweep);
    uv_timer_stop(&w->drain);
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

int worker_run(struct server *srv)
{
    struct worker w = {.srv = srv};
    uv_loop_init(&w.loop);
    uv_signal_init(&w.loop, &w.sigterm);
    uv_signal_init(&w.loop, &w.sigint);
    uv_timer_init(&w.loop, &w.sweep);
    uv_timer_init(&w.loop, &w.drain);
    w.sigterm.data = w.sigint.data = w.sweep.data = w.drain.data = &w;
    uv_signal_start(&w.sigterm, on_signal, SIGTERM);
    uv_signal_start(&w.sigint, on_signal, SIGINT);
    uint64_t sweep_ms = (uint64_t)srv->cfg->upload_sweep * 1000;
    uv_timer_start(&w.sweep, on_sweep, sweep_ms, sweep_ms);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    uv_walk(&w.loop, close_cb, NULL);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    uv_loop_close(&w.loop);
    return w.result;
}
