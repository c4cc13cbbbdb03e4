/*
 * jsonlist.c - listing documents written straight into a buffer (see
 * jsonlist.h for why the plain-text fast path needs no escaping).
 *
 * Invariant: what is appended for a string is exactly what jansson's
 * dump (JSON_COMPACT, no JSON_ENSURE_ASCII / JSON_ESCAPE_SLASH, the flags
 * respond_json uses) would append: the plain-text test admits only bytes
 * jansson copies unchanged, and every other string is handed to jansson.
 */
#include "server/jsonlist.h"

#include "image/base/err.h"

#include <jansson.h>
#include <string.h>

/* Longest item built on the stack and appended in one call. */
#define JSONLIST_STACK_ITEM 256

/* 1 when c is copied unchanged by a JSON encoder: [A-Za-z0-9._/-]. jansson
 * escapes '/' only under JSON_ESCAPE_SLASH, which listings do not use. */
static int plain_byte(unsigned char c)
{
    return (unsigned)(c - 'a') < 26u || (unsigned)(c - '0') < 10u || (unsigned)(c - 'A') < 26u ||
           c == '-' || c == '.' || c == '_' || c == '/';
}

static int plain_text(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!plain_byte((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

static int dump_to_buf(const char *data, size_t size, void *ctx)
{
    return buf_append(ctx, data, size) == 0 ? 0 : -1;
}

/* Append s[0..len) encoded by jansson. */
static int append_encoded(struct buf *out, const char *s, size_t len)
{
    json_t *j = json_stringn(s, len);
    int rc;
    if (!j)
        return berr_set(BERR_INTERNAL, "listing: a name is not valid UTF-8");
    rc = json_dump_callback(j, dump_to_buf, out, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(j);
    if (rc != 0) /* only dump_to_buf fails, on out's cap */
        return berr_set(BERR_TOO_LARGE, "listing over its %zu byte cap", out->max);
    return 0;
}

/* Append s as a JSON string, with a comma before it when comma is set.
 * 1 verbatim, 0 encoded by jansson, or a BERR_* code. */
static int append_string(struct buf *out, int comma, const char *s, size_t len)
{
    int rc;
    if (plain_text(s, len)) {
        if (len <= JSONLIST_STACK_ITEM) { /* the common case: one append */
            char tmp[JSONLIST_STACK_ITEM + 3];
            size_t k = 0;
            if (comma)
                tmp[k++] = ',';
            tmp[k++] = '"';
            memcpy(tmp + k, s, len);
            k += len;
            tmp[k++] = '"';
            rc = buf_append(out, tmp, k);
        } else {
            rc = comma ? buf_append(out, ",", 1) : 0;
            if (rc == 0)
                rc = buf_append(out, "\"", 1);
            if (rc == 0)
                rc = buf_append(out, s, len);
            if (rc == 0)
                rc = buf_append(out, "\"", 1);
        }
        return rc < 0 ? rc : 1;
    }
    if (comma) {
        rc = buf_append(out, ",", 1);
        if (rc < 0)
            return rc;
    }
    rc = append_encoded(out, s, len);
    return rc < 0 ? rc : 0;
}

int jsonlist_begin(struct buf *out, const char *name, const char *array_key)
{
    int rc = buf_append(out, "{", 1);
    if (rc == 0 && name) {
        rc = buf_append(out, "\"name\":", 7);
        if (rc == 0)
            rc = append_string(out, 0, name, strlen(name));
        if (rc >= 0)
            rc = buf_append(out, ",", 1);
    }
    if (rc >= 0)
        rc = append_string(out, 0, array_key, strlen(array_key));
    if (rc >= 0)
        rc = buf_append(out, ":[", 2);
    return rc < 0 ? rc : 0;
}

int jsonlist_item(struct buf *out, size_t index, const char *s, size_t len)
{
    return append_string(out, index > 0, s, len);
}

int jsonlist_end(struct buf *out)
{
    return buf_append(out, "]}", 2);
}
