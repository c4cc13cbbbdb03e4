/*
 * routes.h - THE route table of the HTTP API.
 *
 * Each row: method, path pattern, handler(s), the access it requires and how
 * the request body is consumed. Patterns are literal segments plus
 * parameters: {name} (a repository name, may span several segments; only
 * directly after /v2/), {digest}, {reference} (tag or digest), {uuid}.
 * Patterns are matched from the right so names may contain any segment.
 * docs/api.md is generated from this table (berthd --print-routes).
 */
#ifndef BERTH_ROUTES_H
#define BERTH_ROUTES_H

#include <stddef.h>
#include <stdio.h>

#include "server/request.h"

enum body_mode {
    BODY_NONE,   /* a body, if any, is read and discarded */
    BODY_BUFFER, /* buffered in r->body up to the route's cap, then handle() */
    BODY_STREAM, /* begin() at headers, data() per piece, handle() at the end */
};

/* Access bits a route needs (checked once, before any handler). */
enum access {
    ACCESS_NONE = 0, /* /v2/ base: authenticated if auth is on, no scope */
    ACCESS_PULL = 1,
    ACCESS_PUSH = 2,
    ACCESS_DELETE = 4,
    ACCESS_CATALOG = 8,
    ACCESS_PUBLIC = 16, /* no authentication at all (token endpoint) */
};

typedef int (*route_fn)(struct request *r);
typedef int (*route_data_fn)(struct request *r, const char *data, size_t len);

struct route {
    enum http_method method;
    const char *pattern;
    route_fn begin;     /* BODY_STREAM only: at headers; may respond early */
    route_data_fn data; /* BODY_STREAM only */
    route_fn handle;    /* at the end of the body */
    unsigned access;
    enum body_mode body;
    const char *summary; /* for docs/api.md */
    const char *spec_id; /* OCI end-N id or "" */
    long body_cap;       /* BODY_BUFFER cap in bytes; 0 = the max-manifest setting */
};

extern const struct route routes[];
extern const size_t routes_count;

/* Outcome of matching a path. */
enum route_match_result {
    ROUTE_OK,         /* *out set, parameters stored in r */
    ROUTE_NOT_FOUND,  /* no pattern matches the path: 404 */
    ROUTE_BAD_METHOD, /* a pattern matches, not with this method: 405 */
};

/* Match r->path and r->method against the table. On ROUTE_OK sets r->route
 * and the raw parameters (r->name, r->ref, r->uuid, digest text in r->ref
 * for {digest}); validation is route_validate's job. On ROUTE_BAD_METHOD,
 * `allow` gets the allowed methods ("GET, HEAD"). */
enum route_match_result route_match(struct request *r, char *allow, size_t allow_len);
/* Validate the matched parameters against their grammars: 0 or
 * BERR_NAME_INVALID / BERR_DIGEST_INVALID / BERR_UNSUPPORTED /
 * BERR_TAG_INVALID / BERR_UPLOAD_UNKNOWN. */
int route_validate(struct request *r);
/* 1 when a route's handler may wait for the disk (its method writes: POST,
 * PUT, PATCH, DELETE): the HTTP layer runs such a handler on the io pool. */
int route_writes(const struct route *rt);
/* Print the table as a markdown API table (docs/api.md). */
void routes_print_doc(FILE *fp);
/* "GET" etc. */
const char *method_name(enum http_method m);

#endif
