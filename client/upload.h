/*
 * upload.h - push one blob to a registry: mount, monolithic or chunked
 * upload, and resume of an interrupted chunked upload.
 */
#ifndef BERTH_CLIENT_UPLOAD_H
#define BERTH_CLIENT_UPLOAD_H

#include <stdint.h>

#include "client/regclient.h"
#include "image/digest.h"

struct upload_opts {
    int64_t chunk_size;             /* blobs larger than this go in PATCH chunks of this size;
                                     * 0 = always one PUT */
    const char *state_path;         /* file that remembers the session URL so a later run can
                                     * resume (NULL: none) */
    const char *mount_from;         /* repository of the same registry holding the blob, or NULL */
    int max_retries;                /* transport failures survived per blob */
    regclient_progress_fn progress; /* bytes of this blob acknowledged so far */
    void *progress_ctx;
};

enum upload_how { UPLOAD_SENT = 0, UPLOAD_MOUNTED = 1, UPLOAD_RESUMED = 2 };

/* Upload `size` bytes of fd (read with pread from offset 0) as blob dg of
 * repo. With a mount source, tries a cross-repository mount first. A
 * chunked upload that loses its connection asks the session for its Range
 * and continues from there; a session the registry no longer knows is
 * started again. *how_out (may be NULL) says what happened. Returns 0 or a
 * BERR_* code with a message. */
int upload_blob(struct regclient *rc, const char *repo, const struct digest *dg, int fd,
                int64_t size, const struct upload_opts *opts, enum upload_how *how_out);

/* Parse an upload status Range value "0-<end>" into the next offset to send
 * (end + 1; "0-0" is taken as 0 because registries send it for an empty
 * session). Returns 0 or BERR_INVALID. */
int upload_parse_range(int64_t *next_out, const char *range);

#endif
