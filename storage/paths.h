/*
 * paths.h - the only place that builds storage keys.
 *
 * Layout (relative to the driver's root, see docs/storage.md):
 *   blobs/<alg>/<first 2 hex>/<hex>        content-addressed blob data
 *   uploads/<id>                           staged bytes of an upload session
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
/* Key of an upload's staged data. Returns 0 or BERR_UPLOAD_UNKNOWN when id is
 * not a canonical lowercase UUID. */
int paths_upload(char out[PATHS_KEY_MAX], const char *id);
/* Key under trash/ for a blob moved aside, unique per nonce. */
int paths_trash(char out[PATHS_KEY_MAX], const struct digest *d, unsigned long long nonce);
/* 1 when id is a canonical lowercase UUID (8-4-4-4-12 hex). */
int paths_upload_id_valid(const char *id, size_t len);
/* Parse a blob key back into a digest (for walks). Returns 0 or BERR_INVALID. */
int paths_parse_blob(struct digest *out, const char *key);

#endif
