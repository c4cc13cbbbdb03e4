/*
 * digest.c - digest parsing and streaming hashing (OpenSSL EVP).
 *
 * Grammar (OCI image spec, descriptor.md):
 *   digest    ::= algorithm ":" encoded
 *   algorithm ::= component (separator component)*
 *   component ::= [a-z0-9]+
 *   separator ::= [+._-]
 *   encoded   ::= [a-zA-Z0-9=_-]+
 * Berth supports sha256 (64 lowercase hex) and sha512 (128 lowercase hex).
 * A string that fails the grammar, or names a supported algorithm with a
 * wrong encoding, is BERR_DIGEST_INVALID; a well-formed digest with another
 * algorithm is BERR_UNSUPPORTED.
 *
 * Invariant: a struct digest filled by this file has str = "<alg>:<hex>",
 * NUL-terminated, and hex pointing just after the ':' in str.
 *
 * The EVP_MD objects are fetched once (pthread_once) and never change after,
 * so they are not mutable global state.
 */
#include "image/digest.h"

#include "image/base/err.h"
#include "image/base/xalloc.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

struct digester {
    EVP_MD_CTX *ctx;
    enum digest_alg alg;
};

static const struct {
    const char *name;
    size_t name_len;
    size_t hex_len;
    const char *ossl_name;
} alg_info[] = {
    [DIGEST_SHA256] = {"sha256", 6, 64, "SHA256"},
    [DIGEST_SHA512] = {"sha512", 6, 128, "SHA512"},
};

#define N_ALGS (sizeof(alg_info) / sizeof(alg_info[0]))

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_fetched[N_ALGS];

static void md_init(void)
{
    for (size_t i = 0; i < N_ALGS; i++)
        md_fetched[i] = EVP_MD_fetch(NULL, alg_info[i].ossl_name, NULL);
}

/* The EVP_MD for alg; falls back to the legacy getters if the fetch failed. */
static const EVP_MD *md_for(enum digest_alg alg)
{
    pthread_once(&md_once, md_init);
    assert((size_t)alg < N_ALGS);
    if (md_fetched[alg])
        return md_fetched[alg];
    return alg == DIGEST_SHA512 ? EVP_sha512() : EVP_sha256();
}

/* A failure of OpenSSL on an in-memory hash cannot be handled sensibly. */
static void evp_fatal(const char *what)
{
    fprintf(stderr, "berth: openssl %s failed\n", what);
    abort();
}

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_encoded_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '=' ||
           c == '_' || c == '-';
}

static int is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* 1 when s[0..len) matches `component (separator component)*`. */
static int algorithm_valid(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    int need_alnum = 1; /* at start and after a separator */
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (is_lower_alnum(c)) {
            need_alnum = 0;
        } else if (c == '+' || c == '.' || c == '_' || c == '-') {
            if (need_alnum)
                return 0;
            need_alnum = 1;
        } else {
            return 0;
        }
    }
    return !need_alnum;
}

/* Fill *out from a known algorithm and its (already validated) hex. */
static void digest_fill(struct digest *out, enum digest_alg alg, const char *hex)
{
    size_t nl = alg_info[alg].name_len;
    size_t hl = alg_info[alg].hex_len;
    assert(nl + 1 + hl < DIGEST_MAX_STR);
    out->alg = alg;
    memcpy(out->str, alg_info[alg].name, nl);
    out->str[nl] = ':';
    memcpy(out->str + nl + 1, hex, hl);
    out->str[nl + 1 + hl] = '\0';
    out->hex = out->str + nl + 1;
}

int digest_parse(struct digest *out, const char *s, size_t len)
{
    if (!s)
        return berr_set(BERR_DIGEST_INVALID, "digest missing");
    const char *colon = memchr(s, ':', len);
    if (!colon)
        return berr_set(BERR_DIGEST_INVALID, "digest has no algorithm");
    size_t alen = (size_t)(colon - s);
    const char *enc = colon + 1;
    size_t elen = len - alen - 1;

    if (!algorithm_valid(s, alen))
        return berr_set(BERR_DIGEST_INVALID, "digest algorithm is malformed");
    if (elen == 0)
        return berr_set(BERR_DIGEST_INVALID, "digest has no encoded part");
    for (size_t i = 0; i < elen; i++) {
        if (!is_encoded_char(enc[i]))
            return berr_set(BERR_DIGEST_INVALID, "digest encoding has an invalid character");
    }

    for (size_t a = 0; a < N_ALGS; a++) {
        if (alen != alg_info[a].name_len || memcmp(s, alg_info[a].name, alen) != 0)
            continue;
        if (elen != alg_info[a].hex_len)
            return berr_set(BERR_DIGEST_INVALID, "%s digest must have %zu hex characters, not %zu",
                            alg_info[a].name, alg_info[a].hex_len, elen);
        for (size_t i = 0; i < elen; i++) {
            if (!is_lower_hex(enc[i]))
                return berr_set(BERR_DIGEST_INVALID, "%s digest must be lowercase hex",
                                alg_info[a].name);
        }
        digest_fill(out, (enum digest_alg)a, enc);
        return 0;
    }
    return berr_set(BERR_UNSUPPORTED, "digest algorithm '%.*s' is not supported",
                    (int)(alen > 32 ? 32 : alen), s);
}

int digest_parse_cstr(struct digest *out, const char *s)
{
    if (!s)
        return berr_set(BERR_DIGEST_INVALID, "digest missing");
    return digest_parse(out, s, strlen(s));
}

void digest_copy(struct digest *out, const struct digest *src)
{
    assert((size_t)src->alg < N_ALGS);
    digest_fill(out, src->alg, src->hex);
}

int digest_equal(const struct digest *a, const struct digest *b)
{
    return a->alg == b->alg && strcmp(a->str, b->str) == 0;
}

const char *digest_alg_name(enum digest_alg alg)
{
    if ((size_t)alg >= N_ALGS)
        return "unknown";
    return alg_info[alg].name;
}

/* Hex-encode an EVP result into *out. */
static void digest_from_raw(struct digest *out, enum digest_alg alg, const unsigned char *raw,
                            unsigned int raw_len)
{
    static const char hexdig[] = "0123456789abcdef";
    char hex[128];
    assert(raw_len * 2 == alg_info[alg].hex_len);
    for (unsigned int i = 0; i < raw_len; i++) {
        hex[2 * i] = hexdig[raw[i] >> 4];
        hex[2 * i + 1] = hexdig[raw[i] & 0xf];
    }
    digest_fill(out, alg, hex);
}

int digester_new(struct digester **out, enum digest_alg alg)
{
    *out = NULL;
    if ((size_t)alg >= N_ALGS)
        return berr_set(BERR_INTERNAL, "unknown digest algorithm %d", (int)alg);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return berr_set(BERR_INTERNAL, "cannot allocate a digest context");
    if (EVP_DigestInit_ex(ctx, md_for(alg), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return berr_set(BERR_INTERNAL, "cannot initialize %s", alg_info[alg].name);
    }
    struct digester *d = xmalloc(sizeof(*d));
    d->ctx = ctx;
    d->alg = alg;
    *out = d;
    return 0;
}

void digester_update(struct digester *d, const void *data, size_t len)
{
    if (len == 0)
        return;
    if (EVP_DigestUpdate(d->ctx, data, len) != 1)
        evp_fatal("digest update");
}

void digester_final(struct digester *d, struct digest *out)
{
    unsigned char raw[EVP_MAX_MD_SIZE];
    unsigned int raw_len = 0;
    if (EVP_DigestFinal_ex(d->ctx, raw, &raw_len) != 1)
        evp_fatal("digest final");
    digest_from_raw(out, d->alg, raw, raw_len);
}

int digester_dup(struct digester **out, const struct digester *d)
{
    *out = NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return berr_set(BERR_INTERNAL, "cannot allocate a digest context");
    if (EVP_MD_CTX_copy_ex(ctx, d->ctx) != 1) {
        EVP_MD_CTX_free(ctx);
        return berr_set(BERR_INTERNAL, "cannot copy a digest context");
    }
    struct digester *c = xmalloc(sizeof(*c));
    c->ctx = ctx;
    c->alg = d->alg;
    *out = c;
    return 0;
}

void digester_free(struct digester *d)
{
    if (!d)
        return;
    EVP_MD_CTX_free(d->ctx);
    free(d);
}

void digest_of(struct digest *out, enum digest_alg alg, const void *data, size_t len)
{
    unsigned char raw[EVP_MAX_MD_SIZE];
    unsigned int raw_len = 0;
    assert((size_t)alg < N_ALGS);
    if (EVP_Digest(data, len, raw, &raw_len, md_for(alg), NULL) != 1)
        evp_fatal("digest");
    digest_from_raw(out, alg, raw, raw_len);
}
