/*
 * xalloc.h - allocation wrappers that abort on out-of-memory.
 *
 * Berth does not try to limp on after malloc fails: every allocation goes
 * through these, so no caller checks for NULL. Memory returned is owned by
 * the caller and released with free().
 */
#ifndef BERTH_XALLOC_H
#define BERTH_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* Copy at most n bytes of s and NUL-terminate. */
char *xstrndup(const char *s, size_t n);
/* Allocate and format (vasprintf) - never NULL. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
