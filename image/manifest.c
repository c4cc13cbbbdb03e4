/*
 * manifest.c - parse and validate OCI / Docker manifests and indexes.
 *
 * The bytes are parsed with jansson (duplicate keys refused, so no two
 * parsers can disagree about a field) and never re-serialized: only derived
 * data (annotations, descriptor JSON) is ever written back out.
 *
 * Type resolution, in order:
 *   1. schema1 (schemaVersion 1, or a schema1 media type in the body or in
 *      content_type) -> BERR_UNSUPPORTED;
 *   2. schemaVersion must be the integer 2;
 *   3. body mediaType when present: must be a known manifest type spelled
 *      exactly, and equal content_type when that names a manifest type;
 *   4. else content_type when it names an OCI type (Docker types carry
 *      mediaType in the body, so its absence there is an error);
 *   5. else heuristics: a "manifests" array -> OCI index, a "config" -> OCI
 *      image manifest.
 * The body must then fit the kind: an image manifest has no "manifests", an
 * index no "config" or "layers" (the 2021 manifest/index confusion).
 */
#include "image/manifest.h"

#include "image/base/buf.h"
#include "image/base/err.h"
#include "image/base/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define WHERE_MAX 64

static int field_err(int code, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* berr_set for a field: "<where>: <msg>". */
static int field_err(int code, const char *where, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return berr_set(code, "%s: %s", where, msg);
}

/* RFC 6838 restricted-name character. */
static int is_rname_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("!#$&^_.+-", c) != NULL;
}

/* Length of an RFC 6838 restricted-name at s (1..127 chars, first alnum), 0 if none. */
static size_t rname_len(const char *s)
{
    size_t n = 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
          (s[0] >= '0' && s[0] <= '9')))
        return 0;
    while (s[n] && is_rname_char(s[n]))
        n++;
    return n <= 127 ? n : 0;
}

/* 1 when s is "type/subtype" optionally followed by ";parameters" of
 * printable ASCII. */
static int media_type_valid(const char *s)
{
    size_t n = rname_len(s);
    if (n == 0 || s[n] != '/')
        return 0;
    s += n + 1;
    n = rname_len(s);
    if (n == 0)
        return 0;
    s += n;
    if (*s == '\0')
        return 1;
    if (*s != ';' && *s != ' ')
        return 0;
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return 0;
    }
    return 1;
}

/* Optional string member: *out = copy or NULL. Non-string -> MANIFEST_INVALID. */
static int get_opt_string(char **out, json_t *obj, const char *key, const char *where)
{
    *out = NULL;
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_string(v))
        return field_err(BERR_MANIFEST_INVALID, where, "%s must be a string", key);
    *out = xstrndup(json_string_value(v), json_string_length(v));
    return 0;
}

/* Optional media-type member (artifactType): a string in media type grammar. */
static int get_opt_media_type(char **out, json_t *obj, const char *key, const char *where)
{
    int rc = get_opt_string(out, obj, key, where);
    if (rc < 0 || !*out)
        return rc;
    if (!media_type_valid(*out)) {
        free(*out);
        *out = NULL;
        return field_err(BERR_MANIFEST_INVALID, where, "%s is not a valid media type", key);
    }
    return 0;
}

/* Optional "annotations": an object of strings, kept as compact sorted JSON
 * text (NULL when absent or empty). */
static int get_annotations(char **out, json_t *obj, const char *where)
{
    *out = NULL;
    json_t *a = json_object_get(obj, "annotations");
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_object(a))
        return field_err(BERR_MANIFEST_INVALID, where, "annotations must be an object");
    const char *k;
    json_t *v;
    json_object_foreach(a, k, v)
    {
        if (!json_is_string(v))
            return field_err(BERR_MANIFEST_INVALID, where, "annotation '%.64s' must be a string",
                             k);
    }
    if (json_object_size(a) == 0)
        return 0;
    *out = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
    if (!*out)
        return berr_set(BERR_INTERNAL, "cannot serialize annotations");
    return 0;
}

static void platform_release(struct platform *p)
{
    free(p->os);
    free(p->architecture);
    free(p->variant);
    p->os = p->architecture = p->variant = NULL;
}

static int platform_parse(struct platform *out, json_t *j, const char *where)
{
    if (!json_is_object(j))
        return field_err(BERR_MANIFEST_INVALID, where, "platform must be an object");
    int rc = get_opt_string(&out->os, j, "os", where);
    if (rc == 0)
        rc = get_opt_string(&out->architecture, j, "architecture", where);
    if (rc == 0)
        rc = get_opt_string(&out->variant, j, "variant", where);
    return rc;
}

/* Parse one descriptor object into *out (zeroed by the caller). On failure
 * the fields filled so far are left for descriptor_release(). */
static int descriptor_parse(struct descriptor *out, json_t *j, const char *where, int in_index)
{
    int rc;
    if (!json_is_object(j))
        return field_err(BERR_MANIFEST_INVALID, where, "descriptor must be an object");

    json_t *mt = json_object_get(j, "mediaType");
    if (!json_is_string(mt))
        return field_err(BERR_MANIFEST_INVALID, where, "mediaType %s",
                         mt ? "must be a string" : "is missing");
    if (!media_type_valid(json_string_value(mt)))
        return field_err(BERR_MANIFEST_INVALID, where, "mediaType is not a valid media type");
    out->media_type = xstrdup(json_string_value(mt));

    json_t *dg = json_object_get(j, "digest");
    if (!json_is_string(dg))
        return field_err(BERR_MANIFEST_INVALID, where, "digest %s",
                         dg ? "must be a string" : "is missing");
    rc = digest_parse(&out->digest, json_string_value(dg), json_string_length(dg));
    if (rc < 0) {
        char why[200];
        snprintf(why, sizeof(why), "%s", berr_message());
        return field_err(rc, where, "%s", why);
    }

    json_t *sz = json_object_get(j, "size");
    if (!json_is_integer(sz) || json_integer_value(sz) < 0)
        return field_err(BERR_MANIFEST_INVALID, where, "size %s",
                         sz ? "must be a non-negative integer" : "is missing");
    out->size = (int64_t)json_integer_value(sz);

    json_t *urls = json_object_get(j, "urls");
    if (urls) {
        if (!json_is_array(urls))
            return field_err(BERR_MANIFEST_INVALID, where, "urls must be an array");
        size_t i;
        json_t *u;
        json_array_foreach(urls, i, u)
        {
            if (!json_is_string(u))
                return field_err(BERR_MANIFEST_INVALID, where, "urls must hold strings");
        }
    }
    json_t *data = json_object_get(j, "data");
    if (data && !json_is_string(data))
        return field_err(BERR_MANIFEST_INVALID, where, "data must be a string");

    rc = get_opt_media_type(&out->artifact_type, j, "artifactType", where);
    if (rc < 0)
        return rc;
    rc = get_annotations(&out->annotations, j, where);
    if (rc < 0)
        return rc;
    json_t *pf = json_object_get(j, "platform");
    if (in_index && pf)
        return platform_parse(&out->platform, pf, where);
    return 0;
}

/* Parse the array `key` of descriptors into *out / *n_out. */
static int descriptor_array_parse(struct descriptor **out, size_t *n_out, json_t *arr,
                                  const char *key, int in_index)
{
    size_t n = json_array_size(arr);
    *out = n ? xcalloc(n, sizeof(**out)) : NULL;
    *n_out = n;
    for (size_t i = 0; i < n; i++) {
        char where[WHERE_MAX];
        snprintf(where, sizeof(where), "%s[%zu]", key, i);
        int rc = descriptor_parse(&(*out)[i], json_array_get(arr, i), where, in_index);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int schema1_refused(void)
{
    return berr_set(BERR_UNSUPPORTED, "docker schema1 manifests are not supported; push with a "
                                      "current client (schema2 or OCI)");
}

/* Decide kind and effective media type (see the top comment). */
static int manifest_resolve_type(struct manifest *m, json_t *root, const char *content_type)
{
    enum mt_kind ct_kind = mediatype_kind(content_type);
    const char *ct_canon = mediatype_canonical(content_type);

    json_t *sv = json_object_get(root, "schemaVersion");
    if (json_is_integer(sv) && json_integer_value(sv) == 1)
        return schema1_refused();
    if (ct_kind == MT_KIND_SCHEMA1)
        return schema1_refused();

    json_t *jmt = json_object_get(root, "mediaType");
    if (jmt && !json_is_string(jmt))
        return berr_set(BERR_MANIFEST_INVALID, "mediaType must be a string");
    const char *body_mt = jmt ? json_string_value(jmt) : NULL;
    if (body_mt && mediatype_kind(body_mt) == MT_KIND_SCHEMA1)
        return schema1_refused();

    if (!json_is_integer(sv) || json_integer_value(sv) != 2)
        return berr_set(BERR_MANIFEST_INVALID, "schemaVersion %s", sv ? "must be 2" : "is missing");
    m->schema_version = 2;

    if (body_mt) {
        const char *canon = mediatype_canonical(body_mt);
        if (!canon || strcmp(canon, body_mt) != 0)
            return berr_set(BERR_UNSUPPORTED, "manifest media type '%.100s' is not supported",
                            body_mt);
        if (ct_canon && ct_canon != canon)
            return berr_set(BERR_MANIFEST_INVALID,
                            "mediaType '%.100s' does not match Content-Type '%.100s'", body_mt,
                            content_type);
        m->kind = mediatype_kind(canon);
        m->media_type = xstrdup(canon);
        return 0;
    }
    if (ct_canon) {
        if (strcmp(ct_canon, MT_DOCKER_MANIFEST) == 0 || strcmp(ct_canon, MT_DOCKER_LIST) == 0)
            return berr_set(BERR_MANIFEST_INVALID,
                            "mediaType is required in a docker manifest body");
        m->kind = ct_kind;
        m->media_type = xstrdup(ct_canon);
        return 0;
    }
    int has_manifests = json_is_array(json_object_get(root, "manifests"));
    int has_config = json_object_get(root, "config") != NULL;
    if (has_manifests && !has_config) {
        m->kind = MT_KIND_INDEX;
        m->media_type = xstrdup(MT_OCI_INDEX);
        return 0;
    }
    if (has_config && !json_object_get(root, "manifests")) {
        m->kind = MT_KIND_IMAGE;
        m->media_type = xstrdup(MT_OCI_MANIFEST);
        return 0;
    }
    return berr_set(BERR_MANIFEST_INVALID, "cannot tell the manifest type: no mediaType, no "
                                           "manifest Content-Type, and an ambiguous body");
}

static int manifest_parse_image(struct manifest *m, json_t *root)
{
    int rc;
    if (json_object_get(root, "manifests"))
        return berr_set(BERR_MANIFEST_INVALID, "an image manifest cannot have 'manifests'");
    json_t *cfg = json_object_get(root, "config");
    if (!cfg)
        return berr_set(BERR_MANIFEST_INVALID, "image manifest has no config");
    m->has_config = 1;
    rc = descriptor_parse(&m->config, cfg, "config", 0);
    if (rc < 0)
        return rc;
    json_t *layers = json_object_get(root, "layers");
    if (!json_is_array(layers))
        return berr_set(BERR_MANIFEST_INVALID, "image manifest layers %s",
                        layers ? "must be an array" : "are missing");
    return descriptor_array_parse(&m->layers, &m->n_layers, layers, "layers", 0);
}

static int manifest_parse_index(struct manifest *m, json_t *root)
{
    if (json_object_get(root, "config") || json_object_get(root, "layers"))
        return berr_set(BERR_MANIFEST_INVALID, "an index cannot have 'config' or 'layers'");
    json_t *list = json_object_get(root, "manifests");
    if (!json_is_array(list))
        return berr_set(BERR_MANIFEST_INVALID, "index manifests %s",
                        list ? "must be an array" : "are missing");
    return descriptor_array_parse(&m->manifests, &m->n_manifests, list, "manifests", 1);
}

int manifest_parse(struct manifest **out, const char *data, size_t len, const char *content_type)
{
    int rc;
    json_error_t jerr;
    struct manifest *m = xcalloc(1, sizeof(*m));
    *out = NULL;

    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        rc = berr_set(BERR_MANIFEST_INVALID, "manifest is not valid json: %s (line %d column %d)",
                      jerr.text, jerr.line, jerr.column);
        goto fail;
    }
    if (!json_is_object(root)) {
        rc = berr_set(BERR_MANIFEST_INVALID, "manifest must be a json object");
        goto fail;
    }
    rc = manifest_resolve_type(m, root, content_type);
    if (rc < 0)
        goto fail;
    rc = m->kind == MT_KIND_IMAGE ? manifest_parse_image(m, root) : manifest_parse_index(m, root);
    if (rc < 0)
        goto fail;

    json_t *subj = json_object_get(root, "subject");
    if (subj) {
        m->has_subject = 1;
        rc = descriptor_parse(&m->subject, subj, "subject", 0);
        if (rc < 0)
            goto fail;
    }
    rc = get_opt_media_type(&m->artifact_type, root, "artifactType", "manifest");
    if (rc < 0)
        goto fail;
    rc = get_annotations(&m->annotations, root, "manifest");
    if (rc < 0)
        goto fail;

    json_decref(root);
    *out = m;
    return 0;

fail:
    json_decref(root);
    manifest_free(m);
    return rc;
}

void descriptor_release(struct descriptor *d)
{
    if (!d)
        return;
    free(d->media_type);
    free(d->artifact_type);
    free(d->annotations);
    platform_release(&d->platform);
    memset(d, 0, sizeof(*d));
}

static char *strdup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void descriptor_copy(struct descriptor *out, const struct descriptor *src)
{
    memset(out, 0, sizeof(*out));
    out->media_type = strdup_or_null(src->media_type);
    digest_copy(&out->digest, &src->digest);
    out->size = src->size;
    out->artifact_type = strdup_or_null(src->artifact_type);
    out->annotations = strdup_or_null(src->annotations);
    out->platform.os = strdup_or_null(src->platform.os);
    out->platform.architecture = strdup_or_null(src->platform.architecture);
    out->platform.variant = strdup_or_null(src->platform.variant);
}

/* Append s as a JSON string literal. */
static int json_str_append(struct buf *out, const char *s)
{
    static const char hexdig[] = "0123456789abcdef";
    int rc = buf_append(out, "\"", 1);
    const char *run = s;
    for (; rc == 0 && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        rc = buf_append(out, run, (size_t)(s - run));
        if (rc == 0 && (c == '"' || c == '\\')) {
            char esc[2] = {'\\', (char)c};
            rc = buf_append(out, esc, 2);
        } else if (rc == 0) {
            char esc[6] = {'\\', 'u', '0', '0', hexdig[c >> 4], hexdig[c & 0xf]};
            rc = buf_append(out, esc, 6);
        }
        run = s + 1;
    }
    if (rc == 0)
        rc = buf_append(out, run, (size_t)(s - run));
    if (rc == 0)
        rc = buf_append(out, "\"", 1);
    return rc;
}

/* Append ,"key":"value" when value is set. */
static int json_member_append(struct buf *out, const char *key, const char *value)
{
    if (!value)
        return 0;
    int rc = buf_printf(out, ",\"%s\":", key);
    return rc < 0 ? rc : json_str_append(out, value);
}

int descriptor_write_json(struct buf *out, const struct descriptor *d)
{
    int rc = buf_puts(out, "{\"mediaType\":");
    if (rc == 0)
        rc = json_str_append(out, d->media_type ? d->media_type : "");
    if (rc == 0)
        rc = buf_printf(out, ",\"digest\":\"%s\",\"size\":%lld", d->digest.str, (long long)d->size);
    if (rc == 0)
        rc = json_member_append(out, "artifactType", d->artifact_type);
    if (rc == 0 && d->annotations)
        rc = buf_printf(out, ",\"annotations\":%s", d->annotations);
    const struct platform *p = &d->platform;
    if (rc == 0 && (p->os || p->architecture || p->variant)) {
        rc = buf_puts(out, ",\"platform\":{");
        int first = 1;
        const char *keys[] = {"architecture", "os", "variant"};
        const char *vals[] = {p->architecture, p->os, p->variant};
        for (size_t i = 0; rc == 0 && i < 3; i++) {
            if (!vals[i])
                continue;
            rc = buf_printf(out, "%s\"%s\":", first ? "" : ",", keys[i]);
            if (rc == 0)
                rc = json_str_append(out, vals[i]);
            first = 0;
        }
        if (rc == 0)
            rc = buf_puts(out, "}");
    }
    if (rc == 0)
        rc = buf_puts(out, "}");
    return rc;
}

void manifest_free(struct manifest *m)
{
    if (!m)
        return;
    free(m->media_type);
    descriptor_release(&m->config);
    for (size_t i = 0; i < m->n_layers; i++)
        descriptor_release(&m->layers[i]);
    free(m->layers);
    for (size_t i = 0; i < m->n_manifests; i++)
        descriptor_release(&m->manifests[i]);
    free(m->manifests);
    descriptor_release(&m->subject);
    free(m->artifact_type);
    free(m->annotations);
    free(m);
}

const char *manifest_effective_artifact_type(const struct manifest *m)
{
    if (m->artifact_type)
        return m->artifact_type;
    if (m->kind == MT_KIND_IMAGE && m->has_config)
        return m->config.media_type;
    return NULL;
}

static int str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* The variant an entry stands for: arm64 without a variant is "v8". */
static const char *variant_norm(const char *arch, const char *variant)
{
    if (!variant && str_eq(arch, "arm64"))
        return "v8";
    return variant;
}

int manifest_index_match(const struct manifest *index, const char *os, const char *arch,
                         const char *variant)
{
    if (!index || index->kind != MT_KIND_INDEX || !os || !arch)
        return -1;
    const char *want_var = variant ? variant_norm(arch, variant) : NULL;
    for (size_t i = 0; i < index->n_manifests; i++) {
        const struct descriptor *e = &index->manifests[i];
        const struct platform *p = &e->platform;
        if (!str_eq(p->os, os) || !str_eq(p->architecture, arch))
            continue;
        if (want_var && !str_eq(variant_norm(p->architecture, p->variant), want_var))
            continue;
        if (i > (size_t)0x7fffffff)
            return -1;
        return (int)i;
    }
    return -1;
}
