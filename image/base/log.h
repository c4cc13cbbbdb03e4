/*
 * log.h - leveled logging to one sink (stderr by default).
 *
 * One lowercase line per event. Never log tokens, passwords or keys.
 * The level and sink are set once at start-up (before threads start).
 */
#ifndef BERTH_LOG_H
#define BERTH_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* Set the minimum level that is written. */
void log_set_level(enum log_level level);
/* Parse "error|warn|info|debug"; returns -1 when unknown. */
int log_level_parse(const char *s);
int log_enabled(enum log_level level);
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_write(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_enabled(LOG_DEBUG))                                                                \
            log_write(LOG_DEBUG, __VA_ARGS__);                                                     \
    } while (0)

#endif
