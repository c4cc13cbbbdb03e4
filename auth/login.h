/*
 * login.h - Authorization header schemes and password logins with
 * failed-login limiting (internal to auth/).
 *
 * Every password check of the module goes through login_password, so the
 * rate limit, the log lines and the constant-time comparison are the same
 * for the registry (htpasswd mode) and the token endpoint.
 */
#ifndef BERTH_AUTH_LOGIN_H
#define BERTH_AUTH_LOGIN_H

#include <time.h>

#include "auth/htpasswd.h"
#include "auth/ratelimit.h"

#define LOGIN_HEADER_MAX 8192 /* longest Basic credentials accepted */

struct login {
    struct htpasswd *htp; /* borrowed; NULL = no user can log in */
    struct ratelimit *rl; /* borrowed */
};

/* When `authorization` uses `scheme` (case-insensitive, followed by at
 * least one space), *rest points at its credentials (leading blanks
 * skipped) and 1 is returned; else 0. */
int login_scheme(const char *authorization, const char *scheme, const char **rest);

/* Decode Basic credentials ("<base64 of user:password>"). *user and *pass
 * are owned (free pass with login_secret_free). Returns 0 or BERR_INVALID
 * (not base64, no ':', empty user, NUL byte, too long). */
int login_basic_decode(char **user, char **pass, const char *credentials);

/* 1 when Basic `credentials` encode exactly ":" (empty user and password):
 * what clients built on containers/image (skopeo, podman, buildah) send
 * after a Basic challenge when they hold no credentials. Callers treat it
 * as no credentials at all (anonymous), not as a failed login. */
int login_basic_empty(const char *credentials);

/* Wipe and free a secret string; accepts NULL. */
void login_secret_free(char *s);

/* Check a password for a login from `addr`. Returns 0; BERR_TOOMANY with
 * *retry_after when the address is blocked (the password is not even
 * checked); BERR_UNAUTHORIZED when wrong (the failure is counted and
 * logged with the user name only when the user exists). */
int login_password(struct login *lg, const char *user, const char *pass, const char *addr,
                   const char *request_id, time_t now, unsigned *retry_after);

/* Count a failed login that was not a password (a bad refresh token). */
void login_failed(struct login *lg, const char *addr, const char *request_id, time_t now);

#endif
