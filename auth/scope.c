/*
 * scope.c - parse and format Docker token scopes ("type:name:actions").
 *
 * Invariants: a parsed entry's type has no class suffix and its name passed
 * scope_name_valid; a scope_list never holds two entries with the same
 * (type, name). Formatting never writes more actions than the mask holds,
 * so format-then-parse never widens access.
 */
#include "auth/scope.h"

#include "auth/auth.h"
#include "image/base/err.h"
#include "image/reference.h"
#include "image/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

/* The bit of one action word; unknown words are 0. */
static unsigned scope_action_bit(const char *w, size_t len)
{
    if (len == 4 && memcmp(w, "pull", 4) == 0)
        return AUTH_PULL;
    if (len == 4 && memcmp(w, "push", 4) == 0)
        return AUTH_PUSH;
    if (len == 6 && memcmp(w, "delete", 6) == 0)
        return AUTH_DELETE;
    if (len == 1 && w[0] == '*')
        return AUTH_ALL;
    return 0;
}

int scope_actions_parse(const char *s, size_t len)
{
    unsigned mask = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != ',') {
            char c = s[i];
            if (!((c >= 'a' && c <= 'z') || c == '*'))
                return berr_set(BERR_INVALID, "scope action has a byte outside [a-z*]");
            continue;
        }
        mask |= scope_action_bit(s + start, i - start);
        start = i + 1;
    }
    return (int)mask;
}

int scope_actions_format(struct buf *b, unsigned actions)
{
    static const struct {
        unsigned bit;
        const char *word;
    } words[] = {{AUTH_PULL, "pull"}, {AUTH_PUSH, "push"}, {AUTH_DELETE, "delete"}};
    if ((actions & AUTH_ALL) == AUTH_ALL)
        return buf_puts(b, "*");
    int first = 1;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (!(actions & words[i].bit))
            continue;
        int rc = buf_printf(b, "%s%s", first ? "" : ",", words[i].word);
        if (rc < 0)
            return rc;
        first = 0;
    }
    return 0;
}

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* hostname = hostcomponent ("." hostcomponent)* [":" port] */
static int hostname_valid(const char *s, size_t len)
{
    const char *colon = memchr(s, ':', len);
    size_t hlen = colon ? (size_t)(colon - s) : len;
    if (colon) {
        size_t plen = len - hlen - 1;
        if (plen == 0 || plen > 5)
            return 0;
        for (size_t i = hlen + 1; i < len; i++)
            if (s[i] < '0' || s[i] > '9')
                return 0;
    }
    size_t start = 0;
    for (size_t i = 0; i <= hlen; i++) {
        if (i < hlen && s[i] != '.') {
            if (!is_alnum(s[i]) && s[i] != '-')
                return 0;
            continue;
        }
        if (i == start || s[start] == '-' || s[i - 1] == '-')
            return 0;
        start = i + 1;
    }
    return 1;
}

int scope_name_valid(const char *s, size_t len)
{
    if (len == 0 || len > SCOPE_NAME_MAX)
        return 0;
    if (ref_name_valid(s, len))
        return 1;
    /* a registry host (with an optional port) may come first */
    const char *slash = memchr(s, '/', len);
    if (!slash)
        return 0;
    size_t first = (size_t)(slash - s);
    return hostname_valid(s, first) && ref_name_valid(slash + 1, len - first - 1);
}

/* type = [a-z0-9]+ [ "(" [a-z0-9]+ ")" ]; sets *base_len to the part before
 * the class. */
static int type_valid(const char *s, size_t len, size_t *base_len)
{
    size_t i = 0;
    while (i < len && is_lower_alnum(s[i]))
        i++;
    if (i == 0 || i > SCOPE_TYPE_MAX)
        return 0;
    *base_len = i;
    if (i == len)
        return 1;
    if (s[i] != '(' || s[len - 1] != ')' || len - i < 3)
        return 0;
    for (size_t j = i + 1; j < len - 1; j++)
        if (!is_lower_alnum(s[j]))
            return 0;
    return 1;
}

int scope_parse(struct scope_entry *out, const char *s, size_t len)
{
    const char *first = memchr(s, ':', len);
    const char *last = NULL;
    for (size_t i = len; i > 0; i--) {
        if (s[i - 1] == ':') {
            last = s + i - 1;
            break;
        }
    }
    if (!first || last == first)
        return berr_set(BERR_INVALID, "scope is not type:name:actions");
    size_t type_len = (size_t)(first - s);
    size_t base_len = 0;
    if (!type_valid(s, type_len, &base_len))
        return berr_set(BERR_INVALID, "scope has an invalid resource type");
    const char *name = first + 1;
    size_t name_len = (size_t)(last - name);
    if (!scope_name_valid(name, name_len))
        return berr_set(BERR_INVALID, "scope has an invalid resource name");
    int actions = scope_actions_parse(last + 1, len - (size_t)(last + 1 - s));
    if (actions < 0)
        return actions;
    out->type = xstrndup(s, base_len);
    out->name = xstrndup(name, name_len);
    out->actions = (unsigned)actions;
    return 0;
}

void scope_entry_release(struct scope_entry *e)
{
    free(e->type);
    free(e->name);
    e->type = NULL;
    e->name = NULL;
    e->actions = 0;
}

int scope_list_parse(struct scope_list *l, const char *s)
{
    size_t len = strlen(s);
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != ' ')
            continue;
        if (i > start) {
            struct scope_entry e;
            int rc = scope_parse(&e, s + start, i - start);
            if (rc < 0)
                return rc;
            scope_list_add(l, e.type, e.name, e.actions);
            scope_entry_release(&e);
        }
        start = i + 1;
    }
    return 0;
}

void scope_list_add(struct scope_list *l, const char *type, const char *name, unsigned actions)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i].type, type) == 0 && strcmp(l->v[i].name, name) == 0) {
            l->v[i].actions |= actions;
            return;
        }
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n].type = xstrdup(type);
    l->v[l->n].name = xstrdup(name);
    l->v[l->n].actions = actions;
    l->n++;
}

unsigned scope_list_actions(const struct scope_list *l, const char *type, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].type, type) == 0 && strcmp(l->v[i].name, name) == 0)
            return l->v[i].actions;
    return 0;
}

int scope_list_format(struct buf *b, const struct scope_list *l)
{
    int first = 1;
    for (size_t i = 0; i < l->n; i++) {
        if (!l->v[i].actions)
            continue;
        int rc = buf_printf(b, "%s%s:%s:", first ? "" : " ", l->v[i].type, l->v[i].name);
        if (rc < 0)
            return rc;
        rc = scope_actions_format(b, l->v[i].actions);
        if (rc < 0)
            return rc;
        first = 0;
    }
    return 0;
}

void scope_list_release(struct scope_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        scope_entry_release(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
    l->cap = 0;
}
