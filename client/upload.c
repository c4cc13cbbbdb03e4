/*
 * upload.c - the blob upload protocol, client side.
 *
 *   mount:      POST /v2/<repo>/blobs/uploads/?mount=<digest>&from=<other>  -> 201 done
 *   monolithic: POST .../uploads/ -> 202 Location; PUT <location>&digest=  (body)
 *   chunked:    POST; PATCH <location> Content-Range a-b (202, new Location, Range)...;
 *               PUT <location>&digest= (no body)
 * Every response's Location replaces the previous one (registries carry state
 * in it). After a transport failure the session status (GET <location>)
 * tells how much the registry has; the upload goes on from there. The
 * session URL is also written to opts->state_path after each chunk so that a
 * later run can resume an upload that an earlier run left half done.
 */
#include "client/upload.h"

#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int upload_parse_range(int64_t *next_out, const char *range)
{
    if (!range)
        return berr_set(BERR_INVALID, "no Range in upload status");
    const char *p = range;
    if (strncmp(p, "bytes=", 6) == 0)
        p += 6;
    char *end;
    errno = 0;
    long long a = strtoll(p, &end, 10);
    if (errno || end == p || *end != '-' || a != 0)
        return berr_set(BERR_INVALID, "malformed upload Range '%s'", range);
    p = end + 1;
    long long b = strtoll(p, &end, 10);
    if (errno || end == p || *end != '\0' || b < 0)
        return berr_set(BERR_INVALID, "malformed upload Range '%s'", range);
    *next_out = b == 0 ? 0 : b + 1;
    return 0;
}

/* ---- remembered sessions ---------------------------------------------------- */

static char *state_load(const char *path)
{
    char line[4096];
    if (!path)
        return NULL;
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    char *s = fgets(line, sizeof(line), f);
    fclose(f);
    if (!s)
        return NULL;
    line[strcspn(line, "\r\n")] = '\0';
    return line[0] ? xstrdup(line) : NULL;
}

static void state_save(const char *path, const char *url)
{
    if (!path)
        return;
    char *tmp = xasprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
        size_t n = strlen(url);
        int ok = write(fd, url, n) == (ssize_t)n && write(fd, "\n", 1) == 1;
        close(fd);
        if (ok && rename(tmp, path) == 0) {
            free(tmp);
            return;
        }
    }
    log_debug("cannot save upload state '%s': %s", path, strerror(errno));
    unlink(tmp);
    free(tmp);
}

static void state_clear(const char *path)
{
    if (path)
        unlink(path);
}

/* ---- the protocol -------------------------------------------------------- */

struct up {
    struct regclient *rc;
    const char *repo;
    const struct digest *dg;
    int fd;
    int64_t size;
    const struct upload_opts *o;
    char *scope;
    char *subject;
    char *location; /* current session URL */
    int64_t base;   /* offset of the request now in flight, for progress */
    int resumed;    /* continued a session from the registry's Range */
};

static void up_progress(void *ctx, int64_t done, int64_t total)
{
    struct up *u = ctx;
    (void)total;
    if (u->o->progress)
        u->o->progress(u->o->progress_ctx, u->base + done, u->size);
}

static void set_location(struct up *u, const char *loc)
{
    if (!loc)
        return;
    free(u->location);
    u->location = xstrdup(loc);
}

/* POST a new session (or a mount). *mounted_out = 1 when the registry mounted. */
static int up_start(struct up *u, int *mounted_out)
{
    struct reg_req req;
    struct reg_resp resp;
    char *url;
    *mounted_out = 0;
    if (u->o->mount_from && strcmp(u->o->mount_from, u->repo) != 0)
        url = xasprintf("/v2/%s/blobs/uploads/?mount=%s&from=%s", u->repo, u->dg->str,
                        u->o->mount_from);
    else
        url = xasprintf("/v2/%s/blobs/uploads/", u->repo);
    char *scope = u->o->mount_from ? xasprintf("%s repository:%s:pull", u->scope, u->o->mount_from)
                                   : xstrdup(u->scope);
    reg_req_init(&req, "POST", url);
    req.scope = scope;
    int r = regclient_do(u->rc, &req, &resp);
    if (r < 0)
        goto cleanup;
    if (resp.status == 201 && u->o->mount_from) {
        *mounted_out = 1;
        goto cleanup;
    }
    if (resp.status != 202 || !resp.location) {
        r = resp.status == 202
                ? berr_set(BERR_UPLOAD_INVALID, "no Location for upload of %s", u->subject)
                : regclient_error(&resp, BERR_NAME_UNKNOWN, u->subject);
        goto cleanup;
    }
    set_location(u, resp.location);
cleanup:
    reg_resp_release(&resp);
    free(url);
    free(scope);
    return r;
}

/* GET the session status: *next_out = bytes the registry holds. */
static int up_status(struct up *u, int64_t *next_out)
{
    struct reg_req req;
    struct reg_resp resp;
    reg_req_init(&req, "GET", u->location);
    req.scope = u->scope;
    int r = regclient_do(u->rc, &req, &resp);
    if (r == 0 && resp.status != 204 && resp.status != 200)
        r = regclient_error(&resp, BERR_UPLOAD_UNKNOWN, u->subject);
    if (r == 0)
        r = upload_parse_range(next_out, resp.range);
    if (r == 0)
        set_location(u, resp.location);
    reg_resp_release(&resp);
    return r;
}

/* PUT <location>&digest=, with bytes [off, size) as the body (none when off == size). */
static int up_finish(struct up *u, int64_t off)
{
    struct reg_req req;
    struct reg_resp resp;
    char *url =
        xasprintf("%s%sdigest=%s", u->location, strchr(u->location, '?') ? "&" : "?", u->dg->str);
    reg_req_init(&req, "PUT", url);
    req.scope = u->scope;
    if (off < u->size) {
        req.body_fd = u->fd;
        req.body_off = off;
        req.body_fd_len = u->size - off;
        req.progress = up_progress;
        req.progress_ctx = u;
        u->base = off;
    }
    int r = regclient_do(u->rc, &req, &resp);
    if (r == 0 && resp.status != 201 && resp.status != 204 && resp.status != 200)
        r = regclient_error(&resp, BERR_UPLOAD_INVALID, u->subject);
    reg_resp_release(&resp);
    free(url);
    return r;
}

/* PATCH bytes [off, off+n). */
static int up_chunk(struct up *u, int64_t off, int64_t n)
{
    struct reg_req req;
    struct reg_resp resp;
    char range[64];
    snprintf(range, sizeof(range), "%" PRId64 "-%" PRId64, off, off + n - 1);
    reg_req_init(&req, "PATCH", u->location);
    req.scope = u->scope;
    req.content_type = "application/octet-stream";
    req.content_range = range;
    req.body_fd = u->fd;
    req.body_off = off;
    req.body_fd_len = n;
    req.progress = up_progress;
    req.progress_ctx = u;
    u->base = off;
    int r = regclient_do(u->rc, &req, &resp);
    if (r == 0 && resp.status != 202 && resp.status != 204)
        r = regclient_error(&resp, BERR_UPLOAD_INVALID, u->subject);
    if (r == 0) {
        set_location(u, resp.location);
        int64_t next;
        if (resp.range && upload_parse_range(&next, resp.range) == 0 && next != off + n)
            r = berr_set(BERR_RANGE, "registry holds %" PRId64 " bytes of %s, expected %" PRId64,
                         next, u->subject, off + n);
    }
    reg_resp_release(&resp);
    return r;
}

static void backoff(int attempt)
{
    unsigned ms = 200u << (attempt < 5 ? attempt : 5);
    usleep(ms * 1000u);
}

/* Chunked upload from `off` with the session in u->location. A transport
 * failure is retried from the status the registry reports. */
static int up_chunks(struct up *u, int64_t off)
{
    int64_t chunk = u->o->chunk_size;
    int fails = 0;
    int r = 0;
    while (off < u->size) {
        int64_t n = u->size - off < chunk ? u->size - off : chunk;
        r = up_chunk(u, off, n);
        if (r == 0) {
            off += n;
            state_save(u->o->state_path, u->location);
            continue;
        }
        if ((r != BERR_IO && r != BERR_RANGE) || fails >= u->o->max_retries)
            return r;
        fails++;
        log_warn("upload of %s interrupted at byte %" PRId64 ": %s; asking the registry",
                 u->dg->str, off, berr_message());
        backoff(fails);
        int64_t have;
        int s = up_status(u, &have);
        if (s == BERR_UNAUTHORIZED || s == BERR_DENIED)
            return s;
        if (s < 0 || have > u->size) {
            char why[256];
            snprintf(why, sizeof(why), "%s", s < 0 ? berr_message() : "registry holds more");
            return berr_set(BERR_IO, "upload session of %s lost: %s", u->subject, why);
        }
        log_info("resuming upload of %s at byte %" PRId64, u->dg->str, have);
        u->resumed = 1;
        off = have;
    }
    return up_finish(u, u->size);
}

int upload_blob(struct regclient *rc, const char *repo, const struct digest *dg, int fd,
                int64_t size, const struct upload_opts *opts, enum upload_how *how_out)
{
    struct up u = {.rc = rc, .repo = repo, .dg = dg, .fd = fd, .size = size, .o = opts};
    int chunked = opts->chunk_size > 0 && size > opts->chunk_size;
    int r = 0;
    int mounted = 0;
    u.scope = regclient_scope(repo, 1);
    u.subject = xasprintf("%s/%s@%s", regclient_host(rc), repo, dg->str);
    if (how_out)
        *how_out = UPLOAD_SENT;

    /* 1. a session an earlier run left behind */
    char *saved = chunked ? state_load(opts->state_path) : NULL;
    if (saved) {
        u.location = saved;
        int64_t have = 0;
        r = up_status(&u, &have);
        if (r == 0 && have <= size) {
            log_info("resuming upload of %s at byte %" PRId64, dg->str, have);
            if (how_out)
                *how_out = UPLOAD_RESUMED;
            r = up_chunks(&u, have);
            if (r == 0)
                goto done;
        }
        log_info("upload session of %s lost (%s); starting again", dg->str, berr_message());
        state_clear(opts->state_path);
        free(u.location);
        u.location = NULL;
        if (how_out)
            *how_out = UPLOAD_SENT;
    }

    /* 2. a fresh session (or a mount) */
    for (int attempt = 0;; attempt++) {
        r = up_start(&u, &mounted);
        if (r == 0 && mounted) {
            if (how_out)
                *how_out = UPLOAD_MOUNTED;
            goto done;
        }
        if (r == 0) {
            if (chunked) {
                state_save(opts->state_path, u.location);
                r = up_chunks(&u, 0);
            } else {
                r = up_finish(&u, 0);
            }
        }
        if (r == 0 || r != BERR_IO || attempt >= opts->max_retries)
            break;
        log_warn("upload of %s failed: %s; retrying", dg->str, berr_message());
        backoff(attempt + 1);
    }
done:
    if (r == 0 && u.resumed && how_out && *how_out == UPLOAD_SENT)
        *how_out = UPLOAD_RESUMED;
    if (r == 0)
        state_clear(opts->state_path);
    free(u.location);
    free(u.scope);
    free(u.subject);
    return r;
}
