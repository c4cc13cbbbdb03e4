/*
 * b64.h - base64 (RFC 4648) in the standard and the URL-safe alphabet
 * (internal to auth/).
 *
 * Standard (Basic credentials, x5c certificates): padding optional on input,
 * written on output. URL-safe (JWT segments): no padding either way. Any
 * byte outside the alphabet is an error, never skipped.
 */
#ifndef BERTH_AUTH_B64_H
#define BERTH_AUTH_B64_H

#include <stddef.h>

#include "image/base/buf.h"

enum b64_alphabet { B64_STD = 0, B64_URL = 1 };

/* Append the encoding of data[0..n) to b. Returns 0 or BERR_TOO_LARGE. */
int b64_encode(struct buf *b, const void *data, size_t n, enum b64_alphabet alpha);

/* Append the bytes that s[0..len) encodes to b (b stays NUL-terminated).
 * Returns 0, BERR_INVALID (bad byte or length) or BERR_TOO_LARGE. */
int b64_decode(struct buf *b, const char *s, size_t len, enum b64_alphabet alpha);

#endif
