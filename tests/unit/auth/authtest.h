/*
 * authtest.h - helpers shared by the auth/ unit tests: a scratch directory,
 * keys and certificates made with OpenSSL at run time, a JWT signer that is
 * independent of the code under test (plain OpenSSL, so an interop bug in
 * the verifier cannot hide behind the same bug in the signer), a fake clock
 * and stderr capture for "never logged" checks.
 *
 * Header-only (static functions) so that each test stays one standalone
 * binary, as the Makefile builds tests/unit/<module>/test_<file>.c.
 */
#ifndef BERTH_TESTS_AUTHTEST_H
#define BERTH_TESTS_AUTHTEST_H

#include <crypt.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "image/base/buf.h"
#include "image/base/xalloc.h"

#define AT_UNUSED __attribute__((unused))

/* ---- scratch directory ------------------------------------------------- */

static char at_dir[256];

AT_UNUSED static void at_mkdtemp(void)
{
    snprintf(at_dir, sizeof(at_dir), "/tmp/berth-auth-test.XXXXXX");
    if (!mkdtemp(at_dir))
        abort();
}

static int at_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

AT_UNUSED static void at_rmtree(void)
{
    if (at_dir[0])
        nftw(at_dir, at_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* "<dir>/<name>" (caller frees). */
AT_UNUSED static char *at_path(const char *name)
{
    return xasprintf("%s/%s", at_dir, name);
}

/* Replace path's content atomically (new inode, so reloads notice). */
AT_UNUSED static void at_write(const char *path, const char *text)
{
    char *tmp = xasprintf("%s.new", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, path) != 0)
        abort();
    free(tmp);
}

AT_UNUSED static char *at_read(const char *path)
{
    FILE *f = fopen(path, "r");
    struct buf b = BUF_INIT;
    char chunk[4096];
    size_t n;
    if (!f)
        return NULL;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    return buf_detach(&b, NULL);
}

/* ---- fake clock -------------------------------------------------------- */

static time_t at_time = 1700000000;

AT_UNUSED static time_t at_clock(void)
{
    return at_time;
}

/* ---- bcrypt ------------------------------------------------------------ */

/* A bcrypt hash of pw with prefix "$2b$" or "$2y$" (cost 4, for speed). */
AT_UNUSED static char *at_bcrypt(const char *pw, const char *prefix)
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data *cd = xcalloc(1, sizeof(*cd));
    if (!crypt_gensalt_rn("$2b$", 4, NULL, 0, salt, sizeof(salt)))
        abort();
    const char *h = crypt_rn(pw, salt, cd, (int)sizeof(*cd));
    if (!h)
        abort();
    char *out = xstrdup(h);
    free(cd);
    memcpy(out, prefix, 4); /* $2y$ and $2b$ are the same algorithm */
    return out;
}

/* ---- keys and certificates --------------------------------------------- */

AT_UNUSED static EVP_PKEY *at_ec_key(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!k)
        abort();
    return k;
}

AT_UNUSED static EVP_PKEY *at_rsa_key(void)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    if (!k)
        abort();
    return k;
}

AT_UNUSED static char *at_pubkey_pem(EVP_PKEY *k)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    PEM_write_bio_PUBKEY(bio, k);
    long n = BIO_get_mem_data(bio, &data);
    char *s = xstrndup(data, (size_t)n);
    BIO_free(bio);
    return s;
}

AT_UNUSED static char *at_privkey_pem(EVP_PKEY *k)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL);
    long n = BIO_get_mem_data(bio, &data);
    char *s = xstrndup(data, (size_t)n);
    BIO_free(bio);
    return s;
}

/* A certificate for `key` named `cn`, signed by issuer/issuer_key (NULL:
 * self-signed), valid from now+from to now+to seconds. */
AT_UNUSED static X509 *at_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
                               int ca, long from, long to)
{
    static long serial = 1;
    time_t now = at_time;
    X509 *x = X509_new();
    X509_set_version(x, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_time_adj_ex(X509_getm_notBefore(x), 0, from, &now);
    X509_time_adj_ex(X509_getm_notAfter(x), 0, to, &now);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(x));
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *bc = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
                                             ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    X509_add_ext(x, bc, -1);
    X509_EXTENSION_free(bc);
    if (ca) {
        X509_EXTENSION *ku =
            X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
        X509_add_ext(x, ku, -1);
        X509_EXTENSION_free(ku);
    }
    if (X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) <= 0)
        abort();
    return x;
}

AT_UNUSED static char *at_cert_pem(X509 *x)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    PEM_write_bio_X509(bio, x);
    long n = BIO_get_mem_data(bio, &data);
    char *s = xstrndup(data, (size_t)n);
    BIO_free(bio);
    return s;
}

/* ---- an independent JWS signer ----------------------------------------- */

AT_UNUSED static void at_b64(struct buf *b, const void *data, size_t n, int url)
{
    size_t cap = 4 * ((n + 2) / 3) + 1;
    unsigned char *out = xmalloc(cap);
    int len = EVP_EncodeBlock(out, data, (int)n);
    for (int i = 0; i < len; i++) {
        if (url && out[i] == '+')
            out[i] = '-';
        else if (url && out[i] == '/')
            out[i] = '_';
    }
    while (url && len > 0 && out[len - 1] == '=')
        len--;
    buf_append(b, out, (size_t)len);
    free(out);
}

/* A compact JWS of header.claims (JSON text) signed with `alg`:
 * "ES256"/"ES384" with an EC key, "RS256" with an RSA key, "HS256" with
 * `secret`, "none" (empty signature). Caller frees. */
AT_UNUSED static char *at_jws(const char *header, const char *claims, const char *alg,
                              EVP_PKEY *key, const void *secret, size_t secret_len)
{
    struct buf t = BUF_INIT;
    at_b64(&t, header, strlen(header), 1);
    buf_puts(&t, ".");
    at_b64(&t, claims, strlen(claims), 1);
    unsigned char sig[1024];
    size_t siglen = 0;
    if (strcmp(alg, "HS256") == 0) {
        unsigned int l = 0;
        HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)t.data, t.len, sig, &l);
        siglen = l;
    } else if (alg[0] == 'R' || alg[0] == 'E') {
        const EVP_MD *md = strcmp(alg + 2, "384") == 0   ? EVP_sha384()
                           : strcmp(alg + 2, "512") == 0 ? EVP_sha512()
                                                         : EVP_sha256();
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned char der[1024];
        size_t derlen = sizeof(der);
        if (EVP_DigestSignInit(ctx, NULL, md, NULL, key) != 1 ||
            EVP_DigestSign(ctx, der, &derlen, (const unsigned char *)t.data, t.len) != 1)
            abort();
        EVP_MD_CTX_free(ctx);
        if (alg[0] == 'R') {
            memcpy(sig, der, derlen);
            siglen = derlen;
        } else { /* JWS wants r || s, each padded to the curve size */
            const unsigned char *p = der;
            ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
            int size = (EVP_PKEY_get_bits(key) + 7) / 8;
            BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, size);
            BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + size, size);
            siglen = (size_t)(2 * size);
            ECDSA_SIG_free(es);
        }
    }
    buf_puts(&t, ".");
    at_b64(&t, sig, siglen, 1);
    return buf_detach(&t, NULL);
}

/* printf into a fresh string. */
AT_UNUSED static char *at_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *at_fmt(const char *fmt, ...)
{
    va_list ap;
    char *out = NULL;
    va_start(ap, fmt);
    if (vasprintf(&out, fmt, ap) < 0)
        abort();
    va_end(ap);
    return out;
}

/* "x5c" JSON array of the given certificates (standard base64 DER). */
AT_UNUSED static char *at_x5c(X509 *const *certs, size_t n)
{
    struct buf b = BUF_INIT;
    buf_puts(&b, "[");
    for (size_t i = 0; i < n; i++) {
        unsigned char *der = NULL;
        int len = i2d_X509(certs[i], &der);
        buf_puts(&b, i ? ",\"" : "\"");
        at_b64(&b, der, (size_t)len, 0);
        buf_puts(&b, "\"");
        OPENSSL_free(der);
    }
    buf_puts(&b, "]");
    return buf_detach(&b, NULL);
}

/* ---- stderr capture ---------------------------------------------------- */

static int at_saved_fd = -1;
static char at_capture_path[300];

AT_UNUSED static void at_capture_start(void)
{
    snprintf(at_capture_path, sizeof(at_capture_path), "%s/stderr.log", at_dir);
    int fd = open(at_capture_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    at_saved_fd = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
}

/* Stop capturing; returns what was written (caller frees). */
AT_UNUSED static char *at_capture_end(void)
{
    dup2(at_saved_fd, STDERR_FILENO);
    close(at_saved_fd);
    at_saved_fd = -1;
    char *s = at_read(at_capture_path);
    return s ? s : xstrdup("");
}

#endif
