/*
 * mediatype.c - classification of manifest and layer media types.
 *
 * Comparison ignores parameters (";charset=..."), surrounding blanks and
 * ASCII case (media types are case-insensitive, RFC 6838 section 4.2).
 */
#include "image/mediatype.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *mt;
    enum mt_kind kind;
} manifest_types[] = {
    {MT_OCI_MANIFEST, MT_KIND_IMAGE},     {MT_DOCKER_MANIFEST, MT_KIND_IMAGE},
    {MT_OCI_INDEX, MT_KIND_INDEX},        {MT_DOCKER_LIST, MT_KIND_INDEX},
    {MT_DOCKER_SCHEMA1, MT_KIND_SCHEMA1}, {MT_DOCKER_SCHEMA1_SIGNED, MT_KIND_SCHEMA1},
};

static const struct {
    const char *mt;
    int compression;
} layer_types[] = {
    {MT_OCI_LAYER_TAR, 0},
    {MT_OCI_LAYER_GZIP, 1},
    {MT_OCI_LAYER_ZSTD, 2},
    {MT_DOCKER_LAYER_GZIP, 1},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar", 0},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", 1},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", 2},
    {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", 1},
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* The type/subtype part of mt: *start and length, blanks and parameters cut. */
static size_t mt_essence(const char *mt, const char **start)
{
    while (*mt == ' ' || *mt == '\t')
        mt++;
    size_t n = strcspn(mt, ";");
    while (n > 0 && (mt[n - 1] == ' ' || mt[n - 1] == '\t'))
        n--;
    *start = mt;
    return n;
}

static int mt_is(const char *mt, const char *known)
{
    const char *p;
    size_t n = mt_essence(mt, &p);
    return n == strlen(known) && strncasecmp(p, known, n) == 0;
}

enum mt_kind mediatype_kind(const char *mt)
{
    if (!mt)
        return MT_KIND_UNKNOWN;
    for (size_t i = 0; i < N_OF(manifest_types); i++) {
        if (mt_is(mt, manifest_types[i].mt))
            return manifest_types[i].kind;
    }
    return MT_KIND_UNKNOWN;
}

const char *mediatype_canonical(const char *mt)
{
    if (!mt)
        return NULL;
    for (size_t i = 0; i < N_OF(manifest_types); i++) {
        if (mt_is(mt, manifest_types[i].mt))
            return manifest_types[i].mt;
    }
    return NULL;
}

int mediatype_layer_compression(const char *mt)
{
    if (!mt)
        return -1;
    for (size_t i = 0; i < N_OF(layer_types); i++) {
        if (mt_is(mt, layer_types[i].mt))
            return layer_types[i].compression;
    }
    return -1;
}
