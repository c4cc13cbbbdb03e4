/*
 * test_worker.c - worker_defer (server/worker.c): jobs handed over from any
 * thread run on libuv's pool, never on the thread that handed them over nor
 * on the loop thread; a shutdown that comes while jobs are queued or running
 * returns only after every one of them ran; once the worker stopped,
 * worker_defer refuses (BERR_BUSY) so the caller does the work itself.
 *
 * At most io-threads threads run them.
 *
 * The server here has a config and nothing else: the loop's timers (upload
 * sweep every hour, collections off) never fire within a test, and the
 * drain finds no request in flight. SIGTERM stops the loop as in berthd.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/config.h"
#include "image/base/err.h"
#include "server/server.h"
#include "server/worker.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define JOBS       40
#define SUBMITTERS 4

struct job_rec {
    atomic_int runs;
    pid_t ran_on; /* kernel thread id (pthread_t values are reused after a join) */
    int slow_ms;
};

struct fixture {
    struct config cfg;
    struct server srv;
    pthread_t loop_thread;
    pid_t loop_tid;
    int loop_rc;
    struct job_rec recs[JOBS];
    pthread_t submitters[SUBMITTERS];
    pid_t submitter_tids[SUBMITTERS];
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void job_run(void *arg)
{
    struct job_rec *rec = arg;
    if (rec->slow_ms)
        sleep_ms(rec->slow_ms);
    rec->ran_on = gettid();
    atomic_fetch_add(&rec->runs, 1);
}

static void *loop_main(void *arg)
{
    struct fixture *f = arg;
    f->loop_tid = gettid();
    f->loop_rc = worker_run(&f->srv);
    return NULL;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char *argv[] = {"--io-threads", "2", "--gc.enabled", "false", "--data", "/nonexistent"};
    if (!f || config_load(&f->cfg, 6, argv) < 0)
        return -1;
    f->srv.cfg = &f->cfg;
    worker_prepare();
    if (worker_open(&f->srv) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    worker_free(&f->srv);
    config_release(&f->cfg);
    free(f);
    return 0;
}

struct submit_arg {
    struct fixture *f;
    int t, first, n;
};

static void *submit_main(void *arg)
{
    struct submit_arg *a = arg;
    a->f->submitter_tids[a->t] = gettid();
    for (int i = a->first; i < a->first + a->n; i++)
        if (worker_defer(a->f->srv.worker, job_run, &a->f->recs[i]) < 0)
            return (void *)1;
    return NULL;
}

/* Hand JOBS jobs over from SUBMITTERS threads; returns once they are all queued. */
static void submit_all(struct fixture *f)
{
    struct submit_arg args[SUBMITTERS];
    for (int t = 0; t < SUBMITTERS; t++) {
        args[t] = (struct submit_arg){f, t, t * (JOBS / SUBMITTERS), JOBS / SUBMITTERS};
        assert_int_equal(pthread_create(&f->submitters[t], NULL, submit_main, &args[t]), 0);
    }
    for (int t = 0; t < SUBMITTERS; t++) {
        void *res = NULL;
        assert_int_equal(pthread_join(f->submitters[t], &res), 0);
        assert_null(res);
    }
}

static int all_ran(struct fixture *f)
{
    for (int i = 0; i < JOBS; i++)
        if (atomic_load(&f->recs[i].runs) != 1)
            return 0;
    return 1;
}

/* Start worker_run on its own thread; returns once the loop runs (a probe
 * job ran), so its SIGTERM handler is in place. */
static void start_loop(struct fixture *f)
{
    struct job_rec probe = {0};
    assert_int_equal(pthread_create(&f->loop_thread, NULL, loop_main, f), 0);
    assert_int_equal(worker_defer(f->srv.worker, job_run, &probe), 0);
    for (int i = 0; i < 500 && atomic_load(&probe.runs) == 0; i++)
        sleep_ms(10);
    assert_int_equal(atomic_load(&probe.runs), 1);
}

static void stop_loop(struct fixture *f)
{
    kill(getpid(), SIGTERM);
    assert_int_equal(pthread_join(f->loop_thread, NULL), 0);
    assert_int_equal(f->loop_rc, 0);
}

/* Jobs queued before the loop runs and while it runs all run once, on pool
 * threads (not a submitter, not the loop thread). */
static void test_jobs_run_on_pool(void **state)
{
    struct fixture *f = *state;
    submit_all(f); /* before worker_run: they wait for the loop */
    start_loop(f);
    for (int i = 0; i < 500 && !all_ran(f); i++)
        sleep_ms(10);
    assert_true(all_ran(f));
    for (int i = 0; i < JOBS; i++) {
        assert_int_not_equal(f->recs[i].ran_on, f->loop_tid);
        assert_int_not_equal(f->recs[i].ran_on, gettid());
        for (int t = 0; t < SUBMITTERS; t++)
            assert_int_not_equal(f->recs[i].ran_on, f->submitter_tids[t]);
    }
    /* --io-threads 2: never more than two threads ran them */
    pid_t seen[JOBS];
    int nseen = 0;
    for (int i = 0; i < JOBS; i++) {
        int k = 0;
        while (k < nseen && seen[k] != f->recs[i].ran_on)
            k++;
        if (k == nseen)
            seen[nseen++] = f->recs[i].ran_on;
    }
    assert_in_range(nseen, 1, 2);
    stop_loop(f);
    assert_true(all_ran(f)); /* and none ran twice */
}

/* A shutdown while slow jobs are queued (2 io threads, 40 jobs of 20 ms:
 * ~400 ms of work) returns only after every job ran; then worker_defer
 * refuses. */
static void test_shutdown_waits_for_jobs(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < JOBS; i++)
        f->recs[i].slow_ms = 20;
    start_loop(f);
    submit_all(f);
    stop_loop(f);
    assert_true(all_ran(f));
    struct job_rec late = {0};
    assert_int_equal(worker_defer(f->srv.worker, job_run, &late), BERR_BUSY);
    berr_clear();
    assert_int_equal(atomic_load(&late.runs), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_jobs_run_on_pool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_waits_for_jobs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
