/*
 * acl.c - access rules and the repository-name glob.
 *
 * Rules are kept in configuration order; a lookup walks all of them and ORs
 * the actions of those that apply (union). Group references are resolved to
 * indexes at parse time, so an unknown group is a configuration error, not
 * a silent no-match. Everything is immutable after acl_new.
 */
#include "auth/acl.h"

#include "auth/auth.h"
#include "auth/scope.h"
#include "image/base/err.h"
#include "image/base/xalloc.h"

#include <stdlib.h>
#include <string.h>

enum acl_kind { ACL_USER, ACL_GROUP, ACL_ANONYMOUS, ACL_ANY };

struct acl_principal {
    enum acl_kind kind;
    char *user;   /* ACL_USER */
    size_t group; /* ACL_GROUP: index in acl->groups */
};

struct acl_rule {
    struct acl_principal who;
    char *pattern;
    unsigned actions;
};

struct acl_group {
    char *name;
    char **members;
    size_t nmembers;
};

struct acl {
    struct acl_rule *rules;
    size_t nrules;
    struct acl_principal *admins;
    size_t nadmins;
    struct acl_group *groups;
    size_t ngroups;
};

/* The next run of non-blank bytes at *p; advances *p. Returns its length
 * (0 at the end). */
static size_t next_field(const char **p, const char **start)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    *start = s;
    while (*s && *s != ' ' && *s != '\t')
        s++;
    *p = s;
    return (size_t)(s - *start);
}

/* Trim blanks around s[0..len); returns the new length and moves *s. */
static size_t trim(const char **s, size_t len)
{
    while (len && (**s == ' ' || **s == '\t')) {
        (*s)++;
        len--;
    }
    while (len && ((*s)[len - 1] == ' ' || (*s)[len - 1] == '\t'))
        len--;
    return len;
}

static int group_name_valid(const char *s, size_t len)
{
    if (len == 0 || len > 128)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* A user name as it may appear in a rule: printable, no blank, no ':' or
 * ','; "anonymous" and "*" are principals of their own. */
static int user_name_valid(const char *s, size_t len)
{
    if (len == 0 || len > 255 || s[0] == '@')
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7f || c == ':' || c == ',' || c == '"' || c == '\\')
            return 0;
    }
    return 1;
}

static struct acl_group *group_find(struct acl *acl, const char *name, size_t len, size_t *idx)
{
    for (size_t i = 0; i < acl->ngroups; i++) {
        if (strlen(acl->groups[i].name) == len && memcmp(acl->groups[i].name, name, len) == 0) {
            if (idx)
                *idx = i;
            return &acl->groups[i];
        }
    }
    return NULL;
}

/* "name: a, b, c" - merged into an existing group of the same name. */
static int group_parse(struct acl *acl, const char *line)
{
    const char *colon = strchr(line, ':');
    if (!colon)
        return berr_set(BERR_CONFIG, "auth.group \"%s\": expected \"name: user,user\"", line);
    const char *name = line;
    size_t name_len = trim(&name, (size_t)(colon - line));
    if (!group_name_valid(name, name_len))
        return berr_set(BERR_CONFIG, "auth.group \"%s\": invalid group name", line);
    struct acl_group *g = group_find(acl, name, name_len, NULL);
    if (!g) {
        acl->groups = xrealloc(acl->groups, (acl->ngroups + 1) * sizeof(*acl->groups));
        g = &acl->groups[acl->ngroups++];
        g->name = xstrndup(name, name_len);
        g->members = NULL;
        g->nmembers = 0;
    }
    const char *p = colon + 1;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *m = p;
        size_t mlen = trim(&m, len);
        if (mlen) {
            if (!user_name_valid(m, mlen))
                return berr_set(BERR_CONFIG, "auth.group \"%s\": invalid member name", line);
            g->members = xrealloc(g->members, (g->nmembers + 1) * sizeof(*g->members));
            g->members[g->nmembers++] = xstrndup(m, mlen);
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int principal_parse(struct acl *acl, struct acl_principal *out, const char *s, size_t len,
                           const char *what, const char *line)
{
    memset(out, 0, sizeof(*out));
    if (len == 9 && memcmp(s, "anonymous", 9) == 0) {
        out->kind = ACL_ANONYMOUS;
        return 0;
    }
    if (len == 1 && s[0] == '*') {
        out->kind = ACL_ANY;
        return 0;
    }
    if (s[0] == '@') {
        if (!group_find(acl, s + 1, len - 1, &out->group))
            return berr_set(BERR_CONFIG, "%s \"%s\": unknown group \"%.*s\"", what, line,
                            (int)(len - 1), s + 1);
        out->kind = ACL_GROUP;
        return 0;
    }
    if (!user_name_valid(s, len))
        return berr_set(BERR_CONFIG, "%s \"%s\": invalid principal", what, line);
    out->kind = ACL_USER;
    out->user = xstrndup(s, len);
    return 0;
}

/* Strict action list for configuration: every word must be known. */
static int rule_actions_parse(const char *s, size_t len, unsigned *out)
{
    unsigned mask = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != ',')
            continue;
        size_t wl = i - start;
        const char *w = s + start;
        if (wl == 4 && memcmp(w, "pull", 4) == 0)
            mask |= AUTH_PULL;
        else if (wl == 4 && memcmp(w, "push", 4) == 0)
            mask |= AUTH_PUSH;
        else if (wl == 6 && memcmp(w, "delete", 6) == 0)
            mask |= AUTH_DELETE;
        else if (wl == 1 && w[0] == '*')
            mask |= AUTH_ALL;
        else
            return -1;
        start = i + 1;
    }
    *out = mask;
    return 0;
}

static int pattern_valid(const char *s, size_t len)
{
    if (len == 0 || len > SCOPE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '/' || c == ':' || c == '*'))
            return 0;
    }
    return 1;
}

static int rule_parse(struct acl *acl, const char *line)
{
    const char *p = line, *f[4];
    size_t len[4];
    for (int i = 0; i < 4; i++)
        len[i] = next_field(&p, &f[i]);
    if (!len[0] || !len[1] || !len[2] || len[3])
        return berr_set(BERR_CONFIG,
                        "auth.rule \"%s\": expected \"<principal> <pattern> <actions>\"", line);
    struct acl_rule r;
    int rc = principal_parse(acl, &r.who, f[0], len[0], "auth.rule", line);
    if (rc < 0)
        return rc;
    if (!pattern_valid(f[1], len[1])) {
        free(r.who.user);
        return berr_set(BERR_CONFIG, "auth.rule \"%s\": invalid repository pattern", line);
    }
    if (rule_actions_parse(f[2], len[2], &r.actions) < 0) {
        free(r.who.user);
        return berr_set(BERR_CONFIG,
                        "auth.rule \"%s\": actions must be a comma list of pull, push, delete or *",
                        line);
    }
    r.pattern = xstrndup(f[1], len[1]);
    acl->rules = xrealloc(acl->rules, (acl->nrules + 1) * sizeof(*acl->rules));
    acl->rules[acl->nrules++] = r;
    return 0;
}

static int admin_parse(struct acl *acl, const char *line)
{
    const char *p = line, *f[2];
    size_t len[2];
    len[0] = next_field(&p, &f[0]);
    len[1] = next_field(&p, &f[1]);
    if (!len[0] || len[1])
        return berr_set(BERR_CONFIG, "auth.admin \"%s\": expected one user or @group", line);
    struct acl_principal who;
    int rc = principal_parse(acl, &who, f[0], len[0], "auth.admin", line);
    if (rc < 0)
        return rc;
    if (who.kind == ACL_ANONYMOUS || who.kind == ACL_ANY)
        return berr_set(BERR_CONFIG, "auth.admin \"%s\": must name a user or @group", line);
    acl->admins = xrealloc(acl->admins, (acl->nadmins + 1) * sizeof(*acl->admins));
    acl->admins[acl->nadmins++] = who;
    return 0;
}

int acl_new(struct acl **out, const char *const *rules, size_t nrules, const char *const *admins,
            size_t nadmins, const char *const *groups, size_t ngroups)
{
    struct acl *acl = xcalloc(1, sizeof(*acl));
    int rc = 0;
    for (size_t i = 0; i < ngroups && rc == 0; i++)
        rc = group_parse(acl, groups[i]);
    for (size_t i = 0; i < nrules && rc == 0; i++)
        rc = rule_parse(acl, rules[i]);
    for (size_t i = 0; i < nadmins && rc == 0; i++)
        rc = admin_parse(acl, admins[i]);
    if (rc < 0)
        goto fail;
    *out = acl;
    return 0;
fail:
    acl_free(acl);
    return rc;
}

void acl_free(struct acl *acl)
{
    if (!acl)
        return;
    for (size_t i = 0; i < acl->nrules; i++) {
        free(acl->rules[i].who.user);
        free(acl->rules[i].pattern);
    }
    free(acl->rules);
    for (size_t i = 0; i < acl->nadmins; i++)
        free(acl->admins[i].user);
    free(acl->admins);
    for (size_t i = 0; i < acl->ngroups; i++) {
        for (size_t j = 0; j < acl->groups[i].nmembers; j++)
            free(acl->groups[i].members[j]);
        free(acl->groups[i].members);
        free(acl->groups[i].name);
    }
    free(acl->groups);
    free(acl);
}

int acl_empty(const struct acl *acl)
{
    return acl->nrules == 0 && acl->nadmins == 0;
}

static int in_group(const struct acl *acl, size_t group, const char *user)
{
    const struct acl_group *g = &acl->groups[group];
    for (size_t i = 0; i < g->nmembers; i++)
        if (strcmp(g->members[i], user) == 0)
            return 1;
    return 0;
}

/* 1 when principal `who` covers `user` (NULL = anonymous). */
static int applies(const struct acl *acl, const struct acl_principal *who, const char *user)
{
    switch (who->kind) {
    case ACL_ANONYMOUS:
        return 1;
    case ACL_ANY:
        return user != NULL;
    case ACL_USER:
        return user && strcmp(who->user, user) == 0;
    case ACL_GROUP:
        return user && in_group(acl, who->group, user);
    }
    return 0;
}

int acl_is_admin(const struct acl *acl, const char *user)
{
    if (!user || !*user)
        return 0;
    for (size_t i = 0; i < acl->nadmins; i++)
        if (applies(acl, &acl->admins[i], user))
            return 1;
    return 0;
}

unsigned acl_actions(const struct acl *acl, const char *user, const char *repo)
{
    if (user && !*user)
        user = NULL;
    if (acl_is_admin(acl, user))
        return AUTH_ALL;
    unsigned mask = 0;
    for (size_t i = 0; i < acl->nrules; i++) {
        const struct acl_rule *r = &acl->rules[i];
        if ((mask | r->actions) == mask)
            continue;
        if (applies(acl, &r->who, user) && acl_glob_match(r->pattern, repo))
            mask |= r->actions;
    }
    return mask;
}

int acl_catalog(const struct acl *acl, const char *user)
{
    if (user && !*user)
        user = NULL;
    if (acl_is_admin(acl, user))
        return 1;
    for (size_t i = 0; i < acl->nrules; i++)
        if ((acl->rules[i].actions & AUTH_PULL) && applies(acl, &acl->rules[i].who, user))
            return 1;
    return 0;
}

int acl_glob_match(const char *pattern, const char *name)
{
    /* prev[k] / cur[k]: the pattern so far matches name[0..k). */
    unsigned char prev[SCOPE_NAME_MAX + 1], cur[SCOPE_NAME_MAX + 1];
    size_t n = strlen(name);
    if (n > SCOPE_NAME_MAX)
        return 0;
    memset(prev, 0, n + 1);
    prev[0] = 1;
    for (const char *p = pattern; *p;) {
        if (*p == '*') {
            int deep = p[1] == '*';
            while (*p == '*')
                p++;
            cur[0] = prev[0];
            for (size_t k = 1; k <= n; k++)
                cur[k] = prev[k] || (cur[k - 1] && (deep || name[k - 1] != '/'));
        } else {
            cur[0] = 0;
            for (size_t k = 1; k <= n; k++)
                cur[k] = prev[k - 1] && name[k - 1] == *p;
            p++;
        }
        memcpy(prev, cur, n + 1);
    }
    return prev[n];
}
