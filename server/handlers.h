/*
 * handlers.h - one handler file per resource (h_*.c). Handlers are short,
 * have no SQL and no libmicrohttpd calls: they read the request, call
 * storage/, and produce exactly one response or return a BERR_* code.
 */
#ifndef BERTH_HANDLERS_H
#define BERTH_HANDLERS_H

#include <stddef.h>

#include "server/request.h"

/* h_base.c */
int h_base_get(struct request *r);
/* h_blob.c */
int h_blob_get(struct request *r);
int h_blob_head(struct request *r);
int h_blob_delete(struct request *r);
/* h_upload.c */
int h_upload_post_begin(struct request *r);
int h_upload_data(struct request *r, const char *data, size_t len);
int h_upload_post(struct request *r);
int h_upload_patch_begin(struct request *r);
int h_upload_patch(struct request *r);
int h_upload_put_begin(struct request *r);
int h_upload_put(struct request *r);
int h_upload_status(struct request *r);
int h_upload_cancel(struct request *r);
/* h_manifest.c */
int h_manifest_get(struct request *r);
int h_manifest_head(struct request *r);
int h_manifest_put(struct request *r);
int h_manifest_delete(struct request *r);
/* h_tags.c */
int h_tags_list(struct request *r);
/* h_catalog.c */
int h_catalog(struct request *r);
/* h_referrers.c */
int h_referrers(struct request *r);
/* h_token.c (built-in token issuer; auth) */
int h_token_get(struct request *r);
int h_token_post(struct request *r);

/* Shared by listing handlers (h_tags.c): parse ?n= and ?last=.
 * *n_out = -1 when absent. BERR_INVALID for a bad n. */
int list_params(struct request *r, long *n_out, const char **last_out);

#endif
