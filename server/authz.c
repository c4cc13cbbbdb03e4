/*
 * authz.c - adapts a request to auth/ and applies its verdict.
 *
 * auth.mode = none: every request passes (berthd refuses to start that way
 * on a non-loopback address unless auth.force-open is set; see main.c).
 */
#include "server/authz.h"

#include "image/base/err.h"
#include "server/routes.h"

#include <string.h>

int authz_open(struct server *srv)
{
    srv->auth = NULL;
    if (strcmp(srv->cfg->auth_mode, "none") == 0)
        return 0;
    return berr_set(BERR_CONFIG, "auth.mode = %s is not available in this build",
                    srv->cfg->auth_mode);
}

void authz_close(struct server *srv)
{
    srv->auth = NULL;
}

int authz_check(struct request *r)
{
    (void)r;
    return 0;
}

int authz_can_pull(void *ctx, const char *repo)
{
    (void)ctx;
    (void)repo;
    return 1;
}

void authz_request_release(struct request *r)
{
    r->authz = NULL;
}
