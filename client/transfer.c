/*
 * transfer.c - parallel downloads (see transfer.h).
 *
 * Shape (after curl's multi-uv example): curl tells us which sockets to watch
 * (socket callback) and when to call back (timer callback); libuv watches
 * them and calls curl_multi_socket_action(). Finished transfers are reaped
 * in check_done(), which starts the next queued job, so at most max_parallel
 * run at once. The loop ends when no handle is active. Single-threaded:
 * every callback runs on the thread that called transfer_run().
 */
#include "client/transfer.h"

#include "client/progress.h"
#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"
#include "image/layout.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct xf;

/* One download in flight. */
struct xf_item {
    struct xf *xf;
    struct transfer_job *job;
    CURL *easy;
    struct curl_slist *hdrs;
    struct layout_writer *w;
    int64_t got;
    int write_rc; /* first layout_writer error */
    int pid;      /* progress id */
    char errbuf[CURL_ERROR_SIZE];
};

/* A watched socket. */
struct xf_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct xf *xf;
};

struct xf {
    uv_loop_t loop;
    uv_timer_t timer;
    CURLM *multi;
    struct layout *layout;
    struct transfer_job *jobs;
    size_t n;
    size_t next; /* next job to start */
    size_t running;
    const struct transfer_opts *o;
};

void transfer_job_release(struct transfer_job *job)
{
    free(job->url);
    free(job->error);
    job->url = NULL;
    job->error = NULL;
}

static void job_fail(struct transfer_job *job, int rc, const char *msg)
{
    job->rc = rc;
    free(job->error);
    job->error = xstrdup(msg);
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xf_item *it = ud;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(it->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200)
        return n; /* an error body or a redirect: not the blob */
    if (it->write_rc == 0)
        it->write_rc = layout_writer_write(it->w, data, n);
    if (it->write_rc < 0) {
        job_fail(it->job, it->write_rc, berr_message());
        return 0;
    }
    it->got += (int64_t)n;
    if (it->xf->o->progress)
        progress_update(it->xf->o->progress, it->pid, it->got);
    return n;
}

static int start_one(struct xf *xf)
{
    struct transfer_job *job = &xf->jobs[xf->next++];
    struct xf_item *it = xcalloc(1, sizeof(*it));
    it->xf = xf;
    it->job = job;
    job->rc = 0;
    job->status = 0;
    int rc = layout_writer_open(&it->w, xf->layout, &job->digest, job->size);
    if (rc < 0) {
        job_fail(job, rc, berr_message());
        layout_writer_free(it->w);
        free(it);
        return rc;
    }
    it->easy = curl_easy_init();
    if (!it->easy) {
        job_fail(job, BERR_INTERNAL, "cannot create a curl handle");
        layout_writer_free(it->w);
        free(it);
        return BERR_INTERNAL;
    }
    if (xf->o->auth_header)
        it->hdrs = curl_slist_append(it->hdrs, xf->o->auth_header);
    CURL *e = it->easy;
    curl_easy_setopt(e, CURLOPT_URL, job->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, it);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, it);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, it->hdrs);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "berth/0.1");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, it->errbuf);
    if (xf->o->limit_rate > 0)
        curl_easy_setopt(e, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)xf->o->limit_rate);
    if (xf->o->progress) {
        char label[32];
        snprintf(label, sizeof(label), "%.19s", job->digest.str);
        it->pid = progress_add(xf->o->progress, label, job->size);
    }
    curl_multi_add_handle(xf->multi, e);
    xf->running++;
    log_debug("download %s", job->url);
    return 0;
}

static void start_more(struct xf *xf)
{
    while (xf->next < xf->n && xf->running < (size_t)xf->o->max_parallel)
        start_one(xf);
}

static void finish_one(struct xf *xf, CURL *e, CURLcode cc)
{
    struct xf_item *it = NULL;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&it);
    struct transfer_job *job = it->job;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &job->status);
    char msg[512];
    if (job->rc < 0) {
        /* already failed in on_data */
    } else if (cc != CURLE_OK) {
        snprintf(msg, sizeof(msg), "download of %s failed: %s", job->digest.str,
                 it->errbuf[0] ? it->errbuf : curl_easy_strerror(cc));
        job_fail(job, BERR_IO, msg);
    } else if (job->status != 200) {
        int code = job->status == 401   ? BERR_UNAUTHORIZED
                   : job->status == 403 ? BERR_DENIED
                   : job->status == 404 ? BERR_BLOB_UNKNOWN
                                        : BERR_IO;
        snprintf(msg, sizeof(msg), "%s: %s (HTTP %ld)", berr_name(code), job->digest.str,
                 job->status);
        job_fail(job, code, msg);
    } else {
        int rc = layout_writer_commit(NULL, it->w);
        if (rc < 0)
            job_fail(job, rc, berr_message());
    }
    if (xf->o->progress)
        progress_end(xf->o->progress, it->pid, job->rc < 0 ? "failed" : "done");
    curl_multi_remove_handle(xf->multi, e);
    curl_easy_cleanup(e);
    curl_slist_free_all(it->hdrs);
    layout_writer_free(it->w);
    free(it);
    xf->running--;
}

static void check_done(struct xf *xf)
{
    CURLMsg *m;
    int left;
    for (;;) {
        m = curl_multi_info_read(xf->multi, &left);
        if (!m)
            break;
        if (m->msg == CURLMSG_DONE)
            finish_one(xf, m->easy_handle, m->data.result);
    }
    start_more(xf);
    if (xf->running == 0 && xf->next >= xf->n)
        uv_timer_stop(&xf->timer);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct xf_sock *s = h->data;
    int flags = 0;
    int running;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(s->xf->multi, s->fd, flags, &running);
    check_done(s->xf);
}

static void on_timeout(uv_timer_t *t)
{
    struct xf *xf = t->data;
    int running;
    curl_multi_socket_action(xf->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(xf);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *ud)
{
    struct xf *xf = ud;
    (void)multi;
    if (timeout_ms < 0)
        uv_timer_stop(&xf->timer);
    else
        uv_timer_start(&xf->timer, on_timeout, timeout_ms == 0 ? 1 : (uint64_t)timeout_ms, 0);
    return 0;
}

static void free_sock(uv_handle_t *h)
{
    free(h->data);
}

static int on_curl_socket(CURL *e, curl_socket_t fd, int what, void *ud, void *sockp)
{
    struct xf *xf = ud;
    struct xf_sock *s = sockp;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, free_sock);
            curl_multi_assign(xf->multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        s = xcalloc(1, sizeof(*s));
        s->fd = fd;
        s->xf = xf;
        if (uv_poll_init_socket(&xf->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        curl_multi_assign(xf->multi, fd, s);
    }
    int ev = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        ev |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&s->poll, ev, on_poll);
    return 0;
}

int transfer_run(struct layout *l, struct transfer_job *jobs, size_t n,
                 const struct transfer_opts *opts)
{
    struct xf xf;
    memset(&xf, 0, sizeof(xf));
    xf.layout = l;
    xf.jobs = jobs;
    xf.n = n;
    xf.o = opts;
    if (n == 0)
        return 0;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (uv_loop_init(&xf.loop) != 0)
        return berr_set(BERR_INTERNAL, "cannot start the event loop");
    uv_timer_init(&xf.loop, &xf.timer);
    xf.timer.data = &xf;
    xf.multi = curl_multi_init();
    if (!xf.multi) {
        uv_close((uv_handle_t *)&xf.timer, NULL);
        uv_run(&xf.loop, UV_RUN_DEFAULT);
        uv_loop_close(&xf.loop);
        return berr_set(BERR_INTERNAL, "cannot create a curl multi handle");
    }
    curl_multi_setopt(xf.multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(xf.multi, CURLMOPT_SOCKETDATA, &xf);
    curl_multi_setopt(xf.multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(xf.multi, CURLMOPT_TIMERDATA, &xf);

    start_more(&xf);
    check_done(&xf); /* jobs that failed to start */
    uv_run(&xf.loop, UV_RUN_DEFAULT);

    curl_multi_cleanup(xf.multi);
    uv_close((uv_handle_t *)&xf.timer, NULL);
    uv_run(&xf.loop, UV_RUN_DEFAULT);
    uv_loop_close(&xf.loop);

    for (size_t i = 0; i < n; i++)
        if (jobs[i].rc < 0)
            return berr_set(jobs[i].rc, "%s", jobs[i].error ? jobs[i].error : "download failed");
    return 0;
}
