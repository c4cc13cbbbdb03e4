/*
 * jwks.h - trusted token signing keys from a JSON Web Key Set file (internal
 * to auth/; keyring_add_file calls it for a file that holds JSON).
 */
#ifndef BERTH_AUTH_JWKS_H
#define BERTH_AUTH_JWKS_H

#include <stddef.h>

#include "auth/keys.h"

/* Add every RSA and EC signing key of the set text[0..len) (read from
 * `path`, named in messages) to kr under its "kid"; *found counts them.
 * Returns 0 or BERR_CONFIG with the key and the reason. */
int keyring_add_jwks(struct keyring *kr, const char *path, const char *text, size_t len,
                     size_t *found);

#endif
