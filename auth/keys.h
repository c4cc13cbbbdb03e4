/*
 * keys.h - token signing keys: trusted verification keys found by `kid`,
 * x5c chains checked against a CA bundle, key ids, and the built-in
 * issuer's signing key (internal to auth/).
 *
 * Key ids: every trusted key answers to two ids, so tokens from any
 * Distribution-style issuer find it from configuration alone:
 *   - the libtrust id (Distribution 2.x, docker_auth, GitLab, Harbor):
 *     base32(SHA-256(DER SubjectPublicKeyInfo)[0..30]) in 12 groups of 4
 *     joined by ':' ("PYYO:TEWU:...:Z7Q6");
 *   - the RFC 7638 JWK thumbprint (Distribution 3.x): base64url(SHA-256 of
 *     the canonical JWK {"crv","kty","x","y"} / {"e","kty","n"}).
 * The built-in issuer writes the JWK thumbprint. A key from a JWK set also
 * answers to the "kid" the set gives it.
 *
 * A keyring is immutable after loading and safe to use from any thread.
 */
#ifndef BERTH_AUTH_KEYS_H
#define BERTH_AUTH_KEYS_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define KEYS_KID_MAX 96
#define KEYS_X5C_MAX 8 /* certificates in one x5c chain */

/* Asymmetric JWS algorithms; anything else (none, HS*) is never accepted. */
enum keys_alg {
    KEYS_ALG_INVALID = 0,
    KEYS_ALG_RS256,
    KEYS_ALG_RS384,
    KEYS_ALG_RS512,
    KEYS_ALG_ES256,
    KEYS_ALG_ES384,
    KEYS_ALG_ES512,
};

/* The algorithm named `s` ("ES256"), or KEYS_ALG_INVALID. */
enum keys_alg keys_alg_parse(const char *s);
/* "ES256"... ("" for KEYS_ALG_INVALID). */
const char *keys_alg_name(enum keys_alg alg);
/* 1 when `pkey` can verify `alg`: RSA (>= 2048 bits) for RS*, the matching
 * curve for ES* (P-256 ES256, P-384 ES384, P-521 ES512). */
int keys_alg_fits(EVP_PKEY *pkey, enum keys_alg alg);
/* The algorithm the issuer signs with for this key: ES256/ES384/ES512 by
 * curve, RS256 for RSA; KEYS_ALG_INVALID for other keys. */
enum keys_alg keys_alg_for(EVP_PKEY *pkey);

/* Key ids (see above). Return 0 or BERR_INTERNAL. */
int keys_kid_libtrust(char out[KEYS_KID_MAX], EVP_PKEY *pkey);
int keys_kid_jwk(char out[KEYS_KID_MAX], EVP_PKEY *pkey);

/* A trusted verification key. */
struct keyring_key {
    EVP_PKEY *pkey;
    char *pem; /* SubjectPublicKeyInfo PEM, for libjwt */
    size_t pem_len;
    char kid_libtrust[KEYS_KID_MAX];
    char kid_jwk[KEYS_KID_MAX];
    char kid_named[KEYS_KID_MAX]; /* the issuer's own kid (JWK set), else "" */
    char *origin;                 /* file it came from, for logs */
};

struct keyring {
    struct keyring_key *keys;
    size_t n;
    X509_STORE *roots; /* x5c trust anchors; NULL when none configured */
};

void keyring_new(struct keyring **out);
/* Free; accepts NULL. */
void keyring_free(struct keyring *kr);

/* Trust `pkey` (a reference is taken). `origin` names it in logs.
 * Returns 0 or BERR_CONFIG for an unusable key type. */
int keyring_add_pkey(struct keyring *kr, EVP_PKEY *pkey, const char *origin);
/* keyring_add_pkey, and the key also answers to `kid` (shorter than
 * KEYS_KID_MAX) when it is not NULL. */
int keyring_add_named(struct keyring *kr, EVP_PKEY *pkey, const char *origin, const char *kid);

/* Trust every certificate and public key in the PEM file `path`
 * ("CERTIFICATE", "PUBLIC KEY", "RSA PUBLIC KEY"; a certificate's dates are
 * not checked for kid lookup). A private key in the file is refused.
 * Returns 0 or BERR_CONFIG. */
int keyring_add_file(struct keyring *kr, const char *path);

/* Load the CA bundle `path` as the x5c trust anchors; each certificate's
 * key is also trusted by kid (Distribution's rootcertbundle semantics).
 * Returns 0 or BERR_CONFIG. */
int keyring_load_roots(struct keyring *kr, const char *path);

/* The key with libtrust or JWK-thumbprint id `kid`, or NULL. */
const struct keyring_key *keyring_find(const struct keyring *kr, const char *kid);

/* Verify an x5c chain (standard base64 DER certificates, leaf first)
 * against the trust anchors at time `now`; *out gets the leaf's public key
 * (caller frees with EVP_PKEY_free). Returns 0 or BERR_UNAUTHORIZED with the
 * reason. */
int keyring_verify_x5c(EVP_PKEY **out, const struct keyring *kr, const char *const *certs, size_t n,
                       time_t now);

/* The SubjectPublicKeyInfo PEM of pkey (caller frees). 0 or BERR_INTERNAL. */
int keys_public_pem(char **out, size_t *len, EVP_PKEY *pkey);

/* The built-in issuer's signing key: load `path`, or when it does not exist
 * generate one ("ec": P-256 for ES256, "rsa": 3072-bit RSA for RS256), write
 * it with mode 0600 (atomically, never over an existing file) and log the
 * path. Also (re)writes the matching self-signed certificate next to it
 * (keys_cert_path) for external registries to trust. *out_pem gets the
 * private key in PKCS#8 PEM (caller wipes with OPENSSL_cleanse and frees).
 * Returns 0 or BERR_CONFIG. */
int keys_signing_open(EVP_PKEY **out, char **out_pem, size_t *out_pem_len, const char *path,
                      const char *type, const char *common_name, time_t now);

/* Where the certificate of signing key `path` goes: a ".key" or ".pem"
 * suffix replaced by ".crt", else ".crt" appended (caller frees). */
char *keys_cert_path(const char *path);

#endif
