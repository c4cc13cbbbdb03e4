/*
 * err.h - the one error type of Berth.
 *
 * Functions return 0 on success or a negative BERR_* code, and set a
 * thread-local message with berr_set(). Callers propagate codes unchanged;
 * only server/errmap.c turns a code into an OCI error code and HTTP status,
 * and only client/ turns one into an exit status.
 */
#ifndef BERTH_ERR_H
#define BERTH_ERR_H

enum berr {
    BERR_OK = 0,
    BERR_INTERNAL = -1,               /* a bug or an unexpected library failure */
    BERR_IO = -2,                     /* a storage I/O failure (disk full, EIO...) */
    BERR_DB = -3,                     /* the metadata database failed */
    BERR_INVALID = -4,                /* malformed client input (generic) */
    BERR_NOT_FOUND = -5,              /* generic absence (keys in a driver, config files) */
    BERR_EXISTS = -6,                 /* already present */
    BERR_NAME_INVALID = -10,          /* repository name fails the grammar */
    BERR_NAME_UNKNOWN = -11,          /* repository does not exist */
    BERR_TAG_INVALID = -12,           /* tag fails the grammar */
    BERR_DIGEST_INVALID = -13,        /* digest malformed or content does not match */
    BERR_UNSUPPORTED = -14,           /* valid but unsupported (digest algorithm, schema1, op) */
    BERR_BLOB_UNKNOWN = -15,          /* blob not in this repository */
    BERR_UPLOAD_UNKNOWN = -16,        /* no such upload session */
    BERR_UPLOAD_INVALID = -17,        /* upload request malformed */
    BERR_RANGE = -18,                 /* chunk out of order / overlapping (416) */
    BERR_SIZE_INVALID = -19,          /* declared size does not match content */
    BERR_MANIFEST_UNKNOWN = -20,      /* manifest not found */
    BERR_MANIFEST_INVALID = -21,      /* manifest malformed */
    BERR_MANIFEST_BLOB_UNKNOWN = -22, /* manifest references something absent */
    BERR_TOO_LARGE = -23,             /* body over the cap (413) */
    BERR_UNAUTHORIZED = -24,          /* authentication required / failed (401) */
    BERR_DENIED = -25,                /* authenticated but not allowed (403) */
    BERR_TOOMANY = -26,               /* rate limited (429) */
    BERR_CONFIG = -27,                /* configuration error */
    BERR_BUSY = -28,                  /* resource busy (concurrent use of one upload) */
    BERR_RANGE_NOT_SATISFIABLE = -29, /* GET Range outside the blob (416) */
};

/* Set the thread-local message (printf format) and return `code`. */
int berr_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The thread-local message of the last berr_set(), or "" when none. Valid
 * until the next berr_set() on this thread. */
const char *berr_message(void);

/* Clear the thread-local message. */
void berr_clear(void);

/* A stable lowercase name for a code ("blob unknown"), never NULL. */
const char *berr_name(int code);

#endif
