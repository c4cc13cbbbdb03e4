/*
 * tokensrv.c - the built-in token issuer: GET (Basic or anonymous) and the
 * OAuth2 POST (password and refresh_token grants).
 *
 * Invariants: a token never holds more than the rules give its subject at
 * issue time; a refresh token is only accepted when signed by our own key
 * for our refresh audience and while the user's password is unchanged;
 * credentials, tokens and keys never reach a log line (the log names the
 * subject, the client address and the granted scopes).
 */
#include "auth/tokensrv.h"

#include "image/b64.h"
#include "auth/keys.h"
#include "auth/token.h"
#include "image/base/buf.h"
#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

struct tokensrv {
    char *issuer;
    char *service;
    char *refresh_aud; /* "berth-refresh:<service>" */
    char *challenge;
    unsigned ttl;
    unsigned refresh_ttl;
    EVP_PKEY *key;
    char *key_pem; /* private; wiped on free */
    size_t key_pem_len;
    enum keys_alg alg;
    char kid[KEYS_KID_MAX];
    struct keyring *own; /* just our key: refresh tokens verify against it */
    struct login *login;
    const struct acl *acl;
};

/* A decoded request parameter (owned strings). */
struct param {
    char *name;
    char *value;
};

struct params {
    struct param *v;
    size_t n;
};

int tokensrv_new(struct tokensrv **out, const struct tokensrv_config *cfg, struct login *lg,
                 const struct acl *acl, time_t now)
{
    struct tokensrv *ts = xcalloc(1, sizeof(*ts));
    ts->issuer = xstrdup(cfg->issuer);
    ts->service = xstrdup(cfg->service);
    ts->refresh_aud = xasprintf("berth-refresh:%s", cfg->service);
    ts->challenge = xstrdup(cfg->basic_challenge);
    ts->ttl = cfg->ttl;
    ts->refresh_ttl = cfg->refresh_ttl;
    ts->login = lg;
    ts->acl = acl;
    int rc = keys_signing_open(&ts->key, &ts->key_pem, &ts->key_pem_len, cfg->key_path,
                               cfg->key_type, cfg->issuer, now);
    if (rc < 0)
        goto fail;
    ts->alg = keys_alg_for(ts->key);
    rc = keys_kid_jwk(ts->kid, ts->key);
    if (rc < 0)
        goto fail;
    keyring_new(&ts->own);
    rc = keyring_add_pkey(ts->own, ts->key, cfg->key_path);
    if (rc < 0)
        goto fail;
    *out = ts;
    return 0;
fail:
    tokensrv_free(ts);
    return rc;
}

void tokensrv_free(struct tokensrv *ts)
{
    if (!ts)
        return;
    if (ts->key_pem) {
        OPENSSL_cleanse(ts->key_pem, ts->key_pem_len);
        free(ts->key_pem);
    }
    EVP_PKEY_free(ts->key);
    keyring_free(ts->own);
    free(ts->issuer);
    free(ts->service);
    free(ts->refresh_aud);
    free(ts->challenge);
    free(ts);
}

EVP_PKEY *tokensrv_key(const struct tokensrv *ts)
{
    return ts->key;
}

/* ---- parameters -------------------------------------------------------- */

static void params_release(struct params *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].name);
        login_secret_free(p->v[i].value); /* may be a password */
    }
    free(p->v);
    p->v = NULL;
    p->n = 0;
}

static void params_add(struct params *p, char *name, char *value)
{
    p->v = xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
    p->v[p->n].name = name;
    p->v[p->n].value = value;
    p->n++;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode one x-www-form-urlencoded field ('+' is a space). */
static int form_decode(char **out, const char *s, size_t len)
{
    char *d = xmalloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            d[o++] = ' ';
        } else if (s[i] == '%') {
            int hi = i + 1 < len ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < len ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                OPENSSL_cleanse(d, o);
                free(d);
                return berr_set(BERR_INVALID, "form field has a bad %%-escape");
            }
            d[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            d[o++] = s[i];
        }
    }
    d[o] = '\0';
    *out = d;
    return 0;
}

static int form_parse(struct params *p, const char *form, size_t len)
{
    if (len > TOKENSRV_FORM_MAX)
        return berr_set(BERR_INVALID, "form body is over %u bytes", TOKENSRV_FORM_MAX);
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && form[i] != '&')
            continue;
        const char *f = form + start;
        size_t fl = i - start;
        start = i + 1;
        if (fl == 0)
            continue;
        if (p->n >= 2 * TOKENSRV_SCOPES_MAX)
            return berr_set(BERR_INVALID, "form body has too many fields");
        const char *eq = memchr(f, '=', fl);
        size_t nl = eq ? (size_t)(eq - f) : fl;
        char *name = NULL, *value = NULL;
        int rc = form_decode(&name, f, nl);
        if (rc == 0)
            rc = eq ? form_decode(&value, eq + 1, fl - nl - 1) : (value = xstrdup(""), 0);
        if (rc < 0) {
            free(name);
            return rc;
        }
        params_add(p, name, value);
    }
    return 0;
}

/* The first value of `name`, or NULL. */
static const char *param_get(const struct params *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i].name, name) == 0)
            return p->v[i].value;
    return NULL;
}

/* ---- granting and signing ---------------------------------------------- */

void tokensrv_grant(const struct tokensrv *ts, struct scope_list *granted, const char *subject,
                    const struct scope_list *requested)
{
    for (size_t i = 0; i < requested->n; i++) {
        const struct scope_entry *e = &requested->v[i];
        unsigned have = 0;
        if (strcmp(e->type, "repository") == 0)
            have = acl_actions(ts->acl, subject, e->name);
        else if (strcmp(e->type, "registry") == 0 && strcmp(e->name, "catalog") == 0)
            have = acl_catalog(ts->acl, subject) ? AUTH_ALL : 0;
        if (have & e->actions)
            scope_list_add(granted, e->type, e->name, have & e->actions);
    }
}

static char *random_id(void)
{
    unsigned char r[18];
    struct buf b = BUF_INIT;
    if (RAND_bytes(r, sizeof(r)) != 1)
        return NULL;
    b64_encode(&b, r, sizeof(r), B64_URL);
    return buf_detach(&b, NULL);
}

static json_t *access_json(const struct scope_list *access)
{
    static const struct {
        unsigned bit;
        const char *word;
    } words[] = {{AUTH_PULL, "pull"}, {AUTH_PUSH, "push"}, {AUTH_DELETE, "delete"}};
    json_t *arr = json_array();
    for (size_t i = 0; i < access->n; i++) {
        const struct scope_entry *e = &access->v[i];
        if (!e->actions)
            continue;
        json_t *acts = json_array();
        if ((e->actions & AUTH_ALL) == AUTH_ALL) {
            json_array_append_new(acts, json_string("*"));
        } else {
            for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++)
                if (e->actions & words[w].bit)
                    json_array_append_new(acts, json_string(words[w].word));
        }
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:o}", "type", e->type, "name", e->name, "actions", acts));
    }
    return arr;
}

int tokensrv_issue(struct tokensrv *ts, char **out, const char *subject,
                   const struct scope_list *access, time_t now)
{
    char *jti = random_id();
    if (!jti)
        return berr_set(BERR_INTERNAL, "no randomness for a token id");
    json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:o}", "iss", ts->issuer, "sub",
                               subject ? subject : "", "aud", ts->service, "exp",
                               (json_int_t)now + ts->ttl, "nbf", (json_int_t)now, "iat",
                               (json_int_t)now, "jti", jti, "access", access_json(access));
    int rc = claims ? token_sign(out, ts->key_pem, ts->key_pem_len, ts->alg, ts->kid, claims)
                    : berr_set(BERR_INTERNAL, "cannot build token claims");
    json_decref(claims);
    free(jti);
    return rc;
}

static int refresh_issue(struct tokensrv *ts, char **out, const char *subject, time_t now)
{
    unsigned char fp[HTPASSWD_FP_LEN];
    int rc = ts->login->htp ? htpasswd_fingerprint(ts->login->htp, subject, fp, now)
                            : berr_set(BERR_UNAUTHORIZED, "no users are configured");
    if (rc < 0)
        return rc;
    struct buf pwd = BUF_INIT;
    b64_encode(&pwd, fp, sizeof(fp), B64_URL);
    char *jti = random_id();
    json_t *claims =
        jti ? json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s}", "iss", ts->issuer, "sub",
                        subject, "aud", ts->refresh_aud, "exp", (json_int_t)now + ts->refresh_ttl,
                        "nbf", (json_int_t)now, "iat", (json_int_t)now, "jti", jti, "berth_use",
                        "refresh", "pwd", buf_cstr(&pwd))
            : NULL;
    rc = claims ? token_sign(out, ts->key_pem, ts->key_pem_len, ts->alg, ts->kid, claims)
                : berr_set(BERR_INTERNAL, "cannot build refresh token claims");
    json_decref(claims);
    free(jti);
    buf_release(&pwd);
    return rc;
}

/* Verify a refresh token; *subject gets its (still valid) user. */
static int refresh_check(struct tokensrv *ts, char **subject, const char *refresh, time_t now)
{
    struct token_verifier v = {ts->issuer, ts->refresh_aud, 0, "refresh", ts->own};
    struct token_claims c;
    memset(&c, 0, sizeof(c));
    int rc = token_verify(&c, &v, refresh, now);
    if (rc < 0)
        return rc;
    unsigned char fp[HTPASSWD_FP_LEN];
    struct buf want = BUF_INIT;
    const char *pwd = json_string_value(json_object_get(c.claims, "pwd"));
    rc = *c.subject && ts->login->htp ? htpasswd_fingerprint(ts->login->htp, c.subject, fp, now)
                                      : berr_set(BERR_UNAUTHORIZED, "refresh token has no subject");
    if (rc == 0)
        b64_encode(&want, fp, sizeof(fp), B64_URL);
    if (rc == 0 && (!pwd || strlen(pwd) != want.len || CRYPTO_memcmp(pwd, want.data, want.len)))
        rc = berr_set(BERR_UNAUTHORIZED, "refresh token revoked: the password changed");
    if (rc == 0) {
        *subject = c.subject;
        c.subject = NULL;
    }
    buf_release(&want);
    token_claims_release(&c);
    return rc;
}

/* ---- the endpoint ------------------------------------------------------ */

/* Who is asking: *subject (NULL = anonymous), *offline (wants a refresh
 * token), *refresh_in (the refresh token presented, to echo back). */
static int authenticate(struct tokensrv *ts, const struct auth_token_request *rq,
                        const struct params *p, int post, time_t now, char **subject, int *offline,
                        const char **refresh_in, struct auth_token_response *out)
{
    const char *rid = rq->request_id;
    char *user = NULL, *pass = NULL;
    int rc = 0;
    if (post) {
        const char *grant = param_get(p, "grant_type");
        const char *access_type = param_get(p, "access_type");
        *offline = access_type && strcmp(access_type, "offline") == 0;
        if (!grant)
            return berr_set(BERR_INVALID, "grant_type is required");
        if (strcmp(grant, "password") == 0) {
            const char *u = param_get(p, "username"), *pw = param_get(p, "password");
            if (!u || !*u || !pw)
                return berr_set(BERR_INVALID, "username and password are required");
            rc = login_password(ts->login, u, pw, rq->client_addr, rid, now, &out->retry_after);
            if (rc == 0)
                *subject = xstrdup(u);
            return rc;
        }
        if (strcmp(grant, "refresh_token") == 0) {
            const char *rt = param_get(p, "refresh_token");
            if (!rt || !*rt)
                return berr_set(BERR_INVALID, "refresh_token is required");
            rc = ratelimit_check(ts->login->rl, rq->client_addr, now, &out->retry_after);
            if (rc < 0)
                return rc;
            if (ts->refresh_ttl == 0)
                rc = berr_set(BERR_UNAUTHORIZED, "refresh tokens are disabled");
            else
                rc = refresh_check(ts, subject, rt, now);
            if (rc < 0) {
                log_info("auth: [%s] refresh token refused from %s: %s", rid ? rid : "-",
                         rq->client_addr ? rq->client_addr : "-", berr_message());
                login_failed(ts->login, rq->client_addr, rid, now);
                return berr_set(BERR_UNAUTHORIZED, "invalid refresh token");
            }
            *refresh_in = rt;
            *offline = 1;
            return 0;
        }
        return berr_set(BERR_INVALID, "unsupported grant_type");
    }
    const char *offline_token = param_get(p, "offline_token");
    *offline = offline_token && strcmp(offline_token, "true") == 0;
    if (!rq->authorization || !*rq->authorization)
        return 0; /* anonymous */
    const char *cred = NULL;
    if (!login_scheme(rq->authorization, "Basic", &cred))
        return berr_set(BERR_UNAUTHORIZED, "the token endpoint takes Basic credentials");
    if (login_basic_empty(cred))
        return 0; /* empty user and password: anonymous */
    rc = login_basic_decode(&user, &pass, cred);
    if (rc < 0)
        return berr_set(BERR_UNAUTHORIZED, "malformed basic credentials");
    rc = login_password(ts->login, user, pass, rq->client_addr, rid, now, &out->retry_after);
    login_secret_free(pass);
    if (rc == 0)
        *subject = user;
    else
        free(user);
    return rc;
}

static char *response_body(const char *token, unsigned ttl, time_t now, const char *scope,
                           const char *refresh)
{
    char issued[32];
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(issued, sizeof(issued), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:s}", "token", token, "access_token", token,
                          "expires_in", (json_int_t)ttl, "issued_at", issued, "scope", scope);
    if (o && refresh)
        json_object_set_new(o, "refresh_token", json_string(refresh));
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return body;
}

int tokensrv_handle(struct tokensrv *ts, const struct auth_token_request *rq,
                    struct auth_token_response *out, time_t now)
{
    struct params p = {NULL, 0};
    struct scope_list requested = SCOPE_LIST_INIT, granted = SCOPE_LIST_INIT;
    struct buf scope = BUF_INIT;
    char *subject = NULL, *token = NULL, *refresh_new = NULL;
    const char *refresh_in = NULL;
    int offline = 0, rc = 0;
    int post = rq->method && strcmp(rq->method, "POST") == 0;
    if (!post &&
        !(rq->method && (strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0))) {
        rc = berr_set(BERR_INVALID, "the token endpoint takes GET or POST");
        goto out;
    }
    if (post) {
        rc = form_parse(&p, rq->form ? rq->form : "", rq->form ? rq->form_len : 0);
    } else {
        for (size_t i = 0; i < rq->nquery && rc == 0; i++) {
            if (p.n >= 2 * TOKENSRV_SCOPES_MAX)
                rc = berr_set(BERR_INVALID, "too many query parameters");
            else if (rq->query[i].name && rq->query[i].value)
                params_add(&p, xstrdup(rq->query[i].name), xstrdup(rq->query[i].value));
        }
    }
    if (rc < 0)
        goto out;
    const char *service = param_get(&p, "service");
    if (service && strcmp(service, ts->service) != 0) {
        rc = berr_set(BERR_INVALID, "unknown service");
        goto out;
    }
    for (size_t i = 0; i < p.n; i++) {
        if (strcmp(p.v[i].name, "scope") != 0)
            continue;
        rc = scope_list_parse(&requested, p.v[i].value);
        if (rc < 0)
            goto out;
        if (requested.n > TOKENSRV_SCOPES_MAX) {
            rc = berr_set(BERR_INVALID, "more than %d scopes requested", TOKENSRV_SCOPES_MAX);
            goto out;
        }
    }
    rc = authenticate(ts, rq, &p, post, now, &subject, &offline, &refresh_in, out);
    if (rc == BERR_UNAUTHORIZED)
        out->challenge = xstrdup(ts->challenge);
    if (rc < 0)
        goto out;
    tokensrv_grant(ts, &granted, subject, &requested);
    rc = tokensrv_issue(ts, &token, subject, &granted, now);
    if (rc == 0 && subject && offline && ts->refresh_ttl && !refresh_in)
        rc = refresh_issue(ts, &refresh_new, subject, now);
    if (rc == 0)
        rc = scope_list_format(&scope, &granted);
    if (rc < 0)
        goto out;
    const char *refresh = refresh_new ? refresh_new : refresh_in;
    out->body = response_body(token, ts->ttl, now, buf_cstr(&scope), refresh);
    if (!out->body) {
        rc = berr_set(BERR_INTERNAL, "cannot build the token response");
        goto out;
    }
    log_info("auth: [%s] token for %s%s%s from %s: %s%s", rq->request_id ? rq->request_id : "-",
             subject ? "\"" : "", subject ? subject : "anonymous", subject ? "\"" : "",
             rq->client_addr ? rq->client_addr : "-", scope.len ? buf_cstr(&scope) : "no access",
             refresh_new ? " (+refresh token)" : "");
out:
    if (token) {
        OPENSSL_cleanse(token, strlen(token));
        free(token);
    }
    if (refresh_new) {
        OPENSSL_cleanse(refresh_new, strlen(refresh_new));
        free(refresh_new);
    }
    free(subject);
    buf_release(&scope);
    scope_list_release(&requested);
    scope_list_release(&granted);
    params_release(&p);
    return rc;
}
