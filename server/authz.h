/*
 * authz.h - authentication and authorization of a request, run once per
 * request right after the route matched and before any handler.
 *
 * The policy lives in auth/ (htpasswd, tokens, rules); this file adapts a
 * request to it and sets the challenge headers on refusal.
 */
#ifndef BERTH_AUTHZ_H
#define BERTH_AUTHZ_H

#include "server/request.h"

/* Build srv->auth from the config (NULL in auth.mode = none). */
int authz_open(struct server *srv);
void authz_close(struct server *srv);
/* 0 when r may proceed; else BERR_UNAUTHORIZED (WWW-Authenticate set),
 * BERR_DENIED or BERR_TOOMANY (Retry-After set). */
int authz_check(struct request *r);
/* meta_repo_filter for the catalog and mounts without `from`: ctx is the
 * struct request. 1 when the caller may pull repo. */
int authz_can_pull(void *ctx, const char *repo);
/* Like authz_can_pull, for filtering the catalog. */
int authz_can_list(void *ctx, const char *repo);
/* 1 when the caller may take a blob from the mount's `from` repository
 * (or from any pullable repository when `from` is absent). */
int authz_mount_allowed(struct request *r);
/* Release r->authz. */
void authz_request_release(struct request *r);

#endif
