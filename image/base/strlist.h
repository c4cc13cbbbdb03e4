/*
 * strlist.h - NULL-terminated arrays of owned C strings (argv-like), the
 * shape in which commands, environments and tag lists travel.
 */
#ifndef BERTH_STRLIST_H
#define BERTH_STRLIST_H

#include <stddef.h>

/* Number of strings before the NULL (NULL -> 0). */
size_t strlist_len(char *const *v);
/* Append a copy of s to *v (which may be NULL); returns the new length. */
size_t strlist_push(char ***v, const char *s);
/* Free every string and the array; accepts NULL. */
void strlist_free(char **v);

#endif
