/*
 * acl.h - access rules: principal x repository pattern -> actions
 * (internal to auth/).
 *
 * Configuration lines:
 *   rule:  "<principal> <pattern> <actions>"
 *          principal = user | @group | anonymous | *
 *          pattern   = name glob: "*" matches within one path component,
 *                      "**" matches across components ("team-a/\*",
 *                      "public/\*\*", "**"); every other byte is literal
 *          actions   = comma list of pull, push, delete, or "*"
 *   admin: "<user>" or "@group" - every action on every repository
 *   group: "<name>: user, user, ..."
 *
 * Combination: a caller holds the UNION of the actions of every rule that
 * applies to it. "anonymous" rules apply to every caller (logged in or
 * not); "*" rules to every authenticated user; "@g" to members of g; a
 * user name to that user. There are no deny rules. The acl is immutable
 * after acl_new and safe to read from any number of threads.
 */
#ifndef BERTH_AUTH_ACL_H
#define BERTH_AUTH_ACL_H

#include <stddef.h>

struct acl;

/* Parse the rules, admins and groups. Returns 0 or BERR_CONFIG with a
 * message quoting the bad line (unknown group, bad action, wrong field
 * count...). */
int acl_new(struct acl **out, const char *const *rules, size_t nrules, const char *const *admins,
            size_t nadmins, const char *const *groups, size_t ngroups);
/* Free; accepts NULL. */
void acl_free(struct acl *acl);

/* 1 when no rule and no admin is configured. */
int acl_empty(const struct acl *acl);

/* 1 when user (not NULL) is an admin, directly or through a group. */
int acl_is_admin(const struct acl *acl, const char *user);

/* The actions (AUTH_* mask) `user` holds on `repo`; user NULL or "" is
 * anonymous. */
unsigned acl_actions(const struct acl *acl, const char *user, const char *repo);

/* 1 when `user` may list the catalog: an admin, or a caller to whom some
 * rule granting pull applies (the listing is then filtered by pull). */
int acl_catalog(const struct acl *acl, const char *user);

/* 1 when `name` matches the glob `pattern` ("*" within a component, "**"
 * across components), else 0. Runs in O(len(pattern) * len(name)). */
int acl_glob_match(const char *pattern, const char *name);

#endif
