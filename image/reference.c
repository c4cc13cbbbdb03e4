/*
 * reference.c - repository name and tag grammar, and user image references.
 *
 * The validators are hand-written scanners (no regex): they run on every
 * request path, and they must reject anything that could act as a path
 * (empty components, "..", leading or trailing "/"), which the grammar does
 * by construction since every component starts and ends with [a-z0-9].
 *
 * reference_parse() splits "[host[:port]/]name[:tag][@digest]" from the
 * right: "@" first (a digest never contains '@'), then the host (the first
 * "/"-separated component when it looks like one), then ":tag" (the name
 * itself never contains ':').
 */
#include "image/reference.h"

#include "image/base/err.h"
#include "image/base/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REF_HOST_MAX 255

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Length of the component at s[0..len) that matches
 * [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*, stopping at '/' or the end; 0 if none. */
static size_t name_component_len(const char *s, size_t len)
{
    size_t i = 0;
    if (len == 0 || !is_lower_alnum(s[0]))
        return 0;
    while (i < len) {
        while (i < len && is_lower_alnum(s[i]))
            i++;
        if (i == len || s[i] == '/')
            return i;
        /* a separator, then at least one alnum */
        if (s[i] == '.') {
            i++;
        } else if (s[i] == '_') {
            i++;
            if (i < len && s[i] == '_')
                i++;
        } else if (s[i] == '-') {
            while (i < len && s[i] == '-')
                i++;
        } else {
            return 0;
        }
        if (i == len || !is_lower_alnum(s[i]))
            return 0;
    }
    return i;
}

int ref_name_valid(const char *s, size_t len)
{
    if (!s || len == 0 || len > REF_NAME_MAX)
        return 0;
    size_t i = 0;
    for (;;) {
        size_t n = name_component_len(s + i, len - i);
        if (n == 0)
            return 0;
        i += n;
        if (i == len)
            return 1;
        /* s[i] == '/': another component must follow */
        i++;
    }
}

int ref_tag_valid(const char *s, size_t len)
{
    if (!s || len == 0 || len > REF_TAG_MAX)
        return 0;
    if (!is_alnum(s[0]) && s[0] != '_')
        return 0;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!is_alnum(c) && c != '_' && c != '.' && c != '-')
            return 0;
    }
    return 1;
}

/* 1 when s[0..len) is a port: 1-5 digits, 1..65535. */
static int port_valid(const char *s, size_t len)
{
    if (len == 0 || len > 5)
        return 0;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(s[i]))
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

/* 1 when s[0..len) is a DNS name: labels of [a-zA-Z0-9-] that neither start
 * nor end with '-', joined by single dots. */
static int hostname_valid(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return 0;
            label = 0;
        } else if (is_alnum(c) || c == '-') {
            if (label == 0 && c == '-')
                return 0;
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return label > 0 && s[len - 1] != '-';
}

/* 1 when s[0..len) is "hostname[:port]" or "[ipv6][:port]". */
static int host_valid(const char *s, size_t len)
{
    if (len == 0 || len > REF_HOST_MAX)
        return 0;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close)
            return 0;
        size_t in = (size_t)(close - s) - 1;
        if (in < 2)
            return 0;
        for (size_t i = 1; i <= in; i++) {
            char c = s[i];
            if (!is_digit(c) && !((c | 0x20) >= 'a' && (c | 0x20) <= 'f') && c != ':' && c != '.')
                return 0;
        }
        size_t rest = len - in - 2;
        if (rest == 0)
            return 1;
        return close[1] == ':' && port_valid(close + 2, rest - 1);
    }
    const char *colon = memchr(s, ':', len);
    if (!colon)
        return hostname_valid(s, len);
    size_t hl = (size_t)(colon - s);
    return hostname_valid(s, hl) && port_valid(colon + 1, len - hl - 1);
}

/* The first component names a registry host when it has '.' or ':', starts
 * with '[', or is "localhost". */
static int looks_like_host(const char *s, size_t len)
{
    if (len == 9 && memcmp(s, "localhost", 9) == 0)
        return 1;
    if (len > 0 && s[0] == '[')
        return 1;
    return memchr(s, '.', len) != NULL || memchr(s, ':', len) != NULL;
}

int reference_parse(struct reference *out, const char *s)
{
    int rc = 0;
    memset(out, 0, sizeof(*out));
    if (!s || !*s)
        return berr_set(BERR_NAME_INVALID, "empty image reference");

    size_t len = strlen(s);
    const char *at = memchr(s, '@', len);
    size_t rest_len = at ? (size_t)(at - s) : len;

    if (at) {
        struct digest d;
        size_t dlen = len - rest_len - 1;
        rc = digest_parse(&d, at + 1, dlen);
        if (rc < 0) {
            char why[256]; /* berr_set must not read the buffer it writes */
            snprintf(why, sizeof(why), "%s", berr_message());
            rc = berr_set(BERR_DIGEST_INVALID, "invalid digest in reference: %s", why);
            goto fail;
        }
        out->digest = xstrdup(d.str);
    }

    /* host: the first component, when there is a '/' and it looks like one */
    const char *p = s;
    const char *slash = memchr(p, '/', rest_len);
    if (slash && looks_like_host(p, (size_t)(slash - p))) {
        size_t hl = (size_t)(slash - p);
        if (!host_valid(p, hl)) {
            rc = berr_set(BERR_NAME_INVALID, "invalid registry host '%.*s'",
                          (int)(hl > 64 ? 64 : hl), p);
            goto fail;
        }
        out->host = xstrndup(p, hl);
        p = slash + 1;
        rest_len -= hl + 1;
    }

    /* tag: after the last ':' of what remains (names never contain ':') */
    const char *colon = memrchr(p, ':', rest_len);
    size_t name_len = colon ? (size_t)(colon - p) : rest_len;
    if (colon) {
        size_t tl = rest_len - name_len - 1;
        if (!ref_tag_valid(colon + 1, tl)) {
            rc = berr_set(BERR_TAG_INVALID, "invalid tag '%.*s'", (int)(tl > 130 ? 130 : tl),
                          colon + 1);
            goto fail;
        }
        out->tag = xstrndup(colon + 1, tl);
    }
    if (!ref_name_valid(p, name_len)) {
        rc = berr_set(BERR_NAME_INVALID, "invalid repository name '%.*s'",
                      (int)(name_len > 260 ? 260 : name_len), p);
        goto fail;
    }
    out->name = xstrndup(p, name_len);
    if (!out->tag && !out->digest)
        out->tag = xstrdup("latest");
    return 0;

fail:
    reference_release(out);
    return rc;
}

void reference_release(struct reference *ref)
{
    if (!ref)
        return;
    free(ref->host);
    free(ref->tag);
    free(ref->name);
    free(ref->digest);
    memset(ref, 0, sizeof(*ref));
}
