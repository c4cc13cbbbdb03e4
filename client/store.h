/*
 * store.h - the local content store under $BERTH_HOME.
 *
 *   $BERTH_HOME/store/       an OCI image layout (image/layout.h): blobs and
 *                            index.json, each entry named by its full
 *                            reference "host/repo:tag" (ref.name annotation)
 *   $BERTH_HOME/sources/     per registry host, "digest repo" lines: where a
 *                            blob is known to live (for cross-repo mounts)
 *   $BERTH_HOME/uploads/     session URLs of unfinished chunked uploads
 *   $BERTH_HOME/rootfs/      unpacked root filesystems, one per manifest digest
 *   $BERTH_HOME/containers/  bundles of `berth run`
 *   $BERTH_HOME/lock         flock: shared while content is being added
 *                            or used (pull, tag, push of a local image or
 *                            an archive, unpacking for run), exclusive while
 *                            content is being removed (rmi, prune). So a
 *                            blob a pull just wrote is tagged before prune
 *                            can look, and temporary files and directories
 *                            found under the exclusive lock are leftovers of
 *                            killed processes.
 */
#ifndef BERTH_CLIENT_STORE_H
#define BERTH_CLIENT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "image/digest.h"
#include "image/manifest.h"

struct layout;
struct layout_entry;

/* The annotation of an index.json entry that holds its full reference
 * (containerd uses the same key). */
#define STORE_NAME_ANNOTATION "io.containerd.image.name"

struct store {
    char *home;
    struct layout *layout;
    int lock_fd;
};

/* Open (creating when needed) the store under home. Returns 0 or BERR_IO /
 * BERR_EXISTS (home/store is something else). Free with store_free. */
int store_open(struct store **out, const char *home);
/* Close the store; accepts NULL. */
void store_free(struct store *s);

/* Take the store lock, waiting for it: shared (adding content, or reading
 * content that must not vanish meanwhile) or exclusive (removing content).
 * Taking it again converts it. Returns 0 or BERR_IO. */
int store_lock(struct store *s, int exclusive);
/* The same without waiting: 0, BERR_BUSY (another process holds it in a
 * conflicting mode) or BERR_IO. */
int store_trylock(struct store *s, int exclusive);
/* Release the store lock (if held). */
void store_unlock(struct store *s);

/* "$BERTH_HOME/<sub>" (caller frees). */
char *store_path(const struct store *s, const char *sub);

/* The descriptor tagged `name` (a full reference "host/repo:tag") in *out
 * (release with descriptor_release). BERR_MANIFEST_UNKNOWN when absent. */
int store_resolve(struct descriptor *out, struct store *s, const char *name);
/* Tag desc as `name`. */
int store_tag(struct store *s, const char *name, const struct descriptor *desc);
/* Remove tag `name`. BERR_MANIFEST_UNKNOWN when absent. */
int store_untag(struct store *s, const char *name);
/* The full reference of an index.json entry (from layout_entries), or its
 * plain tag for entries written by other tools, or NULL (caller frees). */
char *store_entry_name(const struct layout_entry *e);

/* Read a manifest blob (<= 4 MiB, verified) and parse it. *bytes_out (may
 * be NULL) receives the exact bytes (caller frees). */
int store_manifest(struct manifest **out, char **bytes_out, size_t *len_out, struct store *s,
                   const struct descriptor *desc);

/* Remember that blob dg lives in repo on host. Best effort. */
void store_note_source(struct store *s, const char *host, const char *repo,
                       const struct digest *dg);
/* A repository of host other than `not_repo` known to hold dg, or NULL
 * (caller frees). */
char *store_find_source(struct store *s, const char *host, const char *not_repo,
                        const struct digest *dg);

/* The file that remembers an unfinished upload of dg to host/repo (caller frees). */
char *store_upload_state_path(struct store *s, const char *host, const char *repo,
                              const struct digest *dg);

#endif
