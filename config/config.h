/*
 * config.h - berthd's frozen configuration and the one options table.
 *
 * Every setting is a row of the options table (config/options.c): name,
 * environment variable, type, offset into struct config, default, bounds and
 * help. The loader walks the table for defaults, then the config file
 * (`key = value` lines, `#` comments, list keys may repeat), then the
 * environment (BERTH_*), then argv (--key value / --key=value). The same
 * table drives --help, --print-config and docs/config.md.
 * After config_load the struct is read-only for the life of the process.
 */
#ifndef BERTH_CONFIG_H
#define BERTH_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct config_list {
    char **items; /* owned */
    size_t n;
};

struct config {
    /* server */
    char *listen;       /* comma-separated host:port list; "localhost:5000" = 127.0.0.1 + ::1 */
    char *data_dir;     /* "" = platform default, resolved by config_load */
    int64_t threads;    /* HTTP worker threads */
    int64_t io_threads; /* pool threads that run the end of writing requests */
    int64_t max_connections;
    int64_t max_manifest;     /* bytes */
    int64_t shutdown_timeout; /* seconds */
    int64_t idle_timeout;     /* seconds a keep-alive connection may idle */
    int access_log;
    char *log_level;
    char *tls_cert;
    char *tls_key;
    /* storage */
    char *storage_driver; /* fs | mem (blobs in memory, for tests) */
    /* uploads */
    int64_t upload_expiry; /* seconds */
    int64_t upload_sweep;  /* seconds between expiry sweeps */
    /* auth */
    char *auth_mode; /* none | htpasswd | token */
    int auth_force_open;
    char *auth_htpasswd;
    char *auth_basic_realm;
    int64_t auth_basic_cache_ttl;
    char *auth_realm;
    char *auth_service;
    char *auth_issuer;
    struct config_list auth_trusted_keys;
    char *auth_root_certs;
    char *auth_signing_key;
    char *auth_key_type;
    int64_t auth_token_ttl;
    int64_t auth_refresh_ttl;
    int64_t auth_leeway;
    int auth_builtin_issuer;
    struct config_list auth_rules;
    struct config_list auth_admins;
    struct config_list auth_groups;
    int64_t auth_fail_limit;
    int64_t auth_fail_window;
    /* gc */
    int gc_enabled;
    int64_t gc_interval;
    int64_t gc_grace;
    int64_t gc_batch;
    int gc_delete_untagged;
};

enum opt_type { OPT_STRING, OPT_INT, OPT_BOOL, OPT_DURATION, OPT_SIZE, OPT_LIST };

struct option_def {
    const char *name; /* config-file key and --flag name */
    const char *env;  /* environment variable */
    enum opt_type type;
    size_t offset;    /* into struct config */
    const char *def;  /* default, as text */
    int64_t min, max; /* bounds for numeric types */
    const char *help;
};

/* The table and its length. */
extern const struct option_def config_options[];
extern const size_t config_options_count;

/* Load into *out: defaults < file (--config FILE or BERTH_CONFIG) < env <
 * argv. argv holds only options (no program name, no subcommand). Unknown
 * keys, bad values and out-of-range numbers are BERR_CONFIG with a message
 * naming the key and the source. Resolves the default data directory. */
int config_load(struct config *out, int argc, char **argv);
/* Free everything config_load allocated. */
void config_release(struct config *c);
/* Print `key = value` for every option (secrets are not options). */
void config_print(const struct config *c, FILE *fp);
/* Print usage text generated from the table. */
void config_usage(FILE *fp, const char *prog);
/* Print docs/config.md (markdown table) generated from the table. */
void config_print_doc(FILE *fp);
/* Parse "90", "90s", "15m", "24h", "7d" into seconds. Returns 0 or BERR_CONFIG. */
int config_parse_duration(const char *s, int64_t *out);
/* Parse "4096", "4k", "4MiB", "1g" into bytes. Returns 0 or BERR_CONFIG. */
int config_parse_size(const char *s, int64_t *out);

#endif
