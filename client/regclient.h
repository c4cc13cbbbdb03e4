/*
 * regclient.h - one registry, spoken to over HTTP with libcurl.
 *
 * A regclient holds one reusable curl handle (keep-alive) and the
 * authentication state for one registry host: Basic credentials, and the
 * Bearer tokens already obtained, one per scope. Every request goes through
 * regclient_do(), which answers a 401 challenge once (Basic, or the token
 * flow: challenge -> token endpoint -> retry) before giving the response to
 * the caller. Higher-level calls turn the registry's error body into a
 * BERR_* code with a message such as "manifest unknown: host/app:2.0".
 * Not thread-safe: one regclient per thread.
 */
#ifndef BERTH_CLIENT_REGCLIENT_H
#define BERTH_CLIENT_REGCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "image/base/buf.h"
#include "image/digest.h"

struct regclient;

struct regclient_opts {
    const char *host;     /* "host[:port]" */
    int plain_http;       /* 1: http://, 0: https:// */
    const char *username; /* NULL: look the host up in the credential files */
    const char *password;
    long limit_rate; /* bytes/s per transfer, 0 = unlimited */
};

/* Open a client for opts->host. Credentials come from opts, else from
 * creds_lookup(). Returns 0 or BERR_INTERNAL. Free with regclient_free. */
int regclient_new(struct regclient **out, const struct regclient_opts *opts);
/* Free the client; accepts NULL. */
void regclient_free(struct regclient *rc);
/* "host[:port]" as given. */
const char *regclient_host(const struct regclient *rc);
/* "http://host:port" or "https://host:port". */
const char *regclient_base_url(const struct regclient *rc);

/* Called while a body moves: `done` of `total` bytes (total 0 = unknown). */
typedef void (*regclient_progress_fn)(void *ctx, int64_t done, int64_t total);

/* One HTTP request. Exactly one of body/body_fd may be set. */
struct reg_req {
    const char *method;        /* "GET", "HEAD", "PUT", "POST", "PATCH", "DELETE" */
    const char *url;           /* absolute URL, or a path starting with "/" */
    const char *scope;         /* token scope ("repository:app:pull") or NULL */
    const char *accept;        /* Accept header value or NULL */
    const char *content_type;  /* Content-Type of the body or NULL */
    const char *content_range; /* Content-Range value ("0-99") or NULL */
    const void *body;          /* request body in memory or NULL */
    size_t body_len;
    int body_fd;         /* request body from a file (>= 0), else -1 */
    int64_t body_off;    /* start offset in body_fd */
    int64_t body_fd_len; /* bytes to send from body_fd */
    int sink_fd;         /* write a 2xx response body here (>= 0), else -1 */
    size_t body_max;     /* cap for a response body kept in memory (0: 4 MiB) */
    regclient_progress_fn progress;
    void *progress_ctx;
};

/* Initialize a request with no body, no sink and default caps. */
void reg_req_init(struct reg_req *req, const char *method, const char *url);

/* What came back. Header values are owned copies or NULL. */
struct reg_resp {
    long status;
    struct buf body; /* the body, unless sent to sink_fd */
    char *content_type;
    char *location;         /* Location, resolved to an absolute URL */
    char *docker_digest;    /* Docker-Content-Digest */
    char *range;            /* Range (upload status) */
    char *link;             /* Link (pagination), the URL inside <> resolved */
    char *www_authenticate; /* WWW-Authenticate */
    int64_t content_length; /* -1 when absent */
};

/* Release the response's fields; the struct may be reused. */
void reg_resp_release(struct reg_resp *resp);

/* Send req and fill *resp (initialized here; release it even on failure).
 * Answers one 401 by authenticating and retrying. Returns 0 when an HTTP
 * response came back (whatever its status), BERR_IO with "cannot reach ..."
 * when the transport failed, BERR_UNAUTHORIZED when the registry asked for
 * credentials and none were usable or the token endpoint refused them. */
int regclient_do(struct regclient *rc, const struct reg_req *req, struct reg_resp *resp);

/* Turn a non-2xx response into a BERR_* code and message
 * "<error name>: <subject>[ (<registry message>)]". `fallback` is the code
 * used for a 404 without an error body. Returns the code. */
int regclient_error(const struct reg_resp *resp, int fallback, const char *subject);

/* The Authorization header line ("Authorization: Bearer ...") for `scope`,
 * obtaining a token first when the registry uses Bearer auth; NULL in *out
 * when no authentication is needed. For handing to other curl handles
 * (transfer.c). Returns 0 or an error code. Caller frees *out. */
int regclient_auth_header(char **out, struct regclient *rc, const char *scope);

/* Forget the cached token for scope (after a 401 on another handle). */
void regclient_auth_forget(struct regclient *rc, const char *scope);

/* "repository:<repo>:pull" or ":pull,push" (caller frees). */
char *regclient_scope(const char *repo, int push);

/* GET /v2/ (with authentication). 0, BERR_UNAUTHORIZED or BERR_IO. */
int regclient_ping(struct regclient *rc);

/* The Accept header listing every manifest type Berth understands. */
extern const char regclient_manifest_accept[];

/* GET (or HEAD when body_out is NULL) a manifest by tag or digest. Fills the
 * body (capped at 4 MiB), its media type (caller frees) and its digest: the
 * digest of the bytes, verified against `ref` when ref is a digest.
 * BERR_MANIFEST_UNKNOWN, BERR_DIGEST_INVALID, ... */
int regclient_manifest_get(struct regclient *rc, const char *repo, const char *ref,
                           struct buf *body_out, char **media_type_out, struct digest *digest_out);

/* PUT manifest bytes under ref (tag or digest). *digest_out (may be NULL)
 * receives the digest of the bytes. */
int regclient_manifest_put(struct regclient *rc, const char *repo, const char *ref,
                           const char *media_type, const void *data, size_t len,
                           struct digest *digest_out);

/* DELETE a manifest by digest, or a tag when the registry supports it. */
int regclient_manifest_delete(struct regclient *rc, const char *repo, const char *ref);

/* HEAD a blob: 0 when present (*size_out filled when not NULL),
 * BERR_BLOB_UNKNOWN when absent, another code on failure. */
int regclient_blob_head(struct regclient *rc, const char *repo, const struct digest *dg,
                        int64_t *size_out);

/* GET a small blob (config) into memory, capped at `max`, verified against
 * its digest. */
int regclient_blob_get(struct regclient *rc, const char *repo, const struct digest *dg, size_t max,
                       struct buf *out);

/* The URL of a blob (caller frees). */
char *regclient_blob_url(struct regclient *rc, const char *repo, const struct digest *dg);

/* Tags of repo (GET tags/list, following Link pages). *out is a
 * NULL-terminated array owned by the caller (free each and the array). */
int regclient_tags(struct regclient *rc, const char *repo, char ***out, size_t *n_out);

/* Repositories of the registry (GET /v2/_catalog, following Link pages). */
int regclient_catalog(struct regclient *rc, char ***out, size_t *n_out);

#endif
