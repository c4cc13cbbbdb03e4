/*
 * login.c - Basic credentials and rate-limited password checks.
 *
 * Log lines name the client address, the request id and - only when the
 * user exists - the user; never a password, a hash or raw credentials.
 */
#include "auth/login.h"

#include "image/b64.h"
#include "image/base/buf.h"
#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int login_scheme(const char *authorization, const char *scheme, const char **rest)
{
    size_t n = strlen(scheme);
    if (!authorization || strncasecmp(authorization, scheme, n) != 0 || authorization[n] != ' ')
        return 0;
    const char *p = authorization + n;
    while (*p == ' ')
        p++;
    *rest = p;
    return 1;
}

int login_basic_decode(char **user, char **pass, const char *credentials)
{
    size_t len = strnlen(credentials, LOGIN_HEADER_MAX + 1);
    while (len && (credentials[len - 1] == ' ' || credentials[len - 1] == '\t'))
        len--;
    if (len == 0 || len > LOGIN_HEADER_MAX)
        return berr_set(BERR_INVALID, "basic credentials are empty or too long");
    struct buf raw;
    buf_init(&raw, LOGIN_HEADER_MAX);
    int rc = b64_decode(&raw, credentials, len, B64_STD);
    if (rc < 0) {
        rc = berr_set(BERR_INVALID, "basic credentials are not base64");
        goto out;
    }
    const char *colon = raw.data ? memchr(raw.data, ':', raw.len) : NULL;
    if (!colon || colon == raw.data || memchr(raw.data, '\0', raw.len)) {
        rc = berr_set(BERR_INVALID, "basic credentials are not user:password");
        goto out;
    }
    *user = xstrndup(raw.data, (size_t)(colon - raw.data));
    *pass = xstrndup(colon + 1, raw.len - (size_t)(colon + 1 - raw.data));
out:
    if (raw.data)
        OPENSSL_cleanse(raw.data, raw.cap);
    buf_release(&raw);
    return rc;
}

int login_basic_empty(const char *credentials)
{
    size_t len = strnlen(credentials, 16);
    while (len && (credentials[len - 1] == ' ' || credentials[len - 1] == '\t'))
        len--;
    /* base64 of ":", padded or not */
    return (len == 4 && memcmp(credentials, "Og==", 4) == 0) ||
           (len == 2 && memcmp(credentials, "Og", 2) == 0);
}

void login_secret_free(char *s)
{
    if (!s)
        return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}

/* Count a failure (attempt: the credentials tried, or NULL) and log the
 * block when this one caused it. */
static void count_failure(struct login *lg, const char *addr, const void *attempt, size_t len,
                          const char *request_id, time_t now)
{
    if (ratelimit_fail(lg->rl, addr, attempt, len, now))
        log_warn("auth: [%s] client %s blocked after repeated failed logins",
                 request_id ? request_id : "-", addr ? addr : "-");
}

int login_password(struct login *lg, const char *user, const char *pass, const char *addr,
                   const char *request_id, time_t now, unsigned *retry_after)
{
    int rc = ratelimit_check(lg->rl, addr, now, retry_after);
    if (rc < 0)
        return rc;
    int known = 0;
    rc = lg->htp ? htpasswd_verify(lg->htp, user, pass, now, &known)
                 : berr_set(BERR_UNAUTHORIZED, "no users are configured");
    if (rc == 0)
        return 0;
    if (known)
        log_info("auth: [%s] wrong password for user \"%s\" from %s", request_id ? request_id : "-",
                 user, addr ? addr : "-");
    else
        log_info("auth: [%s] login with an unknown user name from %s",
                 request_id ? request_id : "-", addr ? addr : "-");
    /* "user\0password": the attempt the rate limit counts once */
    size_t ulen = strlen(user), plen = strlen(pass);
    char *attempt = xmalloc(ulen + plen + 1);
    memcpy(attempt, user, ulen + 1);
    memcpy(attempt + ulen + 1, pass, plen);
    count_failure(lg, addr, attempt, ulen + plen + 1, request_id, now);
    OPENSSL_cleanse(attempt, ulen + plen + 1);
    free(attempt);
    return berr_set(BERR_UNAUTHORIZED, "invalid user name or password");
}

void login_failed(struct login *lg, const char *addr, const char *request_id, time_t now)
{
    count_failure(lg, addr, NULL, 0, request_id, now);
}
