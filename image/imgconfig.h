/*
 * imgconfig.h - the parts of an image configuration blob (OCI image config /
 * Docker container config) that `berth run` and `berth inspect` use.
 *
 * Lives in client/ for now: image/ has no config parser yet. It belongs in
 * image/ next to manifest.c once the server needs it too.
 */
#ifndef BERTH_CLIENT_IMGCONFIG_H
#define BERTH_CLIENT_IMGCONFIG_H

#include <stddef.h>

struct imgconfig {
    char *os;           /* owned or NULL */
    char *architecture; /* owned or NULL */
    char *variant;      /* owned or NULL */
    char *created;      /* owned or NULL */
    char **entrypoint;  /* owned NULL-terminated array, or NULL when unset */
    char **cmd;         /* same */
    char **env;         /* same ("K=V") */
    char *working_dir;  /* owned or NULL */
    char *user;         /* owned or NULL */
    char **diff_ids;    /* owned NULL-terminated rootfs.diff_ids (as written), or NULL */
    size_t n_diff_ids;  /* their count */
};

/* Parse len bytes of config JSON into *out (fields owned by out). A missing
 * "config" object is allowed (every field unset). rootfs.diff_ids are kept
 * as written and not validated here (a non-string entry becomes ""):
 * unpack_image() checks them. Returns 0 or BERR_INVALID with a message naming
 * the field. */
int imgconfig_parse(struct imgconfig *out, const char *data, size_t len);

/* Free the fields; accepts a zeroed struct. */
void imgconfig_release(struct imgconfig *c);

#endif
