/*
 * archive.c - import a `docker save` archive (see archive.h).
 *
 * One pass over the tar: every regular member is streamed into the layout as
 * a blob (hashing as it goes) and remembered by its cleaned member name;
 * manifest.json is also kept in memory. Then manifest.json says which member
 * is the config and which are the layers, in order. Layer media types come
 * from the content's first bytes (gzip, zstd or plain tar).
 */
#include "client/archive.h"

#include "client/decomp.h"
#include "client/tar.h"
#include "client/unpack.h"
#include "image/base/buf.h"
#include "image/base/err.h"
#include "image/base/xalloc.h"
#include "image/layout.h"
#include "image/manifest.h"
#include "image/mediatype.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARCHIVE_MANIFEST_MAX (4u << 20)

struct member {
    char *name;
    struct digest digest;
    int64_t size;
};

/* Pointers, not structs: a struct digest points into itself and must not
 * be moved by a realloc. */
struct members {
    struct member **v;
    size_t n;
};

static void members_release(struct members *ms)
{
    for (size_t i = 0; i < ms->n; i++) {
        free(ms->v[i]->name);
        free(ms->v[i]);
    }
    free(ms->v);
}

static const struct member *members_find(const struct members *ms, const char *raw)
{
    char *name = NULL;
    if (unpack_clean_path(&name, raw) < 0)
        return NULL;
    const struct member *found = NULL;
    for (size_t i = 0; i < ms->n && !found; i++)
        if (strcmp(ms->v[i]->name, name) == 0)
            found = ms->v[i];
    free(name);
    return found;
}

static ssize_t read_decomp(void *ctx, void *buf, size_t n)
{
    return decomp_read(ctx, buf, n);
}

/* Stream the current member into the layout. */
static int store_member(struct member *out, struct layout *l, struct tar_reader *t)
{
    struct layout_writer *w = NULL;
    char buf[65536];
    int rc = layout_writer_open(&w, l, NULL, -1);
    while (rc == 0) {
        ssize_t n = tar_read_data(t, buf, sizeof(buf));
        if (n < 0)
            rc = (int)n;
        if (n <= 0)
            break;
        rc = layout_writer_write(w, buf, (size_t)n);
        out->size += n;
    }
    if (rc == 0)
        rc = layout_writer_commit(&out->digest, w);
    layout_writer_free(w);
    return rc;
}

static const char *layer_type(struct layout *l, const struct digest *d)
{
    int fd = -1;
    unsigned char m[4] = {0, 0, 0, 0};
    if (layout_blob_open(&fd, NULL, l, d) < 0)
        return MT_OCI_LAYER_TAR;
    ssize_t n = read(fd, m, sizeof(m));
    close(fd);
    if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b)
        return MT_OCI_LAYER_GZIP;
    if (n >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
        return MT_OCI_LAYER_ZSTD;
    return MT_OCI_LAYER_TAR;
}

/* Append the descriptor of member m with media type mt to out. */
static void desc_append(struct buf *out, const char *mt, const struct member *m)
{
    struct descriptor d;
    memset(&d, 0, sizeof(d));
    d.media_type = xstrdup(mt);
    digest_copy(&d.digest, &m->digest);
    d.size = m->size;
    descriptor_write_json(out, &d);
    descriptor_release(&d);
}

int archive_import(struct descriptor *out, char **repotag_out, struct layout *l, const char *path)
{
    struct members ms = {NULL, 0};
    struct buf manifest_json;
    struct buf om = BUF_INIT;
    struct decomp *dc = NULL;
    struct tar_reader *t = NULL;
    json_t *root = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = 0;
    buf_init(&manifest_json, ARCHIVE_MANIFEST_MAX);
    memset(out, 0, sizeof(*out));
    *repotag_out = NULL;
    if (fd < 0)
        return berr_set(BERR_IO, "cannot open '%s': %s", path, strerror(errno));
    rc = decomp_open(&dc, fd);
    if (rc < 0)
        goto cleanup;
    t = tar_reader_new(read_decomp, dc);
    for (;;) {
        struct tar_entry e;
        rc = tar_next(t, &e);
        if (rc <= 0)
            break;
        char *name = NULL;
        if (e.type == TAR_FILE && unpack_clean_path(&name, e.path) == 0) {
            if (strcmp(name, "manifest.json") == 0) {
                char buf[65536];
                for (;;) {
                    ssize_t n = tar_read_data(t, buf, sizeof(buf));
                    if (n <= 0) {
                        rc = n < 0 ? (int)n : 1;
                        break;
                    }
                    rc = buf_append(&manifest_json, buf, (size_t)n);
                    if (rc < 0)
                        break;
                }
                free(name);
            } else {
                ms.v = xrealloc(ms.v, (ms.n + 1) * sizeof(*ms.v));
                struct member *m = xcalloc(1, sizeof(*m));
                m->name = name;
                ms.v[ms.n++] = m;
                rc = store_member(m, l, t);
            }
        } else {
            free(name);
        }
        tar_entry_release(&e);
        if (rc < 0)
            break;
    }
    if (rc < 0)
        goto cleanup;
    if (manifest_json.len == 0) {
        rc = berr_set(BERR_INVALID, "'%s' is not a docker save archive (no manifest.json)", path);
        goto cleanup;
    }
    json_error_t jerr;
    root = json_loadb(manifest_json.data, manifest_json.len, 0, &jerr);
    json_t *img = json_array_get(root, 0);
    const char *config = json_string_value(json_object_get(img, "Config"));
    json_t *layers = json_object_get(img, "Layers");
    const struct member *cm = config ? members_find(&ms, config) : NULL;
    if (!cm || !json_is_array(layers)) {
        rc = berr_set(BERR_INVALID, "'%s': manifest.json lacks Config or Layers", path);
        goto cleanup;
    }
    const char *tag = json_string_value(json_array_get(json_object_get(img, "RepoTags"), 0));
    if (tag)
        *repotag_out = xstrdup(tag);

    buf_printf(&om, "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":", MT_OCI_MANIFEST);
    desc_append(&om, MT_OCI_CONFIG, cm);
    buf_puts(&om, ",\"layers\":[");
    size_t i;
    json_t *lj;
    json_array_foreach(layers, i, lj)
    {
        const struct member *lm =
            members_find(&ms, json_string_value(lj) ? json_string_value(lj) : "");
        if (!lm) {
            rc = berr_set(BERR_INVALID, "'%s': layer %zu is not in the archive", path, i);
            goto cleanup;
        }
        if (i > 0)
            buf_puts(&om, ",");
        desc_append(&om, layer_type(l, &lm->digest), lm);
    }
    buf_puts(&om, "]}");
    rc = layout_blob_write(&out->digest, l, NULL, om.data, om.len);
    if (rc < 0)
        goto cleanup;
    out->media_type = xstrdup(MT_OCI_MANIFEST);
    out->size = (int64_t)om.len;
cleanup:
    if (rc < 0) {
        free(*repotag_out);
        *repotag_out = NULL;
    }
    json_decref(root);
    tar_reader_free(t);
    decomp_free(dc);
    close(fd);
    members_release(&ms);
    buf_release(&manifest_json);
    buf_release(&om);
    return rc;
}
