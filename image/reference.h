/*
 * reference.h - repository names, tags and image references.
 *
 * Grammar (OCI distribution spec):
 *   name      = component ("/" component)*, whole name <= 255 bytes
 *   component = [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
 *   tag       = [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
 * A valid name never contains "..", a leading "/" or any byte that could
 * escape a directory, but it is still never used as a path by itself.
 */
#ifndef BERTH_REFERENCE_H
#define BERTH_REFERENCE_H

#include <stddef.h>

#include "image/digest.h"

#define REF_NAME_MAX 255
#define REF_TAG_MAX  128

/* 1 when s[0..len) is a valid repository name, else 0. */
int ref_name_valid(const char *s, size_t len);
/* 1 when s[0..len) is a valid tag, else 0. */
int ref_tag_valid(const char *s, size_t len);

/* A full image reference as typed by a user:
 *   [host[:port]/]repo[:tag][@digest]
 * The first component is a host when it contains '.' or ':' or is
 * "localhost". With no host, `host` is NULL (the caller applies its default).
 * With neither tag nor digest, tag is "latest". */
struct reference {
    char *host;   /* owned or NULL */
    char *name;   /* owned, repository path */
    char *tag;    /* owned or NULL */
    char *digest; /* owned or NULL, validated */
};

/* Parse `s` into *out (fields owned by out). Returns 0, BERR_NAME_INVALID,
 * BERR_TAG_INVALID or BERR_DIGEST_INVALID with a message. */
int reference_parse(struct reference *out, const char *s);
/* Free the fields; out may be reused. Accepts a zeroed struct. */
void reference_release(struct reference *ref);

#endif
