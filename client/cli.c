/*
 * cli.c - exit statuses, error printing and reference defaults shared by the
 * `berth` subcommands (see cli.h). The mapping from BERR_* codes to exit
 * statuses lives here and nowhere else.
 */
#include "client/cli.h"

#include "image/base/err.h"
#include "image/base/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_exit_code(int rc)
{
    switch (rc) {
    case BERR_OK:
        return CLI_EXIT_OK;
    case BERR_NAME_INVALID:
    case BERR_TAG_INVALID:
        return CLI_EXIT_USAGE;
    case BERR_NOT_FOUND:
    case BERR_NAME_UNKNOWN:
    case BERR_BLOB_UNKNOWN:
    case BERR_MANIFEST_UNKNOWN:
        return CLI_EXIT_NOTFOUND;
    case BERR_UNAUTHORIZED:
    case BERR_DENIED:
        return CLI_EXIT_AUTH;
    case BERR_IO:
    case BERR_TOOMANY:
        return CLI_EXIT_NETWORK;
    case BERR_DIGEST_INVALID:
    case BERR_SIZE_INVALID:
        return CLI_EXIT_VERIFY;
    }
    return CLI_EXIT_FAIL;
}

int cli_fail(int rc)
{
    const char *m = berr_message();
    fprintf(stderr, "berth: %s\n", m && *m ? m : berr_name(rc));
    return cli_exit_code(rc);
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "berth %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (berth help %s)\n", cmd);
    return CLI_EXIT_USAGE;
}

int cli_ref_parse(struct reference *out, const struct cli *cli, const char *s)
{
    memset(out, 0, sizeof(*out));
    int rc = reference_parse(out, s);
    if (rc < 0)
        return rc;
    if (!out->host)
        out->host = xstrdup(cli->registry);
    return 0;
}

char *cli_ref_string(const struct reference *ref)
{
    if (ref->digest)
        return xasprintf("%s/%s@%s", ref->host, ref->name, ref->digest);
    return xasprintf("%s/%s:%s", ref->host, ref->name, ref->tag ? ref->tag : "latest");
}

static int host_is_loopback(const char *host)
{
    size_t n = strcspn(host, ":");
    if (host[0] == '[')
        return strncmp(host, "[::1]", 5) == 0;
    return (n == 9 && strncmp(host, "localhost", 9) == 0) || strncmp(host, "127.", 4) == 0;
}

int cli_host_plain_http(const struct cli *cli, const char *host)
{
    if (host_is_loopback(host))
        return 1;
    const char *p = cli->insecure;
    size_t hlen = strlen(host);
    while (p && *p) {
        size_t n = strcspn(p, ",");
        if (n == hlen && strncmp(p, host, n) == 0)
            return 1;
        p += n;
        while (*p == ',')
            p++;
    }
    return 0;
}
