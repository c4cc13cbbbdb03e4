/*
 * b64.h - base64 (RFC 4648), standard and URL-safe alphabets, on top of
 * OpenSSL's EVP_EncodeBlock / EVP_DecodeBlock. One codec for the project:
 * Basic credentials, credential files, JWT segments, x5c certificates.
 *
 * Standard alphabet: padding written on output, optional on input.
 * URL-safe alphabet (JWT): no padding either way. Decoding is strict: any
 * byte outside the alphabet (whitespace included) is an error, never skipped.
 */
#ifndef BERTH_B64_H
#define BERTH_B64_H

#include <stddef.h>

#include "image/base/buf.h"

enum b64_alphabet { B64_STD = 0, B64_URL = 1 };

/* Append the encoding of data[0..n) to b. Returns 0 or BERR_TOO_LARGE. */
int b64_encode(struct buf *b, const void *data, size_t n, enum b64_alphabet alpha);

/* Append the bytes that s[0..len) encodes to b (b stays NUL-terminated).
 * Returns 0, BERR_INVALID (bad byte or length) or BERR_TOO_LARGE. */
int b64_decode(struct buf *b, const char *s, size_t len, enum b64_alphabet alpha);

/* Standard alphabet, as a new NUL-terminated string the caller frees. */
char *b64_encode_str(const void *data, size_t len);
/* Decode the NUL-terminated standard-alphabet text s into *out (NUL-terminated,
 * caller frees) and its length into *len_out (may be NULL). 0 or BERR_INVALID. */
int b64_decode_str(char **out, size_t *len_out, const char *s);

#endif
