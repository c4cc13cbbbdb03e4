/*
 * request.h - one HTTP request as the handlers see it.
 *
 * Handlers read the request through these accessors and build exactly one
 * response with respond.h, or return a negative BERR_* code that
 * server/errmap.c turns into the spec's JSON error. They never call
 * libmicrohttpd. Everything hanging off a request is freed in one place,
 * request_free(), called from the request-completed callback.
 */
#ifndef BERTH_REQUEST_H
#define BERTH_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "image/base/buf.h"
#include "image/digest.h"
#include "server/server.h"

enum http_method { M_GET, M_HEAD, M_POST, M_PUT, M_PATCH, M_DELETE, M_OTHER };

#define RESP_MAX_HEADERS 12

struct response {
    int status; /* 0 until a response is chosen */
    const char *hname[RESP_MAX_HEADERS];
    char *hvalue[RESP_MAX_HEADERS]; /* owned */
    int nheaders;
    const char *content_type; /* static string or owned via ct_owned */
    char *ct_owned;
    char *body; /* owned (free) */
    size_t body_len;
    int fd;                       /* >= 0: serve [offset, offset+length) of fd (sendfile) */
    struct driver_reader *reader; /* owned; or serve [offset, offset+length) of it (read_at) */
    int64_t offset, length;
    int64_t head_length; /* >= 0: HEAD, announce this Content-Length */
};

struct route;

struct request {
    struct server *srv;
    void *conn; /* opaque: struct MHD_Connection */
    const struct route *route;
    enum http_method method;
    const char *method_str; /* borrowed from the connection */
    char *path;             /* owned copy of the URL path */
    unsigned long long id;
    int64_t started_us;
    /* path parameters, validated before any handler runs */
    char *name; /* repository or NULL */
    char *ref;  /* manifest reference (tag or digest text) or NULL */
    int ref_is_digest;
    struct digest digest; /* parsed {digest} or digest-form {reference} */
    char uuid[40];        /* upload session id or "" */
    /* authorization result */
    char *principal; /* owned, NULL = anonymous */
    void *authz;     /* owned by server/authz.c */
    /* body */
    int64_t content_length; /* -1 when absent */
    struct buf body;        /* BODY_BUFFER routes */
    struct upload *upload;  /* BODY_STREAM upload routes */
    int ephemeral;          /* upload is a single-request (POST ?digest=) one */
    int64_t received;
    int deferred_err;   /* error during the body, reported at the end */
    char *deferred_msg; /* its message (owned) */
    int skip_body;      /* discard the rest of the body */
    int ended;          /* the end handler ran (or is running on the io pool) */
    int queued;         /* the response went to the HTTP layer */
    struct response resp;
};

/* Value of a request header (case-insensitive name) or NULL. */
const char *request_header(struct request *r, const char *name);
/* Value of a query argument (already %-decoded) or NULL. */
const char *request_query(struct request *r, const char *name);
/* Call fn for every query argument in order (repeats included). */
typedef void (*request_kv_fn)(void *ctx, const char *key, const char *value);
void request_query_each(struct request *r, request_kv_fn fn, void *ctx);
/* The client's address as text ("127.0.0.1"); static per-thread buffer. */
const char *request_client_addr(struct request *r);

#endif
