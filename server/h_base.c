/*
 * h_base.c - GET /v2/ (end-1): the API version check. Authentication, when
 * configured, has already run; reaching here means the caller may proceed.
 */
#include "server/handlers.h"

#include "image/base/xalloc.h"
#include "server/respond.h"

int h_base_get(struct request *r)
{
    respond_body(r, 200, "application/json", xstrdup("{}"), 2);
    return 0;
}
