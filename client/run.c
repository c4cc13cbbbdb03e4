/*
 * run.c - bundles and the OCI runtime (see run.h).
 *
 * The image's root filesystem is a shared cache and is never written: each
 * container gets an overlay (lower = cache, upper/work in its bundle)
 * mounted in a private mount namespace that berth enters first, so the mount
 * disappears with berth even if it is killed. Where overlayfs is not
 * available the container runs on the cache itself with a read-only root.
 *
 * The runtime runs in the foreground (`runc run`); berth ignores SIGINT and
 * SIGQUIT meanwhile (runc forwards them to the container) and passes SIGTERM
 * and SIGHUP on to runc. The one static below is the runtime's pid, for that
 * forwarding.
 */
#include "client/run.h"

#include "image/imgconfig.h"
#include "image/base/strlist.h"
#include "client/unpack.h"
#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUN_DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define RUN_NOFILE_SOFT  1024

extern char **environ;

/* ---- users ---------------------------------------------------------------------------- */

/* Open rootfs/<rel> with every symlink resolved inside rootfs. */
static FILE *open_in_root(const char *rootfs, const char *rel)
{
    int dfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return NULL;
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = O_RDONLY | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    long fd = syscall(SYS_openat2, dfd, rel, &how, sizeof(how));
    close(dfd);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen((int)fd, "r");
    if (!f)
        close((int)fd);
    return f;
}

static int parse_id(const char *s, long *out)
{
    char *end;
    if (!*s)
        return 0;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0 || v > 0x7fffffff)
        return 0;
    *out = v;
    return 1;
}

/* Find `key` (a name, or an id when by_id) in a passwd/group style file.
 * Fills the 3rd field (id) and, for passwd, the 4th (primary gid). */
static int lookup_db(const char *rootfs, const char *file, const char *key, int by_id, long *id_out,
                     long *gid_out)
{
    FILE *f = open_in_root(rootfs, file);
    if (!f)
        return 0;
    char line[1024];
    int found = 0;
    while (!found && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        char *fields[4] = {NULL, NULL, NULL, NULL};
        char *p = line;
        for (int i = 0; i < 4 && p; i++) {
            fields[i] = p;
            p = strchr(p, ':');
            if (p)
                *p++ = '\0';
        }
        long id, gid = 0;
        if (!fields[2] || !parse_id(fields[2], &id))
            continue;
        if (fields[3])
            parse_id(fields[3], &gid);
        if (by_id ? strcmp(fields[2], key) == 0 : strcmp(fields[0], key) == 0) {
            *id_out = id;
            if (gid_out)
                *gid_out = gid;
            found = 1;
        }
    }
    fclose(f);
    return found;
}

/* "user[:group]" -> uid/gid, names resolved in the image. */
static int resolve_user(long *uid, long *gid, const char *spec, const char *rootfs)
{
    char *u = xstrdup(spec && *spec ? spec : "0");
    char *g = strchr(u, ':');
    int rc = 0;
    if (g)
        *g++ = '\0';
    long pgid = 0;
    if (parse_id(u, uid)) {
        lookup_db(rootfs, "/etc/passwd", u, 1, uid, &pgid);
    } else if (!lookup_db(rootfs, "/etc/passwd", u, 0, uid, &pgid)) {
        rc = berr_set(BERR_INVALID, "unknown user '%s' in the image", u);
        goto cleanup;
    }
    *gid = pgid;
    if (g && *g && !parse_id(g, gid) && !lookup_db(rootfs, "/etc/group", g, 0, gid, NULL))
        rc = berr_set(BERR_INVALID, "unknown group '%s' in the image", g);
cleanup:
    free(u);
    return rc;
}

/* ---- config.json ------------------------------------------------------------------------ */

static json_t *json_strlist(char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* Set K=V in env (replacing an existing K). */
static void env_set(char ***env, const char *kv)
{
    size_t klen = strcspn(kv, "=");
    for (size_t i = 0; *env && (*env)[i]; i++) {
        if (strncmp((*env)[i], kv, klen) == 0 && (*env)[i][klen] == '=') {
            free((*env)[i]);
            (*env)[i] = xstrdup(kv);
            return;
        }
    }
    strlist_push(env, kv);
}

static json_t *mount_entry(const char *dest, const char *type, const char *source, const char *opts)
{
    json_t *m = json_pack("{s:s, s:s, s:s}", "destination", dest, "type", type, "source", source);
    json_t *o = json_array();
    char *copy = xstrdup(opts);
    for (char *p = copy; *p;) {
        size_t n = strcspn(p, ",");
        char saved = p[n];
        p[n] = '\0';
        json_array_append_new(o, json_string(p));
        p += n + (saved ? 1 : 0);
        if (!saved)
            break;
    }
    free(copy);
    json_object_set_new(m, "options", o);
    return m;
}

static const char *const run_caps[] = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",    "CAP_AUDIT_WRITE",
};

static const char *const run_masked[] = {
    "/proc/acpi",          "/proc/asound",     "/proc/kcore",       "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi",          "/sys/firmware",
};

static const char *const run_readonly[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

int run_spec_build(char **out, const struct imgconfig *ic, const struct run_opts *o,
                   const char *rootfs, const char *id)
{
    char **args = NULL;
    char **env = NULL;
    json_t *root = NULL;
    long uid = 0, gid = 0;
    int rc = 0;

    /* args: entrypoint (image or --entrypoint) + (command line or image Cmd) */
    if (o->entrypoint) {
        if (*o->entrypoint)
            strlist_push(&args, o->entrypoint);
    } else {
        for (size_t i = 0; ic->entrypoint && ic->entrypoint[i]; i++)
            strlist_push(&args, ic->entrypoint[i]);
    }
    char *const *cmd = o->cmd && o->cmd[0] ? o->cmd : (o->entrypoint ? NULL : ic->cmd);
    for (size_t i = 0; cmd && cmd[i]; i++)
        strlist_push(&args, cmd[i]);
    if (strlist_len(args) == 0) {
        rc = berr_set(BERR_INVALID, "no command: the image has no Entrypoint or Cmd; give one");
        goto cleanup;
    }

    /* env: PATH default < image < -e */
    strlist_push(&env, RUN_DEFAULT_PATH);
    for (size_t i = 0; ic->env && ic->env[i]; i++)
        if (strchr(ic->env[i], '='))
            env_set(&env, ic->env[i]);
    char *hostname = xasprintf("HOSTNAME=%s", o->hostname ? o->hostname : id);
    env_set(&env, hostname);
    free(hostname);
    if (o->tty)
        env_set(&env, "TERM=xterm");
    for (size_t i = 0; o->env && o->env[i]; i++) {
        if (strchr(o->env[i], '=')) {
            env_set(&env, o->env[i]);
        } else {
            const char *v = getenv(o->env[i]);
            if (v) {
                char *kv = xasprintf("%s=%s", o->env[i], v);
                env_set(&env, kv);
                free(kv);
            }
        }
    }

    rc = resolve_user(&uid, &gid, o->user ? o->user : ic->user, rootfs);
    if (rc < 0)
        goto cleanup;

    const char *cwd = o->workdir ? o->workdir : ic->working_dir;
    if (!cwd || !*cwd)
        cwd = "/";
    if (cwd[0] != '/') {
        rc = berr_set(BERR_INVALID, "working directory '%s' is not absolute", cwd);
        goto cleanup;
    }

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        rl.rlim_max = RUN_NOFILE_SOFT;
        rl.rlim_cur = RUN_NOFILE_SOFT;
    }
    json_int_t hard = rl.rlim_max == RLIM_INFINITY ? 1048576 : (json_int_t)rl.rlim_max;
    json_int_t soft = hard < RUN_NOFILE_SOFT ? hard : RUN_NOFILE_SOFT;

    json_t *caps = json_array();
    for (size_t i = 0; i < sizeof(run_caps) / sizeof(run_caps[0]); i++)
        json_array_append_new(caps, json_string(run_caps[i]));
    json_t *process =
        json_pack("{s:b, s:{s:I, s:I}, s:o, s:o, s:s, s:{s:O, s:O, s:O}, s:[{s:s, s:I, s:I}], s:b}",
                  "terminal", o->tty, "user", "uid", (json_int_t)uid, "gid", (json_int_t)gid,
                  "args", json_strlist(args), "env", json_strlist(env), "cwd", cwd, "capabilities",
                  "bounding", caps, "effective", caps, "permitted", caps, "rlimits", "type",
                  "RLIMIT_NOFILE", "hard", hard, "soft", soft, "noNewPrivileges", 1);
    json_decref(caps);

    json_t *mounts = json_array();
    json_array_append_new(mounts, mount_entry("/proc", "proc", "proc", "nosuid,noexec,nodev"));
    json_array_append_new(
        mounts, mount_entry("/dev", "tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k"));
    json_array_append_new(mounts,
                          mount_entry("/dev/pts", "devpts", "devpts",
                                      "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5"));
    json_array_append_new(mounts, mount_entry("/dev/shm", "tmpfs", "shm",
                                              "nosuid,noexec,nodev,mode=1777,size=65536k"));
    json_array_append_new(mounts,
                          mount_entry("/dev/mqueue", "mqueue", "mqueue", "nosuid,noexec,nodev"));
    json_array_append_new(mounts, mount_entry("/sys", "sysfs", "sysfs", "nosuid,noexec,nodev,ro"));
    json_array_append_new(mounts, mount_entry("/sys/fs/cgroup", "cgroup", "cgroup",
                                              "nosuid,noexec,nodev,relatime,ro"));

    json_t *masked = json_array();
    for (size_t i = 0; i < sizeof(run_masked) / sizeof(run_masked[0]); i++)
        json_array_append_new(masked, json_string(run_masked[i]));
    json_t *ro = json_array();
    for (size_t i = 0; i < sizeof(run_readonly) / sizeof(run_readonly[0]); i++)
        json_array_append_new(ro, json_string(run_readonly[i]));

    root = json_pack("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:{s:{s:[{s:b, s:s}]}, s:[{s:s}, "
                     "{s:s}, {s:s}, {s:s}, {s:s}], s:o, s:o}}",
                     "ociVersion", "1.0.2", "process", process, "root", "path", rootfs, "readonly",
                     o->read_only, "hostname", o->hostname ? o->hostname : id, "mounts", mounts,
                     "linux", "resources", "devices", "allow", 0, "access", "rwm", "namespaces",
                     "type", "pid", "type", "network", "type", "ipc", "type", "uts", "type",
                     "mount", "maskedPaths", masked, "readonlyPaths", ro);
    if (!root) {
        rc = berr_set(BERR_INTERNAL, "cannot build config.json");
        goto cleanup;
    }
    *out = json_dumps(root, JSON_INDENT(2));
cleanup:
    json_decref(root);
    strlist_free(args);
    strlist_free(env);
    return rc;
}

/* ---- running ------------------------------------------------------------------------------ */

static volatile sig_atomic_t run_child_pid;

static void forward_signal(int sig)
{
    if (run_child_pid > 0)
        kill((pid_t)run_child_pid, sig);
}

static char *new_id(void)
{
    unsigned char r[6];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        unsigned long v = (unsigned long)getpid() ^ (unsigned long)time(NULL);
        memcpy(r, &v, sizeof(r));
    }
    return xasprintf("%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5]);
}

static int write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return berr_set(BERR_IO, "cannot write '%s': %s", path, strerror(errno));
    size_t n = strlen(text);
    int ok = write(fd, text, n) == (ssize_t)n;
    close(fd);
    return ok ? 0 : berr_set(BERR_IO, "cannot write '%s'", path);
}

/* Enter a private mount namespace and mount the overlay at merged. */
static int mount_overlay(const char *lower, const char *upper, const char *work, const char *merged)
{
    if (unshare(CLONE_NEWNS) < 0)
        return berr_set(BERR_IO, "cannot create a mount namespace: %s", strerror(errno));
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return berr_set(BERR_IO, "cannot make mounts private: %s", strerror(errno));
    char *opts = xasprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
    int rc = 0;
    if (mount("overlay", merged, "overlay", 0, opts) < 0)
        rc = berr_set(BERR_IO, "cannot mount overlay: %s", strerror(errno));
    free(opts);
    return rc;
}

static int spawn_runtime(int *exit_out, const char *runtime, const char *state, const char *bundle,
                         const char *id)
{
    struct sigaction ign, fwd, old_int, old_quit, old_term, old_hup;
    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    memset(&fwd, 0, sizeof(fwd));
    fwd.sa_handler = forward_signal;
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    sigaction(SIGTERM, &fwd, &old_term);
    sigaction(SIGHUP, &fwd, &old_hup);
    fflush(NULL);
    int rc = 0;
    pid_t pid = fork();
    if (pid < 0) {
        rc = berr_set(BERR_IO, "fork: %s", strerror(errno));
        goto cleanup;
    }
    if (pid == 0) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGQUIT, &old_quit, NULL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        execlp(runtime, runtime, "--root", state, "run", "--bundle", bundle, id, (char *)NULL);
        fprintf(stderr, "berth: cannot run '%s': %s\n", runtime, strerror(errno));
        _exit(127);
    }
    run_child_pid = pid;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            rc = berr_set(BERR_IO, "waitpid: %s", strerror(errno));
            goto cleanup;
        }
    }
    if (WIFEXITED(status))
        *exit_out = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        *exit_out = 128 + WTERMSIG(status);
cleanup:
    run_child_pid = 0;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    return rc;
}

int run_container(int *exit_out, const char *home, const char *image_root,
                  const struct imgconfig *ic, const struct run_opts *o)
{
    char *id = new_id();
    char *bundle = xasprintf("%s/containers/%s", home, id);
    char *merged = xasprintf("%s/rootfs", bundle);
    char *upper = xasprintf("%s/upper", bundle);
    char *work = xasprintf("%s/work", bundle);
    char *cfg_path = xasprintf("%s/config.json", bundle);
    char *state = xasprintf("%s/runtime", home);
    char *spec = NULL;
    int mounted = 0;
    int rc = 0;
    struct run_opts eff = *o;

    *exit_out = 125;
    if (geteuid() != 0) {
        rc = berr_set(BERR_DENIED, "berth run needs root (overlay mounts and the runtime)");
        goto cleanup;
    }
    if (mkdir(bundle, 0700) < 0 || mkdir(merged, 0755) < 0 || mkdir(upper, 0755) < 0 ||
        mkdir(work, 0700) < 0 || (mkdir(state, 0700) < 0 && errno != EEXIST)) {
        rc = berr_set(BERR_IO, "cannot create bundle '%s': %s", bundle, strerror(errno));
        goto cleanup;
    }
    const char *root_path = merged;
    rc = mount_overlay(image_root, upper, work, merged);
    if (rc == 0) {
        mounted = 1;
    } else {
        log_warn("%s; running on a read-only root filesystem", berr_message());
        root_path = image_root;
        eff.read_only = 1;
        rc = 0;
    }
    rc = run_spec_build(&spec, ic, &eff, root_path, id);
    if (rc == 0)
        rc = write_text(cfg_path, spec);
    if (rc < 0)
        goto cleanup;
    log_debug("bundle %s", bundle);
    rc = spawn_runtime(exit_out, o->runtime ? o->runtime : "runc", state, bundle, id);
cleanup:
    if (mounted && umount2(merged, MNT_DETACH) < 0)
        log_warn("cannot unmount '%s': %s", merged, strerror(errno));
    if (o->rm || rc < 0)
        unpack_remove_tree(bundle);
    free(spec);
    free(id);
    free(bundle);
    free(merged);
    free(upper);
    free(work);
    free(cfg_path);
    free(state);
    return rc;
}
