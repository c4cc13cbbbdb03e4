/*
 * tokensrv.h - the built-in token issuer (internal to auth/; the public
 * entry point is auth_token_issue in auth.h).
 *
 * Authenticates with htpasswd (Basic on GET, grant_type=password on POST)
 * or a refresh token (grant_type=refresh_token), or serves anonymous
 * callers, and signs an access token holding the intersection of the
 * requested scopes and what the access rules give the caller:
 *   repository:<name>:<actions>  -> acl_actions(caller, name) & requested
 *   registry:catalog:*           -> granted when acl_catalog(caller)
 *   anything else                -> nothing
 *
 * Access tokens: header {"alg","kid","typ":"JWT"} with kid = the JWK
 * thumbprint of the signing key; claims iss, sub ("" anonymous), aud =
 * service, exp = iat + ttl, nbf = iat, jti (random), access[].
 *
 * Refresh tokens (only to authenticated callers that ask: offline_token=true
 * or access_type=offline; never when refresh_ttl is 0) are JWTs signed by
 * the same key with aud "berth-refresh:<service>", berth_use "refresh", and
 * "pwd" = a fingerprint of the user's current htpasswd hash: changing or
 * removing the password revokes them. They are only ever accepted by this
 * issuer (its own key, that audience), never as access tokens.
 */
#ifndef BERTH_AUTH_TOKENSRV_H
#define BERTH_AUTH_TOKENSRV_H

#include <time.h>

#include <openssl/evp.h>

#include "auth/acl.h"
#include "auth/auth.h"
#include "auth/login.h"
#include "auth/scope.h"

#define TOKENSRV_SCOPES_MAX 64 /* requested scope entries per request */
#define TOKENSRV_FORM_MAX   (64u << 10)

struct tokensrv_config {
    const char *issuer;
    const char *service;
    unsigned ttl;
    unsigned refresh_ttl;
    const char *key_path;
    const char *key_type;
    const char *basic_challenge; /* WWW-Authenticate on 401 */
};

struct tokensrv;

/* Load or generate the signing key. Borrows lg and acl (they must outlive
 * the issuer). Returns 0 or BERR_CONFIG. */
int tokensrv_new(struct tokensrv **out, const struct tokensrv_config *cfg, struct login *lg,
                 const struct acl *acl, time_t now);
void tokensrv_free(struct tokensrv *ts);

/* The signing key (its public half is what verifiers trust). Borrowed. */
EVP_PKEY *tokensrv_key(const struct tokensrv *ts);

/* Serve one token endpoint request (see auth_token_issue). */
int tokensrv_handle(struct tokensrv *ts, const struct auth_token_request *rq,
                    struct auth_token_response *out, time_t now);

/* Grant `requested` to `subject` (NULL = anonymous) under the rules:
 * merges the granted entries into *granted. */
void tokensrv_grant(const struct tokensrv *ts, struct scope_list *granted, const char *subject,
                    const struct scope_list *requested);

/* Sign an access token for `subject` (NULL = anonymous) holding `access`.
 * *out is malloc'd. Returns 0 or BERR_INTERNAL. */
int tokensrv_issue(struct tokensrv *ts, char **out, const char *subject,
                   const struct scope_list *access, time_t now);

#endif
