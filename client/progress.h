/*
 * progress.h - what a transfer shows while it runs.
 *
 * Three modes: per-item bars with bytes and speed redrawn in place (stderr is
 * a terminal), one plain line when an item starts and ends (otherwise), or
 * nothing (--quiet). Everything goes to the given stream (stderr), so
 * stdout stays for results.
 */
#ifndef BERTH_CLIENT_PROGRESS_H
#define BERTH_CLIENT_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

enum progress_mode { PROGRESS_QUIET = 0, PROGRESS_PLAIN = 1, PROGRESS_TTY = 2 };

struct progress;

/* A new display on `out`. Free with progress_free. */
struct progress *progress_new(enum progress_mode mode, FILE *out);
/* Free the display (draws the final state first); accepts NULL. */
void progress_free(struct progress *p);
/* Add an item ("sha256:1234abcd" ...) of `total` bytes (0 = unknown);
 * returns its id. */
int progress_add(struct progress *p, const char *label, int64_t total);
/* `done` bytes of item id have moved. Redraws at most ten times a second. */
void progress_update(struct progress *p, int id, int64_t done);
/* Item id ended with `status` ("done", "exists", "mounted", "failed"...). */
void progress_end(struct progress *p, int id, const char *status);
/* Print a message line above the bars (or as a plain line); not in quiet mode. */
void progress_note(struct progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "12.3 MiB" for n bytes into dst. */
void progress_human(char *dst, size_t size, int64_t n);

#endif
