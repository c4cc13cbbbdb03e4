/*
 * errmap.h - the one place where a BERR_* code becomes an HTTP status and
 * an OCI error code. Each code is registered once, in errmap.c's table.
 */
#ifndef BERTH_ERRMAP_H
#define BERTH_ERRMAP_H

#include "server/request.h"

/* HTTP status for a BERR_* code. */
int errmap_status(int code);
/* OCI error code ("BLOB_UNKNOWN") for a BERR_* code. */
const char *errmap_code(int code);
/* Replace r's response with the JSON error for `code`; the message is the
 * thread-local berr_message() when set, else the code's default text. */
void errmap_respond(struct request *r, int code);

#endif
