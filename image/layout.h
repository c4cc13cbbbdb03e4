/*
 * layout.h - OCI image layout directories, for the client.
 *
 *   <dir>/oci-layout              {"imageLayoutVersion":"1.0.0"}
 *   <dir>/index.json              an OCI image index; an entry's tag is its
 *                                 "org.opencontainers.image.ref.name" annotation
 *   <dir>/blobs/<alg>/<hex>       content-addressed blobs
 *
 * Every path is built inside this module from a validated digest (never from
 * a tag or a name). Blobs are written to a temporary file in their final
 * directory, verified, fsync'd and renamed into place; index.json is
 * rewritten the same way under an exclusive flock() on the layout directory,
 * so two berth processes updating tags do not lose each other's entries.
 * A struct layout may be used by one thread at a time.
 */
#ifndef BERTH_LAYOUT_H
#define BERTH_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "image/digest.h"
#include "image/manifest.h"

#define LAYOUT_REF_NAME  "org.opencontainers.image.ref.name"
#define LAYOUT_INDEX_MAX (16u * 1024 * 1024) /* cap on index.json */

struct layout;

/* One index.json entry. */
struct layout_entry {
    char *tag;              /* owned: the ref.name annotation, or NULL */
    struct descriptor desc; /* owned; desc.annotations includes the ref.name */
};

/* Open an existing layout at `path` (oci-layout with imageLayoutVersion 1.x,
 * index.json present). Returns 0, BERR_NOT_FOUND (no such directory),
 * BERR_INVALID (not an OCI layout) or BERR_IO. */
int layout_open(struct layout **out, const char *path);
/* Open the layout at `path`, creating it first when needed: the directory
 * (its parent must exist), blobs/, an empty index.json and oci-layout (written
 * last, so a directory with oci-layout is complete). An existing non-empty
 * directory that is not a layout is refused with BERR_EXISTS. */
int layout_create(struct layout **out, const char *path);
/* Close the layout; accepts NULL. */
void layout_free(struct layout *l);
/* The path the layout was opened with. */
const char *layout_path(const struct layout *l);

/* Read index.json into a new array *out of *n_out entries (caller frees with
 * layout_entries_free). Returns 0, BERR_MANIFEST_INVALID (index.json is not a
 * valid index), BERR_TOO_LARGE or BERR_IO. */
int layout_entries(struct layout_entry **out, size_t *n_out, struct layout *l);
/* Free an array returned by layout_entries(); accepts NULL. */
void layout_entries_free(struct layout_entry *entries, size_t n);

/* Resolve a tag to a copy of its index.json descriptor in *out (release with
 * descriptor_release). Returns 0, BERR_TAG_INVALID, BERR_MANIFEST_UNKNOWN (no
 * such tag) or an error of layout_entries(). */
int layout_resolve(struct descriptor *out, struct layout *l, const char *tag);

/* Size of blob d in *out_size (may be NULL). Returns 0, BERR_BLOB_UNKNOWN,
 * BERR_DIGEST_INVALID (d malformed) or BERR_IO. */
int layout_blob_stat(int64_t *out_size, struct layout *l, const struct digest *d);
/* Read blob d fully into a new NUL-terminated buffer *out (caller frees) of
 * *out_len bytes, refusing blobs over `max` bytes, and verify its digest.
 * Returns 0, BERR_BLOB_UNKNOWN, BERR_TOO_LARGE, BERR_DIGEST_INVALID (content
 * does not match d) or BERR_IO. */
int layout_blob_read(char **out, size_t *out_len, struct layout *l, const struct digest *d,
                     size_t max);
/* Open blob d for reading: *out_fd (caller closes; O_CLOEXEC) and its size in
 * *out_size (may be NULL). The content is not verified: hash it while reading
 * it. Returns 0, BERR_BLOB_UNKNOWN, BERR_DIGEST_INVALID or BERR_IO. */
int layout_blob_open(int *out_fd, int64_t *out_size, struct layout *l, const struct digest *d);

/* One blob met by layout_blob_walk(). */
struct layout_blob_info {
    struct digest digest;
    int64_t size;
    int64_t mtime; /* seconds since the epoch */
};

/* Called for each blob; a non-zero return stops the walk. */
typedef int (*layout_blob_fn)(void *ctx, const struct layout_blob_info *b);

/* Call fn for every blob file blobs/<alg>/<hex> of a known algorithm, in no
 * particular order. Names that are not a valid digest (temporary files of
 * writers, strays) and non-regular files are skipped. Blobs added or removed
 * during the walk may or may not be seen. Returns 0, the first non-zero value
 * fn returned, or BERR_IO. */
int layout_blob_walk(struct layout *l, layout_blob_fn fn, void *ctx);
/* Remove blob d. Nothing checks that no manifest or tag still needs it:
 * callers decide that (and keep concurrent writers out). Returns 0,
 * BERR_BLOB_UNKNOWN, BERR_DIGEST_INVALID (d malformed) or BERR_IO. */
int layout_blob_remove(struct layout *l, const struct digest *d);
/* Remove the temporary files that killed writers left behind: those in
 * blobs/<alg>/ whose last change is at least min_age seconds old (a live
 * writer's file is younger unless it stalls that long), and, under the
 * index.json lock, those at the top of the layout. Counts go to *out_files
 * and *out_bytes (either may be NULL). Returns 0 or BERR_IO. */
int layout_tmp_clean(size_t *out_files, int64_t *out_bytes, struct layout *l, int64_t min_age);

/* Streaming blob writer. */
struct layout_writer;
/* Start writing a blob. `expected` (may be NULL: sha256 is computed) is the
 * digest the content must have; `expected_size` is its size or -1 when
 * unknown. Returns 0 or BERR_IO. The writer must be freed with
 * layout_writer_free() in every case. */
int layout_writer_open(struct layout_writer **out, struct layout *l, const struct digest *expected,
                       int64_t expected_size);
/* Append len bytes. Returns 0, BERR_SIZE_INVALID (more than expected_size)
 * or BERR_IO; after an error the writer only accepts layout_writer_free(). */
int layout_writer_write(struct layout_writer *w, const void *data, size_t len);
/* Verify size and digest, fsync, rename into blobs/<alg>/<hex> and fsync the
 * directory. The blob's digest goes to *out (may be NULL). Returns 0,
 * BERR_SIZE_INVALID, BERR_DIGEST_INVALID or BERR_IO; on failure nothing is
 * published and layout_writer_free() removes the temporary file. Call at
 * most once. */
int layout_writer_commit(struct digest *out, struct layout_writer *w);
/* Free the writer; removes the temporary file unless committed. Accepts NULL. */
void layout_writer_free(struct layout_writer *w);

/* Write a blob from memory (writer open/write/commit). */
int layout_blob_write(struct digest *out, struct layout *l, const struct digest *expected,
                      const void *data, size_t len);
/* Write a blob from fd, read to its end. Same results as the writer. */
int layout_blob_write_fd(struct digest *out, struct layout *l, const struct digest *expected,
                         int64_t expected_size, int fd);

/* Point `tag` at desc: replace the entry (or entries) with that ref.name, in
 * place of the first, or append one. desc's own annotations are kept and the
 * ref.name annotation is set to tag. Other index.json content is preserved.
 * Returns 0, BERR_TAG_INVALID, BERR_MANIFEST_INVALID (index.json broken),
 * BERR_IO. */
int layout_tag_set(struct layout *l, const char *tag, const struct descriptor *desc);
/* Remove every entry tagged `tag`. Returns 0, BERR_TAG_INVALID,
 * BERR_MANIFEST_UNKNOWN (no such tag), BERR_MANIFEST_INVALID or BERR_IO. */
int layout_tag_remove(struct layout *l, const char *tag);

#endif
