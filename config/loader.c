/*
 * loader.c - walks the options table: defaults < file < env < argv.
 *
 * Every value is parsed by its row's type and checked against its bounds; an
 * unknown key or bad value is a start-up error naming the key and where it
 * came from. List options accumulate: each source that sets a list replaces
 * the lists of lower sources, and within one source the key may repeat.
 */
#include "config/config.h"

#include "image/base/buf.h"
#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CONFIG_LINE_MAX 8192

static void *field(struct config *c, const struct option_def *o)
{
    return (char *)c + o->offset;
}

static const void *cfield(const struct config *c, const struct option_def *o)
{
    return (const char *)c + o->offset;
}

static const struct option_def *option_find(const char *name, size_t len)
{
    for (size_t i = 0; i < config_options_count; i++) {
        const char *n = config_options[i].name;
        if (strlen(n) == len && memcmp(n, name, len) == 0)
            return &config_options[i];
    }
    return NULL;
}

static int parse_int(const char *s, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0')
        return berr_set(BERR_CONFIG, "'%s' is not an integer", s);
    *out = v;
    return 0;
}

int config_parse_duration(const char *s, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0)
        return berr_set(BERR_CONFIG, "'%s' is not a duration (like 90s, 15m, 24h, 7d)", s);
    long long mul = 1;
    if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
        mul = 1;
    else if (strcmp(end, "m") == 0)
        mul = 60;
    else if (strcmp(end, "h") == 0)
        mul = 3600;
    else if (strcmp(end, "d") == 0)
        mul = 86400;
    else
        return berr_set(BERR_CONFIG, "'%s' is not a duration (like 90s, 15m, 24h, 7d)", s);
    if (v > INT64_MAX / mul)
        return berr_set(BERR_CONFIG, "duration '%s' is too large", s);
    *out = v * mul;
    return 0;
}

int config_parse_size(const char *s, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0)
        return berr_set(BERR_CONFIG, "'%s' is not a size (like 4096, 64k, 4MiB, 1g)", s);
    long long mul;
    char unit = (char)tolower((unsigned char)*end);
    const char *rest = *end ? end + 1 : end;
    switch (unit) {
    case '\0':
        mul = 1;
        break;
    case 'b':
        mul = 1;
        break;
    case 'k':
        mul = 1LL << 10;
        break;
    case 'm':
        mul = 1LL << 20;
        break;
    case 'g':
        mul = 1LL << 30;
        break;
    default:
        return berr_set(BERR_CONFIG, "'%s' is not a size (like 4096, 64k, 4MiB, 1g)", s);
    }
    if (unit != '\0' && unit != 'b' && *rest && strcasecmp(rest, "ib") != 0 &&
        strcasecmp(rest, "b") != 0)
        return berr_set(BERR_CONFIG, "'%s' is not a size (like 4096, 64k, 4MiB, 1g)", s);
    if (v > INT64_MAX / mul)
        return berr_set(BERR_CONFIG, "size '%s' is too large", s);
    *out = v * mul;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on") || !strcmp(s, "1"))
        *out = 1;
    else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off") || !strcmp(s, "0"))
        *out = 0;
    else
        return berr_set(BERR_CONFIG, "'%s' is not a boolean (true/false)", s);
    return 0;
}

static void list_clear(struct config_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static void list_add(struct config_list *l, const char *v)
{
    l->items = xrealloc(l->items, (l->n + 1) * sizeof(*l->items));
    l->items[l->n++] = xstrdup(v);
}

/* Which source last set each list option, so a higher source replaces it. */
struct load_state {
    int list_source[64];
};

/* Set option o from text v coming from `source` (1 default, 2 file, 3 env, 4 argv). */
static int option_set(struct config *c, struct load_state *st, const struct option_def *o,
                      const char *v, int source, const char *where)
{
    int rc = 0;
    int64_t n = 0;
    switch (o->type) {
    case OPT_STRING: {
        char **p = field(c, o);
        free(*p);
        *p = xstrdup(v);
        return 0;
    }
    case OPT_LIST: {
        struct config_list *l = field(c, o);
        size_t idx = (size_t)(o - config_options);
        if (idx < 64 && st->list_source[idx] != source) {
            list_clear(l);
            st->list_source[idx] = source;
        }
        if (*v)
            list_add(l, v);
        return 0;
    }
    case OPT_BOOL:
        rc = parse_bool(v, field(c, o));
        break;
    case OPT_INT:
        rc = parse_int(v, &n);
        break;
    case OPT_DURATION:
        rc = config_parse_duration(v, &n);
        break;
    case OPT_SIZE:
        rc = config_parse_size(v, &n);
        break;
    }
    if (rc < 0)
        return berr_set(BERR_CONFIG, "%s: %s: %s", where, o->name, berr_message());
    if (o->type != OPT_BOOL) {
        if (n < o->min || n > o->max)
            return berr_set(BERR_CONFIG, "%s: %s = %s is out of range (%" PRId64 " to %" PRId64 ")",
                            where, o->name, v, o->min, o->max);
        *(int64_t *)field(c, o) = n;
    }
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int load_file(struct config *c, struct load_state *st, const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return berr_set(BERR_CONFIG, "cannot open config file '%s': %s", path, strerror(errno));
    char line[CONFIG_LINE_MAX];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof(line), fp)) {
        lineno++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = berr_set(BERR_CONFIG, "%s:%d: expected 'key = value'", path, lineno);
            goto out;
        }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        size_t vl = strlen(val);
        if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
            val[vl - 1] = '\0';
            val++;
        }
        const struct option_def *o = option_find(key, strlen(key));
        if (!o) {
            rc = berr_set(BERR_CONFIG, "%s:%d: unknown key '%s'", path, lineno, key);
            goto out;
        }
        char where[600];
        snprintf(where, sizeof(where), "%s:%d", path, lineno);
        rc = option_set(c, st, o, val, 2, where);
        if (rc < 0)
            goto out;
    }
out:
    fclose(fp);
    return rc;
}

static int default_data_dir(char **out)
{
    if (geteuid() == 0) {
        *out = xstrdup("/var/lib/berth");
        return 0;
    }
    const char *xdg = getenv("XDG_DATA_HOME");
    if (xdg && *xdg) {
        *out = xasprintf("%s/berth", xdg);
        return 0;
    }
    const char *home = getenv("HOME");
    if (!home || !*home)
        return berr_set(BERR_CONFIG, "no HOME: set --data or BERTH_DATA");
    *out = xasprintf("%s/.local/share/berth", home);
    return 0;
}

int config_load(struct config *out, int argc, char **argv)
{
    struct load_state st;
    memset(&st, 0, sizeof(st));
    memset(out, 0, sizeof(*out));
    int rc;
    for (size_t i = 0; i < config_options_count; i++) {
        rc = option_set(out, &st, &config_options[i], config_options[i].def, 1, "default");
        if (rc < 0)
            return rc;
    }
    /* --config FILE (argv beats env) */
    const char *file = getenv("BERTH_CONFIG");
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            file = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9))
            file = argv[i] + 9;
    }
    if (file && *file) {
        rc = load_file(out, &st, file);
        if (rc < 0)
            return rc;
    }
    for (size_t i = 0; i < config_options_count; i++) {
        const char *v = getenv(config_options[i].env);
        if (!v)
            continue;
        rc = option_set(out, &st, &config_options[i], v, 3, config_options[i].env);
        if (rc < 0)
            return rc;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0)
            return berr_set(BERR_CONFIG, "unexpected argument '%s'", a);
        a += 2;
        const char *eq = strchr(a, '=');
        size_t klen = eq ? (size_t)(eq - a) : strlen(a);
        const char *val;
        if (klen == 6 && !strncmp(a, "config", 6)) {
            if (!eq)
                i++;
            continue;
        }
        const struct option_def *o = option_find(a, klen);
        if (!o)
            return berr_set(BERR_CONFIG, "unknown option '--%.*s' (see --help)", (int)klen, a);
        if (eq)
            val = eq + 1;
        else if (o->type == OPT_BOOL && (i + 1 >= argc || !strncmp(argv[i + 1], "--", 2)))
            val = "true";
        else if (i + 1 < argc)
            val = argv[++i];
        else
            return berr_set(BERR_CONFIG, "option '--%s' needs a value", o->name);
        rc = option_set(out, &st, o, val, 4, "command line");
        if (rc < 0)
            return rc;
    }
    if (log_level_parse(out->log_level) < 0)
        return berr_set(BERR_CONFIG, "log-level: '%s' is not error, warn, info or debug",
                        out->log_level);
    if (strcmp(out->storage_driver, "fs") && strcmp(out->storage_driver, "mem"))
        return berr_set(BERR_CONFIG, "storage.driver: '%s' is not fs or mem", out->storage_driver);
    if (strcmp(out->auth_mode, "none") && strcmp(out->auth_mode, "htpasswd") &&
        strcmp(out->auth_mode, "token"))
        return berr_set(BERR_CONFIG, "auth.mode: '%s' is not none, htpasswd or token",
                        out->auth_mode);
    if ((*out->tls_cert != '\0') != (*out->tls_key != '\0'))
        return berr_set(BERR_CONFIG, "tls.cert and tls.key go together");
    if (*out->data_dir == '\0') {
        free(out->data_dir);
        out->data_dir = NULL;
        rc = default_data_dir(&out->data_dir);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void config_release(struct config *c)
{
    for (size_t i = 0; i < config_options_count; i++) {
        const struct option_def *o = &config_options[i];
        if (o->type == OPT_STRING) {
            char **p = field(c, o);
            free(*p);
            *p = NULL;
        } else if (o->type == OPT_LIST) {
            list_clear(field(c, o));
        }
    }
}

static void value_print(const struct config *c, const struct option_def *o, FILE *fp)
{
    switch (o->type) {
    case OPT_STRING:
        fprintf(fp, "%s = %s\n", o->name, *(char *const *)cfield(c, o));
        break;
    case OPT_BOOL:
        fprintf(fp, "%s = %s\n", o->name, *(const int *)cfield(c, o) ? "true" : "false");
        break;
    case OPT_INT:
    case OPT_DURATION:
    case OPT_SIZE:
        fprintf(fp, "%s = %" PRId64 "%s\n", o->name, *(const int64_t *)cfield(c, o),
                o->type == OPT_DURATION ? "s" : "");
        break;
    case OPT_LIST: {
        const struct config_list *l = cfield(c, o);
        if (l->n == 0)
            fprintf(fp, "# %s (empty list)\n", o->name);
        for (size_t i = 0; i < l->n; i++)
            fprintf(fp, "%s = %s\n", o->name, l->items[i]);
        break;
    }
    }
}

void config_print(const struct config *c, FILE *fp)
{
    for (size_t i = 0; i < config_options_count; i++)
        value_print(c, &config_options[i], fp);
}

static const char *type_name(enum opt_type t)
{
    switch (t) {
    case OPT_STRING:
        return "string";
    case OPT_INT:
        return "integer";
    case OPT_BOOL:
        return "boolean";
    case OPT_DURATION:
        return "duration";
    case OPT_SIZE:
        return "size";
    case OPT_LIST:
        return "list";
    }
    return "?";
}

void config_usage(FILE *fp, const char *prog)
{
    fprintf(fp,
            "usage: %s [serve] [--OPTION VALUE]...\n"
            "       %s gc [--dry-run] [--delete-untagged] [--grace DURATION] [-v] [--config FILE]\n"
            "       %s fsck [--deep] [--repair] [--config FILE]\n"
            "       %s --print-config | --print-config-doc | --help\n\n"
            "options (config-file key, environment variable):\n",
            prog, prog, prog, prog);
    fprintf(fp, "  --config FILE  (BERTH_CONFIG)  read 'key = value' lines from FILE\n");
    for (size_t i = 0; i < config_options_count; i++) {
        const struct option_def *o = &config_options[i];
        fprintf(fp, "  --%s %s  (%s, default '%s')\n      %s\n", o->name, type_name(o->type),
                o->env, o->def, o->help);
    }
}

void config_print_doc(FILE *fp)
{
    fprintf(fp, "# berthd configuration\n\n"
                "Generated by `berthd --print-config-doc` from the options table "
                "(config/options.c); do not edit by hand.\n\n"
                "Sources, lowest to highest precedence: defaults, the config file "
                "(`--config FILE` or `BERTH_CONFIG`; `key = value` lines, `#` comments, list keys "
                "repeat), environment variables, command-line flags (`--key value`). An unknown "
                "key or an out-of-range value stops start-up with an error naming it. Durations "
                "take s/m/h/d suffixes, sizes k/m/g (binary).\n\n"
                "| key / flag | environment | type | default | range | meaning |\n"
                "|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < config_options_count; i++) {
        const struct option_def *o = &config_options[i];
        char range[64] = "";
        if (o->type == OPT_INT || o->type == OPT_DURATION || o->type == OPT_SIZE)
            snprintf(range, sizeof(range), "%" PRId64 "–%" PRId64, o->min, o->max);
        fprintf(fp, "| `%s` | `%s` | %s | `%s` | %s | %s |\n", o->name, o->env, type_name(o->type),
                o->def, range, o->help);
    }
}
