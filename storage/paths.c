/*
 * paths.c - the one place that turns digests and upload ids into storage keys.
 *
 * Invariants: every key produced here lies under blobs/, uploads/ or trash/
 * and consists only of [a-z0-9./-] built from validated parts; the caller's
 * input is re-validated (never trusted because it came from digest_parse),
 * so no argument can produce "..", an absolute key or a key in another tree.
 * The digest is read from its `str` field only: `hex` is a pointer into a
 * possibly copied struct and is not trusted.
 */
#include "storage/paths.h"

#include <stdio.h>
#include <string.h>

#include "image/base/err.h"

struct alg_info {
    enum digest_alg alg;
    const char *name;
    size_t name_len;
    size_t hex_len;
};

static const struct alg_info algs[] = {
    {DIGEST_SHA256, "sha256", 6, 64},
    {DIGEST_SHA512, "sha512", 6, 128},
};

static int is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static int all_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_lower_hex(s[i]))
            return 0;
    return 1;
}

/* Validate d->str against d->alg; on success *info_out and *hex_out are set. */
static int digest_check(const struct digest *d, const struct alg_info **info_out,
                        const char **hex_out)
{
    const struct alg_info *info = NULL;
    if (d == NULL)
        return berr_set(BERR_DIGEST_INVALID, "digest missing");
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
        if (algs[i].alg == d->alg)
            info = &algs[i];
    if (info == NULL)
        return berr_set(BERR_DIGEST_INVALID, "digest algorithm %d unknown", (int)d->alg);
    size_t len = strnlen(d->str, sizeof(d->str));
    if (len != info->name_len + 1 + info->hex_len ||
        memcmp(d->str, info->name, info->name_len) != 0 || d->str[info->name_len] != ':' ||
        !all_lower_hex(d->str + info->name_len + 1, info->hex_len))
        return berr_set(BERR_DIGEST_INVALID, "digest \"%.*s\" invalid", (int)len, d->str);
    *info_out = info;
    *hex_out = d->str + info->name_len + 1;
    return 0;
}

/* snprintf into a key buffer; a truncated key is a bug (sizes are fixed). */
static int key_format(char out[PATHS_KEY_MAX], int n)
{
    if (n < 0 || n >= PATHS_KEY_MAX) {
        out[0] = '\0';
        return berr_set(BERR_INTERNAL, "storage key too long");
    }
    return 0;
}

int paths_blob(char out[PATHS_KEY_MAX], const struct digest *d)
{
    const struct alg_info *info;
    const char *hex;
    int rc = digest_check(d, &info, &hex);
    if (rc < 0) {
        out[0] = '\0';
        return rc;
    }
    int n = snprintf(out, PATHS_KEY_MAX, "blobs/%s/%.2s/%.*s", info->name, hex, (int)info->hex_len,
                     hex);
    return key_format(out, n);
}

int paths_upload_id_valid(const char *id, size_t len)
{
    if (id == NULL || len != UPLOAD_ID_LEN)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (id[i] != '-')
                return 0;
        } else if (!is_lower_hex(id[i])) {
            return 0;
        }
    }
    return 1;
}

int paths_upload(char out[PATHS_KEY_MAX], const char *id)
{
    if (id == NULL || !paths_upload_id_valid(id, strnlen(id, UPLOAD_ID_LEN + 1))) {
        out[0] = '\0';
        return berr_set(BERR_UPLOAD_UNKNOWN, "upload id invalid");
    }
    int n = snprintf(out, PATHS_KEY_MAX, "uploads/%s", id);
    return key_format(out, n);
}

int paths_upload_sealed(char out[PATHS_KEY_MAX], const char *id)
{
    if (id == NULL || !paths_upload_id_valid(id, strnlen(id, UPLOAD_ID_LEN + 1))) {
        out[0] = '\0';
        return berr_set(BERR_UPLOAD_UNKNOWN, "upload id invalid");
    }
    int n = snprintf(out, PATHS_KEY_MAX, "uploads/%s.sealed", id);
    return key_format(out, n);
}

int paths_parse_upload(char id_out[UPLOAD_ID_LEN + 1], const char *key)
{
    static const char prefix[] = "uploads/";
    static const char sealed[] = ".sealed";
    size_t plen = sizeof(prefix) - 1;
    id_out[0] = '\0';
    if (key == NULL || strncmp(key, prefix, plen) != 0)
        goto invalid;
    const char *id = key + plen;
    size_t len = strlen(id);
    if (len == UPLOAD_ID_LEN + sizeof(sealed) - 1 &&
        memcmp(id + UPLOAD_ID_LEN, sealed, sizeof(sealed) - 1) == 0)
        len = UPLOAD_ID_LEN;
    if (len != UPLOAD_ID_LEN || !paths_upload_id_valid(id, len))
        goto invalid;
    memcpy(id_out, id, UPLOAD_ID_LEN);
    id_out[UPLOAD_ID_LEN] = '\0';
    return 0;
invalid:
    return berr_set(BERR_INVALID, "not an upload key");
}

int paths_trash(char out[PATHS_KEY_MAX], const struct digest *d, unsigned long long nonce)
{
    const struct alg_info *info;
    const char *hex;
    int rc = digest_check(d, &info, &hex);
    if (rc < 0) {
        out[0] = '\0';
        return rc;
    }
    int n = snprintf(out, PATHS_KEY_MAX, "trash/%s/%.*s.%llu", info->name, (int)info->hex_len, hex,
                     nonce);
    return key_format(out, n);
}

int paths_parse_blob(struct digest *out, const char *key)
{
    static const char prefix[] = "blobs/";
    size_t plen = sizeof(prefix) - 1;
    if (key == NULL || strncmp(key, prefix, plen) != 0)
        goto invalid;
    const char *p = key + plen;
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        const struct alg_info *info = &algs[i];
        if (strncmp(p, info->name, info->name_len) != 0 || p[info->name_len] != '/')
            continue;
        const char *fan = p + info->name_len + 1;
        const char *hex = fan + 3;
        if (strnlen(fan, 3) < 3 || fan[2] != '/' || strlen(hex) != info->hex_len ||
            !all_lower_hex(hex, info->hex_len) || memcmp(fan, hex, 2) != 0)
            goto invalid;
        memset(out, 0, sizeof(*out));
        out->alg = info->alg;
        int n = snprintf(out->str, sizeof(out->str), "%s:%s", info->name, hex);
        if (n < 0 || (size_t)n >= sizeof(out->str))
            goto invalid;
        out->hex = out->str + info->name_len + 1;
        return 0;
    }
invalid:
    return berr_set(BERR_INVALID, "not a blob key");
}

int paths_parse_trash(struct digest *out, const char *key)
{
    static const char prefix[] = "trash/";
    size_t plen = sizeof(prefix) - 1;
    if (key == NULL || strncmp(key, prefix, plen) != 0)
        goto invalid;
    const char *p = key + plen;
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        const struct alg_info *info = &algs[i];
        if (strncmp(p, info->name, info->name_len) != 0 || p[info->name_len] != '/')
            continue;
        const char *hex = p + info->name_len + 1;
        const char *nonce = hex + info->hex_len;
        if (strnlen(hex, info->hex_len) != info->hex_len || !all_lower_hex(hex, info->hex_len) ||
            nonce[0] != '.' || nonce[1] == '\0')
            goto invalid;
        for (const char *c = nonce + 1; *c; c++)
            if (*c < '0' || *c > '9')
                goto invalid;
        memset(out, 0, sizeof(*out));
        out->alg = info->alg;
        int n =
            snprintf(out->str, sizeof(out->str), "%s:%.*s", info->name, (int)info->hex_len, hex);
        if (n < 0 || (size_t)n >= sizeof(out->str))
            goto invalid;
        out->hex = out->str + info->name_len + 1;
        return 0;
    }
invalid:
    return berr_set(BERR_INVALID, "not a trash key");
}
