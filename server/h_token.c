/*
 * h_token.c - the built-in token issuer's endpoint (/auth/token), served
 * only in auth.mode = token with auth.builtin-issuer on. Elsewhere the path
 * does not exist (404).
 */
#include "server/handlers.h"

#include "image/base/err.h"

int h_token_get(struct request *r)
{
    (void)r;
    return berr_set(BERR_NOT_FOUND, "no token endpoint: auth.mode is not token");
}

int h_token_post(struct request *r)
{
    (void)r;
    return berr_set(BERR_NOT_FOUND, "no token endpoint: auth.mode is not token");
}
