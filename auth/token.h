/*
 * token.h - verify and sign Docker registry JWTs (internal to auth/).
 *
 * Verification, in order, each failure BERR_UNAUTHORIZED with the reason:
 *   1. shape: three base64url segments, at most TOKEN_MAX bytes, non-empty
 *      signature; header and claims are JSON objects without duplicate
 *      members;
 *   2. algorithm: RS256/384/512 or ES256/384/512 only - "none" and HS*
 *      are refused before any key is touched (an HMAC "signed" with a
 *      public key as its secret never verifies); a "crit" header is refused;
 *   3. key: "x5c" chain verified against the CA bundle (leaf key used), else
 *      "kid" looked up in the keyring, else every trusted key that fits the
 *      algorithm; the key must fit the algorithm (RSA for RS*, the curve for
 *      ES*); a bare "jwk" header is never trusted;
 *   4. signature, by libjwt (jwt_decode) with that key;
 *   5. claims: iss equal to the configured issuer; aud (string or array)
 *      holding the configured service; exp present and now <= exp + leeway;
 *      nbf absent or nbf - leeway <= now; "berth_use" equal to the expected
 *      use (absent for access tokens, "refresh" for refresh tokens);
 *   6. sub a string (or absent: ""), access an array of
 *      {type, name, actions[]} (malformed entries are dropped, which can
 *      only lose access).
 */
#ifndef BERTH_AUTH_TOKEN_H
#define BERTH_AUTH_TOKEN_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "auth/keys.h"
#include "auth/scope.h"

#define TOKEN_MAX (32u << 10)

struct token_verifier {
    const char *issuer;   /* required iss */
    const char *audience; /* required in aud */
    unsigned leeway;      /* seconds */
    const char *use;      /* required berth_use claim; NULL = must be absent */
    const struct keyring *kr;
};

struct token_claims {
    char *subject; /* owned; "" for an anonymous token */
    struct scope_list access;
    long long nbf; /* 0 when absent */
    long long exp;
    json_t *claims; /* owned: the whole verified claim set */
};

/* Verify `token` at time `now`. On success fills *out (release with
 * token_claims_release). Returns 0 or BERR_UNAUTHORIZED with a reason that
 * never contains the token; *out is untouched on error. */
int token_verify(struct token_claims *out, const struct token_verifier *v, const char *token,
                 time_t now);
void token_claims_release(struct token_claims *c);

/* Sign `claims` (a JSON object; not consumed) with the PEM private key
 * into a compact JWT with header {"alg","kid","typ":"JWT"}. *out is
 * malloc'd. Returns 0 or BERR_INTERNAL. */
int token_sign(char **out, const char *key_pem, size_t key_pem_len, enum keys_alg alg,
               const char *kid, json_t *claims);

#endif
