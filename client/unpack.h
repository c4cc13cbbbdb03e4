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

struct layout;
struct manifest;

struct unpack_opts {
    int allow_devices; /* create character/block devices instead of refusing them */
    int keep_owner;    /* chown entries to the uid/gid in the layer (needs root) */
};

/* Clean a member name into a relative path "a/b/c" (*out, caller frees; ""
 * for the root itself): "./" prefixes, repeated and trailing slashes and "."
 * components go away. Returns BERR_INVALID for absolute names, ".."
 * components and empty names. */
int unpack_clean_path(char **out, const char *name);

/* Apply one layer read from layer_fd onto the directory root_fd. Returns 0,
 * BERR_INVALID (unsafe or corrupt layer), BERR_UNSUPPORTED (zstd without
 * libzstd) or BERR_IO. A failed layer may have been applied in part. */
int unpack_layer(int root_fd, int layer_fd, const struct unpack_opts *opts);

/* Build the root filesystem of image manifest m (blobs from l) at `dest`:
 * unpacked into a temporary sibling directory, then renamed into place. If
 * dest already exists (another run won the race), the new copy is thrown
 * away and 0 is returned. Nothing is left behind on failure. */
int unpack_image(const char *dest, struct layout *l, const struct manifest *m,
                 const struct unpack_opts *opts);

/* Remove the directory tree at path without following symlinks. Returns 0
 * (also when path does not exist) or BERR_IO. */
int unpack_remove_tree(const char *path);

#endif
