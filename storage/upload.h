/*
 * upload.h - blob upload sessions.
 *
 * A session is a row in the metadata (id, repository, started) plus staged
 * bytes under paths_upload(id); the running SHA-256 lives in memory, keyed by
 * id. After a restart the hash is rebuilt by reading the staged bytes once.
 * One request at a time may write to a session; another waits for it to
 * finish (bounded, see upload_mgr_set_busy_wait), then gets BERR_BUSY.
 *
 * Monolithic uploads (POST ?digest= with the body) use an ephemeral session:
 * no row, nothing persists unless it completes.
 */
#ifndef BERTH_UPLOAD_H
#define BERTH_UPLOAD_H

#include <stdint.h>

#include "image/digest.h"
#include "storage/blobstore.h"
#include "storage/metadb.h"
#include "storage/paths.h"

struct upload_mgr;
struct upload;

/* Borrows bs and db. */
int upload_mgr_new(struct upload_mgr **out, struct blobstore *bs, struct metadb *db);
/* Frees in-memory state only (staged bytes and rows stay for a restart). */
void upload_mgr_free(struct upload_mgr *m);

/* How long upload_open / upload_status wait for a session another request
 * is writing to before answering BERR_BUSY (default 5000 ms): a client whose
 * connection dropped mid-chunk retries before its old request has noticed. */
void upload_mgr_set_busy_wait(struct upload_mgr *m, int ms);

/* Create a persistent session for `repo`; writes its id into id_out (37 bytes). */
int upload_start(struct upload_mgr *m, const char *repo, char id_out[UPLOAD_ID_LEN + 1]);

/* Acquire a session to write to it. `expect_start` is the first byte offset
 * the client claims (Content-Range start), or -1 for "append wherever it is".
 * Returns BERR_UPLOAD_UNKNOWN (no such session in this repo), BERR_RANGE
 * (expect_start != current size; *offset_out still tells the current size
 * when offset_out is non-NULL), BERR_BUSY (another request writes to it). */
int upload_open(struct upload_mgr *m, const char *repo, const char *id, int64_t expect_start,
                struct upload **out, int64_t *offset_out);
/* Open an ephemeral session for a single-request upload (no row). */
int upload_open_ephemeral(struct upload_mgr *m, const char *repo, enum digest_alg alg,
                          struct upload **out);

/* Append bytes (hashing them as they go). */
int upload_write(struct upload *u, const void *data, size_t len);
/* Bytes received so far. */
int64_t upload_offset(const struct upload *u);
/* The session id ("" for ephemeral sessions). */
const char *upload_id(const struct upload *u);

/* Release the session after a chunk: bytes stay staged. Frees u. For an
 * ephemeral session (nothing can resume it) this is upload_abandon. */
int upload_close(struct upload *u);
/* Complete: verify the digest (and size when expect_size >= 0), publish the
 * blob, link it into the repository, end the session. Frees u.
 * BERR_DIGEST_INVALID / BERR_SIZE_INVALID on mismatch (the session is then
 * cancelled: staged bytes removed, row deleted). */
int upload_finish(struct upload *u, const struct digest *expected, int64_t expect_size);
/* End the session and discard its bytes. Frees u. */
void upload_abandon(struct upload *u);

/* Current size of a session without acquiring it. BERR_UPLOAD_UNKNOWN. */
int upload_status(struct upload_mgr *m, const char *repo, const char *id, int64_t *offset_out);
/* Cancel a session: remove row and bytes. BERR_UPLOAD_UNKNOWN, BERR_BUSY. */
int upload_cancel(struct upload_mgr *m, const char *repo, const char *id);
/* Cancel every session idle since before `before` (unix seconds) and remove
 * staged files that have no row. Returns the number removed or an error. */
int upload_expire(struct upload_mgr *m, int64_t before);

#endif
