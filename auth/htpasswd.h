/*
 * htpasswd.h - users and bcrypt password hashes from an htpasswd file
 * (internal to auth/).
 *
 * Lines are "user:hash"; blank lines and lines starting with '#' are
 * skipped. Only bcrypt hashes with the $2y$ or $2b$ prefix are accepted
 * (`htpasswd -B`); any other kind (apr1, {SHA}, crypt, plain text, $2a$...)
 * is refused with a log line naming the file, line, user and kind - never
 * the hash. The first entry of a user wins.
 *
 * The file is re-read when its inode, size, mtime or ctime changes (checked
 * at most once a second, on use). If it disappears or cannot be read, every
 * login fails (fail closed) until it is back.
 *
 * A verified (user, password, hash) triple may be cached for `cache_ttl`
 * seconds as an HMAC under a random per-process key, so that a client
 * sending Basic credentials on every request does not pay a bcrypt each
 * time. Changing the password changes the hash and so misses the cache.
 *
 * Thread-safe; bcrypt runs outside the lock.
 */
#ifndef BERTH_AUTH_HTPASSWD_H
#define BERTH_AUTH_HTPASSWD_H

#include <stddef.h>
#include <time.h>

#define HTPASSWD_FP_LEN 16

struct htpasswd;

/* Load `path`. Returns 0 or BERR_CONFIG when the file cannot be read (a
 * file with no usable entry is accepted, with a warning). */
int htpasswd_open(struct htpasswd **out, const char *path, unsigned cache_ttl, time_t now);
/* Free; accepts NULL. */
void htpasswd_free(struct htpasswd *h);

/* Check a password. Returns 0, or BERR_UNAUTHORIZED with *known set to 1
 * when the user exists (wrong password) and 0 when it does not. Unknown
 * users cost a bcrypt too, so timing does not reveal which users exist. */
int htpasswd_verify(struct htpasswd *h, const char *user, const char *password, time_t now,
                    int *known);

/* A fingerprint of the user's current hash (first bytes of its SHA-256),
 * put in refresh tokens so that changing or removing a password revokes
 * them. Returns 0 or BERR_UNAUTHORIZED when the user does not exist. */
int htpasswd_fingerprint(struct htpasswd *h, const char *user, unsigned char out[HTPASSWD_FP_LEN],
                         time_t now);

/* The number of usable entries (for logs and tests). */
size_t htpasswd_count(struct htpasswd *h);

#endif
