/*
 * paths.h - the only place that builds storage keys.
 *
 * Layout (relative to the driver's root, see docs/storage.md):
 *   blobs/<alg>/<first 2 hex>/<hex>        content-addressed blob data
 *   uploads/<id>                           staged bytes of an upload session
 *   uploads/<id>.sealed                    verified, durable bytes waiting to be
 *                                          published (renamed under the metadata
 *                                          write lock, see upload.c)
 *   trash/<alg>/<hex>.<nonce>              blobs moved aside by the collector
 * Inputs are validated again here (digest grammar, upload id grammar), so a
 * bad argument can never produce a key outside these trees.
 */
#ifndef BERTH_PATHS_H
#define BERTH_PATHS_H

#include <stddef.h>

#include "image/digest.h"

#define PATHS_KEY_MAX 512
#define UPLOAD_ID_LEN 36 /* canonical UUID text */

/* Key of a blob's data. Returns 0 or BERR_DIGEST_INVALID. */
int paths_blob(char out[PATHS_KEY_MAX], const struct digest *d);
/* Directory (key prefix) of staged uploads; unnamed writers stage here. */
#define PATHS_UPLOADS_DIR "uploads/"
/* Key of an upload's staged data. Returns 0 or BERR_UPLOAD_UNKNOWN when id is
 * not a canonical lowercase UUID. */
int paths_upload(char out[PATHS_KEY_MAX], const char *id);
/* Key of an upload's sealed bytes (verified and durable, about to be
 * published). Returns 0 or BERR_UPLOAD_UNKNOWN when id is not a UUID. */
int paths_upload_sealed(char out[PATHS_KEY_MAX], const char *id);
/* The session id a key under uploads/ belongs to ("uploads/<id>" or
 * "uploads/<id>.sealed"): copies it into id_out and returns 0, or
 * BERR_INVALID for any other key. */
int paths_parse_upload(char id_out[UPLOAD_ID_LEN + 1], const char *key);
/* Key under trash/ for a blob moved aside, unique per nonce. */
int paths_trash(char out[PATHS_KEY_MAX], const struct digest *d, unsigned long long nonce);
/* Parse a trash key back into the digest of the blob it holds. Returns 0 or
 * BERR_INVALID. */
int paths_parse_trash(struct digest *out, const char *key);
/* 1 when id is a canonical lowercase UUID (8-4-4-4-12 hex). */
int paths_upload_id_valid(const char *id, size_t len);
/* Parse a blob key back into a digest (for walks). Returns 0 or BERR_INVALID. */
int paths_parse_blob(struct digest *out, const char *key);

#endif
