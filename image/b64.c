/*
 * b64.c - strict base64 over OpenSSL's block codec.
 *
 * OpenSSL does the bit work; this file adds what it lacks: the URL-safe
 * alphabet (translated to and from the standard one), optional padding on
 * input, and strictness (EVP_DecodeBlock skips blanks; we refuse them first).
 */
#include "image/b64.h"

#include "image/base/err.h"
#include "image/base/xalloc.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

int b64_encode(struct buf *b, const void *data, size_t n, enum b64_alphabet alpha)
{
    if (n > (((size_t)1 << 30)))
        return berr_set(BERR_TOO_LARGE, "base64 input too large");
    unsigned char *out = xmalloc(4 * ((n + 2) / 3) + 1);
    int len = EVP_EncodeBlock(out, data, (int)n);
    if (alpha == B64_URL) {
        while (len > 0 && out[len - 1] == '=')
            len--;
        for (int i = 0; i < len; i++)
            out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    }
    int rc = buf_append(b, out, (size_t)len);
    free(out);
    return rc;
}

static int in_alphabet(unsigned char c, enum b64_alphabet alpha)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return 1;
    return alpha == B64_URL ? (c == '-' || c == '_') : (c == '+' || c == '/');
}

int b64_decode(struct buf *b, const char *s, size_t len, enum b64_alphabet alpha)
{
    if (alpha == B64_STD && len % 4 == 0 && len >= 2) {
        if (s[len - 1] == '=')
            len--;
        if (s[len - 1] == '=')
            len--;
    }
    if (len % 4 == 1)
        return berr_set(BERR_INVALID, "base64 text has an impossible length");
    if (len > ((size_t)1 << 30))
        return berr_set(BERR_TOO_LARGE, "base64 input too large");
    if (len == 0)
        return buf_append(b, "", 0);
    size_t pad = (4 - len % 4) % 4;
    unsigned char *in = xmalloc(len + pad + 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!in_alphabet(c, alpha)) {
            free(in);
            return berr_set(BERR_INVALID, "base64 text has a byte outside the alphabet");
        }
        in[i] = alpha == B64_URL ? (c == '-' ? '+' : c == '_' ? '/' : c) : c;
    }
    memset(in + len, '=', pad);
    unsigned char *out = xmalloc((len + pad) / 4 * 3 + 1);
    int n = EVP_DecodeBlock(out, in, (int)(len + pad));
    int rc = 0;
    if (n < 0)
        rc = berr_set(BERR_INVALID, "base64 text does not decode");
    else
        rc = buf_append(b, out, (size_t)n - pad); /* DecodeBlock counts the padding as zeros */
    free(in);
    free(out);
    return rc;
}

char *b64_encode_str(const void *data, size_t len)
{
    struct buf b;
    buf_init(&b, 0);
    if (b64_encode(&b, data, len, B64_STD) < 0)
        abort(); /* uncapped buffer: cannot fail */
    return buf_detach(&b, NULL);
}

int b64_decode_str(char **out, size_t *len_out, const char *s)
{
    struct buf b;
    buf_init(&b, 0);
    int rc = b64_decode(&b, s, strlen(s), B64_STD);
    if (rc < 0) {
        buf_release(&b);
        return rc;
    }
    *out = buf_detach(&b, len_out);
    return 0;
}
