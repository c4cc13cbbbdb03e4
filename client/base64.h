/*
 * base64.h - standard base64 (RFC 4648, with padding) for Basic
 * authentication headers and the "auth" fields of credential files.
 */
#ifndef BERTH_CLIENT_BASE64_H
#define BERTH_CLIENT_BASE64_H

#include <stddef.h>

/* Encode len bytes; returns a NUL-terminated string the caller frees. */
char *base64_encode(const void *data, size_t len);

/* Decode the NUL-terminated text `s` (padding optional, no whitespace) into
 * *out (NUL-terminated, caller frees) and its length into *len_out (may be
 * NULL). Returns 0 or BERR_INVALID. */
int base64_decode(char **out, size_t *len_out, const char *s);

#endif
