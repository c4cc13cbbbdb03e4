/*
 * regclient.c - the registry HTTP client (libcurl easy interface).
 *
 * One curl handle per regclient, reset before each request so no option
 * leaks from one request into the next while the connection stays open.
 * Authentication: the first request goes out with whatever is known for its
 * scope (a cached Bearer token, or Basic once the registry asked for it);
 * a 401 is answered once from its WWW-Authenticate challenge and the request
 * is sent again. Saved credentials (creds.c, perhaps a credential helper)
 * are looked up at the first 401 only. Tokens are cached per scope for the
 * life of the client.
 * Invariants: a response body goes to req->sink_fd only with a 2xx status
 * (error bodies always land in memory so they can be reported); secrets
 * never reach the log.
 */
#include "client/regclient.h"

#include "client/authchal.h"
#include "image/b64.h"
#include "client/creds.h"
#include "image/base/strlist.h"
#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"
#include "image/mediatype.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define REG_BODY_MAX_DEFAULT (4u << 20)
#define REG_USER_AGENT       "berth/0.1"

enum reg_auth { REG_AUTH_UNKNOWN = 0, REG_AUTH_NONE, REG_AUTH_BASIC, REG_AUTH_BEARER };

struct reg_token {
    char *scope;  /* the scope key it was asked for ("" for none) */
    char *header; /* "Authorization: Bearer ..." */
};

struct regclient {
    char *host;
    char *base; /* scheme://host */
    CURL *curl;
    char *user; /* NULL when no credentials */
    char *pass;
    int creds_loaded; /* user/pass were given or looked up (on the first 401) */
    enum reg_auth auth;
    char *realm; /* Bearer token endpoint */
    char *service;
    struct reg_token *tokens;
    size_t n_tokens;
    long limit_rate;
    char errbuf[CURL_ERROR_SIZE];
};

const char regclient_manifest_accept[] =
    MT_OCI_MANIFEST ", " MT_OCI_INDEX ", " MT_DOCKER_MANIFEST ", " MT_DOCKER_LIST;

/* ---- lifecycle ---------------------------------------------------------- */

int regclient_new(struct regclient **out, const struct regclient_opts *opts)
{
    static int global_done;
    if (!global_done) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        global_done = 1;
    }
    struct regclient *rc = xcalloc(1, sizeof(*rc));
    rc->host = xstrdup(opts->host);
    rc->base = xasprintf("%s://%s", opts->plain_http ? "http" : "https", opts->host);
    rc->limit_rate = opts->limit_rate;
    rc->curl = curl_easy_init();
    if (!rc->curl) {
        regclient_free(rc);
        return berr_set(BERR_INTERNAL, "cannot initialize libcurl");
    }
    if (opts->username) {
        rc->user = xstrdup(opts->username);
        rc->pass = xstrdup(opts->password ? opts->password : "");
        rc->creds_loaded = 1;
    }
    *out = rc;
    return 0;
}

static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void regclient_free(struct regclient *rc)
{
    if (!rc)
        return;
    if (rc->curl)
        curl_easy_cleanup(rc->curl);
    for (size_t i = 0; i < rc->n_tokens; i++) {
        free(rc->tokens[i].scope);
        free_secret(rc->tokens[i].header);
    }
    free(rc->tokens);
    free(rc->host);
    free(rc->base);
    free(rc->user);
    free_secret(rc->pass);
    free(rc->realm);
    free(rc->service);
    free(rc);
}

const char *regclient_host(const struct regclient *rc)
{
    return rc->host;
}

const char *regclient_base_url(const struct regclient *rc)
{
    return rc->base;
}

char *regclient_scope(const char *repo, int push)
{
    return xasprintf("repository:%s:%s", repo, push ? "pull,push" : "pull");
}

void reg_req_init(struct reg_req *req, const char *method, const char *url)
{
    memset(req, 0, sizeof(*req));
    req->method = method;
    req->url = url;
    req->body_fd = -1;
    req->sink_fd = -1;
}

void reg_resp_release(struct reg_resp *resp)
{
    buf_release(&resp->body);
    free(resp->content_type);
    free(resp->location);
    free(resp->docker_digest);
    free(resp->range);
    free(resp->link);
    free(resp->www_authenticate);
    memset(resp, 0, sizeof(*resp));
    resp->content_length = -1;
}

/* ---- one transfer -------------------------------------------------------- */

struct xfer {
    struct regclient *rc;
    const struct reg_req *req;
    struct reg_resp *resp;
    int64_t sent;    /* body bytes handed to curl so far */
    int write_error; /* errno of a failed sink write, 0 if none */
    int over_cap;
};

/* Resolve a URL from a header against the registry base (caller frees). */
static char *resolve_url(const struct regclient *rc, const char *u)
{
    if (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0)
        return xstrdup(u);
    if (u[0] == '/')
        return xasprintf("%s%s", rc->base, u);
    return xasprintf("%s/%s", rc->base, u);
}

static char *header_value(const char *p, size_t n)
{
    while (n > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' '))
        n--;
    return xstrndup(p, n);
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    struct reg_resp *r = x->resp;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* a new response (after a redirect or 100-continue): forget the last */
        free(r->content_type);
        free(r->location);
        free(r->docker_digest);
        free(r->range);
        free(r->link);
        free(r->www_authenticate);
        r->content_type = r->location = r->docker_digest = r->range = r->link = NULL;
        r->www_authenticate = NULL;
        r->content_length = -1;
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (!colon)
        return n;
    size_t klen = (size_t)(colon - data);
    const char *v = colon + 1;
    size_t vlen = n - klen - 1;
    char **slot = NULL;
#define HDR_IS(name) (klen == sizeof(name) - 1 && strncasecmp(data, name, klen) == 0)
    if (HDR_IS("Content-Type"))
        slot = &r->content_type;
    else if (HDR_IS("Location"))
        slot = &r->location;
    else if (HDR_IS("Docker-Content-Digest"))
        slot = &r->docker_digest;
    else if (HDR_IS("Range"))
        slot = &r->range;
    else if (HDR_IS("Link"))
        slot = &r->link;
    else if (HDR_IS("WWW-Authenticate"))
        slot = &r->www_authenticate;
    else if (HDR_IS("Content-Length")) {
        char *s = header_value(v, vlen);
        r->content_length = strtoll(s, NULL, 10);
        free(s);
    }
#undef HDR_IS
    if (slot) {
        free(*slot);
        *slot = header_value(v, vlen);
    }
    return n;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(x->rc->curl, CURLINFO_RESPONSE_CODE, &status);
    if (x->req->sink_fd >= 0 && status >= 200 && status < 300) {
        size_t off = 0;
        while (off < n) {
            ssize_t w = write(x->req->sink_fd, data + off, n - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                x->write_error = w < 0 ? errno : EIO;
                return 0;
            }
            off += (size_t)w;
        }
        return n;
    }
    if (buf_append(&x->resp->body, data, n) < 0) {
        x->over_cap = 1;
        return 0;
    }
    return n;
}

static size_t on_read(char *dst, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    const struct reg_req *req = x->req;
    size_t want = size * nmemb;
    if (req->body) {
        size_t left = req->body_len - (size_t)x->sent;
        size_t n = left < want ? left : want;
        memcpy(dst, (const char *)req->body + x->sent, n);
        x->sent += (int64_t)n;
        return n;
    }
    if (req->body_fd >= 0) {
        int64_t left = req->body_fd_len - x->sent;
        size_t n = (int64_t)want < left ? want : (size_t)left;
        if (n == 0)
            return 0;
        ssize_t r = pread(req->body_fd, dst, n, (off_t)(req->body_off + x->sent));
        if (r <= 0)
            return CURL_READFUNC_ABORT;
        x->sent += r;
        return (size_t)r;
    }
    return 0;
}

static int on_seek(void *ud, curl_off_t offset, int origin)
{
    struct xfer *x = ud;
    if (origin != SEEK_SET)
        return CURL_SEEKFUNC_CANTSEEK;
    x->sent = offset;
    return CURL_SEEKFUNC_OK;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct xfer *x = ud;
    if (x->req->progress) {
        if (ultotal > 0 || ulnow > 0)
            x->req->progress(x->req->progress_ctx, ulnow, ultotal);
        else
            x->req->progress(x->req->progress_ctx, dlnow, dltotal);
    }
    return 0;
}

/* Apply the options common to every request on h. */
static void setup_common(struct regclient *rc, CURL *h)
{
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, REG_USER_AGENT);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, rc->errbuf);
    if (rc->limit_rate > 0) {
        curl_easy_setopt(h, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)rc->limit_rate);
        curl_easy_setopt(h, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)rc->limit_rate);
    }
}

/* The cached Authorization header for scope, or NULL. */
static const char *token_find(const struct regclient *rc, const char *scope)
{
    const char *key = scope ? scope : "";
    for (size_t i = 0; i < rc->n_tokens; i++)
        if (strcmp(rc->tokens[i].scope, key) == 0)
            return rc->tokens[i].header;
    return NULL;
}

void regclient_auth_forget(struct regclient *rc, const char *scope)
{
    const char *key = scope ? scope : "";
    for (size_t i = 0; i < rc->n_tokens; i++) {
        if (strcmp(rc->tokens[i].scope, key) == 0) {
            free(rc->tokens[i].scope);
            free_secret(rc->tokens[i].header);
            rc->tokens[i] = rc->tokens[--rc->n_tokens];
            return;
        }
    }
}

static void token_put(struct regclient *rc, const char *scope, char *header)
{
    regclient_auth_forget(rc, scope);
    rc->tokens = xrealloc(rc->tokens, (rc->n_tokens + 1) * sizeof(*rc->tokens));
    rc->tokens[rc->n_tokens].scope = xstrdup(scope ? scope : "");
    rc->tokens[rc->n_tokens].header = header;
    rc->n_tokens++;
}

static char *basic_header(const struct regclient *rc)
{
    char *pair = xasprintf("%s:%s", rc->user, rc->pass);
    char *enc = b64_encode_str(pair, strlen(pair));
    char *h = xasprintf("Authorization: Basic %s", enc);
    free_secret(pair);
    free_secret(enc);
    return h;
}

/* The Authorization header to send for scope right now (caller frees), or NULL. */
static char *auth_for(const struct regclient *rc, const char *scope)
{
    if (rc->auth == REG_AUTH_BASIC && rc->user)
        return basic_header(rc);
    if (rc->auth == REG_AUTH_BEARER) {
        const char *t = token_find(rc, scope);
        return t ? xstrdup(t) : NULL;
    }
    return NULL;
}

/* Append "&scope=<escaped>" for each scope in the space-separated list s. */
static void add_scopes(struct buf *url, CURL *h, const char *s)
{
    while (s && *s) {
        size_t n = strcspn(s, " ");
        if (n > 0) {
            char *one = xstrndup(s, n);
            char *esc = curl_easy_escape(h, one, 0);
            buf_printf(url, "&scope=%s", esc);
            curl_free(esc);
            free(one);
        }
        s += n;
        while (*s == ' ')
            s++;
    }
}

/* Ask the token endpoint for a token covering `scope` (and the challenge's
 * own scope); cache it under `scope`. */
static int fetch_token(struct regclient *rc, const char *scope, const char *chal_scope)
{
    struct buf url = BUF_INIT;
    struct buf body;
    json_t *root = NULL;
    int rc_ = 0;
    buf_init(&body, 1u << 20);
    CURL *h = rc->curl;
    curl_easy_reset(h);
    setup_common(rc, h);
    char *svc = curl_easy_escape(h, rc->service ? rc->service : "", 0);
    buf_printf(&url, "%s%sservice=%s", rc->realm, strchr(rc->realm, '?') ? "&" : "?", svc);
    curl_free(svc);
    add_scopes(&url, h, scope);
    if (chal_scope && (!scope || strcmp(chal_scope, scope) != 0))
        add_scopes(&url, h, chal_scope);
    curl_easy_setopt(h, CURLOPT_URL, buf_cstr(&url));
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    if (rc->user) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, rc->user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, rc->pass);
    }
    struct reg_req req;
    struct reg_resp resp;
    reg_req_init(&req, "GET", buf_cstr(&url));
    memset(&resp, 0, sizeof(resp));
    resp.body = body;
    struct xfer x = {.rc = rc, .req = &req, .resp = &resp};
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    rc->errbuf[0] = '\0';
    log_debug("token request to %s", rc->realm);
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
    if (cc != CURLE_OK) {
        rc_ = berr_set(BERR_IO, "cannot reach token server %s: %s", rc->realm,
                       rc->errbuf[0] ? rc->errbuf : curl_easy_strerror(cc));
        goto cleanup;
    }
    if (resp.status == 401 || resp.status == 403) {
        rc_ = berr_set(BERR_UNAUTHORIZED,
                       rc->user ? "unauthorized: %s: wrong username or password"
                                : "unauthorized: %s: authentication required (berth login %s)",
                       rc->host, rc->host);
        goto cleanup;
    }
    if (resp.status != 200) {
        rc_ = berr_set(BERR_UNAUTHORIZED, "unauthorized: token server %s answered HTTP %ld",
                       rc->realm, resp.status);
        goto cleanup;
    }
    json_error_t jerr;
    root = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, &jerr);
    const char *tok = json_string_value(json_object_get(root, "token"));
    if (!tok)
        tok = json_string_value(json_object_get(root, "access_token"));
    if (!tok || !*tok) {
        rc_ = berr_set(BERR_UNAUTHORIZED, "unauthorized: token server %s sent no token", rc->realm);
        goto cleanup;
    }
    token_put(rc, scope, xasprintf("Authorization: Bearer %s", tok));
cleanup:
    json_decref(root);
    if (resp.body.data)
        explicit_bzero(resp.body.data, resp.body.len);
    buf_release(&resp.body);
    buf_release(&url);
    curl_easy_reset(h);
    return rc_;
}

/* Look up the saved credentials once, when the registry first asks for
 * them: a registry that never does never runs a credential helper. */
static void load_creds(struct regclient *rc)
{
    if (rc->creds_loaded)
        return;
    rc->creds_loaded = 1;
    int r = creds_lookup(&rc->user, &rc->pass, rc->host);
    if (r < 0 && r != BERR_NOT_FOUND)
        log_warn("%s", berr_message());
    berr_clear();
}

/* Handle a 401: learn the scheme from the challenge, get what it needs.
 * Returns 0 when a retry may succeed. */
static int answer_challenge(struct regclient *rc, const char *scope, const char *www)
{
    struct auth_challenge ch;
    int r;
    load_creds(rc);
    if (!www)
        return berr_set(BERR_UNAUTHORIZED, "unauthorized: %s sent 401 without a challenge",
                        rc->host);
    r = auth_challenge_parse(&ch, www);
    if (r < 0)
        return berr_set(BERR_UNAUTHORIZED, "unauthorized: %s: unreadable challenge", rc->host);
    if (strcmp(ch.scheme, "basic") == 0) {
        rc->auth = REG_AUTH_BASIC;
        r = rc->user ? 0
                     : berr_set(BERR_UNAUTHORIZED,
                                "unauthorized: %s: authentication required (berth login %s)",
                                rc->host, rc->host);
    } else if (strcmp(ch.scheme, "bearer") == 0 && ch.realm) {
        rc->auth = REG_AUTH_BEARER;
        free(rc->realm);
        free(rc->service);
        rc->realm = xstrdup(ch.realm);
        rc->service = ch.service ? xstrdup(ch.service) : NULL;
        r = fetch_token(rc, scope, ch.scope);
    } else {
        r = berr_set(BERR_UNAUTHORIZED, "unauthorized: %s: unsupported authentication '%s'",
                     rc->host, ch.scheme);
    }
    auth_challenge_release(&ch);
    return r;
}

static int perform(struct regclient *rc, const struct reg_req *req, struct reg_resp *resp,
                   const char *auth)
{
    CURL *h = rc->curl;
    struct curl_slist *hdrs = NULL;
    char *url = resolve_url(rc, req->url);
    char *tmp = NULL;
    int r = 0;
    struct xfer x = {.rc = rc, .req = req, .resp = resp};

    buf_release(&resp->body);
    buf_init(&resp->body, req->body_max ? req->body_max : REG_BODY_MAX_DEFAULT);
    resp->status = 0;
    resp->content_length = -1;

    curl_easy_reset(h);
    setup_common(rc, h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    if (req->progress) {
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
    }
    int has_body = req->body != NULL || req->body_fd >= 0;
    int is_get = strcmp(req->method, "GET") == 0;
    if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    } else if (is_get) {
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    } else if (strcmp(req->method, "DELETE") == 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    } else {
        /* PUT / POST / PATCH: always with a Content-Length, possibly 0 */
        int64_t len = req->body ? (int64_t)req->body_len : has_body ? req->body_fd_len : 0;
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, &x);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, &x);
        hdrs = curl_slist_append(hdrs, "Expect:");
        if (!req->content_type && has_body)
            hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
    }
    if (req->accept) {
        tmp = xasprintf("Accept: %s", req->accept);
        hdrs = curl_slist_append(hdrs, tmp);
        free(tmp);
    }
    if (req->content_type) {
        tmp = xasprintf("Content-Type: %s", req->content_type);
        hdrs = curl_slist_append(hdrs, tmp);
        free(tmp);
    }
    if (req->content_range) {
        tmp = xasprintf("Content-Range: %s", req->content_range);
        hdrs = curl_slist_append(hdrs, tmp);
        free(tmp);
    }
    if (auth)
        hdrs = curl_slist_append(hdrs, auth);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

    rc->errbuf[0] = '\0';
    log_debug("%s %s", req->method, url);
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    if (cc != CURLE_OK) {
        if (x.write_error)
            r = berr_set(BERR_IO, "cannot write download: %s", strerror(x.write_error));
        else if (x.over_cap)
            r = berr_set(BERR_TOO_LARGE, "response from %s over %zu bytes", rc->host,
                         resp->body.max);
        else
            r = berr_set(BERR_IO, "cannot reach %s: %s", rc->host,
                         rc->errbuf[0] ? rc->errbuf : curl_easy_strerror(cc));
        goto cleanup;
    }
    log_debug("-> %ld", resp->status);
    if (resp->location) {
        tmp = resolve_url(rc, resp->location);
        free(resp->location);
        resp->location = tmp;
    }
    if (resp->link) {
        /* keep only the URL between < and > */
        char *lt = strchr(resp->link, '<');
        char *gt = lt ? strchr(lt, '>') : NULL;
        if (lt && gt) {
            *gt = '\0';
            tmp = resolve_url(rc, lt + 1);
            free(resp->link);
            resp->link = tmp;
        } else {
            free(resp->link);
            resp->link = NULL;
        }
    }
cleanup:
    curl_slist_free_all(hdrs);
    free(url);
    return r;
}

int regclient_do(struct regclient *rc, const struct reg_req *req, struct reg_resp *resp)
{
    char *auth = NULL;
    int r;
    memset(resp, 0, sizeof(*resp));
    resp->content_length = -1;
    for (int attempt = 0;; attempt++) {
        free_secret(auth);
        auth = auth_for(rc, req->scope);
        r = perform(rc, req, resp, auth);
        if (r < 0 || resp->status != 401 || attempt > 0)
            break;
        /* a cached token may have expired: drop it before asking again */
        regclient_auth_forget(rc, req->scope);
        if (auth && rc->auth == REG_AUTH_BASIC) {
            r = berr_set(BERR_UNAUTHORIZED, "unauthorized: %s: wrong username or password",
                         rc->host);
            break;
        }
        r = answer_challenge(rc, req->scope, resp->www_authenticate);
        if (r < 0)
            break;
    }
    if (r == 0 && resp->status == 401 && auth && rc->auth == REG_AUTH_BASIC)
        r = berr_set(BERR_UNAUTHORIZED, "unauthorized: %s: wrong username or password", rc->host);
    else if (r == 0 && resp->status == 401 && auth && !rc->user)
        r = berr_set(BERR_UNAUTHORIZED,
                     "unauthorized: %s: authentication required (berth login %s)", rc->host,
                     rc->host);
    else if (r == 0 && resp->status == 401 && auth)
        r = berr_set(BERR_UNAUTHORIZED, "unauthorized: %s: user '%s' has no access to %s", rc->host,
                     rc->user, req->scope ? req->scope : "the registry");
    if (r == 0 && rc->auth == REG_AUTH_UNKNOWN && resp->status != 401)
        rc->auth = REG_AUTH_NONE;
    free_secret(auth);
    return r;
}

int regclient_auth_header(char **out, struct regclient *rc, const char *scope)
{
    *out = NULL;
    if (rc->auth == REG_AUTH_BEARER && !token_find(rc, scope)) {
        int r = fetch_token(rc, scope, NULL);
        if (r < 0)
            return r;
    }
    *out = auth_for(rc, scope);
    return 0;
}

/* ---- errors --------------------------------------------------------------- */

static const struct {
    const char *code;
    int berr;
} reg_codes[] = {
    {"BLOB_UNKNOWN", BERR_BLOB_UNKNOWN},
    {"BLOB_UPLOAD_INVALID", BERR_UPLOAD_INVALID},
    {"BLOB_UPLOAD_UNKNOWN", BERR_UPLOAD_UNKNOWN},
    {"DIGEST_INVALID", BERR_DIGEST_INVALID},
    {"MANIFEST_BLOB_UNKNOWN", BERR_MANIFEST_BLOB_UNKNOWN},
    {"MANIFEST_INVALID", BERR_MANIFEST_INVALID},
    {"MANIFEST_UNKNOWN", BERR_MANIFEST_UNKNOWN},
    {"MANIFEST_UNVERIFIED", BERR_MANIFEST_INVALID},
    {"NAME_INVALID", BERR_NAME_INVALID},
    {"NAME_UNKNOWN", BERR_NAME_UNKNOWN},
    {"SIZE_INVALID", BERR_SIZE_INVALID},
    {"TAG_INVALID", BERR_TAG_INVALID},
    {"UNAUTHORIZED", BERR_UNAUTHORIZED},
    {"DENIED", BERR_DENIED},
    {"UNSUPPORTED", BERR_UNSUPPORTED},
    {"TOOMANYREQUESTS", BERR_TOOMANY},
    {"RANGE_INVALID", BERR_RANGE},
};

static int status_code(long status, int fallback)
{
    switch (status) {
    case 400:
        return BERR_INVALID;
    case 401:
        return BERR_UNAUTHORIZED;
    case 403:
        return BERR_DENIED;
    case 404:
        return fallback;
    case 405:
        return BERR_UNSUPPORTED;
    case 413:
        return BERR_TOO_LARGE;
    case 416:
        return BERR_RANGE;
    case 429:
        return BERR_TOOMANY;
    }
    return status >= 500 ? BERR_IO : BERR_INVALID;
}

int regclient_error(const struct reg_resp *resp, int fallback, const char *subject)
{
    int code = status_code(resp->status, fallback);
    const char *msg = NULL;
    json_t *root = NULL;
    if (resp->body.len > 0) {
        json_error_t jerr;
        root = json_loadb(resp->body.data, resp->body.len, 0, &jerr);
        json_t *e0 = json_array_get(json_object_get(root, "errors"), 0);
        const char *c = json_string_value(json_object_get(e0, "code"));
        msg = json_string_value(json_object_get(e0, "message"));
        for (size_t i = 0; c && i < sizeof(reg_codes) / sizeof(reg_codes[0]); i++)
            if (strcmp(reg_codes[i].code, c) == 0)
                code = reg_codes[i].berr;
    }
    const char *name = berr_name(code);
    if (code == BERR_IO)
        berr_set(code, "registry error: %s: HTTP %ld%s%s%s", subject, resp->status, msg ? " (" : "",
                 msg ? msg : "", msg ? ")" : "");
    else if (msg && *msg && strcasecmp(msg, name) != 0)
        berr_set(code, "%s: %s (%s)", name, subject, msg);
    else
        berr_set(code, "%s: %s", name, subject);
    json_decref(root);
    return code;
}

/* ---- API calls -------------------------------------------------------------- */

int regclient_ping(struct regclient *rc)
{
    struct reg_req req;
    struct reg_resp resp;
    reg_req_init(&req, "GET", "/v2/");
    int r = regclient_do(rc, &req, &resp);
    if (r == 0 && resp.status != 200)
        r = regclient_error(&resp, BERR_NOT_FOUND, rc->host);
    reg_resp_release(&resp);
    return r;
}

/* Strip parameters from a Content-Type value (caller frees). */
static char *media_type_of(const char *ct)
{
    if (!ct)
        return NULL;
    size_t n = strcspn(ct, "; ");
    return xstrndup(ct, n);
}

int regclient_manifest_get(struct regclient *rc, const char *repo, const char *ref,
                           struct buf *body_out, char **media_type_out, struct digest *digest_out)
{
    struct reg_req req;
    struct reg_resp resp;
    struct digest want;
    int by_digest = strchr(ref, ':') != NULL;
    char *path = xasprintf("/v2/%s/manifests/%s", repo, ref);
    char *scope = regclient_scope(repo, 0);
    char *subject = xasprintf("%s/%s%s%s", rc->host, repo, by_digest ? "@" : ":", ref);
    int r = 0;
    if (by_digest) {
        r = digest_parse_cstr(&want, ref);
        if (r < 0)
            goto cleanup_noresp;
    }
    reg_req_init(&req, body_out ? "GET" : "HEAD", path);
    req.scope = scope;
    req.accept = regclient_manifest_accept;
    r = regclient_do(rc, &req, &resp);
    if (r < 0)
        goto cleanup;
    if (resp.status != 200) {
        r = regclient_error(&resp, BERR_MANIFEST_UNKNOWN, subject);
        goto cleanup;
    }
    if (media_type_out)
        *media_type_out = media_type_of(resp.content_type);
    if (!body_out) {
        if (digest_out) {
            if (by_digest)
                digest_copy(digest_out, &want);
            else if (!resp.docker_digest || digest_parse_cstr(digest_out, resp.docker_digest) < 0)
                r = berr_set(BERR_DIGEST_INVALID, "no digest from registry for %s", subject);
        }
        goto cleanup;
    }
    struct digest got;
    digest_of(&got, by_digest ? want.alg : DIGEST_SHA256, resp.body.data ? resp.body.data : "",
              resp.body.len);
    if (by_digest && !digest_equal(&got, &want)) {
        r = berr_set(BERR_DIGEST_INVALID, "digest invalid: %s: manifest content is %s", subject,
                     got.str);
        goto cleanup;
    }
    if (!by_digest && resp.docker_digest) {
        struct digest hdr;
        if (digest_parse_cstr(&hdr, resp.docker_digest) == 0 && hdr.alg == got.alg &&
            !digest_equal(&hdr, &got)) {
            r = berr_set(BERR_DIGEST_INVALID, "digest invalid: %s: registry says %s, content is %s",
                         subject, hdr.str, got.str);
            goto cleanup;
        }
    }
    if (digest_out)
        digest_copy(digest_out, &got);
    buf_reset(body_out);
    r = buf_append(body_out, resp.body.data ? resp.body.data : "", resp.body.len);
cleanup:
    if (r < 0 && media_type_out) {
        free(*media_type_out);
        *media_type_out = NULL;
    }
    reg_resp_release(&resp);
cleanup_noresp:
    free(path);
    free(scope);
    free(subject);
    return r;
}

int regclient_manifest_put(struct regclient *rc, const char *repo, const char *ref,
                           const char *media_type, const void *data, size_t len,
                           struct digest *digest_out)
{
    struct reg_req req;
    struct reg_resp resp;
    char *path = xasprintf("/v2/%s/manifests/%s", repo, ref);
    char *scope = regclient_scope(repo, 1);
    char *subject = xasprintf("%s/%s%s%s", rc->host, repo, strchr(ref, ':') ? "@" : ":", ref);
    reg_req_init(&req, "PUT", path);
    req.scope = scope;
    req.content_type = media_type;
    req.body = data;
    req.body_len = len;
    int r = regclient_do(rc, &req, &resp);
    if (r == 0 && resp.status != 201 && resp.status != 200 && resp.status != 202)
        r = regclient_error(&resp, BERR_NAME_UNKNOWN, subject);
    if (r == 0 && digest_out)
        digest_of(digest_out, DIGEST_SHA256, data, len);
    reg_resp_release(&resp);
    free(path);
    free(scope);
    free(subject);
    return r;
}

int regclient_manifest_delete(struct regclient *rc, const char *repo, const char *ref)
{
    struct reg_req req;
    struct reg_resp resp;
    char *path = xasprintf("/v2/%s/manifests/%s", repo, ref);
    char *scope = xasprintf("repository:%s:delete", repo);
    char *subject = xasprintf("%s/%s%s%s", rc->host, repo, strchr(ref, ':') ? "@" : ":", ref);
    reg_req_init(&req, "DELETE", path);
    req.scope = scope;
    int r = regclient_do(rc, &req, &resp);
    if (r == 0 && resp.status != 202 && resp.status != 200 && resp.status != 204)
        r = regclient_error(&resp, BERR_MANIFEST_UNKNOWN, subject);
    reg_resp_release(&resp);
    free(path);
    free(scope);
    free(subject);
    return r;
}

char *regclient_blob_url(struct regclient *rc, const char *repo, const struct digest *dg)
{
    return xasprintf("%s/v2/%s/blobs/%s", rc->base, repo, dg->str);
}

int regclient_blob_head(struct regclient *rc, const char *repo, const struct digest *dg,
                        int64_t *size_out)
{
    struct reg_req req;
    struct reg_resp resp;
    char *url = regclient_blob_url(rc, repo, dg);
    char *scope = regclient_scope(repo, 0);
    char *subject = xasprintf("%s/%s@%s", rc->host, repo, dg->str);
    reg_req_init(&req, "HEAD", url);
    req.scope = scope;
    int r = regclient_do(rc, &req, &resp);
    if (r == 0 && resp.status != 200)
        r = regclient_error(&resp, BERR_BLOB_UNKNOWN, subject);
    if (r == 0 && size_out)
        *size_out = resp.content_length;
    reg_resp_release(&resp);
    free(url);
    free(scope);
    free(subject);
    return r;
}

int regclient_blob_get(struct regclient *rc, const char *repo, const struct digest *dg, size_t max,
                       struct buf *out)
{
    struct reg_req req;
    struct reg_resp resp;
    char *url = regclient_blob_url(rc, repo, dg);
    char *scope = regclient_scope(repo, 0);
    char *subject = xasprintf("%s/%s@%s", rc->host, repo, dg->str);
    reg_req_init(&req, "GET", url);
    req.scope = scope;
    req.body_max = max;
    int r = regclient_do(rc, &req, &resp);
    if (r < 0)
        goto cleanup;
    if (resp.status != 200) {
        r = regclient_error(&resp, BERR_BLOB_UNKNOWN, subject);
        goto cleanup;
    }
    struct digest got;
    digest_of(&got, dg->alg, resp.body.data ? resp.body.data : "", resp.body.len);
    if (!digest_equal(&got, dg)) {
        r = berr_set(BERR_DIGEST_INVALID, "digest invalid: %s: content is %s", subject, got.str);
        goto cleanup;
    }
    buf_reset(out);
    r = buf_append(out, resp.body.data ? resp.body.data : "", resp.body.len);
cleanup:
    reg_resp_release(&resp);
    free(url);
    free(scope);
    free(subject);
    return r;
}

/* GET a paginated list (tags or catalog): collect the strings of `key`. */
static int get_list(struct regclient *rc, const char *first, const char *scope, const char *key,
                    int fallback, const char *subject, char ***out, size_t *n_out)
{
    char **v = xcalloc(1, sizeof(*v)); /* an empty list, never NULL */
    size_t n = 0;
    char *url = xstrdup(first);
    int r = 0;
    for (int pages = 0; url && pages < 10000; pages++) {
        struct reg_req req;
        struct reg_resp resp;
        reg_req_init(&req, "GET", url);
        req.scope = scope;
        req.body_max = 64u << 20;
        r = regclient_do(rc, &req, &resp);
        if (r == 0 && resp.status != 200)
            r = regclient_error(&resp, fallback, subject);
        if (r < 0) {
            reg_resp_release(&resp);
            break;
        }
        json_error_t jerr;
        json_t *root = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, &jerr);
        json_t *arr = json_object_get(root, key);
        if (!root || (arr && !json_is_array(arr) && !json_is_null(arr))) {
            r = berr_set(BERR_INVALID, "malformed answer from %s for %s", rc->host, subject);
            json_decref(root);
            reg_resp_release(&resp);
            break;
        }
        size_t i;
        json_t *it;
        json_array_foreach(arr, i, it)
        {
            if (!json_is_string(it))
                continue;
            n = strlist_push(&v, json_string_value(it));
        }
        json_decref(root);
        free(url);
        url = resp.link ? xstrdup(resp.link) : NULL;
        reg_resp_release(&resp);
    }
    free(url);
    if (r < 0) {
        strlist_free(v);
        return r;
    }
    *out = v;
    if (n_out)
        *n_out = n;
    return 0;
}

int regclient_tags(struct regclient *rc, const char *repo, char ***out, size_t *n_out)
{
    char *url = xasprintf("/v2/%s/tags/list", repo);
    char *scope = regclient_scope(repo, 0);
    char *subject = xasprintf("%s/%s", rc->host, repo);
    int r = get_list(rc, url, scope, "tags", BERR_NAME_UNKNOWN, subject, out, n_out);
    free(url);
    free(scope);
    free(subject);
    return r;
}

int regclient_catalog(struct regclient *rc, char ***out, size_t *n_out)
{
    return get_list(rc, "/v2/_catalog", "registry:catalog:*", "repositories", BERR_NOT_FOUND,
                    rc->host, out, n_out);
}
