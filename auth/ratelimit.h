/*
 * ratelimit.h - slow down repeated failed logins per client address
 * (internal to auth/).
 *
 * Each address gets a window that opens at its first failure and lasts
 * `window` seconds. Once `limit` failures fall in the window, the address is
 * blocked until the window closes: ratelimit_check answers BERR_TOOMANY
 * with the seconds left, and the caller must not even verify the password.
 * IPv6 addresses count per /64 (one host usually owns the whole prefix);
 * IPv4-mapped IPv6 counts as IPv4. At most RATELIMIT_MAX_ADDRS addresses are
 * tracked; expired entries are swept when the table fills up.
 * Thread-safe (one mutex, held for a hash lookup).
 */
#ifndef BERTH_AUTH_RATELIMIT_H
#define BERTH_AUTH_RATELIMIT_H

#include <time.h>

#define RATELIMIT_MAX_ADDRS 65536

struct ratelimit;

/* limit 0 disables limiting (every call answers 0). */
void ratelimit_new(struct ratelimit **out, unsigned limit, unsigned window);
void ratelimit_free(struct ratelimit *rl);

/* 0 when `addr` may try to log in, BERR_TOOMANY (with *retry_after, >= 1)
 * when it is blocked. A NULL, empty or unparsable address is never blocked. */
int ratelimit_check(struct ratelimit *rl, const char *addr, time_t now, unsigned *retry_after);

/* Count one failed login from `addr`. `attempt` (len bytes) names what was
 * tried - the user name and password - or is NULL: the same attempt failing
 * again in the window counts once, because a client sends its credentials on
 * every request it makes, often many at once (containerd: ~10 parallel
 * HEADs), and one wrong password must not lock its address out. Guessing
 * still counts every new password. Only a keyed 64-bit fingerprint of the
 * attempt is kept. Returns 1 when this failure blocks the address (the
 * caller logs it once), else 0. */
int ratelimit_fail(struct ratelimit *rl, const char *addr, const void *attempt, size_t len,
                   time_t now);

#endif
