/*
 * strlist.c - NULL-terminated string arrays. Invariant: an array is never
 * without its terminating NULL, so it can go straight to execvp().
 */
#include "image/base/strlist.h"

#include "image/base/xalloc.h"

#include <stdlib.h>

size_t strlist_len(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

size_t strlist_push(char ***v, const char *s)
{
    size_t n = strlist_len(*v);
    *v = xrealloc(*v, (n + 2) * sizeof(**v));
    (*v)[n] = xstrdup(s);
    (*v)[n + 1] = NULL;
    return n + 1;
}

void strlist_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}
