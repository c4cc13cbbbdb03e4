/*
 * scope.h - Docker token scopes and access lists (internal to auth/).
 *
 * Grammar (distribution docs/spec/auth/scope.md):
 *   scope         = resourcescope *( " " resourcescope )
 *   resourcescope = type [ "(" class ")" ] ":" name ":" action *( "," action )
 *   name          = [ hostname [ ":" port ] "/" ] component *( "/" component )
 *   action        = [a-z*]*
 * A name may contain one ':' (a port), so a resourcescope is split on its
 * FIRST ':' for the type and its LAST ':' for the actions; what is between
 * is the name. The class ("repository(plugin)") is deprecated and dropped.
 *
 * Actions are a bit mask (AUTH_PULL... from auth.h). Unknown action words are
 * ignored, never an error; "*" is every action.
 */
#ifndef BERTH_AUTH_SCOPE_H
#define BERTH_AUTH_SCOPE_H

#include <stddef.h>

#include "image/base/buf.h"

/* Longest type / name accepted in a scope (bytes). */
#define SCOPE_TYPE_MAX 64
#define SCOPE_NAME_MAX 512

/* One resource and the actions on it. */
struct scope_entry {
    char *type; /* owned: "repository", "registry", ... (class removed) */
    char *name; /* owned */
    unsigned actions;
};

/* A list of entries; entries with the same (type, name) are merged. */
struct scope_list {
    struct scope_entry *v;
    size_t n;
    size_t cap;
};

#define SCOPE_LIST_INIT                                                                            \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Parse a comma-separated action list ("pull,push", "*", ""). Returns the
 * mask, or BERR_INVALID (negative) when a byte is outside [a-z*,]. */
int scope_actions_parse(const char *s, size_t len);

/* Append "pull,push,delete" style text for `actions` (AUTH_ALL as "*").
 * Returns 0 or BERR_TOO_LARGE. */
int scope_actions_format(struct buf *b, unsigned actions);

/* 1 when s[0..len) is a valid scope resource name (hostname[:port]/ prefix
 * allowed), else 0. */
int scope_name_valid(const char *s, size_t len);

/* Parse one resourcescope s[0..len) into *out (fields owned by out).
 * Returns 0 or BERR_INVALID with a message; *out is untouched on error. */
int scope_parse(struct scope_entry *out, const char *s, size_t len);

/* Free an entry's fields. */
void scope_entry_release(struct scope_entry *e);

/* Parse a space-separated scope list and merge every entry into *l.
 * Returns 0 or BERR_INVALID (l keeps what was merged before the bad one). */
int scope_list_parse(struct scope_list *l, const char *s);

/* Merge (type, name, actions) into *l (copies the strings). */
void scope_list_add(struct scope_list *l, const char *type, const char *name, unsigned actions);

/* The actions *l holds on (type, name); 0 when none. */
unsigned scope_list_actions(const struct scope_list *l, const char *type, const char *name);

/* Append "type:name:actions" entries separated by spaces (entries with no
 * actions are skipped). Returns 0 or BERR_TOO_LARGE. */
int scope_list_format(struct buf *b, const struct scope_list *l);

/* Free the entries; the list is empty and reusable. */
void scope_list_release(struct scope_list *l);

#endif
