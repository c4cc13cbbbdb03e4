/*
 * err.c - thread-local error message behind the BERR_* codes.
 *
 * The message lives in a fixed thread-local buffer: setting it never
 * allocates, so it is safe on out-of-memory paths.
 */
#include "image/base/err.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char err_msg[512];

int berr_set(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
    va_end(ap);
    return code;
}

const char *berr_message(void)
{
    return err_msg;
}

void berr_clear(void)
{
    err_msg[0] = '\0';
}

const char *berr_name(int code)
{
    switch (code) {
    case BERR_OK:
        return "ok";
    case BERR_INTERNAL:
        return "internal error";
    case BERR_IO:
        return "storage i/o error";
    case BERR_DB:
        return "metadata database error";
    case BERR_INVALID:
        return "invalid input";
    case BERR_NOT_FOUND:
        return "not found";
    case BERR_EXISTS:
        return "already exists";
    case BERR_NAME_INVALID:
        return "name invalid";
    case BERR_NAME_UNKNOWN:
        return "name unknown";
    case BERR_TAG_INVALID:
        return "tag invalid";
    case BERR_DIGEST_INVALID:
        return "digest invalid";
    case BERR_UNSUPPORTED:
        return "unsupported";
    case BERR_BLOB_UNKNOWN:
        return "blob unknown";
    case BERR_UPLOAD_UNKNOWN:
        return "blob upload unknown";
    case BERR_UPLOAD_INVALID:
        return "blob upload invalid";
    case BERR_RANGE:
        return "range invalid";
    case BERR_SIZE_INVALID:
        return "size invalid";
    case BERR_MANIFEST_UNKNOWN:
        return "manifest unknown";
    case BERR_MANIFEST_INVALID:
        return "manifest invalid";
    case BERR_MANIFEST_BLOB_UNKNOWN:
        return "manifest blob unknown";
    case BERR_TOO_LARGE:
        return "too large";
    case BERR_UNAUTHORIZED:
        return "unauthorized";
    case BERR_DENIED:
        return "denied";
    case BERR_TOOMANY:
        return "too many requests";
    case BERR_CONFIG:
        return "configuration error";
    case BERR_BUSY:
        return "busy";
    case BERR_RANGE_NOT_SATISFIABLE:
        return "range not satisfiable";
    }
    return "unknown error";
}
