/*
 * transfer.h - parallel blob downloads into an OCI layout: libcurl's multi
 * interface driven by a libuv loop (sockets watched with uv_poll, curl's
 * timeout with a uv_timer).
 *
 * Every byte is hashed and counted as it arrives (layout_writer) and a blob
 * lands in the layout only when its digest and size match.
 */
#ifndef BERTH_CLIENT_TRANSFER_H
#define BERTH_CLIENT_TRANSFER_H

#include <stddef.h>
#include <stdint.h>

#include "image/digest.h"

struct layout;
struct progress;

struct transfer_job {
    char *url;            /* owned: absolute blob URL */
    struct digest digest; /* expected content (copy with digest_copy) */
    int64_t size;         /* expected size */
    /* results */
    int rc;      /* 0 or a BERR_* code */
    long status; /* HTTP status (0: no response) */
    char *error; /* owned message when rc < 0 */
};

struct transfer_opts {
    int max_parallel;          /* concurrent downloads (>= 1) */
    const char *auth_header;   /* "Authorization: ..." or NULL */
    long limit_rate;           /* bytes/s per download, 0 = unlimited */
    struct progress *progress; /* may be NULL */
};

/* Download jobs[0..n) into l. Each job's rc/status/error say how it ended.
 * Returns 0 when all succeeded, else the rc of the first failed job (its
 * message set). BERR_INTERNAL when libuv/libcurl cannot start. */
int transfer_run(struct layout *l, struct transfer_job *jobs, size_t n,
                 const struct transfer_opts *opts);

/* Release a job's owned fields. */
void transfer_job_release(struct transfer_job *job);

#endif
