/*
 * token.c - JWT verification and signing with libjwt.
 *
 * libjwt 1.10 picks the algorithm from the token header and would happily
 * treat a PEM public key as an HMAC secret, so this file decides the
 * algorithm and the key itself from its own strict parse of the header, and
 * only then asks libjwt to check the signature with exactly that key. The
 * claims are read from our own decode of the same (verified) bytes. Reasons
 * for refusal go to the thread-local error message, never the token; any
 * token-supplied text in a reason is cut short and made printable.
 */
#include "auth/token.h"

#include "image/b64.h"
#include "image/base/buf.h"
#include "image/base/err.h"
#include "image/base/xalloc.h"

#include <jwt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOKEN_SEGMENT_MAX (24u << 10)
#define TOKEN_ACCESS_MAX  1024

/* A printable, short copy of token-supplied text for a reason string. */
static const char *shown(const char *s, char out[48])
{
    size_t i = 0;
    for (; s[i] && i < 40; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"') ? s[i] : '?';
    out[i] = '\0';
    if (s[i] && i + 3 < 48) {
        memcpy(out + i, "...", 4);
    }
    return out;
}

/* Decode a base64url segment and parse it as a JSON object. */
static json_t *segment_json(const char *s, size_t len)
{
    struct buf raw;
    buf_init(&raw, TOKEN_SEGMENT_MAX);
    json_t *j = NULL;
    if (b64_decode(&raw, s, len, B64_URL) == 0 && raw.len > 0) {
        json_error_t err;
        j = json_loadb(raw.data, raw.len, JSON_REJECT_DUPLICATES, &err);
        if (j && !json_is_object(j)) {
            json_decref(j);
            j = NULL;
        }
    }
    buf_release(&raw);
    return j;
}

static jwt_alg_t jwt_alg_of(enum keys_alg alg)
{
    switch (alg) {
    case KEYS_ALG_RS256:
        return JWT_ALG_RS256;
    case KEYS_ALG_RS384:
        return JWT_ALG_RS384;
    case KEYS_ALG_RS512:
        return JWT_ALG_RS512;
    case KEYS_ALG_ES256:
        return JWT_ALG_ES256;
    case KEYS_ALG_ES384:
        return JWT_ALG_ES384;
    case KEYS_ALG_ES512:
        return JWT_ALG_ES512;
    case KEYS_ALG_INVALID:
        break;
    }
    return JWT_ALG_INVAL;
}

/* The algorithm the header names, refusing none/HS* and unknown ones. */
static int header_alg(enum keys_alg *out, json_t *hdr)
{
    char tmp[48];
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    if (!alg)
        return berr_set(BERR_UNAUTHORIZED, "token header has no alg");
    if (strcasecmp(alg, "none") == 0)
        return berr_set(BERR_UNAUTHORIZED, "token alg \"none\" is refused");
    if (strncasecmp(alg, "HS", 2) == 0)
        return berr_set(BERR_UNAUTHORIZED,
                        "token alg \"%s\" (HMAC) is refused: only RS* and ES* are accepted",
                        shown(alg, tmp));
    *out = keys_alg_parse(alg);
    if (*out == KEYS_ALG_INVALID)
        return berr_set(BERR_UNAUTHORIZED, "token alg \"%s\" is not supported", shown(alg, tmp));
    json_t *typ = json_object_get(hdr, "typ");
    if (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0))
        return berr_set(BERR_UNAUTHORIZED, "token typ is not JWT");
    if (json_object_get(hdr, "crit"))
        return berr_set(BERR_UNAUTHORIZED, "token header has crit extensions");
    return 0;
}

/* libjwt check of `token` with `pem`; 1 when the signature verifies. */
static int signature_ok(const char *token, const char *pem, size_t pem_len, enum keys_alg alg)
{
    jwt_t *jwt = NULL;
    int ok = jwt_decode(&jwt, token, (const unsigned char *)pem, (int)pem_len) == 0 && jwt &&
             jwt_get_alg(jwt) == jwt_alg_of(alg);
    jwt_free(jwt);
    return ok;
}

/* Find the key the header designates and check the signature with it. */
static int check_signature(const struct token_verifier *v, json_t *hdr, enum keys_alg alg,
                           const char *token, time_t now)
{
    char tmp[48];
    json_t *x5c = json_object_get(hdr, "x5c");
    if (x5c) {
        const char *certs[KEYS_X5C_MAX];
        size_t n = json_is_array(x5c) ? json_array_size(x5c) : 0;
        if (n == 0 || n > KEYS_X5C_MAX)
            return berr_set(BERR_UNAUTHORIZED, "token x5c is not a chain of 1 to %d certificates",
                            KEYS_X5C_MAX);
        for (size_t i = 0; i < n; i++) {
            certs[i] = json_string_value(json_array_get(x5c, i));
            if (!certs[i])
                return berr_set(BERR_UNAUTHORIZED, "token x5c holds a non-string");
        }
        EVP_PKEY *leaf = NULL;
        int rc = keyring_verify_x5c(&leaf, v->kr, certs, n, now);
        if (rc < 0)
            return rc;
        char *pem = NULL;
        size_t pem_len = 0;
        if (!keys_alg_fits(leaf, alg))
            rc = berr_set(BERR_UNAUTHORIZED, "token x5c key does not fit alg %s",
                          keys_alg_name(alg));
        if (rc == 0)
            rc = keys_public_pem(&pem, &pem_len, leaf);
        if (rc == 0 && !signature_ok(token, pem, pem_len, alg))
            rc = berr_set(BERR_UNAUTHORIZED, "token signature does not verify (x5c)");
        free(pem);
        EVP_PKEY_free(leaf);
        return rc;
    }
    json_t *kid = json_object_get(hdr, "kid");
    if (kid) {
        if (!json_is_string(kid))
            return berr_set(BERR_UNAUTHORIZED, "token kid is not a string");
        const struct keyring_key *k = keyring_find(v->kr, json_string_value(kid));
        if (!k)
            return berr_set(BERR_UNAUTHORIZED, "token signed by an unknown key (kid \"%s\")",
                            shown(json_string_value(kid), tmp));
        if (!keys_alg_fits(k->pkey, alg))
            return berr_set(BERR_UNAUTHORIZED, "token alg %s does not fit key %s",
                            keys_alg_name(alg), k->kid_jwk);
        if (!signature_ok(token, k->pem, k->pem_len, alg))
            return berr_set(BERR_UNAUTHORIZED, "token signature does not verify (kid %s)",
                            k->kid_jwk);
        return 0;
    }
    if (json_object_get(hdr, "jwk"))
        return berr_set(BERR_UNAUTHORIZED, "token carries its own jwk; only kid or x5c is trusted");
    int fitting = 0;
    for (size_t i = 0; i < v->kr->n; i++) {
        const struct keyring_key *k = &v->kr->keys[i];
        if (!keys_alg_fits(k->pkey, alg))
            continue;
        fitting++;
        if (signature_ok(token, k->pem, k->pem_len, alg))
            return 0;
    }
    return berr_set(BERR_UNAUTHORIZED, fitting ? "token signature does not verify"
                                               : "token names no key and no trusted key fits");
}

/* A JSON number as an integer; 0 or -1 when not a finite number. */
static int json_time(json_t *j, long long *out)
{
    if (json_is_integer(j)) {
        *out = (long long)json_integer_value(j);
        return 0;
    }
    if (json_is_real(j)) {
        double d = json_real_value(j);
        if (!isfinite(d) || d > 9.0e15 || d < -9.0e15)
            return -1;
        *out = (long long)d;
        return 0;
    }
    return -1;
}

static int audience_ok(json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    if (!json_is_array(aud))
        return 0;
    for (size_t i = 0; i < json_array_size(aud); i++) {
        const char *s = json_string_value(json_array_get(aud, i));
        if (s && strcmp(s, want) == 0)
            return 1;
    }
    return 0;
}

/* Parse the access claim into l; malformed entries are dropped. */
static int access_parse(struct scope_list *l, json_t *access)
{
    if (!access || json_is_null(access))
        return 0;
    if (!json_is_array(access))
        return berr_set(BERR_UNAUTHORIZED, "token access claim is not an array");
    size_t n = json_array_size(access);
    if (n > TOKEN_ACCESS_MAX)
        return berr_set(BERR_UNAUTHORIZED, "token access claim is too long");
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(access, i);
        const char *type = json_string_value(json_object_get(e, "type"));
        const char *name = json_string_value(json_object_get(e, "name"));
        json_t *acts = json_object_get(e, "actions");
        if (!type || !name || !json_is_array(acts))
            continue;
        size_t tl = strcspn(type, "(");
        if (tl == 0 || tl > SCOPE_TYPE_MAX || !scope_name_valid(name, strlen(name)))
            continue;
        unsigned mask = 0;
        for (size_t j = 0; j < json_array_size(acts); j++) {
            const char *a = json_string_value(json_array_get(acts, j));
            int bit = a && strchr(a, ',') == NULL ? scope_actions_parse(a, strlen(a)) : 0;
            if (bit > 0)
                mask |= (unsigned)bit;
        }
        char *t = xstrndup(type, tl);
        scope_list_add(l, t, name, mask);
        free(t);
    }
    return 0;
}

/* Check the claim set; fills out on success. */
static int check_claims(struct token_claims *out, const struct token_verifier *v, json_t *c,
                        time_t now)
{
    char tmp[48];
    const char *iss = json_string_value(json_object_get(c, "iss"));
    if (!iss || strcmp(iss, v->issuer) != 0)
        return berr_set(BERR_UNAUTHORIZED, "token issuer \"%s\" is not the trusted issuer",
                        iss ? shown(iss, tmp) : "");
    if (!audience_ok(json_object_get(c, "aud"), v->audience))
        return berr_set(BERR_UNAUTHORIZED, "token audience is not this service");
    long long exp = 0, nbf = 0;
    if (json_time(json_object_get(c, "exp"), &exp) < 0)
        return berr_set(BERR_UNAUTHORIZED, "token has no exp");
    if ((long long)now - (long long)v->leeway > exp)
        return berr_set(BERR_UNAUTHORIZED, "token expired %lld s ago", (long long)now - exp);
    json_t *jnbf = json_object_get(c, "nbf");
    if (jnbf && json_time(jnbf, &nbf) < 0)
        return berr_set(BERR_UNAUTHORIZED, "token nbf is not a number");
    if (jnbf && (long long)now + (long long)v->leeway < nbf)
        return berr_set(BERR_UNAUTHORIZED, "token not valid for another %lld s",
                        nbf - (long long)now);
    const char *use = json_string_value(json_object_get(c, "berth_use"));
    if (json_object_get(c, "berth_use") && !use)
        return berr_set(BERR_UNAUTHORIZED, "token berth_use is not a string");
    if (v->use && (!use || strcmp(use, v->use) != 0))
        return berr_set(BERR_UNAUTHORIZED, "token is not a %s token", v->use);
    if (!v->use && use)
        return berr_set(BERR_UNAUTHORIZED, "a \"%s\" token is not an access token",
                        shown(use, tmp));
    json_t *sub = json_object_get(c, "sub");
    if (sub && !json_is_null(sub) && !json_is_string(sub))
        return berr_set(BERR_UNAUTHORIZED, "token sub is not a string");
    struct scope_list access = SCOPE_LIST_INIT;
    int rc = access_parse(&access, json_object_get(c, "access"));
    if (rc < 0) {
        scope_list_release(&access);
        return rc;
    }
    out->subject = xstrdup(json_is_string(sub) ? json_string_value(sub) : "");
    out->access = access;
    out->exp = exp;
    out->nbf = nbf;
    return 0;
}

int token_verify(struct token_claims *out, const struct token_verifier *v, const char *token,
                 time_t now)
{
    size_t len = strnlen(token, TOKEN_MAX + 1);
    if (len > TOKEN_MAX)
        return berr_set(BERR_UNAUTHORIZED, "token is longer than %u bytes", TOKEN_MAX);
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
        return berr_set(BERR_UNAUTHORIZED, "token is not three dot-separated segments");
    if (d1 == token || d2 == d1 + 1)
        return berr_set(BERR_UNAUTHORIZED, "token has an empty segment");
    if (d2 + 1 == token + len)
        return berr_set(BERR_UNAUTHORIZED, "token has no signature");
    /* the signature must be base64url too (libjwt would tolerate junk) */
    struct buf sig;
    buf_init(&sig, TOKEN_SEGMENT_MAX);
    int bad_sig = b64_decode(&sig, d2 + 1, len - (size_t)(d2 + 1 - token), B64_URL) < 0;
    buf_release(&sig);
    if (bad_sig)
        return berr_set(BERR_UNAUTHORIZED, "token signature is not base64url");

    json_t *hdr = segment_json(token, (size_t)(d1 - token));
    json_t *claims = NULL;
    int rc = 0;
    if (!hdr) {
        rc = berr_set(BERR_UNAUTHORIZED, "token header is not a base64url JSON object");
        goto out;
    }
    enum keys_alg alg = KEYS_ALG_INVALID;
    rc = header_alg(&alg, hdr);
    if (rc < 0)
        goto out;
    claims = segment_json(d1 + 1, (size_t)(d2 - d1 - 1));
    if (!claims) {
        rc = berr_set(BERR_UNAUTHORIZED, "token claims are not a base64url JSON object");
        goto out;
    }
    rc = check_signature(v, hdr, alg, token, now);
    if (rc < 0)
        goto out;
    rc = check_claims(out, v, claims, now);
    if (rc < 0)
        goto out;
    out->claims = claims;
    claims = NULL;
out:
    json_decref(hdr);
    json_decref(claims);
    return rc;
}

void token_claims_release(struct token_claims *c)
{
    free(c->subject);
    c->subject = NULL;
    scope_list_release(&c->access);
    json_decref(c->claims);
    c->claims = NULL;
}

int token_sign(char **out, const char *key_pem, size_t key_pem_len, enum keys_alg alg,
               const char *kid, json_t *claims)
{
    jwt_t *jwt = NULL;
    char *json = json_dumps(claims, JSON_COMPACT);
    int rc = 0;
    if (!json || jwt_new(&jwt) != 0 || jwt_add_header(jwt, "kid", kid) != 0 ||
        jwt_add_grants_json(jwt, json) != 0 ||
        jwt_set_alg(jwt, jwt_alg_of(alg), (const unsigned char *)key_pem, (int)key_pem_len) != 0) {
        rc = berr_set(BERR_INTERNAL, "cannot prepare a token");
        goto out;
    }
    char *s = jwt_encode_str(jwt);
    if (!s) {
        rc = berr_set(BERR_INTERNAL, "cannot sign a token");
        goto out;
    }
    *out = s;
out:
    jwt_free(jwt);
    free(json);
    return rc;
}
