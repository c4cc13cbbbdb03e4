/*
 * respond.h - the one way handlers build responses.
 *
 * A response is a status, up to RESP_MAX_HEADERS headers, and one of: no
 * body, an owned memory body, a range of a storage reader (sent with
 * sendfile when the reader has a file descriptor, else read block by block
 * with read_at), or for HEAD only a Content-Length. Every response also gets
 * Docker-Distribution-API-Version from server/http.c.
 */
#ifndef BERTH_RESPOND_H
#define BERTH_RESPOND_H

#include <stdint.h>

#include <jansson.h>

#include "server/request.h"

/* Status with an empty body. */
void respond_status(struct request *r, int status);
/* Add a header (value formatted, copied). Extra headers beyond the limit are dropped with a log
 * line. */
void respond_header(struct request *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Memory body; takes ownership of body (freed with free()). */
void respond_body(struct request *r, int status, const char *content_type, char *body, size_t len);
/* JSON body from a jansson value; takes ownership of (decrefs) v. */
void respond_json(struct request *r, int status, const char *content_type, json_t *v);
/* Stored body: [offset, offset+length) of rd, within rd->size; takes
 * ownership of rd (freed with the response). */
void respond_reader(struct request *r, int status, const char *content_type,
                    struct driver_reader *rd, int64_t offset, int64_t length);
/* HEAD: headers only, announcing `length` bytes. */
void respond_head(struct request *r, int status, const char *content_type, int64_t length);
/* Release everything the response owns. */
void response_release(struct response *resp);

#endif
