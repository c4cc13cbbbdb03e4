/*
 * b64.c - strict base64 codec for credentials and JWT segments.
 *
 * Decoding never skips bytes (no whitespace, no mixed alphabets), so a
 * token is accepted only in its exact compact form.
 */
#include "auth/b64.h"

#include "image/base/err.h"

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int b64_encode(struct buf *b, const void *data, size_t n, enum b64_alphabet alpha)
{
    const char *tab = alpha == B64_URL ? b64_url : b64_std;
    const unsigned char *p = data;
    char quad[4];
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        size_t left = n - i;
        if (left > 1)
            v |= (unsigned)p[i + 1] << 8;
        if (left > 2)
            v |= p[i + 2];
        quad[0] = tab[(v >> 18) & 63];
        quad[1] = tab[(v >> 12) & 63];
        quad[2] = left > 1 ? tab[(v >> 6) & 63] : '=';
        quad[3] = left > 2 ? tab[v & 63] : '=';
        size_t out = 4;
        if (alpha == B64_URL)
            out = left > 2 ? 4 : left + 1;
        int rc = buf_append(b, quad, out);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The 6-bit value of c, or -1. */
static int b64_value(char c, enum b64_alphabet alpha)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (alpha == B64_URL)
        return c == '-' ? 62 : c == '_' ? 63 : -1;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
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
    unsigned char out[3];
    for (size_t i = 0; i < len; i += 4) {
        size_t left = len - i < 4 ? len - i : 4;
        unsigned v = 0;
        for (size_t j = 0; j < 4; j++) {
            int d = 0;
            if (j < left) {
                d = b64_value(s[i + j], alpha);
                if (d < 0)
                    return berr_set(BERR_INVALID, "base64 text has a byte outside the alphabet");
            }
            v = (v << 6) | (unsigned)d;
        }
        out[0] = (unsigned char)(v >> 16);
        out[1] = (unsigned char)(v >> 8);
        out[2] = (unsigned char)v;
        int rc = buf_append(b, out, left - 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}
