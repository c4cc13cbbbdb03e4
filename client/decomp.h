/*
 * decomp.h - read a layer blob uncompressed, whatever its compression.
 *
 * The format is recognized from the first bytes (gzip 1f 8b, zstd 28 b5 2f
 * fd, else uncompressed), not trusted from the media type. gzip uses zlib
 * (concatenated members are read through); zstd uses the system libzstd,
 * loaded when the first zstd layer appears.
 */
#ifndef BERTH_CLIENT_DECOMP_H
#define BERTH_CLIENT_DECOMP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct digester;

enum decomp_kind { DECOMP_NONE = 0, DECOMP_GZIP = 1, DECOMP_ZSTD = 2 };

struct decomp;

/* Start reading fd (not owned; read from its current offset). Returns 0,
 * BERR_IO, or BERR_UNSUPPORTED when a zstd stream meets a host without
 * libzstd. */
int decomp_open(struct decomp **out, int fd);
/* The format found. */
enum decomp_kind decomp_kind(const struct decomp *d);
/* Hash the compressed input too: every byte read from fd, including those
 * decomp_open read to recognize the format, goes to h (not owned; must
 * outlive d). Call right after decomp_open, before any decomp_read. */
void decomp_hash_input(struct decomp *d, struct digester *h);
/* Compressed bytes read from fd so far. */
int64_t decomp_input_bytes(const struct decomp *d);
/* Read up to n uncompressed bytes. Returns the count, 0 at the end, or a
 * negative BERR_* (BERR_INVALID for corrupt data, BERR_IO). */
ssize_t decomp_read(struct decomp *d, void *buf, size_t n);
/* Free the reader; accepts NULL. */
void decomp_free(struct decomp *d);

#endif
