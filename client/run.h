/*
 * run.h - run an image: an OCI runtime bundle (config.json + rootfs) over a
 * cached root filesystem, handed to an OCI runtime (runc by default).
 */
#ifndef BERTH_CLIENT_RUN_H
#define BERTH_CLIENT_RUN_H

struct imgconfig;

struct run_opts {
    char **cmd;             /* command line after REF, or NULL: the image's Cmd */
    const char *entrypoint; /* --entrypoint (replaces the image's; "" clears it), or NULL */
    char **env;             /* -e values: "K=V", or "K" to copy K from our environment */
    const char *workdir;    /* -w, or NULL: the image's WorkingDir, else "/" */
    const char *user;       /* -u user[:group] (names or ids), or NULL: the image's User */
    const char *hostname;   /* or NULL: the container id */
    int tty;                /* -t: allocate a terminal */
    int read_only;          /* --read-only root filesystem */
    int rm;                 /* --rm: remove the bundle when the container exits */
    const char *runtime;    /* OCI runtime binary, default "runc" */
};

/* Build the config.json text of a bundle whose root is `rootfs` (absolute)
 * for image config ic and the options (*out, caller frees). User and group
 * names are looked up in rootfs/etc/passwd and rootfs/etc/group (resolved
 * inside rootfs). RLIMIT_NOFILE stays within this process's hard limit.
 * Returns 0, BERR_INVALID (no command, unknown user...) with a message. */
int run_spec_build(char **out, const struct imgconfig *ic, const struct run_opts *o,
                   const char *rootfs, const char *id);

/* Run a container of the image whose unpacked root filesystem is `image_root`
 * (left untouched: the container writes to an overlay upper directory).
 * The bundle lives in $home/containers/<id>. *exit_out receives the
 * container's exit status (128+n when killed by signal n). Returns 0 once the
 * runtime ran (whatever the status), or an error code when the container
 * could not be set up. Needs root. */
int run_container(int *exit_out, const char *home, const char *image_root,
                  const struct imgconfig *ic, const struct run_opts *o);

#endif
