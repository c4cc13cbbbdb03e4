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

struct buf;

struct platform {
    char *os;           /* owned or NULL */
    char *architecture; /* owned or NULL */
    char *variant;      /* owned or NULL */
};

/* Copy with descriptor_copy(), never by struct assignment (see digest_copy). */
struct descriptor {
    char *media_type; /* owned, never NULL after a successful parse */
    struct digest digest;
    int64_t size;        /* >= 0 */
    char *artifact_type; /* owned or NULL */
    /* owned compact JSON object text (keys sorted), or NULL when absent or empty */
    char *annotations;
    struct platform platform; /* index entries only */
};

struct manifest {
    enum mt_kind kind;
    /* owned: effective media type (from the body, else the Content-Type given
     * to manifest_parse, else guessed from the body; see manifest_parse) */
    char *media_type;
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
 *  - an image manifest needs a config and a layers array (may be empty) and
 *    no "manifests"; an index needs a manifests array and no config/layers;
 *  - with no mediaType in the body: a manifest Content-Type decides (OCI
 *    types only; Docker bodies must carry mediaType); otherwise a body with a
 *    "manifests" array is an OCI index and one with a "config" an OCI image
 *    manifest;
 *  - artifactType (top level and in descriptors) must be a media type;
 *    annotations must be an object of strings; duplicate keys are refused.
 * Returns 0, BERR_MANIFEST_INVALID, BERR_UNSUPPORTED (schema1, unknown type,
 * or a descriptor digest with an unknown algorithm) or BERR_DIGEST_INVALID (a
 * descriptor's digest), with a message naming the field ("layers[2]: ..."). */
int manifest_parse(struct manifest **out, const char *data, size_t len, const char *content_type);
void manifest_free(struct manifest *m);

/* The artifact type that the referrers API reports for m: artifactType, else
 * the config media type for image manifests, else NULL. Owned by m. */
const char *manifest_effective_artifact_type(const struct manifest *m);

/* Pick from an index the first entry matching os/arch/variant (variant may be
 * NULL = any; arm64 without a variant counts as "v8"). Returns the index of
 * the entry, or -1 (also when index is not an index). */
int manifest_index_match(const struct manifest *index, const char *os, const char *arch,
                         const char *variant);

/* Release the owned fields of d (not d itself); d is zeroed and reusable.
 * Accepts NULL and a zeroed descriptor. */
void descriptor_release(struct descriptor *d);
/* Deep-copy src into *out (out is overwritten, not released first). */
void descriptor_copy(struct descriptor *out, const struct descriptor *src);
/* Append d as one compact JSON object ({"mediaType","digest","size",
 * "artifactType"?,"annotations"?,"platform"?}) to out. Annotations are
 * copied as the stored text. Returns 0 or BERR_TOO_LARGE (buffer cap). */
int descriptor_write_json(struct buf *out, const struct descriptor *d);

#endif
