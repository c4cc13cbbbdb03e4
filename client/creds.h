/*
 * creds.h - registry credentials on disk.
 *
 * Berth keeps its own file (same shape as Docker's: {"auths": {"host":
 * {"auth": base64(user:pass)}}}) with mode 0600, and also reads Docker's
 * ~/.docker/config.json `auths`, so a `docker login` is a `berth login`.
 * Files:
 *   berth:  $BERTH_AUTH_FILE, else $XDG_CONFIG_HOME/berth/auth.json,
 *           else ~/.config/berth/auth.json
 *   docker: $DOCKER_CONFIG/config.json, else ~/.docker/config.json
 */
#ifndef BERTH_CLIENT_CREDS_H
#define BERTH_CLIENT_CREDS_H

/* The path of Berth's credential file (caller frees). */
char *creds_path(void);

/* Find credentials for host ("host[:port]"): Berth's file first, then
 * Docker's. Keys such as "https://host/v1/" match host too. On success
 * *user_out and *pass_out are owned by the caller. Returns 0,
 * BERR_NOT_FOUND, or BERR_CONFIG for a malformed file. */
int creds_lookup(char **user_out, char **pass_out, const char *host);

/* Store credentials for host in Berth's file (created with mode 0600,
 * replaced atomically). Returns 0, BERR_IO or BERR_CONFIG. */
int creds_store(const char *host, const char *user, const char *pass);

/* Remove host from Berth's file. Returns 0, BERR_NOT_FOUND or BERR_IO. */
int creds_erase(const char *host);

#endif
