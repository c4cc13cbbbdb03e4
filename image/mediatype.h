/*
 * mediatype.h - the media types Berth understands.
 */
#ifndef BERTH_MEDIATYPE_H
#define BERTH_MEDIATYPE_H

#define MT_OCI_MANIFEST          "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX             "application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG            "application/vnd.oci.image.config.v1+json"
#define MT_OCI_EMPTY             "application/vnd.oci.empty.v1+json"
#define MT_OCI_LAYER_TAR         "application/vnd.oci.image.layer.v1.tar"
#define MT_OCI_LAYER_GZIP        "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_OCI_LAYER_ZSTD        "application/vnd.oci.image.layer.v1.tar+zstd"
#define MT_DOCKER_MANIFEST       "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST           "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_CONFIG         "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER_GZIP     "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define MT_DOCKER_SCHEMA1        "application/vnd.docker.distribution.manifest.v1+json"
#define MT_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

enum mt_kind {
    MT_KIND_UNKNOWN = 0,
    MT_KIND_IMAGE,   /* OCI image manifest or Docker schema2 manifest */
    MT_KIND_INDEX,   /* OCI index or Docker manifest list */
    MT_KIND_SCHEMA1, /* refused */
};

/* Classify a manifest media type (exact match, parameters, surrounding blanks
 * and ASCII case ignored). NULL -> MT_KIND_UNKNOWN. */
enum mt_kind mediatype_kind(const char *mt);
/* The canonical spelling of a known manifest media type (one of the MT_*
 * manifest constants above: parameters, blanks and case dropped), or NULL
 * when mt is not a manifest type. Static storage. */
const char *mediatype_canonical(const char *mt);
/* Layer compression: 0 none, 1 gzip, 2 zstd, -1 not a known layer type.
 * Knows the OCI layer types (also the deprecated non-distributable ones) and
 * the Docker rootfs types. */
int mediatype_layer_compression(const char *mt);

#endif
