/*
 * digest.h - content digests ("sha256:<64 hex>", "sha512:<128 hex>").
 *
 * Parsing validates the grammar strictly (lowercase hex, exact length), so a
 * parsed digest is safe to use in a storage key. Hashing is streamed: feed
 * bytes as they arrive with digester_update(), never re-read a blob to hash it.
 */
#ifndef BERTH_DIGEST_H
#define BERTH_DIGEST_H

#include <stddef.h>
#include <stdint.h>

enum digest_alg { DIGEST_SHA256 = 0, DIGEST_SHA512 = 1 };

#define DIGEST_MAX_STR 136 /* "sha512:" + 128 hex + NUL, rounded */

struct digest {
    enum digest_alg alg;
    char str[DIGEST_MAX_STR]; /* full form "sha256:abcd..." */
    const char *hex;          /* points into str, after the ':' */
};

/* Parse and validate "alg:hex" of length len. Returns 0, BERR_DIGEST_INVALID
 * (bad grammar) or BERR_UNSUPPORTED (well-formed but unknown algorithm). */
int digest_parse(struct digest *out, const char *s, size_t len);
/* Same, for a NUL-terminated string. */
int digest_parse_cstr(struct digest *out, const char *s);
/* Copy src into *out. `hex` points into `str`, so a plain struct assignment
 * would leave out->hex pointing into src: always copy with this. */
void digest_copy(struct digest *out, const struct digest *src);
/* True when a and b are the same digest. */
int digest_equal(const struct digest *a, const struct digest *b);
/* "sha256" / "sha512". */
const char *digest_alg_name(enum digest_alg alg);

/* Streaming hasher (OpenSSL EVP). */
struct digester;
/* Create a hasher for alg into *out. Returns 0 or BERR_INTERNAL. */
int digester_new(struct digester **out, enum digest_alg alg);
/* Feed len bytes. An OpenSSL failure here cannot happen for an in-memory
 * hash; it aborts like an out-of-memory. */
void digester_update(struct digester *d, const void *data, size_t len);
/* Finish into *out; the digester may not be updated afterwards. */
void digester_final(struct digester *d, struct digest *out);
/* Copy the running state (to finish a copy while the original goes on). */
int digester_dup(struct digester **out, const struct digester *d);
/* Free the hasher; accepts NULL. */
void digester_free(struct digester *d);

/* One-shot digest of a memory buffer (same result as new/update/final). */
void digest_of(struct digest *out, enum digest_alg alg, const void *data, size_t len);

#endif
