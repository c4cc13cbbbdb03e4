/*
 * options.c - THE options table. A module adds rows here, never parsing code.
 *
 * Rows are walked by config/loader.c (defaults, file, env, argv, bounds),
 * by --help, --print-config and docs/config.md. Keep rows grouped by module
 * and the help text short, lowercase, one line.
 */
#include "config/config.h"

#include <stddef.h>

#define OFF(field) offsetof(struct config, field)
#define DAY        (24 * 3600LL)

const struct option_def config_options[] = {
    /* server */
    {"listen", "BERTH_LISTEN", OPT_STRING, OFF(listen), "localhost:5000", 0, 0,
     "addresses to serve, comma-separated host:port; localhost = 127.0.0.1 and ::1"},
    {"data", "BERTH_DATA", OPT_STRING, OFF(data_dir), "", 0, 0,
     "data directory (default /var/lib/berth for root, else ~/.local/share/berth)"},
    {"storage.driver", "BERTH_STORAGE_DRIVER", OPT_STRING, OFF(storage_driver), "fs", 0, 0,
     "where blobs live: fs (under data) or mem (in memory, lost at exit; for tests)"},
    {"threads", "BERTH_THREADS", OPT_INT, OFF(threads), "4", 1, 256,
     "http worker threads, split over the listen addresses (at least one each)"},
    {"io-threads", "BERTH_IO_THREADS", OPT_INT, OFF(io_threads), "8", 1, 1000,
     "threads that finish writes (fsync, commit) so http threads never wait on the disk"},
    {"max-connections", "BERTH_MAX_CONNECTIONS", OPT_INT, OFF(max_connections), "1024", 1, 65536,
     "concurrent client connections"},
    {"max-manifest", "BERTH_MAX_MANIFEST", OPT_SIZE, OFF(max_manifest), "4MiB", 4096, 64LL << 20,
     "largest manifest accepted (413 above)"},
    {"shutdown-timeout", "BERTH_SHUTDOWN_TIMEOUT", OPT_DURATION, OFF(shutdown_timeout), "30s", 0,
     3600, "how long SIGTERM waits for in-flight requests"},
    {"idle-timeout", "BERTH_IDLE_TIMEOUT", OPT_DURATION, OFF(idle_timeout), "120s", 1, 3600,
     "close a connection idle this long"},
    {"access-log", "BERTH_ACCESS_LOG", OPT_BOOL, OFF(access_log), "true", 0, 1,
     "log one line per request"},
    {"log-level", "BERTH_LOG_LEVEL", OPT_STRING, OFF(log_level), "info", 0, 0,
     "error, warn, info or debug"},
    {"tls.cert", "BERTH_TLS_CERT", OPT_STRING, OFF(tls_cert), "", 0, 0,
     "pem certificate chain: serve https"},
    {"tls.key", "BERTH_TLS_KEY", OPT_STRING, OFF(tls_key), "", 0, 0,
     "pem private key for tls.cert"},
    /* uploads */
    {"upload.expiry", "BERTH_UPLOAD_EXPIRY", OPT_DURATION, OFF(upload_expiry), "24h", 60, 365 * DAY,
     "an upload session idle this long is cancelled"},
    {"upload.sweep", "BERTH_UPLOAD_SWEEP", OPT_DURATION, OFF(upload_sweep), "1h", 1, DAY,
     "interval between expired-upload sweeps"},
    /* auth (see docs/auth.md) */
    {"auth.mode", "BERTH_AUTH_MODE", OPT_STRING, OFF(auth_mode), "none", 0, 0,
     "none, htpasswd or token"},
    {"auth.force-open", "BERTH_AUTH_FORCE_OPEN", OPT_BOOL, OFF(auth_force_open), "false", 0, 1,
     "allow auth.mode=none on a non-loopback address"},
    {"auth.htpasswd", "BERTH_AUTH_HTPASSWD", OPT_STRING, OFF(auth_htpasswd), "", 0, 0,
     "htpasswd file (bcrypt), reloaded when it changes"},
    {"auth.basic-realm", "BERTH_AUTH_BASIC_REALM", OPT_STRING, OFF(auth_basic_realm), "berth", 0, 0,
     "realm of the basic challenge (htpasswd mode)"},
    {"auth.basic-cache-ttl", "BERTH_AUTH_BASIC_CACHE_TTL", OPT_DURATION, OFF(auth_basic_cache_ttl),
     "60s", 0, 3600, "how long a verified password is cached; 0 off"},
    {"auth.token.realm", "BERTH_AUTH_TOKEN_REALM", OPT_STRING, OFF(auth_realm), "", 0, 0,
     "token endpoint url in the bearer challenge (built-in: http(s)://HOST/auth/token)"},
    {"auth.token.service", "BERTH_AUTH_TOKEN_SERVICE", OPT_STRING, OFF(auth_service), "berth", 0, 0,
     "service name: the audience tokens must carry"},
    {"auth.token.issuer", "BERTH_AUTH_TOKEN_ISSUER", OPT_STRING, OFF(auth_issuer), "berth", 0, 0,
     "issuer name tokens must carry (iss)"},
    {"auth.token.key", "BERTH_AUTH_TOKEN_KEY", OPT_LIST, OFF(auth_trusted_keys), "", 0, 0,
     "pem public key, certificate or jwk set that signs tokens (repeatable)"},
    {"auth.token.rootcerts", "BERTH_AUTH_TOKEN_ROOTCERTS", OPT_STRING, OFF(auth_root_certs), "", 0,
     0, "ca bundle that x5c token chains must lead to"},
    {"auth.token.leeway", "BERTH_AUTH_TOKEN_LEEWAY", OPT_DURATION, OFF(auth_leeway), "60s", 0, 600,
     "clock skew allowed on nbf and exp"},
    {"auth.issuer.enabled", "BERTH_AUTH_ISSUER_ENABLED", OPT_BOOL, OFF(auth_builtin_issuer), "true",
     0, 1, "serve the built-in token endpoint /auth/token in token mode"},
    {"auth.issuer.key", "BERTH_AUTH_ISSUER_KEY", OPT_STRING, OFF(auth_signing_key), "", 0, 0,
     "built-in issuer signing key (generated when absent; default DATA/token-key.pem)"},
    {"auth.issuer.key-type", "BERTH_AUTH_ISSUER_KEY_TYPE", OPT_STRING, OFF(auth_key_type), "ec", 0,
     0, "key generated for the built-in issuer: ec (ES256) or rsa (RS256)"},
    {"auth.issuer.ttl", "BERTH_AUTH_ISSUER_TTL", OPT_DURATION, OFF(auth_token_ttl), "5m", 60, DAY,
     "lifetime of issued access tokens"},
    {"auth.issuer.refresh-ttl", "BERTH_AUTH_ISSUER_REFRESH_TTL", OPT_DURATION,
     OFF(auth_refresh_ttl), "30d", 0, 365 * DAY, "lifetime of refresh tokens; 0 off"},
    {"auth.rule", "BERTH_AUTH_RULE", OPT_LIST, OFF(auth_rules), "", 0, 0,
     "access rule 'principal repo-pattern actions' (repeatable)"},
    {"auth.admin", "BERTH_AUTH_ADMIN", OPT_LIST, OFF(auth_admins), "", 0, 0,
     "user or @group with every right (repeatable)"},
    {"auth.group", "BERTH_AUTH_GROUP", OPT_LIST, OFF(auth_groups), "", 0, 0,
     "group 'name: user,user' (repeatable)"},
    {"auth.ratelimit.failures", "BERTH_AUTH_RATELIMIT_FAILURES", OPT_INT, OFF(auth_fail_limit), "5",
     0, 10000, "failed logins per address and window before 429; 0 off"},
    {"auth.ratelimit.window", "BERTH_AUTH_RATELIMIT_WINDOW", OPT_DURATION, OFF(auth_fail_window),
     "60s", 1, DAY, "window of auth.ratelimit.failures"},
    /* gc */
    {"gc.enabled", "BERTH_GC_ENABLED", OPT_BOOL, OFF(gc_enabled), "true", 0, 1,
     "collect garbage online on a schedule"},
    {"gc.interval", "BERTH_GC_INTERVAL", OPT_DURATION, OFF(gc_interval), "1h", 1, 30 * DAY,
     "interval between online collections"},
    {"gc.grace", "BERTH_GC_GRACE", OPT_DURATION, OFF(gc_grace), "24h", 0, 365 * DAY,
     "unreferenced blobs younger than this are kept"},
    {"gc.batch", "BERTH_GC_BATCH", OPT_INT, OFF(gc_batch), "200", 1, 100000,
     "items deleted per transaction"},
    {"gc.delete-untagged", "BERTH_GC_DELETE_UNTAGGED", OPT_BOOL, OFF(gc_delete_untagged), "false",
     0, 1, "also collect manifests no tag or index reaches"},
};

const size_t config_options_count = sizeof(config_options) / sizeof(config_options[0]);
