/*
 * keys.c - trusted token keys, key ids, x5c chains and the issuer's
 * signing key, on OpenSSL 3 (no deprecated API).
 *
 * Invariants: every key in a keyring is RSA (>= 2048 bits) or EC on
 * P-256/P-384/P-521 and carries both of its ids; the trust store is only
 * ever read after loading. Private key bytes are wiped from every buffer
 * they pass through and never logged; the log names the key's path and id.
 * Files are written to a temporary name and renamed (the signing key is
 * linked, so an existing key is never replaced).
 */
#include "auth/keys.h"
#include "auth/jwks.h"

#include "image/b64.h"
#include "image/base/buf.h"
#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509_vfy.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEYS_FILE_MAX (1u << 20)
#define KEYS_CERT_MAX (16u << 10)

static const struct {
    enum keys_alg alg;
    const char *name;
} alg_names[] = {
    {KEYS_ALG_RS256, "RS256"}, {KEYS_ALG_RS384, "RS384"}, {KEYS_ALG_RS512, "RS512"},
    {KEYS_ALG_ES256, "ES256"}, {KEYS_ALG_ES384, "ES384"}, {KEYS_ALG_ES512, "ES512"},
};

enum keys_alg keys_alg_parse(const char *s)
{
    for (size_t i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++)
        if (strcmp(s, alg_names[i].name) == 0)
            return alg_names[i].alg;
    return KEYS_ALG_INVALID;
}

const char *keys_alg_name(enum keys_alg alg)
{
    for (size_t i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++)
        if (alg_names[i].alg == alg)
            return alg_names[i].name;
    return "";
}

/* The JOSE curve name of an EC key ("P-256"), or NULL. */
static const char *ec_curve(EVP_PKEY *pkey)
{
    char group[64];
    size_t len = 0;
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC)
        return NULL;
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &len) != 1)
        return NULL;
    if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
        return "P-256";
    if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
        return "P-384";
    if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0)
        return "P-521";
    return NULL;
}

enum keys_alg keys_alg_for(EVP_PKEY *pkey)
{
    if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA)
        return EVP_PKEY_get_bits(pkey) >= 2048 ? KEYS_ALG_RS256 : KEYS_ALG_INVALID;
    const char *curve = ec_curve(pkey);
    if (!curve)
        return KEYS_ALG_INVALID;
    if (strcmp(curve, "P-256") == 0)
        return KEYS_ALG_ES256;
    if (strcmp(curve, "P-384") == 0)
        return KEYS_ALG_ES384;
    return KEYS_ALG_ES512;
}

int keys_alg_fits(EVP_PKEY *pkey, enum keys_alg alg)
{
    switch (alg) {
    case KEYS_ALG_RS256:
    case KEYS_ALG_RS384:
    case KEYS_ALG_RS512:
        return EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA && EVP_PKEY_get_bits(pkey) >= 2048;
    case KEYS_ALG_ES256:
    case KEYS_ALG_ES384:
    case KEYS_ALG_ES512:
        return keys_alg_for(pkey) == alg;
    case KEYS_ALG_INVALID:
        break;
    }
    return 0;
}

int keys_kid_libtrust(char out[KEYS_KID_MAX], EVP_PKEY *pkey)
{
    static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(pkey, &der);
    if (len <= 0)
        return berr_set(BERR_INTERNAL, "cannot encode a public key");
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(der, (size_t)len, md);
    OPENSSL_free(der);
    /* 30 bytes = 240 bits = 48 base32 characters, no padding */
    size_t o = 0, nchars = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < 30; i++) {
        acc = (acc << 8) | md[i];
        bits += 8;
        while (bits >= 5) {
            if (nchars && nchars % 4 == 0)
                out[o++] = ':';
            out[o++] = b32[(acc >> (bits - 5)) & 31];
            nchars++;
            bits -= 5;
        }
    }
    out[o] = '\0';
    return 0;
}

/* Append "\"name\":\"<base64url of bn, padded to `pad` bytes>\"". */
static int jwk_member(struct buf *b, const char *name, EVP_PKEY *pkey, const char *param, int pad)
{
    BIGNUM *bn = NULL;
    if (EVP_PKEY_get_bn_param(pkey, param, &bn) != 1)
        return berr_set(BERR_INTERNAL, "cannot read a public key parameter");
    int len = pad ? pad : BN_num_bytes(bn);
    unsigned char *bytes = xmalloc((size_t)len + 1);
    int rc = BN_bn2binpad(bn, bytes, len) == len ? 0 : -1;
    BN_free(bn);
    if (rc == 0)
        rc = buf_printf(b, "\"%s\":\"", name);
    if (rc == 0)
        rc = b64_encode(b, bytes, (size_t)len, B64_URL);
    if (rc == 0)
        rc = buf_puts(b, "\"");
    free(bytes);
    return rc < 0 ? berr_set(BERR_INTERNAL, "cannot encode a public key parameter") : 0;
}

int keys_kid_jwk(char out[KEYS_KID_MAX], EVP_PKEY *pkey)
{
    struct buf jwk = BUF_INIT, enc = BUF_INIT;
    int rc;
    if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA) {
        rc = buf_puts(&jwk, "{");
        if (rc == 0)
            rc = jwk_member(&jwk, "e", pkey, OSSL_PKEY_PARAM_RSA_E, 0);
        if (rc == 0)
            rc = buf_puts(&jwk, ",\"kty\":\"RSA\",");
        if (rc == 0)
            rc = jwk_member(&jwk, "n", pkey, OSSL_PKEY_PARAM_RSA_N, 0);
    } else {
        const char *curve = ec_curve(pkey);
        if (!curve) {
            rc = berr_set(BERR_INTERNAL, "unsupported key type");
            goto out;
        }
        int size = (EVP_PKEY_get_bits(pkey) + 7) / 8;
        rc = buf_printf(&jwk, "{\"crv\":\"%s\",\"kty\":\"EC\",", curve);
        if (rc == 0)
            rc = jwk_member(&jwk, "x", pkey, OSSL_PKEY_PARAM_EC_PUB_X, size);
        if (rc == 0)
            rc = buf_puts(&jwk, ",");
        if (rc == 0)
            rc = jwk_member(&jwk, "y", pkey, OSSL_PKEY_PARAM_EC_PUB_Y, size);
    }
    if (rc == 0)
        rc = buf_puts(&jwk, "}");
    if (rc < 0)
        goto out;
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)jwk.data, jwk.len, md);
    rc = b64_encode(&enc, md, sizeof(md), B64_URL);
    if (rc == 0 && enc.len < KEYS_KID_MAX)
        memcpy(out, enc.data, enc.len + 1);
out:
    buf_release(&jwk);
    buf_release(&enc);
    return rc;
}

int keys_public_pem(char **out, size_t *len, EVP_PKEY *pkey)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    if (!bio || PEM_write_bio_PUBKEY(bio, pkey) != 1) {
        BIO_free(bio);
        return berr_set(BERR_INTERNAL, "cannot encode a public key");
    }
    long n = BIO_get_mem_data(bio, &data);
    *out = xstrndup(data, (size_t)n);
    *len = (size_t)n;
    BIO_free(bio);
    return 0;
}

void keyring_new(struct keyring **out)
{
    *out = xcalloc(1, sizeof(**out));
}

void keyring_free(struct keyring *kr)
{
    if (!kr)
        return;
    for (size_t i = 0; i < kr->n; i++) {
        EVP_PKEY_free(kr->keys[i].pkey);
        free(kr->keys[i].pem);
        free(kr->keys[i].origin);
    }
    free(kr->keys);
    X509_STORE_free(kr->roots);
    free(kr);
}

int keyring_add_pkey(struct keyring *kr, EVP_PKEY *pkey, const char *origin)
{
    return keyring_add_named(kr, pkey, origin, NULL);
}

int keyring_add_named(struct keyring *kr, EVP_PKEY *pkey, const char *origin, const char *kid)
{
    if (keys_alg_for(pkey) == KEYS_ALG_INVALID)
        return berr_set(BERR_CONFIG,
                        "%s: key is neither RSA (>= 2048 bits) nor EC P-256/P-384/P-521", origin);
    struct keyring_key k;
    memset(&k, 0, sizeof(k));
    int rc = keys_kid_libtrust(k.kid_libtrust, pkey);
    if (rc == 0)
        rc = keys_kid_jwk(k.kid_jwk, pkey);
    if (rc == 0)
        rc = keys_public_pem(&k.pem, &k.pem_len, pkey);
    if (rc < 0) {
        free(k.pem);
        return berr_set(BERR_CONFIG, "%s: cannot use a key", origin);
    }
    if (kid && strlen(kid) >= sizeof(k.kid_named)) {
        free(k.pem);
        return berr_set(BERR_CONFIG, "%s: kid \"%.40s...\" too long", origin, kid);
    }
    if (kid)
        memcpy(k.kid_named, kid, strlen(kid) + 1);
    EVP_PKEY_up_ref(pkey);
    k.pkey = pkey;
    k.origin = xstrdup(origin);
    kr->keys = xrealloc(kr->keys, (kr->n + 1) * sizeof(*kr->keys));
    kr->keys[kr->n++] = k;
    return 0;
}

/* Read a whole (small) file into b. */
static int read_small_file(struct buf *b, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return berr_set(BERR_CONFIG, "cannot open %s: %s", path, strerror(errno));
    int rc = 0;
    char chunk[4096];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = berr_set(BERR_CONFIG, "cannot read %s: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        if (buf_append(b, chunk, (size_t)n) < 0) {
            rc = berr_set(BERR_CONFIG, "%s is too large", path);
            break;
        }
    }
    OPENSSL_cleanse(chunk, sizeof(chunk));
    close(fd);
    return rc;
}

/* Walk the PEM blocks of `path`: certificates go to the keyring (and to
 * `store` when not NULL), public keys to the keyring; private keys are
 * refused. *found counts usable blocks. */
static int pem_walk(struct keyring *kr, X509_STORE *store, const char *path, size_t *found)
{
    struct buf text;
    buf_init(&text, KEYS_FILE_MAX);
    int rc = read_small_file(&text, path);
    if (rc < 0)
        goto out;
    BIO *bio = BIO_new_mem_buf(text.data ? text.data : "", (int)text.len);
    for (;;) {
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        long len = 0;
        if (PEM_read_bio(bio, &name, &header, &data, &len) != 1) {
            ERR_clear_error();
            break;
        }
        const unsigned char *p = data;
        EVP_PKEY *pkey = NULL;
        X509 *cert = NULL;
        int known = 1;
        if (strcmp(name, "CERTIFICATE") == 0) {
            cert = d2i_X509(NULL, &p, len);
            pkey = cert ? X509_get_pubkey(cert) : NULL;
        } else if (strcmp(name, "PUBLIC KEY") == 0) {
            pkey = d2i_PUBKEY(NULL, &p, len);
        } else if (strcmp(name, "RSA PUBLIC KEY") == 0) {
            pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, len);
        } else if (strstr(name, "PRIVATE KEY")) {
            rc = berr_set(BERR_CONFIG,
                          "%s holds a private key; give the certificate or public key only", path);
        } else {
            known = 0; /* other blocks (parameters, CRLs) are skipped */
        }
        if (rc == 0 && known && !pkey)
            rc = berr_set(BERR_CONFIG, "%s: cannot parse a %s block", path, name);
        if (rc == 0 && pkey)
            rc = keyring_add_pkey(kr, pkey, path);
        if (rc == 0 && pkey)
            (*found)++;
        if (rc == 0 && cert && store && X509_STORE_add_cert(store, cert) != 1)
            ERR_clear_error(); /* a duplicate certificate is harmless */
        EVP_PKEY_free(pkey);
        X509_free(cert);
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
        if (rc < 0)
            break;
    }
    BIO_free(bio);
out:
    if (text.data)
        OPENSSL_cleanse(text.data, text.cap);
    buf_release(&text);
    return rc;
}

int keyring_add_file(struct keyring *kr, const char *path)
{
    size_t found = 0, skip = 0;
    struct buf text;
    buf_init(&text, KEYS_FILE_MAX);
    int rc = read_small_file(&text, path);
    while (rc == 0 && skip < text.len && strchr(" \t\r\n", text.data[skip]))
        skip++;
    if (rc == 0 && skip < text.len && text.data[skip] == '{') /* a JWK set, else PEM */
        rc = keyring_add_jwks(kr, path, text.data, text.len, &found);
    else if (rc == 0)
        rc = pem_walk(kr, NULL, path, &found);
    buf_release(&text);
    if (rc < 0)
        return rc;
    if (!found)
        return berr_set(BERR_CONFIG, "%s holds no certificate, public key or JWK signing key",
                        path);
    log_info("auth: trusting %zu token signing key(s) from %s", found, path);
    return 0;
}

int keyring_load_roots(struct keyring *kr, const char *path)
{
    if (!kr->roots) {
        kr->roots = X509_STORE_new();
        /* any certificate in the bundle is an anchor, as in Distribution */
        X509_STORE_set_flags(kr->roots, X509_V_FLAG_PARTIAL_CHAIN);
    }
    size_t found = 0;
    int rc = pem_walk(kr, kr->roots, path, &found);
    if (rc < 0)
        return rc;
    if (!found)
        return berr_set(BERR_CONFIG, "%s holds no certificate", path);
    log_info("auth: %zu certificate(s) from %s anchor x5c chains", found, path);
    return 0;
}

const struct keyring_key *keyring_find(const struct keyring *kr, const char *kid)
{
    for (size_t i = 0; i < kr->n; i++)
        if (strcmp(kr->keys[i].kid_libtrust, kid) == 0 || strcmp(kr->keys[i].kid_jwk, kid) == 0 ||
            (kr->keys[i].kid_named[0] && strcmp(kr->keys[i].kid_named, kid) == 0))
            return &kr->keys[i];
    return NULL;
}

/* Decode one standard-base64 DER certificate. */
static X509 *x5c_cert(const char *b64)
{
    struct buf der;
    buf_init(&der, KEYS_CERT_MAX);
    X509 *cert = NULL;
    if (b64_decode(&der, b64, strlen(b64), B64_STD) == 0 && der.len > 0) {
        const unsigned char *p = (const unsigned char *)der.data;
        cert = d2i_X509(NULL, &p, (long)der.len);
        if (cert && p != (const unsigned char *)der.data + der.len) {
            X509_free(cert);
            cert = NULL;
        }
    }
    buf_release(&der);
    return cert;
}

int keyring_verify_x5c(EVP_PKEY **out, const struct keyring *kr, const char *const *certs, size_t n,
                       time_t now)
{
    int rc = 0;
    X509 *leaf = NULL;
    STACK_OF(X509) *chain = NULL;
    X509_STORE_CTX *ctx = NULL;
    if (!kr->roots)
        return berr_set(BERR_UNAUTHORIZED, "token has x5c but no auth.token.rootcerts is set");
    if (n == 0 || n > KEYS_X5C_MAX)
        return berr_set(BERR_UNAUTHORIZED, "token x5c chain is empty or too long");
    leaf = x5c_cert(certs[0]);
    if (!leaf) {
        rc = berr_set(BERR_UNAUTHORIZED, "token x5c leaf certificate does not parse");
        goto out;
    }
    chain = sk_X509_new_null();
    for (size_t i = 1; i < n; i++) {
        X509 *c = x5c_cert(certs[i]);
        if (!c) {
            rc = berr_set(BERR_UNAUTHORIZED, "token x5c certificate %zu does not parse", i);
            goto out;
        }
        sk_X509_push(chain, c);
    }
    ctx = X509_STORE_CTX_new();
    if (!ctx || X509_STORE_CTX_init(ctx, kr->roots, leaf, chain) != 1) {
        rc = berr_set(BERR_INTERNAL, "cannot set up certificate verification");
        goto out;
    }
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), now);
    if (X509_verify_cert(ctx) != 1) {
        rc = berr_set(BERR_UNAUTHORIZED, "token x5c chain does not verify: %s",
                      X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        goto out;
    }
    *out = X509_get_pubkey(leaf);
    if (!*out)
        rc = berr_set(BERR_UNAUTHORIZED, "token x5c leaf has no usable public key");
out:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    sk_X509_pop_free(chain, X509_free);
    X509_free(leaf);
    return rc;
}

/* ---- the issuer's signing key ------------------------------------------ */

char *keys_cert_path(const char *path)
{
    size_t len = strlen(path);
    if (len > 4 && (strcmp(path + len - 4, ".key") == 0 || strcmp(path + len - 4, ".pem") == 0))
        return xasprintf("%.*s.crt", (int)(len - 4), path);
    return xasprintf("%s.crt", path);
}

static void fsync_dir_of(const char *path)
{
    char *copy = xstrdup(path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

/* Write data to a temporary file in path's directory, then link it to path
 * (exclusive: BERR_EXISTS when path exists) or rename it over path. */
static int write_atomic(const char *path, const char *data, size_t len, mode_t mode, int exclusive)
{
    char *tmp = xasprintf("%s.tmp.XXXXXX", path);
    int rc = 0;
    int fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
    if (fd < 0) {
        rc = berr_set(BERR_CONFIG, "cannot create a file next to %s: %s", path, strerror(errno));
        free(tmp);
        return rc;
    }
    if (mode != 0600 && fchmod(fd, mode) < 0)
        rc = berr_set(BERR_CONFIG, "cannot chmod %s: %s", tmp, strerror(errno));
    for (size_t off = 0; rc == 0 && off < len;) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = berr_set(BERR_CONFIG, "cannot write %s: %s", tmp, strerror(errno));
        else
            off += (size_t)n;
    }
    if (rc == 0 && fsync(fd) < 0)
        rc = berr_set(BERR_CONFIG, "cannot sync %s: %s", tmp, strerror(errno));
    close(fd);
    if (rc == 0 && exclusive && link(tmp, path) < 0)
        rc = errno == EEXIST ? BERR_EXISTS
                             : berr_set(BERR_CONFIG, "cannot create %s: %s", path, strerror(errno));
    if (rc == 0 && !exclusive && rename(tmp, path) < 0)
        rc = berr_set(BERR_CONFIG, "cannot create %s: %s", path, strerror(errno));
    if (exclusive || rc < 0)
        unlink(tmp);
    if (rc == 0)
        fsync_dir_of(path);
    free(tmp);
    return rc;
}

/* PKCS#8 PEM of a private key (caller wipes and frees). */
static int private_pem(char **out, size_t *len, EVP_PKEY *pkey)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    if (!bio || PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1) {
        BIO_free(bio);
        return berr_set(BERR_INTERNAL, "cannot encode the signing key");
    }
    long n = BIO_get_mem_data(bio, &data);
    *out = xstrndup(data, (size_t)n);
    *len = (size_t)n;
    OPENSSL_cleanse(data, (size_t)n);
    BIO_free(bio);
    return 0;
}

static int signing_generate(EVP_PKEY **out, const char *type)
{
    EVP_PKEY *pkey = NULL;
    if (strcmp(type, "ec") == 0)
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    else if (strcmp(type, "rsa") == 0)
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
    else
        return berr_set(BERR_CONFIG, "auth.issuer.key-type must be \"ec\" or \"rsa\", not \"%s\"",
                        type);
    if (!pkey)
        return berr_set(BERR_INTERNAL, "cannot generate a %s key", type);
    *out = pkey;
    return 0;
}

static int signing_load(EVP_PKEY **out, const char *path)
{
    struct buf text;
    buf_init(&text, KEYS_FILE_MAX);
    struct stat st;
    int rc = read_small_file(&text, path);
    if (rc < 0)
        goto out;
    if (stat(path, &st) == 0 && (st.st_mode & 077))
        log_warn("auth: token signing key %s is readable by group or others (mode %03o); "
                 "chmod 600 it",
                 path, (unsigned)(st.st_mode & 0777));
    BIO *bio = BIO_new_mem_buf(text.data ? text.data : "", (int)text.len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    if (!pkey) {
        rc = berr_set(BERR_CONFIG, "%s is not a PEM private key", path);
        goto out;
    }
    if (keys_alg_for(pkey) == KEYS_ALG_INVALID) {
        EVP_PKEY_free(pkey);
        rc = berr_set(BERR_CONFIG, "%s: signing key must be EC P-256/P-384/P-521 or RSA >= 2048",
                      path);
        goto out;
    }
    *out = pkey;
out:
    if (text.data)
        OPENSSL_cleanse(text.data, text.cap);
    buf_release(&text);
    return rc;
}

/* A self-signed certificate for pkey, valid ten years from an hour ago. */
static X509 *self_signed(EVP_PKEY *pkey, const char *cn, time_t now)
{
    X509 *x = X509_new();
    BIGNUM *serial = BN_new();
    int ok = x && serial && X509_set_version(x, X509_VERSION_3) == 1 &&
             BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1 &&
             BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) != NULL &&
             X509_time_adj_ex(X509_getm_notBefore(x), 0, -3600, &now) != NULL &&
             X509_time_adj_ex(X509_getm_notAfter(x), 3650, 0, &now) != NULL &&
             X509_set_pubkey(x, pkey) == 1 &&
             X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                                        (const unsigned char *)cn, -1, -1, 0) == 1 &&
             X509_set_issuer_name(x, X509_get_subject_name(x)) == 1 &&
             X509_sign(x, pkey, EVP_sha256()) > 0;
    BN_free(serial);
    if (!ok) {
        X509_free(x);
        ERR_clear_error();
        return NULL;
    }
    return x;
}

/* Make sure the certificate next to the key holds the key's public half. */
static void signing_cert(EVP_PKEY *pkey, const char *key_path, const char *cn, time_t now)
{
    char *path = keys_cert_path(key_path);
    FILE *f = fopen(path, "re");
    X509 *have = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    if (have && EVP_PKEY_eq(X509_get0_pubkey(have), pkey) == 1) {
        X509_free(have);
        free(path);
        return;
    }
    X509_free(have);
    ERR_clear_error();
    char cnbuf[65];
    size_t cl = strlen(cn);
    if (cl > 64)
        cl = 64;
    memcpy(cnbuf, cn, cl);
    cnbuf[cl] = '\0';
    X509 *x = self_signed(pkey, cl ? cnbuf : "berth token issuer", now);
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    if (x && bio && PEM_write_bio_X509(bio, x) == 1) {
        long n = BIO_get_mem_data(bio, &data);
        if (write_atomic(path, data, (size_t)n, 0644, 0) == 0)
            log_info("auth: wrote %s, the certificate of the token signing key; registries that "
                     "trust this issuer need it",
                     path);
        else
            log_warn("auth: %s", berr_message());
    } else {
        log_warn("auth: cannot make a certificate for the token signing key");
    }
    BIO_free(bio);
    X509_free(x);
    free(path);
}

int keys_signing_open(EVP_PKEY **out, char **out_pem, size_t *out_pem_len, const char *path,
                      const char *type, const char *common_name, time_t now)
{
    EVP_PKEY *pkey = NULL;
    char *pem = NULL;
    size_t pem_len = 0;
    int rc = 0, created = 0;
    if (access(path, F_OK) < 0 && errno == ENOENT) {
        rc = signing_generate(&pkey, type);
        if (rc == 0)
            rc = private_pem(&pem, &pem_len, pkey);
        if (rc == 0)
            rc = write_atomic(path, pem, pem_len, 0600, 1);
        if (rc == 0) {
            created = 1;
        } else if (rc == BERR_EXISTS) { /* created meanwhile: use that one */
            EVP_PKEY_free(pkey);
            pkey = NULL;
            rc = 0;
        }
    }
    if (rc == 0 && !pkey)
        rc = signing_load(&pkey, path);
    if (rc == 0 && !pem)
        rc = private_pem(&pem, &pem_len, pkey);
    if (rc < 0)
        goto fail;
    char kid[KEYS_KID_MAX];
    rc = keys_kid_jwk(kid, pkey);
    if (rc < 0)
        goto fail;
    log_info("auth: %s %s token signing key %s (kid %s)", created ? "generated" : "loaded",
             keys_alg_name(keys_alg_for(pkey)), path, kid);
    signing_cert(pkey, path, common_name, now);
    *out = pkey;
    *out_pem = pem;
    *out_pem_len = pem_len;
    return 0;
fail:
    if (pem) {
        OPENSSL_cleanse(pem, pem_len);
        free(pem);
    }
    EVP_PKEY_free(pkey);
    return rc;
}
