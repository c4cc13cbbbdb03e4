/*
 * unpack.h - apply image layers to a root filesystem, safely.
 *
 * A layer is a tar stream (uncompressed, gzip or zstd). Entries are applied
 * in order with OCI whiteouts (".wh.<name>" removes <name>, ".wh..wh..opq"
 * empties its directory of what lower layers put there). A hostile layer
 * cannot write outside the root: "..", absolute paths, writes through a
 * symlink, hard links to anything outside the root and device nodes are
 * refused with BERR_INVALID and a message naming the entry.
 */
#ifndef BERTH_CLIENT_UNPACK_H
#define BERTH_CLIENT_UNPACK_H

#include <stddef.h>
#include <stdint.h>

struct digest;
struct layout;
struct manifest;

/* What a layer must hash to; every field is optional. Checked while the
 * layer streams through (no second read, no copy). */
struct unpack_expect {
    const struct digest *blob;    /* the blob as stored (compressed), or NULL */
    int64_t blob_size;            /* its size in bytes, or -1 */
    const struct digest *diff_id; /* the uncompressed tar stream, or NULL */
};

struct unpack_opts {
    int allow_devices; /* create character/block devices instead of refusing them */
    int keep_owner;    /* chown entries to the uid/gid in the layer (needs root) */
};

/* Clean a member name into a relative path "a/b/c" (*out, caller frees; ""
 * for the root itself): "./" prefixes, repeated and trailing slashes and "."
 * components go away. Returns BERR_INVALID for absolute names, ".."
 * components and empty names. */
int unpack_clean_path(char **out, const char *name);

/* Apply one layer read from layer_fd onto the directory root_fd. With
 * `expect` (may be NULL), the stream is read to its end, past the tar's end
 * marker, and its digests and size are checked. Returns 0, BERR_INVALID
 * (unsafe or corrupt layer), BERR_DIGEST_INVALID / BERR_SIZE_INVALID (does
 * not match `expect`), BERR_UNSUPPORTED (zstd without libzstd) or BERR_IO.
 * A failed layer may have been applied in part (also a mismatching one: the
 * check can only end with the stream), so the caller throws the root away. */
int unpack_layer(int root_fd, int layer_fd, const struct unpack_expect *expect,
                 const struct unpack_opts *opts);

/* Build the root filesystem of image manifest m (blobs from l) at `dest`:
 * unpacked into a temporary sibling directory, then renamed into place. Each
 * layer i must match its descriptor (digest, size) and diff_ids[i], the
 * image config's rootfs.diff_ids (n_diff_ids must be m's layer count). If
 * dest already exists (another run won the race), the new copy is thrown
 * away and 0 is returned. Returns 0, BERR_MANIFEST_INVALID (diff_ids count),
 * BERR_DIGEST_INVALID (a malformed or mismatching digest), or an error of
 * unpack_layer() naming the layer. Nothing is left behind on failure. */
int unpack_image(const char *dest, struct layout *l, const struct manifest *m,
                 char *const *diff_ids, size_t n_diff_ids, const struct unpack_opts *opts);

/* Remove the directory tree at path without following symlinks. Returns 0
 * (also when path does not exist) or BERR_IO. */
int unpack_remove_tree(const char *path);

#endif
