/*
 * manifest.h - parsing and validation of image manifests and indexes.
 *
 * Supported: OCI image manifest, OCI image index, Docker schema2 manifest,
 * Docker manifest list. Schema1 is refused with BERR_UNSUPPORTED.
 * The parser never re-serializes: callers keep the exact bytes they got.
 */
#ifndef BERTH_MANIFEST_H
#define BERTH_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "image/digest.h"
#include "image/mediatype.h"

struct platform {
    char *os;           /* owned or NULL */
    char *architecture; /* owned or NULL */
    char *variant;      /* owned or NULL */
};

struct descriptor {
    char *media_type;    /* owned, never NULL after a successful parse */
    struct digest digest;
    int64_t size;        /* >= 0 */
    char *artifact_type; /* owned or NULL */
    char *annotations;   /* owned compact JSON object text, or NULL */
    struct platform platform; /* index entries only */
};

struct manifest {
    enum mt_kind kind;
    char *media_type;    /* owned: effective media type (from the body, else the
                          * Content-Type given to manifest_parse) */
    int schema_version;
    /* image manifests */
    int has_config;
    struct descriptor config;
    struct descriptor *layers;
    size_t n_layers;
    /* indexes */
    struct descriptor *manifests;
    size_t n_manifests;
    /* both */
    int has_subject;
    struct descriptor subject;
    char *artifact_type; /* owned or NULL: top-level artifactType */
    char *annotations;   /* owned compact JSON object text, or NULL */
};

/* Parse `len` bytes of JSON into a newly allocated manifest (*out, caller
 * frees with manifest_free). `content_type` is the Content-Type header of the
 * request (may be NULL). Rules:
 *  - mediaType in the body, when present, must equal content_type when that is
 *    a manifest type, else BERR_MANIFEST_INVALID;
 *  - schemaVersion must be 2 (1 -> BERR_UNSUPPORTED "schema1 ... not supported");
 *  - descriptors need mediaType, a valid digest and a non-negative size;
 *  - an image manifest needs a config; an index needs a manifests array.
 * Returns 0, BERR_MANIFEST_INVALID, BERR_UNSUPPORTED (schema1, unknown type)
 * or BERR_DIGEST_INVALID (a descriptor's digest), with a message. */
int manifest_parse(struct manifest **out, const char *data, size_t len, const char *content_type);
void manifest_free(struct manifest *m);

/* The artifact type that the referrers API reports for m: artifactType, else
 * the config media type for image manifests, else NULL. Owned by m. */
const char *manifest_effective_artifact_type(const struct manifest *m);

/* Pick from an index the entry matching os/arch/variant (variant may be NULL
 * = any). Returns the index of the entry or -1. */
int manifest_index_match(const struct manifest *index, const char *os, const char *arch,
                         const char *variant);

#endif
