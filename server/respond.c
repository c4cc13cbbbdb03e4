/*
 * respond.c - response building for handlers. Owns nothing global; every
 * allocation hangs off the request's struct response.
 */
#include "server/respond.h"

#include "image/base/log.h"
#include "image/base/xalloc.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void respond_status(struct request *r, int status)
{
    r->resp.status = status;
}

void respond_header(struct request *r, const char *name, const char *fmt, ...)
{
    struct response *p = &r->resp;
    if (p->nheaders >= RESP_MAX_HEADERS) {
        log_error("req=%llu too many response headers, dropped %s", r->id, name);
        return;
    }
    va_list ap;
    char *v = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&v, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    p->hname[p->nheaders] = name;
    p->hvalue[p->nheaders] = v;
    p->nheaders++;
}

void respond_body(struct request *r, int status, const char *content_type, char *body, size_t len)
{
    free(r->resp.body);
    r->resp.status = status;
    r->resp.content_type = content_type;
    r->resp.body = body;
    r->resp.body_len = len;
}

void respond_json(struct request *r, int status, const char *content_type, json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (!s)
        abort();
    respond_body(r, status, content_type ? content_type : "application/json", s, strlen(s));
}

void respond_reader(struct request *r, int status, const char *content_type,
                    struct driver_reader *rd, int64_t offset, int64_t length)
{
    assert(offset >= 0 && length >= 0 && offset + length <= rd->size);
    if (r->resp.fd >= 0)
        close(r->resp.fd);
    driver_reader_free(r->resp.reader);
    r->resp.status = status;
    r->resp.content_type = content_type;
    /* A reader with a file goes out with sendfile; any other through read_at. */
    r->resp.fd = driver_reader_take_fd(rd);
    if (r->resp.fd >= 0) {
        driver_reader_free(rd);
        rd = NULL;
    }
    r->resp.reader = rd;
    r->resp.offset = offset;
    r->resp.length = length;
}

void respond_head(struct request *r, int status, const char *content_type, int64_t length)
{
    r->resp.status = status;
    r->resp.content_type = content_type;
    r->resp.head_length = length;
}

void response_release(struct response *p)
{
    for (int i = 0; i < p->nheaders; i++)
        free(p->hvalue[i]);
    p->nheaders = 0;
    free(p->body);
    p->body = NULL;
    free(p->ct_owned);
    p->ct_owned = NULL;
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    driver_reader_free(p->reader);
    p->reader = NULL;
}
