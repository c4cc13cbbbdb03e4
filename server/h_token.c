/*
 * h_token.c - the built-in token issuer's endpoint (GET/POST /auth/token).
 *
 * Adapts the request (query arguments, form body, Basic credentials) to
 * auth_token_issue. Served in auth.mode = token with the built-in issuer
 * on; elsewhere auth answers BERR_NOT_FOUND and the path does not exist.
 */
#include "server/handlers.h"

#include "auth/auth.h"
#include "image/base/err.h"
#include "image/base/xalloc.h"
#include "server/respond.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_MAX_PARAMS 64

struct params {
    struct auth_param p[TOKEN_MAX_PARAMS];
    size_t n;
};

static void collect(void *ctx, const char *key, const char *value)
{
    struct params *ps = ctx;
    if (ps->n < TOKEN_MAX_PARAMS) {
        ps->p[ps->n].name = key;
        ps->p[ps->n].value = value;
        ps->n++;
    }
}

static int token_issue(struct request *r)
{
    if (!r->srv->auth)
        return berr_set(BERR_NOT_FOUND, "no token endpoint: auth.mode is not token");
    struct params ps = {.n = 0};
    char id[24];
    struct auth_token_response out;
    memset(&out, 0, sizeof(out));
    snprintf(id, sizeof(id), "%llu", r->id);
    request_query_each(r, collect, &ps);
    struct auth_token_request rq = {
        .method = r->method_str,
        .query = ps.p,
        .nquery = ps.n,
        .form = r->method == M_POST ? buf_cstr(&r->body) : NULL,
        .form_len = r->method == M_POST ? r->body.len : 0,
        .authorization = request_header(r, "Authorization"),
        .client_addr = request_client_addr(r),
        .request_id = id,
    };
    int rc = auth_token_issue(r->srv->auth, &rq, &out);
    if (rc == 0) {
        respond_header(r, "Cache-Control", "no-store");
        respond_body(r, 200, "application/json", out.body, strlen(out.body));
        out.body = NULL;
    } else if (rc == BERR_UNAUTHORIZED && out.challenge) {
        respond_header(r, "WWW-Authenticate", "%s", out.challenge);
    } else if (rc == BERR_TOOMANY) {
        respond_header(r, "Retry-After", "%u", out.retry_after);
    }
    auth_token_response_release(&out);
    return rc;
}

int h_token_get(struct request *r)
{
    return token_issue(r);
}

int h_token_post(struct request *r)
{
    return token_issue(r);
}
