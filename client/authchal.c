/*
 * authchal.c - parse a WWW-Authenticate challenge.
 *
 * Grammar handled: scheme 1*SP auth-param *( "," auth-param ), where
 * auth-param = token "=" ( token / quoted-string ). Only the first challenge
 * is read; parameters after a second scheme name are not ours.
 */
#include "client/authchal.h"

#include "image/base/buf.h"
#include "image/base/err.h"
#include "image/base/xalloc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static int is_token_char(char c)
{
    return c && !isspace((unsigned char)c) && c != '=' && c != ',' && c != '"';
}

/* Read a token or quoted string at *pp into out; advances *pp. */
static int read_value(const char **pp, struct buf *out)
{
    const char *p = *pp;
    if (*p == '"') {
        p++;
        while (*p && *p != '"') {
            if (*p == '\\' && p[1])
                p++;
            buf_append(out, p, 1);
            p++;
        }
        if (*p != '"')
            return berr_set(BERR_INVALID, "unterminated quoted string in challenge");
        p++;
    } else {
        while (is_token_char(*p)) {
            buf_append(out, p, 1);
            p++;
        }
    }
    *pp = p;
    return 0;
}

int auth_challenge_parse(struct auth_challenge *out, const char *header)
{
    struct buf val = BUF_INIT;
    int rc = 0;
    memset(out, 0, sizeof(*out));
    const char *p = skip_ws(header);
    const char *s = p;
    while (is_token_char(*p))
        p++;
    if (p == s) {
        rc = berr_set(BERR_INVALID, "empty authentication challenge");
        goto fail;
    }
    out->scheme = xstrndup(s, (size_t)(p - s));
    for (char *c = out->scheme; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    for (;;) {
        p = skip_ws(p);
        while (*p == ',')
            p = skip_ws(p + 1);
        if (!*p)
            break;
        const char *k = p;
        while (is_token_char(*p))
            p++;
        size_t klen = (size_t)(p - k);
        p = skip_ws(p);
        if (*p != '=') {
            /* a token without "=": the next challenge's scheme (or token68) */
            break;
        }
        p = skip_ws(p + 1);
        buf_reset(&val);
        rc = read_value(&p, &val);
        if (rc < 0)
            goto fail;
        char **slot = NULL;
        if (klen == 5 && strncasecmp(k, "realm", 5) == 0)
            slot = &out->realm;
        else if (klen == 7 && strncasecmp(k, "service", 7) == 0)
            slot = &out->service;
        else if (klen == 5 && strncasecmp(k, "scope", 5) == 0)
            slot = &out->scope;
        else if (klen == 5 && strncasecmp(k, "error", 5) == 0)
            slot = &out->error;
        if (slot) {
            free(*slot);
            *slot = xstrdup(buf_cstr(&val));
        }
    }
    buf_release(&val);
    return 0;
fail:
    buf_release(&val);
    auth_challenge_release(out);
    return rc;
}

void auth_challenge_release(struct auth_challenge *c)
{
    free(c->scheme);
    free(c->realm);
    free(c->service);
    free(c->scope);
    free(c->error);
    memset(c, 0, sizeof(*c));
}
