/*
 * archive.h - `docker save` / `podman save` archives (a tar holding
 * manifest.json, the config and the layer tars, in the legacy or the OCI
 * arrangement), turned into an image in an OCI layout so that push can send
 * them like any other image.
 */
#ifndef BERTH_CLIENT_ARCHIVE_H
#define BERTH_CLIENT_ARCHIVE_H

struct layout;
struct descriptor;

/* Read the archive at path (uncompressed or gzip), write its config and
 * layers to l with an OCI image manifest for its first image, and fill *out
 * with that manifest's descriptor (release with descriptor_release).
 * *repotag_out receives the image's first RepoTags entry, or NULL (caller
 * frees). Returns 0, BERR_INVALID (not such an archive) or BERR_IO. */
int archive_import(struct descriptor *out, char **repotag_out, struct layout *l, const char *path);

#endif
