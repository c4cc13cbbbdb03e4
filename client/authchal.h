/*
 * authchal.h - the WWW-Authenticate challenge of a registry (RFC 7235):
 *   Bearer realm="https://auth/token",service="registry",scope="repository:a:pull"
 *   Basic realm="registry"
 */
#ifndef BERTH_CLIENT_AUTHCHAL_H
#define BERTH_CLIENT_AUTHCHAL_H

struct auth_challenge {
    char *scheme;  /* owned, lowercase: "bearer", "basic", ... */
    char *realm;   /* owned or NULL */
    char *service; /* owned or NULL */
    char *scope;   /* owned or NULL */
    char *error;   /* owned or NULL ("insufficient_scope", "invalid_token") */
};

/* Parse the first challenge of a WWW-Authenticate value into *out (fields
 * owned by out). Unknown parameters are ignored; quoted strings may contain
 * commas and backslash escapes. Returns 0 or BERR_INVALID. */
int auth_challenge_parse(struct auth_challenge *out, const char *header);

/* Free the fields; accepts a zeroed struct. */
void auth_challenge_release(struct auth_challenge *c);

#endif
