/*
 * store.c - the local content store (see store.h).
 *
 * Blobs and tags are the OCI layout's business (image/layout.c); this file
 * adds what only the client needs around it. Names of files under sources/
 * and uploads/ are digests of the host or of (host, repo, digest), never the
 * names themselves, so no registry-supplied string becomes a path.
 */
#include "client/store.h"

#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"
#include "image/layout.h"

#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_MANIFEST_MAX (4u << 20)

static int mkdir_p(const char *path, mode_t mode)
{
    char *p = xstrdup(path);
    int rc = 0;
    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c != '\0')
            continue;
        char saved = *c;
        *c = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST) {
            rc = berr_set(BERR_IO, "cannot create '%s': %s", p, strerror(errno));
            break;
        }
        *c = saved;
        if (saved == '\0')
            break;
    }
    free(p);
    return rc;
}

int store_open(struct store **out, const char *home)
{
    struct store *s = xcalloc(1, sizeof(*s));
    s->home = xstrdup(home);
    s->lock_fd = -1;
    static const char *subs[] = {"sources", "uploads", "rootfs", "containers"};
    int rc = mkdir_p(home, 0700);
    for (size_t i = 0; rc == 0 && i < sizeof(subs) / sizeof(subs[0]); i++) {
        char *p = store_path(s, subs[i]);
        rc = mkdir_p(p, 0700);
        free(p);
    }
    if (rc == 0) {
        char *p = store_path(s, "store");
        rc = layout_create(&s->layout, p);
        free(p);
    }
    if (rc < 0) {
        store_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void store_free(struct store *s)
{
    if (!s)
        return;
    layout_free(s->layout);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    free(s->home);
    free(s);
}

char *store_path(const struct store *s, const char *sub)
{
    return xasprintf("%s/%s", s->home, sub);
}

/* flock the store's lock file with op (LOCK_SH/LOCK_EX, maybe LOCK_NB). */
static int lock_op(struct store *s, int op)
{
    if (s->lock_fd < 0) {
        char *p = store_path(s, "lock");
        s->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        free(p);
        if (s->lock_fd < 0)
            return berr_set(BERR_IO, "cannot open the store lock: %s", strerror(errno));
    }
    while (flock(s->lock_fd, op) < 0) {
        if (errno == EWOULDBLOCK && (op & LOCK_NB))
            return berr_set(BERR_BUSY, "the store is in use by another berth process");
        if (errno != EINTR)
            return berr_set(BERR_IO, "cannot lock the store: %s", strerror(errno));
    }
    return 0;
}

int store_lock(struct store *s, int exclusive)
{
    return lock_op(s, exclusive ? LOCK_EX : LOCK_SH);
}

int store_trylock(struct store *s, int exclusive)
{
    return lock_op(s, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB);
}

void store_unlock(struct store *s)
{
    if (s->lock_fd >= 0)
        flock(s->lock_fd, LOCK_UN);
}

/* The layout tag that stands for a full reference. image/layout.c accepts
 * only tag-grammar names as ref.name, and "host:port/repo:tag" is not one,
 * so the tag is derived from the reference's digest and the reference
 * itself travels in the STORE_NAME_ANNOTATION annotation. */
static void store_key(char *out, size_t size, const char *name)
{
    struct digest d;
    digest_of(&d, DIGEST_SHA256, name, strlen(name));
    snprintf(out, size, "berth-%.40s", d.hex);
}

int store_resolve(struct descriptor *out, struct store *s, const char *name)
{
    char key[64];
    store_key(key, sizeof(key), name);
    int rc = layout_resolve(out, s->layout, key);
    if (rc == BERR_MANIFEST_UNKNOWN)
        berr_set(rc, "no local image '%s' (berth pull %s)", name, name);
    return rc;
}

int store_tag(struct store *s, const char *name, const struct descriptor *desc)
{
    char key[64];
    struct descriptor copy;
    json_t *ann = NULL;
    store_key(key, sizeof(key), name);
    descriptor_copy(&copy, desc);
    if (copy.annotations)
        ann = json_loads(copy.annotations, 0, NULL);
    if (!json_is_object(ann)) {
        json_decref(ann);
        ann = json_object();
    }
    json_object_set_new(ann, STORE_NAME_ANNOTATION, json_string(name));
    json_object_del(ann, LAYOUT_REF_NAME);
    free(copy.annotations);
    copy.annotations = json_dumps(ann, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(ann);
    int rc = layout_tag_set(s->layout, key, &copy);
    descriptor_release(&copy);
    return rc;
}

int store_untag(struct store *s, const char *name)
{
    char key[64];
    store_key(key, sizeof(key), name);
    int rc = layout_tag_remove(s->layout, key);
    if (rc == BERR_MANIFEST_UNKNOWN)
        berr_set(rc, "no local image '%s'", name);
    return rc;
}

char *store_entry_name(const struct layout_entry *e)
{
    json_t *ann = e->desc.annotations ? json_loads(e->desc.annotations, 0, NULL) : NULL;
    const char *v = json_string_value(json_object_get(ann, STORE_NAME_ANNOTATION));
    char *r = v ? xstrdup(v) : e->tag ? xstrdup(e->tag) : NULL;
    json_decref(ann);
    return r;
}

int store_manifest(struct manifest **out, char **bytes_out, size_t *len_out, struct store *s,
                   const struct descriptor *desc)
{
    char *data = NULL;
    size_t len = 0;
    int rc = layout_blob_read(&data, &len, s->layout, &desc->digest, STORE_MANIFEST_MAX);
    if (rc < 0)
        return rc;
    rc = manifest_parse(out, data, len, desc->media_type);
    if (rc == 0 && bytes_out) {
        *bytes_out = data;
        if (len_out)
            *len_out = len;
        data = NULL;
    }
    free(data);
    return rc;
}

static char *sources_file(struct store *s, const char *host)
{
    struct digest d;
    digest_of(&d, DIGEST_SHA256, host, strlen(host));
    return xasprintf("%s/sources/%.32s", s->home, d.hex);
}

void store_note_source(struct store *s, const char *host, const char *repo, const struct digest *dg)
{
    char *path = sources_file(s, host);
    char *line = xasprintf("%s %s\n", dg->str, repo);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
        /* one write with O_APPEND: lines of concurrent writers never mix */
        if (write(fd, line, strlen(line)) < 0)
            log_debug("cannot note blob source: %s", strerror(errno));
        close(fd);
    }
    free(line);
    free(path);
}

char *store_find_source(struct store *s, const char *host, const char *not_repo,
                        const struct digest *dg)
{
    char *path = sources_file(s, host);
    FILE *f = fopen(path, "re");
    free(path);
    if (!f)
        return NULL;
    char line[1024];
    char *found = NULL;
    size_t dlen = strlen(dg->str);
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, dg->str, dlen) != 0 || line[dlen] != ' ')
            continue;
        const char *repo = line + dlen + 1;
        if (strcmp(repo, not_repo) == 0)
            continue;
        free(found);
        found = xstrdup(repo); /* the most recent wins */
    }
    fclose(f);
    return found;
}

char *store_upload_state_path(struct store *s, const char *host, const char *repo,
                              const struct digest *dg)
{
    char *key = xasprintf("%s/%s@%s", host, repo, dg->str);
    struct digest d;
    digest_of(&d, DIGEST_SHA256, key, strlen(key));
    free(key);
    return xasprintf("%s/uploads/%.32s", s->home, d.hex);
}
