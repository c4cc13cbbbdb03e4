/*
 * credhelper.h - Docker credential helpers.
 *
 * A helper is a program `docker-credential-<name>` found on PATH, named by
 * "credsStore" or "credHelpers" in Docker's config.json. The protocol
 * (docker/docker-credential-helpers):
 *   get    stdin: the server URL        stdout: {"ServerURL","Username","Secret"}
 *   store  stdin: {"ServerURL","Username","Secret"}
 *   erase  stdin: the server URL
 * Exit status 0 is success; otherwise stdout holds the error message, and
 * "credentials not found in native keychain" means there is nothing stored.
 * A Username of "<token>" marks Secret as an identity token (OAuth2 refresh
 * token), which Berth does not use.
 */
#ifndef BERTH_CLIENT_CREDHELPER_H
#define BERTH_CLIENT_CREDHELPER_H

/* 1 when name is usable as a helper name: 1-64 of [A-Za-z0-9._-], not
 * starting with '.' (so "docker-credential-<name>" is a plain program name). */
int credhelper_name_valid(const char *name);

/* The server URL helpers know host by: "https://index.docker.io/v1/" for
 * Docker Hub (as `docker login` stores it), else host itself (caller frees). */
char *credhelper_server_url(const char *host);

/* Ask helper `name` for the credentials of server_url. On success
 * *user_out and *secret_out are owned by the caller. Returns 0,
 * BERR_NOT_FOUND (nothing stored, or only an identity token) or BERR_CONFIG
 * (invalid name, helper missing, failed, timed out or answered garbage; the
 * message says which). */
int credhelper_get(char **user_out, char **secret_out, const char *name, const char *server_url);

/* Store credentials with helper `name`. Returns 0 or BERR_CONFIG. */
int credhelper_store(const char *name, const char *server_url, const char *user,
                     const char *secret);

/* Erase the credentials of server_url from helper `name`. Returns 0,
 * BERR_NOT_FOUND (none stored) or BERR_CONFIG. */
int credhelper_erase(const char *name, const char *server_url);

#endif
