/*
 * tarbuild.h - build small ustar archives in memory for the client's unit
 * tests (tar reader, layer unpacking). Test-only; static inline so each test
 * includes what it uses.
 */
#ifndef BERTH_TEST_TARBUILD_H
#define BERTH_TEST_TARBUILD_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/base/buf.h"

static inline void tb_octal(unsigned char *dst, size_t width, unsigned long long v)
{
    dst[width - 1] = '\0';
    for (size_t i = width - 1; i > 0; i--) {
        dst[i - 1] = (unsigned char)('0' + (v & 7));
        v >>= 3;
    }
}

/* Append one member: type '0' file, '1' hardlink, '2' symlink, '3' char dev, '5' dir. */
static inline void tb_add(struct buf *b, char type, const char *name, const char *link,
                          const char *data, unsigned mode)
{
    unsigned char h[512];
    size_t len = data ? strlen(data) : 0;
    memset(h, 0, sizeof(h));
    memcpy(h, name, strlen(name));
    tb_octal(h + 100, 8, mode);
    tb_octal(h + 108, 8, 0);
    tb_octal(h + 116, 8, 0);
    tb_octal(h + 124, 12, len);
    tb_octal(h + 136, 12, 0);
    h[156] = (unsigned char)type;
    if (link)
        memcpy(h + 157, link, strlen(link));
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    tb_octal(h + 329, 8, type == '3' ? 1 : 0);
    tb_octal(h + 337, 8, type == '3' ? 3 : 0);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    tb_octal(h + 148, 7, sum);
    buf_append(b, h, sizeof(h));
    if (len) {
        unsigned char pad[512];
        memset(pad, 0, sizeof(pad));
        buf_append(b, data, len);
        buf_append(b, pad, (512 - len % 512) % 512);
    }
}

/* Append a pax extended header carrying one "key=value" record. */
static inline void tb_pax(struct buf *b, const char *key, const char *value)
{
    char rec[1024];
    size_t body = strlen(key) + strlen(value) + 3; /* ' ', '=', '\n' */
    size_t n = body + 1;
    while (snprintf(NULL, 0, "%zu", n) + body != n)
        n++;
    snprintf(rec, sizeof(rec), "%zu %s=%s\n", n, key, value);
    tb_add(b, 'x', "PaxHeader", NULL, rec, 0644);
}

static inline void tb_end(struct buf *b)
{
    unsigned char z[1024];
    memset(z, 0, sizeof(z));
    buf_append(b, z, sizeof(z));
}

/* Write the buffer to a new temporary file; returns an fd at offset 0. */
static inline int tb_tmpfd(const struct buf *b)
{
    FILE *f = tmpfile();
    if (!f)
        return -1;
    fwrite(b->data, 1, b->len, f);
    fflush(f);
    int fd = dup(fileno(f));
    fclose(f);
    lseek(fd, 0, SEEK_SET);
    return fd;
}

#endif
