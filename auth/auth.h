/*
 * auth.h - authentication and authorization for berthd, independent of HTTP.
 *
 * The server calls this module once per request, before any handler, with
 * plain strings (method, repository, Authorization header, client address),
 * and turns the result into a response: 0 = go on; BERR_UNAUTHORIZED = 401
 * with `WWW-Authenticate: <result.challenge>`; BERR_DENIED = 403;
 * BERR_TOOMANY = 429 with `Retry-After: <result.retry_after>`;
 * BERR_NAME_INVALID = 400 NAME_INVALID; anything else = 500.
 *
 * Modes (struct auth_settings.mode):
 *   none      no authentication; every request is allowed.
 *   htpasswd  HTTP Basic against an htpasswd file (bcrypt $2y$/$2b$ only);
 *             the access rules decide; requests without credentials (or
 *             with an empty user and password, as skopeo and podman send
 *             them) are anonymous and get what the `anonymous` rules give.
 *   token     Docker token flow: Bearer JWTs signed by a trusted issuer
 *             (RS256/ES256...; `kid` or `x5c`), checked for iss, aud,
 *             nbf/exp (with leeway) and an `access` claim that covers the
 *             request. Optionally berthd is its own issuer
 *             (auth_token_issue), authenticating users from htpasswd and
 *             granting what the access rules allow.
 *
 * Access rules: "<principal> <repo-pattern> <actions>", principal = a user
 * name, "@group", "anonymous" (everyone, logged in or not) or "*" (every
 * authenticated user); pattern = exact name or glob where "*" matches within
 * one path component and "**" across components ("team-a/\*", "public/\*\*");
 * actions = pull,push,delete or "*". A caller gets the UNION of the actions
 * of every rule that applies to it; admins get everything. There are no deny
 * rules. With no rules and no admins, nobody has access (except in mode none).
 *
 * Threads: auth_new/auth_free once, from one thread. auth_check,
 * auth_can_pull, auth_can_list and auth_token_issue may be called
 * concurrently from any number of threads.
 *
 * Secrets (passwords, tokens, keys) are never logged and are compared in
 * constant time.
 */
#ifndef BERTH_AUTH_H
#define BERTH_AUTH_H

#include <stddef.h>
#include <time.h>

/* Actions, as a bit mask. AUTH_STAR is the literal "*" action (the catalog
 * scope is registry:catalog:*); AUTH_ALL is what "*" grants. */
#define AUTH_PULL   0x1u
#define AUTH_PUSH   0x2u
#define AUTH_DELETE 0x4u
#define AUTH_STAR   0x8u
#define AUTH_ALL    0xfu

enum auth_mode { AUTH_MODE_NONE = 0, AUTH_MODE_HTPASSWD = 1, AUTH_MODE_TOKEN = 2 };

/* Everything the module needs from the configuration. Strings and arrays
 * are borrowed for the duration of auth_new only (auth copies what it
 * keeps). Call auth_settings_init first: it sets every default. */
struct auth_settings {
    enum auth_mode mode;      /* auth.mode */
    const char *htpasswd;     /* auth.htpasswd: path (htpasswd mode, built-in issuer) */
    const char *basic_realm;  /* auth.basic-realm: realm of the Basic challenge */
    unsigned basic_cache_ttl; /* auth.basic-cache-ttl: s a verified password is cached; 0 off */

    /* token mode: verifying */
    const char *realm;       /* auth.token.realm: token endpoint URL in the challenge */
    const char *service;     /* auth.token.service: our name, the required `aud` */
    const char *issuer;      /* auth.token.issuer: the required `iss` */
    const char *const *keys; /* auth.token.key (repeatable): PEM files of trusted */
    size_t nkeys;            /*   certificates / public keys, found by `kid` */
    const char *rootcerts;   /* auth.token.rootcerts: CA bundle for `x5c` chains */
    unsigned leeway;         /* auth.token.leeway: s of clock skew on nbf/exp */

    /* token mode: the built-in issuer (ignored in the other modes) */
    int issuer_enabled;      /* auth.issuer.enabled */
    const char *signing_key; /* auth.issuer.key: path; generated when absent */
    const char *key_type;    /* auth.issuer.key-type: "ec" (ES256) or "rsa" (RS256) */
    unsigned token_ttl;      /* auth.issuer.ttl: access token lifetime, s */
    unsigned refresh_ttl;    /* auth.issuer.refresh-ttl: refresh token lifetime, s; 0 off */

    /* access rules */
    const char *const *rules; /* auth.rule (repeatable): "<principal> <pattern> <actions>" */
    size_t nrules;
    const char *const *admins; /* auth.admin (repeatable): user or @group */
    size_t nadmins;
    const char *const *groups; /* auth.group (repeatable): "name: user,user" */
    size_t ngroups;

    /* failed logins */
    unsigned ratelimit_failures; /* auth.ratelimit.failures: per address and window; 0 off */
    unsigned ratelimit_window;   /* auth.ratelimit.window: s */

    /* for tests: the clock (NULL = time()) */
    time_t (*clock)(void);
};

/* Defaults: mode none, basic_realm "berth", service "berth", issuer "berth",
 * leeway 60, key_type "ec", token_ttl 300, refresh_ttl 30 days,
 * ratelimit 5 failures / 60 s, basic_cache_ttl 60; everything else empty. */
void auth_settings_init(struct auth_settings *s);

/* Parse "none" / "htpasswd" / "token"; returns the mode or -1. */
int auth_mode_parse(const char *s);
/* "none" / "htpasswd" / "token". */
const char *auth_mode_name(enum auth_mode mode);

struct auth;

/* Build the authenticator: load the htpasswd file, trusted keys and CA
 * bundle, parse the rules, and (built-in issuer) load or generate the
 * signing key, logging its path (never its content). Returns 0 or
 * BERR_CONFIG with a message naming the offending setting or file. */
int auth_new(struct auth **out, const struct auth_settings *s);
/* Free; accepts NULL. */
void auth_free(struct auth *a);
enum auth_mode auth_get_mode(const struct auth *a);

/* One request to authorize. Names must already be valid repository names. */
struct auth_request {
    const char *method;        /* "GET"...: logs, and the default of `actions` */
    const char *repo;          /* repository; NULL for /v2/ and for the catalog */
    unsigned actions;          /* AUTH_* needed on repo; 0 = from method: GET/HEAD pull,
                                * POST/PUT/PATCH pull+push, DELETE delete */
    int catalog;               /* 1 for /v2/_catalog (needs registry:catalog:*) */
    const char *mount_from;    /* cross-repository mount source (?from=), or NULL */
    const char *authorization; /* the Authorization header, or NULL */
    const char *client_addr;   /* numeric client address (rate limiting, logs), or NULL */
    const char *request_id;    /* for log lines, or NULL */
    const char *base_url;      /* "http(s)://host[:port]" the client used: the realm of the
                                * built-in issuer when auth.token.realm is empty; or NULL */
};

struct auth_grant; /* private: what the caller holds */

/* The outcome of auth_check. Zero it before the first use; release it in the
 * request-completed callback. */
struct auth_result {
    char *subject;        /* owned: the authenticated user; NULL = anonymous */
    char *challenge;      /* owned: WWW-Authenticate value when BERR_UNAUTHORIZED */
    unsigned retry_after; /* seconds for Retry-After when BERR_TOOMANY */
    int mount_ok;         /* 1 when the caller may pull mount_from; if 0 the server
                           * must ignore the mount and open a normal upload (202) */
    struct auth_grant *grant;
};

/* Authenticate and authorize one request. Returns 0 (allowed),
 * BERR_UNAUTHORIZED (out->challenge set: "Basic realm=..." or
 * "Bearer realm=...,service=...[,scope=...][,error=...]"), BERR_DENIED
 * (authenticated but not allowed), BERR_TOOMANY (out->retry_after set),
 * BERR_NAME_INVALID (repo or mount_from is not a valid name) or
 * BERR_INTERNAL. In token mode a token that does not cover the request is
 * 401 with error="insufficient_scope", so clients fetch a larger token.
 * The previous content of *out is released first. */
int auth_check(struct auth *a, const struct auth_request *rq, struct auth_result *out);

/* Free the fields of *r; it is zeroed and reusable. Accepts a zeroed struct. */
void auth_result_release(struct auth_result *r);

/* 1 when the caller described by `who` (a result of a successful auth_check)
 * may pull `repo`, else 0. Use it to choose the repositories a mount without
 * `from` may take a blob from. Mode none: always 1. Token mode: the token's
 * access claim, or the access rules for the token's subject. */
int auth_can_pull(struct auth *a, const struct auth_result *who, const char *repo);

/* Like auth_can_pull, for filtering the catalog: in token mode with no
 * local rules (an external issuer decides) a token holding
 * registry:catalog:* may list every repository. */
int auth_can_list(struct auth *a, const struct auth_result *who, const char *repo);

/* ---- built-in token issuer (the realm endpoint) ------------------------ */

/* One decoded query parameter; repeats keep their order. */
struct auth_param {
    const char *name;
    const char *value; /* decoded: %XX and '+' already turned into bytes */
};

/* A request to the token endpoint.
 *   GET  ?service=&scope=&scope=...&offline_token=true&client_id=
 *        with `Authorization: Basic` or anonymous;
 *   POST application/x-www-form-urlencoded body: grant_type=password
 *        (username, password, access_type=offline) or
 *        grant_type=refresh_token (refresh_token), service, client_id,
 *        scope (space-separated). */
struct auth_token_request {
    const char *method;             /* "GET" or "POST" */
    const struct auth_param *query; /* decoded query parameters (GET) */
    size_t nquery;
    const char *form; /* raw POST body (not decoded), or NULL */
    size_t form_len;
    const char *authorization; /* Authorization header or NULL */
    const char *client_addr;   /* numeric client address or NULL */
    const char *request_id;    /* for log lines, or NULL */
};

/* The answer of the token endpoint. Zero it before use. */
struct auth_token_response {
    char *body;           /* owned: JSON for 200 (application/json): token,
                           * access_token, expires_in, issued_at, scope and,
                           * when asked for, refresh_token */
    char *challenge;      /* owned: WWW-Authenticate when BERR_UNAUTHORIZED */
    unsigned retry_after; /* when BERR_TOOMANY */
};

/* Serve one token request. Returns 0 (200 with out->body), BERR_UNAUTHORIZED
 * (bad credentials or refresh token: 401 with out->challenge),
 * BERR_TOOMANY (429, out->retry_after), BERR_INVALID (400: unknown
 * grant_type, wrong service, malformed scope, missing field), BERR_NOT_FOUND
 * (the issuer is not enabled: 404) or BERR_INTERNAL. A partial or empty
 * grant is not an error. The previous content of *out is released first. */
int auth_token_issue(struct auth *a, const struct auth_token_request *rq,
                     struct auth_token_response *out);

/* Free the fields of *r; it is zeroed and reusable. */
void auth_token_response_release(struct auth_token_response *r);

#endif
