/*
 * auth.c - the auth/ entry points: settings, auth_check per mode, the
 * challenge strings, catalog/mount filters and the token endpoint hook.
 *
 * Invariants: after auth_new everything reachable from struct auth is
 * read-only except the htpasswd table, the failed-login table and the
 * verified-token cache, each behind its own mutex. A grant is immutable and
 * reference-counted, so a cached grant can be shared by concurrent
 * requests. A token is cached only after full verification, keyed by its
 * SHA-256, and reused only inside its own nbf/exp window.
 */
#include "auth/auth.h"

#include "auth/acl.h"
#include "auth/htpasswd.h"
#include "auth/keys.h"
#include "auth/login.h"
#include "auth/ratelimit.h"
#include "auth/scope.h"
#include "auth/token.h"
#include "auth/tokensrv.h"
#include "image/base/buf.h"
#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define AUTH_TOKEN_CACHE 256

struct auth_grant {
    atomic_int refs;
    char *subject;            /* NULL = anonymous */
    int is_token;             /* access below is a verified token's claim */
    struct scope_list access; /* token mode */
    long long nbf, exp;       /* token validity (cache reuse window) */
};

struct token_slot {
    unsigned char key[SHA256_DIGEST_LENGTH];
    struct auth_grant *grant; /* NULL = empty */
};

struct auth {
    enum auth_mode mode;
    char *basic_challenge; /* Basic realm="..." */
    char *realm;
    char *service;
    char *issuer;
    unsigned leeway;
    time_t (*clock)(void);
    struct acl *acl;
    struct htpasswd *htp;
    struct ratelimit *rl;
    struct login login;
    struct keyring *kr;
    struct tokensrv *ts;
    pthread_mutex_t cache_mu;
    struct token_slot cache[AUTH_TOKEN_CACHE];
};

void auth_settings_init(struct auth_settings *s)
{
    memset(s, 0, sizeof(*s));
    s->mode = AUTH_MODE_NONE;
    s->basic_realm = "berth";
    s->basic_cache_ttl = 60;
    s->service = "berth";
    s->issuer = "berth";
    s->leeway = 60;
    s->key_type = "ec";
    s->token_ttl = 300;
    s->refresh_ttl = 30u * 24 * 3600;
    s->ratelimit_failures = 5;
    s->ratelimit_window = 60;
}

int auth_mode_parse(const char *s)
{
    if (strcmp(s, "none") == 0)
        return AUTH_MODE_NONE;
    if (strcmp(s, "htpasswd") == 0)
        return AUTH_MODE_HTPASSWD;
    if (strcmp(s, "token") == 0)
        return AUTH_MODE_TOKEN;
    return -1;
}

const char *auth_mode_name(enum auth_mode mode)
{
    switch (mode) {
    case AUTH_MODE_NONE:
        return "none";
    case AUTH_MODE_HTPASSWD:
        return "htpasswd";
    case AUTH_MODE_TOKEN:
        return "token";
    }
    return "?";
}

enum auth_mode auth_get_mode(const struct auth *a)
{
    return a->mode;
}

static time_t auth_now(const struct auth *a)
{
    return a->clock ? a->clock() : time(NULL);
}

/* ---- grants ------------------------------------------------------------ */

static struct auth_grant *grant_new(const char *subject)
{
    struct auth_grant *g = xcalloc(1, sizeof(*g));
    atomic_init(&g->refs, 1);
    g->subject = subject && *subject ? xstrdup(subject) : NULL;
    return g;
}

static struct auth_grant *grant_ref(struct auth_grant *g)
{
    atomic_fetch_add(&g->refs, 1);
    return g;
}

static void grant_unref(struct auth_grant *g)
{
    if (!g || atomic_fetch_sub(&g->refs, 1) != 1)
        return;
    free(g->subject);
    scope_list_release(&g->access);
    free(g);
}

void auth_result_release(struct auth_result *r)
{
    free(r->subject);
    free(r->challenge);
    grant_unref(r->grant);
    memset(r, 0, sizeof(*r));
}

/* ---- construction ------------------------------------------------------ */

/* Text that goes between quotes in a header: printable, no '"' or '\'. */
static int header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '"' || *s == '\\')
            return 0;
    return 1;
}

static int check_text(const char *value, const char *key, int required)
{
    if (!value || !*value)
        return required ? berr_set(BERR_CONFIG, "%s must be set", key) : 0;
    if (!header_safe(value))
        return berr_set(BERR_CONFIG, "%s must not hold quotes, backslashes or control bytes", key);
    return 0;
}

static int validate(const struct auth_settings *s)
{
    int token = s->mode == AUTH_MODE_TOKEN;
    int rc = check_text(s->basic_realm, "auth.basic-realm", s->mode != AUTH_MODE_NONE);
    if (rc == 0 && token)
        rc = check_text(s->realm, "auth.token.realm (the token endpoint URL clients reach)",
                        !s->issuer_enabled);
    if (rc == 0 && token)
        rc = check_text(s->service, "auth.token.service", 1);
    if (rc == 0 && token)
        rc = check_text(s->issuer, "auth.token.issuer", 1);
    if (rc < 0)
        return rc;
    if (s->mode == AUTH_MODE_HTPASSWD && (!s->htpasswd || !*s->htpasswd))
        return berr_set(BERR_CONFIG, "auth.mode = htpasswd needs auth.htpasswd (a file path)");
    if (token && s->issuer_enabled) {
        if (!s->htpasswd || !*s->htpasswd)
            return berr_set(BERR_CONFIG,
                            "the built-in token issuer (auth.issuer.enabled) needs auth.htpasswd "
                            "for its users; with an external issuer set auth.issuer.enabled = "
                            "false");
        if (!s->signing_key || !*s->signing_key)
            return berr_set(BERR_CONFIG, "the built-in issuer needs auth.issuer.key (a path)");
        if (s->token_ttl < 60 || s->token_ttl > 86400)
            return berr_set(BERR_CONFIG, "auth.issuer.ttl must be 60..86400 s");
        /* checked even when the key exists: a typo must not pass silently */
        if (s->key_type && strcmp(s->key_type, "ec") != 0 && strcmp(s->key_type, "rsa") != 0)
            return berr_set(BERR_CONFIG,
                            "auth.issuer.key-type must be \"ec\" or \"rsa\", not \"%s\"",
                            s->key_type);
    }
    if (token && !s->issuer_enabled && s->nkeys == 0 && (!s->rootcerts || !*s->rootcerts))
        return berr_set(BERR_CONFIG, "auth.mode = token needs auth.token.key, "
                                     "auth.token.rootcerts or auth.issuer.enabled = true");
    if (s->leeway > 3600)
        return berr_set(BERR_CONFIG, "auth.token.leeway must be 0..3600 s");
    return 0;
}

static int token_setup(struct auth *a, const struct auth_settings *s, time_t now)
{
    keyring_new(&a->kr);
    int rc = 0;
    for (size_t i = 0; i < s->nkeys && rc == 0; i++)
        rc = keyring_add_file(a->kr, s->keys[i]);
    if (rc == 0 && s->rootcerts && *s->rootcerts)
        rc = keyring_load_roots(a->kr, s->rootcerts);
    if (rc < 0 || !s->issuer_enabled)
        return rc;
    struct tokensrv_config tc = {s->issuer,         s->service,
                                 s->token_ttl,      s->refresh_ttl,
                                 s->signing_key,    s->key_type ? s->key_type : "ec",
                                 a->basic_challenge};
    rc = tokensrv_new(&a->ts, &tc, &a->login, a->acl, now);
    if (rc == 0)
        rc = keyring_add_pkey(a->kr, tokensrv_key(a->ts), s->signing_key);
    return rc;
}

int auth_new(struct auth **out, const struct auth_settings *s)
{
    int rc = validate(s);
    if (rc < 0)
        return rc;
    struct auth *a = xcalloc(1, sizeof(*a));
    pthread_mutex_init(&a->cache_mu, NULL);
    a->mode = s->mode;
    a->clock = s->clock;
    a->leeway = s->leeway;
    a->basic_challenge = xasprintf("Basic realm=\"%s\"",
                                   s->basic_realm && *s->basic_realm ? s->basic_realm : "berth");
    a->realm = xstrdup(s->realm ? s->realm : "");
    a->service = xstrdup(s->service ? s->service : "");
    a->issuer = xstrdup(s->issuer ? s->issuer : "");
    time_t now = auth_now(a);
    rc = acl_new(&a->acl, s->rules, s->nrules, s->admins, s->nadmins, s->groups, s->ngroups);
    if (rc < 0)
        goto fail;
    ratelimit_new(&a->rl, s->ratelimit_failures, s->ratelimit_window);
    int builtin = s->mode == AUTH_MODE_TOKEN && s->issuer_enabled;
    int need_users = s->mode == AUTH_MODE_HTPASSWD || builtin;
    if (need_users) {
        rc = htpasswd_open(&a->htp, s->htpasswd, s->basic_cache_ttl, now);
        if (rc < 0)
            goto fail;
    }
    a->login.htp = a->htp;
    a->login.rl = a->rl;
    if (s->mode == AUTH_MODE_TOKEN) {
        rc = token_setup(a, s, now);
        if (rc < 0)
            goto fail;
    }
    if (s->mode == AUTH_MODE_NONE && (s->nrules || s->nadmins))
        log_warn("auth: access rules are ignored with auth.mode = none");
    if (s->mode != AUTH_MODE_NONE && acl_empty(a->acl) && (s->mode == AUTH_MODE_HTPASSWD || a->ts))
        log_warn("auth: no auth.rule and no auth.admin: nobody has access to any repository");
    log_info("auth: mode %s%s", auth_mode_name(s->mode),
             a->ts ? " with the built-in token issuer" : "");
    *out = a;
    return 0;
fail:
    auth_free(a);
    return rc;
}

void auth_free(struct auth *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < AUTH_TOKEN_CACHE; i++)
        grant_unref(a->cache[i].grant);
    tokensrv_free(a->ts);
    keyring_free(a->kr);
    htpasswd_free(a->htp);
    ratelimit_free(a->rl);
    acl_free(a->acl);
    pthread_mutex_destroy(&a->cache_mu);
    free(a->basic_challenge);
    free(a->realm);
    free(a->service);
    free(a->issuer);
    free(a);
}

/* ---- auth_check -------------------------------------------------------- */

static unsigned actions_for_method(const char *method)
{
    if (!method)
        return AUTH_PULL;
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
        return AUTH_PULL;
    if (strcmp(method, "DELETE") == 0)
        return AUTH_DELETE;
    return AUTH_PULL | AUTH_PUSH; /* POST PUT PATCH */
}

static const char *or_dash(const char *s)
{
    return s && *s ? s : "-";
}

/* 401 with the Basic challenge; `why` becomes the error message clients show. */
static int unauthorized_basic(struct auth *a, struct auth_result *out, const char *why)
{
    out->challenge = xstrdup(a->basic_challenge);
    return berr_set(BERR_UNAUTHORIZED, "%s", why);
}

static int check_basic(struct auth *a, const struct auth_request *rq, unsigned need, time_t now,
                       struct auth_result *out)
{
    char *user = NULL, *pass = NULL;
    const char *cred = NULL;
    int has_creds = rq->authorization && *rq->authorization;
    if (has_creds && login_scheme(rq->authorization, "Basic", &cred) && login_basic_empty(cred))
        has_creds = 0; /* skopeo/podman without credentials: anonymous */
    if (has_creds) {
        if (!login_scheme(rq->authorization, "Basic", &cred) ||
            login_basic_decode(&user, &pass, cred) < 0) {
            log_info("auth: [%s] unusable authorization header from %s", or_dash(rq->request_id),
                     or_dash(rq->client_addr));
            return unauthorized_basic(a, out, "malformed Basic credentials");
        }
        int rc = login_password(&a->login, user, pass, rq->client_addr, rq->request_id, now,
                                &out->retry_after);
        login_secret_free(pass);
        if (rc < 0) {
            free(user);
            return rc == BERR_TOOMANY ? rc
                                      : unauthorized_basic(a, out, "invalid user name or password");
        }
    }
    out->grant = grant_new(user);
    out->subject = user;
    if (rq->mount_from)
        out->mount_ok = (acl_actions(a->acl, user, rq->mount_from) & AUTH_PULL) != 0;
    int allowed;
    if (rq->catalog)
        allowed = acl_catalog(a->acl, user);
    else if (rq->repo)
        allowed = (need & ~acl_actions(a->acl, user, rq->repo)) == 0;
    else
        allowed = user != NULL; /* /v2/ answers 401 to anonymous callers (docker login) */
    if (allowed)
        return 0;
    if (!user)
        return unauthorized_basic(a, out, "authentication required");
    log_info("auth: [%s] user \"%s\" denied %s %s", or_dash(rq->request_id), user,
             or_dash(rq->method), rq->catalog ? "catalog" : or_dash(rq->repo));
    return berr_set(BERR_DENIED, "requested access to the resource is denied");
}

/* The scope a request needs, for the challenge ("" for /v2/). */
static void needed_scope(struct buf *b, const struct auth_request *rq, unsigned need)
{
    if (rq->catalog) {
        buf_puts(b, "registry:catalog:*");
        return;
    }
    if (!rq->repo)
        return;
    buf_printf(b, "repository:%s:", rq->repo);
    scope_actions_format(b, need);
    if (rq->mount_from && strcmp(rq->mount_from, rq->repo) != 0)
        buf_printf(b, " repository:%s:pull", rq->mount_from);
}

static int unauthorized_bearer(struct auth *a, const struct auth_request *rq, unsigned need,
                               const char *error, struct auth_result *out)
{
    struct buf scope = BUF_INIT, c = BUF_INIT;
    needed_scope(&scope, rq, need);
    if (*a->realm)
        buf_printf(&c, "Bearer realm=\"%s\",service=\"%s\"", a->realm, a->service);
    else /* the built-in issuer, reached the way the client reached us */
        buf_printf(&c, "Bearer realm=\"%s/auth/token\",service=\"%s\"",
                   rq->base_url && header_safe(rq->base_url) ? rq->base_url : "", a->service);
    if (scope.len)
        buf_printf(&c, ",scope=\"%s\"", buf_cstr(&scope));
    if (error)
        buf_printf(&c, ",error=\"%s\"", error);
    out->challenge = buf_detach(&c, NULL);
    buf_release(&scope);
    return berr_set(BERR_UNAUTHORIZED, "authentication required");
}

/* A cached grant for this token hash, valid at `now`, or NULL. */
static struct auth_grant *cache_get(struct auth *a, const unsigned char key[32], time_t now)
{
    struct token_slot *s = &a->cache[key[0] % AUTH_TOKEN_CACHE];
    struct auth_grant *g = NULL;
    pthread_mutex_lock(&a->cache_mu);
    if (s->grant && CRYPTO_memcmp(s->key, key, 32) == 0 &&
        (long long)now - (long long)a->leeway <= s->grant->exp &&
        (long long)now + (long long)a->leeway >= s->grant->nbf)
        g = grant_ref(s->grant);
    pthread_mutex_unlock(&a->cache_mu);
    return g;
}

static void cache_put(struct auth *a, const unsigned char key[32], struct auth_grant *g)
{
    struct token_slot *s = &a->cache[key[0] % AUTH_TOKEN_CACHE];
    pthread_mutex_lock(&a->cache_mu);
    struct auth_grant *old = s->grant;
    memcpy(s->key, key, 32);
    s->grant = grant_ref(g);
    pthread_mutex_unlock(&a->cache_mu);
    grant_unref(old);
}

/* Verify a bearer token (or find it in the cache) into *out. */
static int bearer_grant(struct auth *a, const char *token, time_t now, struct auth_grant **out)
{
    unsigned char key[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, strnlen(token, TOKEN_MAX + 1), key);
    struct auth_grant *g = cache_get(a, key, now);
    if (g) {
        *out = g;
        return 0;
    }
    struct token_verifier v = {a->issuer, a->service, a->leeway, NULL, a->kr};
    struct token_claims c;
    memset(&c, 0, sizeof(c));
    int rc = token_verify(&c, &v, token, now);
    if (rc < 0)
        return rc;
    g = grant_new(c.subject);
    g->is_token = 1;
    g->access = c.access;
    c.access = (struct scope_list)SCOPE_LIST_INIT;
    g->nbf = c.nbf;
    g->exp = c.exp;
    token_claims_release(&c);
    cache_put(a, key, g);
    *out = g;
    return 0;
}

static int check_token(struct auth *a, const struct auth_request *rq, const char *token,
                       unsigned need, time_t now, struct auth_result *out)
{
    struct auth_grant *g = NULL;
    int rc = bearer_grant(a, token, now, &g);
    if (rc < 0) {
        log_info("auth: [%s] token refused from %s: %s", or_dash(rq->request_id),
                 or_dash(rq->client_addr), berr_message());
        return unauthorized_bearer(a, rq, need, "invalid_token", out);
    }
    out->grant = g;
    out->subject = g->subject ? xstrdup(g->subject) : NULL;
    if (rq->mount_from)
        out->mount_ok =
            (scope_list_actions(&g->access, "repository", rq->mount_from) & AUTH_PULL) != 0;
    int covered = 1;
    if (rq->catalog)
        covered = (scope_list_actions(&g->access, "registry", "catalog") & AUTH_STAR) != 0;
    else if (rq->repo)
        covered = (need & ~scope_list_actions(&g->access, "repository", rq->repo)) == 0;
    if (covered)
        return 0;
    log_debug("auth: [%s] token of \"%s\" does not cover %s %s", or_dash(rq->request_id),
              g->subject ? g->subject : "", or_dash(rq->method),
              rq->catalog ? "catalog" : or_dash(rq->repo));
    return unauthorized_bearer(a, rq, need, "insufficient_scope", out);
}

static int check_bearer(struct auth *a, const struct auth_request *rq, unsigned need, time_t now,
                        struct auth_result *out)
{
    const char *token = NULL;
    if (!rq->authorization || !login_scheme(rq->authorization, "Bearer", &token) || !*token)
        return unauthorized_bearer(a, rq, need, NULL, out);
    /* trailing blanks are not part of a header value (RFC 9110 5.5) */
    size_t len = strnlen(token, TOKEN_MAX + 2);
    while (len && (token[len - 1] == ' ' || token[len - 1] == '\t'))
        len--;
    if (!token[len])
        return check_token(a, rq, token, need, now, out);
    char *trimmed = xstrndup(token, len);
    int rc = check_token(a, rq, trimmed, need, now, out);
    free(trimmed);
    return rc;
}

int auth_check(struct auth *a, const struct auth_request *rq, struct auth_result *out)
{
    auth_result_release(out);
    if (rq->repo && !scope_name_valid(rq->repo, strlen(rq->repo)))
        return berr_set(BERR_NAME_INVALID, "invalid repository name");
    if (rq->mount_from && !scope_name_valid(rq->mount_from, strlen(rq->mount_from)))
        return berr_set(BERR_NAME_INVALID, "invalid mount source repository name");
    unsigned need = rq->actions ? rq->actions : actions_for_method(rq->method);
    time_t now = auth_now(a);
    switch (a->mode) {
    case AUTH_MODE_NONE:
        out->mount_ok = rq->mount_from != NULL;
        return 0;
    case AUTH_MODE_HTPASSWD:
        return check_basic(a, rq, need, now, out);
    case AUTH_MODE_TOKEN:
        return check_bearer(a, rq, need, now, out);
    }
    return berr_set(BERR_INTERNAL, "unknown auth mode");
}

/* ---- filters ----------------------------------------------------------- */

static int can_pull(struct auth *a, const struct auth_result *who, const char *repo, int listing)
{
    if (a->mode == AUTH_MODE_NONE)
        return 1;
    const struct auth_grant *g = who ? who->grant : NULL;
    const char *subject = g ? g->subject : NULL;
    if (a->mode == AUTH_MODE_HTPASSWD)
        return (acl_actions(a->acl, subject, repo) & AUTH_PULL) != 0;
    if (!g || !g->is_token)
        return 0;
    if (scope_list_actions(&g->access, "repository", repo) & AUTH_PULL)
        return 1;
    if (!acl_empty(a->acl))
        return (acl_actions(a->acl, subject, repo) & AUTH_PULL) != 0;
    /* an external issuer decides: its catalog grant lists everything */
    return listing && (scope_list_actions(&g->access, "registry", "catalog") & AUTH_STAR);
}

int auth_can_pull(struct auth *a, const struct auth_result *who, const char *repo)
{
    return can_pull(a, who, repo, 0);
}

int auth_can_list(struct auth *a, const struct auth_result *who, const char *repo)
{
    return can_pull(a, who, repo, 1);
}

/* ---- token endpoint ---------------------------------------------------- */

void auth_token_response_release(struct auth_token_response *r)
{
    if (r->body) {
        OPENSSL_cleanse(r->body, strlen(r->body));
        free(r->body);
    }
    free(r->challenge);
    memset(r, 0, sizeof(*r));
}

int auth_token_issue(struct auth *a, const struct auth_token_request *rq,
                     struct auth_token_response *out)
{
    auth_token_response_release(out);
    if (!a->ts)
        return berr_set(BERR_NOT_FOUND, "the built-in token issuer is not enabled");
    return tokensrv_handle(a->ts, rq, out, auth_now(a));
}
