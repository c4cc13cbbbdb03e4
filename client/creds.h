/*
 * creds.h - registry credentials.
 *
 * Berth keeps its own file (same shape as Docker's: {"auths": {"host":
 * {"auth": base64(user:pass)}}}) with mode 0600, and also reads Docker's
 * config.json, so a `docker login` is a `berth login`: its credential
 * helpers ("credHelpers": {"host": "name"}, else "credsStore": "name", run as
 * docker-credential-<name>, see credhelper.h) and its plain "auths".
 * Files:
 *   berth:  $BERTH_AUTH_FILE, else $XDG_CONFIG_HOME/berth/auth.json,
 *           else ~/.config/berth/auth.json
 *   docker: $DOCKER_CONFIG/config.json, else ~/.docker/config.json
 */
#ifndef BERTH_CLIENT_CREDS_H
#define BERTH_CLIENT_CREDS_H

/* The path of Berth's credential file (caller frees). */
char *creds_path(void);

/* Find credentials for host ("host[:port]"): Berth's file first, then the
 * credential helper Docker's config names for host (a helper that fails is
 * logged as a warning and skipped), then that config's "auths". Keys such as
 * "https://host/v1/" match host too. On success *user_out and *pass_out are
 * owned by the caller. Returns 0, BERR_NOT_FOUND, or BERR_CONFIG for a
 * malformed file. */
int creds_lookup(char **user_out, char **pass_out, const char *host);

/* The credential helper Docker's config names for host, or NULL (caller
 * frees). */
char *creds_helper_for(const char *host);

/* Store credentials for host: with the credential helper Docker's config
 * names for host when there is one (and then host leaves Berth's file, where
 * it would shadow the helper), else in Berth's file (created with mode 0600,
 * replaced atomically). Returns 0, BERR_IO or BERR_CONFIG. */
int creds_store(const char *host, const char *user, const char *pass);

/* Forget host: erase it from its credential helper (when Docker's config
 * names one) and from Berth's file. Returns 0, BERR_NOT_FOUND (in neither),
 * BERR_CONFIG (the helper failed) or BERR_IO. */
int creds_erase(const char *host);

#endif
