/*
 * buf.h - a growable byte buffer with a hard cap.
 *
 * The data is always NUL-terminated (the terminator is not counted in len),
 * so a buffer of text can be used as a C string. Appending past `max`
 * fails with BERR_TOO_LARGE and leaves the buffer unchanged.
 */
#ifndef BERTH_BUF_H
#define BERTH_BUF_H

#include <stddef.h>

struct buf {
    char *data; /* owned; NULL until the first append */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
    size_t max; /* hard cap on len; 0 = no cap */
};

#define BUF_INIT                                                                                   \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

/* Initialize an empty buffer that refuses to grow past `max` bytes (0: no cap). */
void buf_init(struct buf *b, size_t max);
/* Free the storage; the buffer is empty and reusable afterwards. */
void buf_release(struct buf *b);
/* Forget the contents, keep the storage. */
void buf_reset(struct buf *b);
/* Append n bytes. Returns 0 or BERR_TOO_LARGE. */
int buf_append(struct buf *b, const void *data, size_t n);
/* Append a C string. */
int buf_puts(struct buf *b, const char *s);
/* Append formatted text. Returns 0 or BERR_TOO_LARGE. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The contents as a C string ("" when empty); owned by the buffer. */
const char *buf_cstr(const struct buf *b);
/* Take the storage: returns the NUL-terminated data (caller frees) and empties b. */
char *buf_detach(struct buf *b, size_t *len_out);

#endif
