/*
 * authz.c - adapts a request to auth/ and applies its verdict.
 *
 * auth.mode = none: srv->auth is NULL and every request passes (berthd
 * refuses to start that way on a non-loopback address unless
 * auth.force-open is set; see main.c). Otherwise auth_check runs once per
 * request, right after routing; its result (who the caller is, what they
 * hold) hangs off the request as r->authz and is released with it.
 */
#include "server/authz.h"

#include "auth/auth.h"
#include "image/base/err.h"
#include "image/base/xalloc.h"
#include "server/respond.h"
#include "server/routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int authz_open(struct server *srv)
{
    const struct config *c = srv->cfg;
    struct auth_settings s;
    srv->auth = NULL;
    int mode = auth_mode_parse(c->auth_mode);
    if (mode < 0)
        return berr_set(BERR_CONFIG, "auth.mode: unknown mode '%s'", c->auth_mode);
    if (mode == AUTH_MODE_NONE)
        return 0;
    auth_settings_init(&s);
    s.mode = (enum auth_mode)mode;
    s.htpasswd = c->auth_htpasswd;
    s.basic_realm = c->auth_basic_realm;
    s.basic_cache_ttl = (unsigned)c->auth_basic_cache_ttl;
    s.realm = c->auth_realm;
    s.service = c->auth_service;
    s.issuer = c->auth_issuer;
    s.keys = (const char *const *)c->auth_trusted_keys.items;
    s.nkeys = c->auth_trusted_keys.n;
    s.rootcerts = c->auth_root_certs;
    s.leeway = (unsigned)c->auth_leeway;
    s.issuer_enabled = c->auth_builtin_issuer;
    s.key_type = c->auth_key_type;
    s.token_ttl = (unsigned)c->auth_token_ttl;
    s.refresh_ttl = (unsigned)c->auth_refresh_ttl;
    s.rules = (const char *const *)c->auth_rules.items;
    s.nrules = c->auth_rules.n;
    s.admins = (const char *const *)c->auth_admins.items;
    s.nadmins = c->auth_admins.n;
    s.groups = (const char *const *)c->auth_groups.items;
    s.ngroups = c->auth_groups.n;
    s.ratelimit_failures = (unsigned)c->auth_fail_limit;
    s.ratelimit_window = (unsigned)c->auth_fail_window;
    char *key = NULL;
    if (!*c->auth_signing_key) {
        key = xasprintf("%s/token-key.pem", c->data_dir);
        s.signing_key = key;
    } else {
        s.signing_key = c->auth_signing_key;
    }
    int rc = auth_new(&srv->auth, &s);
    free(key);
    return rc;
}

void authz_close(struct server *srv)
{
    auth_free(srv->auth);
    srv->auth = NULL;
}

static unsigned actions_of(unsigned access)
{
    unsigned a = 0;
    if (access & ACCESS_PULL)
        a |= AUTH_PULL;
    if (access & ACCESS_PUSH)
        a |= AUTH_PUSH;
    if (access & ACCESS_DELETE)
        a |= AUTH_DELETE;
    return a;
}

int authz_check(struct request *r)
{
    struct auth *a = r->srv->auth;
    if (!a)
        return 0;
    struct auth_result *res = r->authz;
    if (!res) {
        res = xcalloc(1, sizeof(*res));
        r->authz = res;
    }
    char id[24];
    snprintf(id, sizeof(id), "%llu", r->id);
    unsigned access = r->route->access;
    struct auth_request rq = {
        .method = r->method_str,
        .repo = (access & ACCESS_CATALOG) ? NULL : r->name,
        .actions = actions_of(access),
        .catalog = (access & ACCESS_CATALOG) != 0,
        .mount_from = (r->method == M_POST && r->name) ? request_query(r, "from") : NULL,
        .authorization = request_header(r, "Authorization"),
        .client_addr = request_client_addr(r),
        .request_id = id,
    };
    const char *host = request_header(r, "Host");
    char *base =
        xasprintf("%s://%s", *r->srv->cfg->tls_cert ? "https" : "http", host ? host : "localhost");
    rq.base_url = base;
    if (rq.mount_from && !request_query(r, "mount"))
        rq.mount_from = NULL;
    int rc = auth_check(a, &rq, res);
    free(base);
    if (res->subject && !r->principal)
        r->principal = xstrdup(res->subject);
    if (rc == BERR_UNAUTHORIZED && res->challenge)
        respond_header(r, "WWW-Authenticate", "%s", res->challenge);
    else if (rc == BERR_TOOMANY)
        respond_header(r, "Retry-After", "%u", res->retry_after);
    return rc;
}

int authz_can_pull(void *ctx, const char *repo)
{
    struct request *r = ctx;
    if (!r->srv->auth)
        return 1;
    if (!r->authz)
        return 0;
    return auth_can_pull(r->srv->auth, r->authz, repo);
}

int authz_can_list(void *ctx, const char *repo)
{
    struct request *r = ctx;
    if (!r->srv->auth)
        return 1;
    if (!r->authz)
        return 0;
    return auth_can_list(r->srv->auth, r->authz, repo);
}

int authz_mount_allowed(struct request *r)
{
    if (!r->srv->auth)
        return 1;
    const struct auth_result *res = r->authz;
    if (!res)
        return 0;
    /* without `from` the source is chosen among the repositories the caller
     * may pull (authz_can_pull as the mount's filter); res->mount_ok only
     * answers for an explicit `from` */
    if (!request_query(r, "from"))
        return 1;
    return res->mount_ok;
}

void authz_request_release(struct request *r)
{
    if (r->authz) {
        auth_result_release(r->authz);
        free(r->authz);
    }
    r->authz = NULL;
}
