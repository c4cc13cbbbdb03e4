/*
 * credhelper.c - run Docker credential helpers (see credhelper.h).
 *
 * The helper is started with posix_spawnp (no shell: the name is checked and
 * becomes one argv element; the server URL and secrets travel on stdin,
 * never on the command line, where other users could read them). stdin and
 * stdout are pipes; stderr goes to /dev/null unless debug logging is on. The
 * input is written whole before stdout is read (it is far below a pipe's
 * capacity, so this cannot deadlock), with SIGPIPE blocked on this thread so
 * a helper that exits without reading cannot kill berth. stdout is read with
 * a cap and a deadline; a helper that outlives it is killed. Secrets are
 * wiped from memory once used.
 */
#include "client/credhelper.h"

#include "image/base/buf.h"
#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HELPER_OUT_MAX    (64u * 1024)
#define HELPER_TIMEOUT_MS 60000
#define HELPER_NOT_FOUND  "credentials not found"
#define HELPER_TOKEN_USER "<token>"
#define DOCKER_HUB_URL    "https://index.docker.io/v1/"

extern char **environ;

int credhelper_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64 || name[0] == '.')
        return 0;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

char *credhelper_server_url(const char *host)
{
    if (strcmp(host, "docker.io") == 0 || strcmp(host, "index.docker.io") == 0 ||
        strcmp(host, "registry-1.docker.io") == 0)
        return xstrdup(DOCKER_HUB_URL);
    return xstrdup(host);
}

static void wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* Write all of data to fd. A reader that went away (EPIPE) is not an error:
 * the helper's exit status tells what happened. */
static int write_input(int fd, const char *data, size_t len, const char *prog)
{
    sigset_t pipe_set, old;
    int rc = 0, broken = 0;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            if (errno == EPIPE)
                broken = 1;
            else
                rc = berr_set(BERR_CONFIG, "cannot write to %s: %s", prog, strerror(errno));
            break;
        }
        data += n;
        len -= (size_t)n;
    }
    if (broken && !sigismember(&old, SIGPIPE)) {
        /* take the SIGPIPE this thread just earned before unblocking it */
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static long elapsed_ms(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* Read fd to its end into b, within HELPER_TIMEOUT_MS and b's cap. */
static int read_output(struct buf *b, int fd, const char *prog)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        long left = HELPER_TIMEOUT_MS - elapsed_ms(&start);
        if (left <= 0)
            return berr_set(BERR_CONFIG, "credential helper %s did not answer within %d s", prog,
                            HELPER_TIMEOUT_MS / 1000);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return berr_set(BERR_CONFIG, "cannot read from %s: %s", prog, strerror(errno));
        if (n == 0)
            continue; /* the deadline check above ends it */
        char chunk[4096];
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return berr_set(BERR_CONFIG, "cannot read from %s: %s", prog, strerror(errno));
        if (r == 0)
            return 0;
        if (buf_append(b, chunk, (size_t)r) < 0)
            return berr_set(BERR_CONFIG, "credential helper %s wrote over %u bytes", prog,
                            HELPER_OUT_MAX);
    }
}

/* Run docker-credential-<name> <verb> with input on stdin. Its stdout goes
 * to *out (NUL-terminated, caller frees with wipe_free), its exit status to
 * *status (-1 when it did not exit normally). Returns 0 or BERR_CONFIG when
 * it could not be run or did not finish. */
static int helper_run(char **out, int *status, const char *name, const char *verb,
                      const char *input)
{
    char *prog = NULL;
    int in[2] = {-1, -1};
    int outp[2] = {-1, -1};
    pid_t pid = -1;
    posix_spawn_file_actions_t fa;
    int fa_ready = 0;
    struct buf b;
    buf_init(&b, HELPER_OUT_MAX);
    *out = NULL;
    *status = -1;
    if (!credhelper_name_valid(name))
        return berr_set(BERR_CONFIG, "invalid credential helper name '%.64s'", name ? name : "");
    prog = xasprintf("docker-credential-%s", name);
    int rc = 0;
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0) {
        rc = berr_set(BERR_CONFIG, "cannot run %s: %s", prog, strerror(errno));
        goto cleanup;
    }
    posix_spawn_file_actions_init(&fa);
    fa_ready = 1;
    posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&fa, outp[1], STDOUT_FILENO);
    if (!log_enabled(LOG_DEBUG))
        posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    char *argv[] = {prog, (char *)verb, NULL};
    log_debug("running %s %s", prog, verb);
    int err = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
    if (err != 0) {
        pid = -1;
        if (err == ENOENT)
            rc = berr_set(BERR_CONFIG, "credential helper %s is not on PATH", prog);
        else
            rc = berr_set(BERR_CONFIG, "cannot run %s: %s", prog, strerror(err));
        goto cleanup;
    }
    close(in[0]);
    close(outp[1]);
    in[0] = outp[1] = -1;
    rc = write_input(in[1], input, strlen(input), prog);
    close(in[1]);
    in[1] = -1;
    if (rc == 0)
        rc = read_output(&b, outp[0], prog);
    if (rc < 0)
        kill(pid, SIGKILL);
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        ;
    pid = -1;
    if (rc == 0) {
        *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
        *out = buf_detach(&b, NULL);
        if (!*out)
            *out = xstrdup("");
    }
cleanup:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (outp[i] >= 0)
            close(outp[i]);
    }
    if (fa_ready)
        posix_spawn_file_actions_destroy(&fa);
    if (b.data)
        explicit_bzero(b.data, b.len);
    buf_release(&b);
    free(prog);
    return rc;
}

/* The error of a helper that exited with a non-zero status: BERR_NOT_FOUND
 * for "credentials not found", else BERR_CONFIG quoting its first line. */
static int helper_failed(const char *name, const char *verb, int status, const char *output)
{
    if (strstr(output, HELPER_NOT_FOUND))
        return berr_set(BERR_NOT_FOUND, "docker-credential-%s has no credentials", name);
    size_t n = strcspn(output, "\r\n");
    if (status < 0)
        return berr_set(BERR_CONFIG, "docker-credential-%s %s was killed", name, verb);
    return berr_set(BERR_CONFIG, "docker-credential-%s %s failed (exit %d)%s%.*s", name, verb,
                    status, n ? ": " : "", (int)(n > 200 ? 200 : n), output);
}

int credhelper_get(char **user_out, char **secret_out, const char *name, const char *server_url)
{
    char *output = NULL;
    int status;
    json_t *root = NULL;
    *user_out = NULL;
    *secret_out = NULL;
    int rc = helper_run(&output, &status, name, "get", server_url);
    if (rc < 0)
        return rc;
    if (status != 0) {
        rc = helper_failed(name, "get", status, output);
        goto cleanup;
    }
    root = json_loads(output, 0, NULL);
    const char *u = json_string_value(json_object_get(root, "Username"));
    const char *s = json_string_value(json_object_get(root, "Secret"));
    if (!u || !s) {
        rc = berr_set(BERR_CONFIG, "docker-credential-%s get: answer without Username and Secret",
                      name);
        goto cleanup;
    }
    if (strcmp(u, HELPER_TOKEN_USER) == 0 || !*u) {
        log_warn("docker-credential-%s holds an identity token for %s, which berth cannot use",
                 name, server_url);
        rc = berr_set(BERR_NOT_FOUND, "docker-credential-%s has no password for %s", name,
                      server_url);
        goto cleanup;
    }
    *user_out = xstrdup(u);
    *secret_out = xstrdup(s);
cleanup:
    json_decref(root);
    wipe_free(output);
    return rc;
}

int credhelper_store(const char *name, const char *server_url, const char *user, const char *secret)
{
    char *output = NULL;
    int status;
    json_t *req =
        json_pack("{s:s, s:s, s:s}", "ServerURL", server_url, "Username", user, "Secret", secret);
    char *input = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!input)
        return berr_set(BERR_CONFIG, "cannot encode credentials (not UTF-8?)");
    int rc = helper_run(&output, &status, name, "store", input);
    if (rc == 0 && status != 0) {
        rc = helper_failed(name, "store", status, output);
        if (rc == BERR_NOT_FOUND)
            rc = berr_set(BERR_CONFIG, "docker-credential-%s store failed", name);
    }
    wipe_free(input);
    wipe_free(output);
    return rc;
}

int credhelper_erase(const char *name, const char *server_url)
{
    char *output = NULL;
    int status;
    int rc = helper_run(&output, &status, name, "erase", server_url);
    if (rc == 0 && status != 0)
        rc = helper_failed(name, "erase", status, output);
    wipe_free(output);
    return rc;
}
