/*
 * progress.c - progress display (see progress.h).
 *
 * TTY mode keeps every item on its own line and redraws the whole block by
 * moving the cursor up over it; `drawn` is the number of lines currently on
 * the screen below the last note, so notes print above the block.
 */
#include "client/progress.h"

#include "image/base/xalloc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct progress_item {
    char *label;
    int64_t total;
    int64_t done;
    const char *status; /* NULL while running */
    double start;
    double end;
};

struct progress {
    enum progress_mode mode;
    FILE *out;
    struct progress_item *items;
    size_t n;
    int drawn;
    double last_draw;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void progress_human(char *dst, size_t size, int64_t n)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(dst, size, "%lld B", (long long)n);
    else
        snprintf(dst, size, "%.1f %s", v, units[u]);
}

struct progress *progress_new(enum progress_mode mode, FILE *out)
{
    struct progress *p = xcalloc(1, sizeof(*p));
    p->mode = mode;
    p->out = out;
    return p;
}

static void draw_item(struct progress *p, const struct progress_item *it)
{
    char done[32], total[32], rate[32];
    double t = (it->status ? it->end : now_s()) - it->start;
    progress_human(done, sizeof(done), it->done);
    progress_human(total, sizeof(total), it->total);
    if (t > 0.05)
        progress_human(rate, sizeof(rate), (int64_t)((double)it->done / t));
    else
        snprintf(rate, sizeof(rate), "-");
    char bar[31];
    int fill = it->total > 0 ? (int)(30 * (double)it->done / (double)it->total) : 0;
    if (fill > 30)
        fill = 30;
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    if (it->status && strcmp(it->status, "done") != 0)
        fprintf(p->out, "\033[2K%-24.24s %s\n", it->label, it->status);
    else
        fprintf(p->out, "\033[2K%-24.24s [%s] %10s / %-10s %10s/s%s\n", it->label, bar, done, total,
                rate, it->status ? " done" : "");
}

static void redraw(struct progress *p)
{
    if (p->mode != PROGRESS_TTY)
        return;
    if (p->drawn > 0)
        fprintf(p->out, "\033[%dA", p->drawn);
    for (size_t i = 0; i < p->n; i++)
        draw_item(p, &p->items[i]);
    p->drawn = (int)p->n;
    fflush(p->out);
    p->last_draw = now_s();
}

void progress_free(struct progress *p)
{
    if (!p)
        return;
    redraw(p);
    for (size_t i = 0; i < p->n; i++)
        free(p->items[i].label);
    free(p->items);
    free(p);
}

int progress_add(struct progress *p, const char *label, int64_t total)
{
    p->items = xrealloc(p->items, (p->n + 1) * sizeof(*p->items));
    struct progress_item *it = &p->items[p->n];
    memset(it, 0, sizeof(*it));
    it->label = xstrdup(label);
    it->total = total;
    it->start = now_s();
    p->n++;
    if (p->mode == PROGRESS_TTY)
        redraw(p);
    return (int)(p->n - 1);
}

void progress_update(struct progress *p, int id, int64_t done)
{
    if (id < 0 || (size_t)id >= p->n)
        return;
    p->items[id].done = done;
    if (p->mode == PROGRESS_TTY && now_s() - p->last_draw >= 0.1)
        redraw(p);
}

void progress_end(struct progress *p, int id, const char *status)
{
    if (id < 0 || (size_t)id >= p->n)
        return;
    struct progress_item *it = &p->items[id];
    it->status = status;
    it->end = now_s();
    if (strcmp(status, "done") == 0 && it->total > 0)
        it->done = it->total;
    if (p->mode == PROGRESS_TTY) {
        redraw(p);
    } else if (p->mode == PROGRESS_PLAIN) {
        char sz[32];
        progress_human(sz, sizeof(sz), it->total);
        fprintf(p->out, "%s: %s (%s)\n", it->label, status, sz);
        fflush(p->out);
    }
}

void progress_note(struct progress *p, const char *fmt, ...)
{
    if (p->mode == PROGRESS_QUIET)
        return;
    va_list ap;
    if (p->mode == PROGRESS_TTY && p->drawn > 0)
        fprintf(p->out, "\033[%dA", p->drawn);
    va_start(ap, fmt);
    if (p->mode == PROGRESS_TTY)
        fputs("\033[2K", p->out);
    vfprintf(p->out, fmt, ap);
    va_end(ap);
    fputc('\n', p->out);
    p->drawn = 0;
    redraw(p);
    fflush(p->out);
}
