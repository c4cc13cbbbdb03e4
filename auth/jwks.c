/*
 * jwks.c - trusted token signing keys from a JSON Web Key Set (RFC 7517),
 * the format token issuers such as Keycloak, Dex or Distribution 3.x publish:
 *
 *   {"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"..","y":".."},
 *            {"kty":"RSA","kid":"k2","n":"..","e":".."}]}
 *
 * Each signing key joins the keyring under the issuer's own "kid" (besides
 * the two ids Berth derives for every key, keys.h). Keys marked for
 * encryption ("use":"enc") and other key types (oct, OKP) are skipped; a set
 * with no usable key, or a malformed member, is a configuration error that
 * names the key. Only public members are read: a set that carries private
 * ones ("d", "p"...) is refused rather than loaded.
 */
#include "auth/jwks.h"

#include "image/b64.h"
#include "image/base/buf.h"
#include "image/base/err.h"

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <string.h>

#define JWKS_PARAM_MAX 1024 /* bytes of one decoded member (RSA-8192 n is 1 KiB) */

/* Decode base64url member `name` of `jwk` into b (empty on entry). */
static int member(struct buf *b, json_t *jwk, const char *name, const char *where)
{
    const char *v = json_string_value(json_object_get(jwk, name));
    if (!v || !*v)
        return berr_set(BERR_CONFIG, "%s: member \"%s\" missing", where, name);
    if (b64_decode(b, v, strlen(v), B64_URL) < 0 || b->len == 0)
        return berr_set(BERR_CONFIG, "%s: member \"%s\" is not base64url", where, name);
    return 0;
}

/* An RSA public key from n and e. */
static int rsa_params(OSSL_PARAM_BLD *bld, json_t *jwk, const char *where, BIGNUM **n, BIGNUM **e)
{
    struct buf nb, eb;
    buf_init(&nb, JWKS_PARAM_MAX);
    buf_init(&eb, JWKS_PARAM_MAX);
    int rc = member(&nb, jwk, "n", where);
    if (rc == 0)
        rc = member(&eb, jwk, "e", where);
    if (rc == 0) {
        *n = BN_bin2bn((const unsigned char *)nb.data, (int)nb.len, NULL);
        *e = BN_bin2bn((const unsigned char *)eb.data, (int)eb.len, NULL);
        if (!*n || !*e || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, *n) != 1 ||
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, *e) != 1)
            rc = berr_set(BERR_INTERNAL, "%s: cannot build an RSA key", where);
    }
    buf_release(&nb);
    buf_release(&eb);
    return rc;
}

/* An EC public key from crv, x and y (the uncompressed point 04 || x || y). */
static int ec_params(OSSL_PARAM_BLD *bld, json_t *jwk, const char *where, struct buf *point)
{
    static const struct {
        const char *crv, *group;
        size_t size;
    } curves[] = {
        {"P-256", "prime256v1", 32}, {"P-384", "secp384r1", 48}, {"P-521", "secp521r1", 66}};
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    size_t i = 0;
    while (i < sizeof(curves) / sizeof(curves[0]) && (!crv || strcmp(crv, curves[i].crv) != 0))
        i++;
    if (i == sizeof(curves) / sizeof(curves[0]))
        return berr_set(BERR_CONFIG, "%s: curve \"%s\" is not P-256, P-384 or P-521", where,
                        crv ? crv : "");
    struct buf x, y;
    buf_init(&x, JWKS_PARAM_MAX);
    buf_init(&y, JWKS_PARAM_MAX);
    int rc = member(&x, jwk, "x", where);
    if (rc == 0)
        rc = member(&y, jwk, "y", where);
    if (rc == 0 && (x.len != curves[i].size || y.len != curves[i].size))
        rc = berr_set(BERR_CONFIG, "%s: x and y must be %zu bytes for %s", where, curves[i].size,
                      curves[i].crv);
    if (rc == 0 && (buf_append(point, "\x04", 1) < 0 || buf_append(point, x.data, x.len) < 0 ||
                    buf_append(point, y.data, y.len) < 0))
        rc = berr_set(BERR_INTERNAL, "%s: point too large", where);
    if (rc == 0 && (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                                    curves[i].group, 0) != 1 ||
                    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point->data,
                                                     point->len) != 1))
        rc = berr_set(BERR_INTERNAL, "%s: cannot build an EC key", where);
    buf_release(&x);
    buf_release(&y);
    return rc;
}

/* The public key a JWK describes (*out NULL: a key to skip). */
static int jwk_pkey(EVP_PKEY **out, json_t *jwk, const char *where)
{
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "k"};
    *out = NULL;
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *use = json_string_value(json_object_get(jwk, "use"));
    if (!kty)
        return berr_set(BERR_CONFIG, "%s: member \"kty\" missing", where);
    for (size_t i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++)
        if (json_object_get(jwk, private_members[i]))
            return berr_set(BERR_CONFIG, "%s holds a private key; publish the public set only",
                            where);
    if ((use && strcmp(use, "sig") != 0) || (strcmp(kty, "RSA") != 0 && strcmp(kty, "EC") != 0))
        return 0;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, kty, NULL);
    BIGNUM *n = NULL, *e = NULL;
    struct buf point;
    buf_init(&point, 2 * JWKS_PARAM_MAX);
    OSSL_PARAM *params = NULL;
    int rc = bld && ctx ? 0 : berr_set(BERR_INTERNAL, "%s: out of memory", where);
    if (rc == 0)
        rc = strcmp(kty, "RSA") == 0 ? rsa_params(bld, jwk, where, &n, &e)
                                     : ec_params(bld, jwk, where, &point);
    if (rc == 0 && !(params = OSSL_PARAM_BLD_to_param(bld)))
        rc = berr_set(BERR_INTERNAL, "%s: out of memory", where);
    if (rc == 0 && (EVP_PKEY_fromdata_init(ctx) != 1 ||
                    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1)) {
        ERR_clear_error();
        rc = berr_set(BERR_CONFIG, "%s: not a valid %s public key", where, kty);
    }
    OSSL_PARAM_free(params);
    BN_free(n);
    BN_free(e);
    buf_release(&point);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_BLD_free(bld);
    return rc;
}

int keyring_add_jwks(struct keyring *kr, const char *path, const char *text, size_t len,
                     size_t *found)
{
    json_error_t jerr;
    json_t *set = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *keys = set ? json_object_get(set, "keys") : NULL;
    int rc = 0;
    *found = 0;
    if (!set)
        return berr_set(BERR_CONFIG, "%s: not JSON (line %d: %s)", path, jerr.line, jerr.text);
    if (!json_is_array(keys)) {
        rc = berr_set(BERR_CONFIG, "%s: a JWK set needs a \"keys\" array", path);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(keys) && rc == 0; i++) {
        json_t *jwk = json_array_get(keys, i);
        const char *kid = json_string_value(json_object_get(jwk, "kid"));
        char where[512];
        snprintf(where, sizeof(where), "%s: key %zu%s%s%s", path, i, kid ? " (kid \"" : "",
                 kid ? kid : "", kid ? "\")" : "");
        if (!json_is_object(jwk)) {
            rc = berr_set(BERR_CONFIG, "%s is not an object", where);
            break;
        }
        if (kid && strlen(kid) >= KEYS_KID_MAX) {
            rc = berr_set(BERR_CONFIG, "%s: kid longer than %d bytes", where, KEYS_KID_MAX - 1);
            break;
        }
        EVP_PKEY *pkey = NULL;
        rc = jwk_pkey(&pkey, jwk, where);
        if (rc == 0 && pkey) {
            rc = keyring_add_named(kr, pkey, path, kid);
            if (rc == 0)
                (*found)++;
        }
        EVP_PKEY_free(pkey);
    }
out:
    json_decref(set);
    return rc;
}
