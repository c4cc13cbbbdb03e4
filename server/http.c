/*
 * http.c - libmicrohttpd glue.
 *
 * MHD calls the access handler several times per request: once at the
 * headers (upload_data_size == 0, *con_cls == NULL), once per body piece,
 * and once at the end. We route, validate and authorize at the headers, and
 * may answer right there (an early error, a mount); body pieces go to the
 * route's body mode; the handler runs at the end. Per-request state lives in
 * struct request and is freed only in the request-completed callback, which
 * MHD also calls for aborted connections.
 *
 * One daemon per listen address (localhost = 127.0.0.1 and ::1), each with
 * its own epoll thread pool; --threads is split between them. The end of a request that writes
 * (route_writes) waits for the disk, so it runs on the io pool (worker_defer): the connection is
 * suspended meanwhile and resumed by the pool thread, and the HTTP thread goes on serving its other
 * connections.
 */
#include "server/http.h"

#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"
#include "server/authz.h"
#include "server/errmap.h"
#include "server/respond.h"
#include "server/routes.h"
#include "server/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTP_MAX_LISTEN 16
/* Per-connection memory: MHD zeroes it on every keep-alive request, so it is
 * kept small (it bounds the body pieces handed to us; storage coalesces them). */
#define HTTP_CONN_MEMORY (64 * 1024)
#define HTTP_DRAIN_MAX   (64LL << 20) /* body bytes read to deliver an early answer */
/* A stored body without a file descriptor is read in blocks of at most this
 * much: the memory a response holds, however large the blob. */
#define HTTP_READ_BLOCK (256 * 1024)
/* GnuTLS priorities: its defaults, less TLS 1.0 and 1.1 (RFC 8996). */
#define HTTP_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct http {
    struct MHD_Daemon *daemons[HTTP_MAX_LISTEN];
    char *names[HTTP_MAX_LISTEN];
    int n;
    char *tls_cert;
    char *tls_key;
};

struct listen_addr {
    struct sockaddr_storage sa;
    socklen_t len;
    char text[80];
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static enum http_method method_of(const char *m)
{
    switch (m[0]) {
    case 'G':
        return strcmp(m, "GET") == 0 ? M_GET : M_OTHER;
    case 'H':
        return strcmp(m, "HEAD") == 0 ? M_HEAD : M_OTHER;
    case 'P':
        if (strcmp(m, "PUT") == 0)
            return M_PUT;
        if (strcmp(m, "POST") == 0)
            return M_POST;
        return strcmp(m, "PATCH") == 0 ? M_PATCH : M_OTHER;
    case 'D':
        return strcmp(m, "DELETE") == 0 ? M_DELETE : M_OTHER;
    }
    return M_OTHER;
}

static void request_free(struct request *r)
{
    if (r->upload) {
        if (r->ephemeral)
            upload_abandon(r->upload);
        else
            upload_close(r->upload);
        r->upload = NULL;
    }
    authz_request_release(r);
    buf_release(&r->body);
    response_release(&r->resp);
    free(r->path);
    free(r->name);
    free(r->ref);
    free(r->principal);
    free(r->deferred_msg);
    free(r);
}

/* HEAD responses announce a length but never produce the bytes. */
static ssize_t never_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    (void)pos;
    (void)buf;
    (void)max;
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

/* A range of a storage reader being sent (the response's own state: MHD may
 * outlive the request with it). */
struct reader_body {
    struct driver_reader *rd;
    int64_t offset, length;
    unsigned long long req_id;
};

/* MHD wants bytes [pos, pos+max) of the body: read them from the reader. */
static ssize_t reader_body_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct reader_body *b = cls;
    size_t n = 0;
    if (pos >= (uint64_t)b->length)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if ((uint64_t)max > (uint64_t)b->length - pos)
        max = (size_t)((uint64_t)b->length - pos);
    int64_t at = b->offset + (int64_t)pos;
    int rc = driver_reader_read_at(b->rd, at, buf, max, &n);
    if (rc < 0 || n == 0) {
        /* Headers announced the length: all that is left is to cut the connection. */
        log_warn("req=%llu read at %" PRId64 ": %s", b->req_id, at,
                 rc < 0 ? berr_message() : "the object ended early");
        berr_clear();
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    return (ssize_t)n;
}

static void reader_body_free(void *cls)
{
    struct reader_body *b = cls;
    driver_reader_free(b->rd);
    free(b);
}

static enum MHD_Result queue(struct request *r)
{
    struct response *p = &r->resp;
    struct MHD_Response *mr;
    if (p->fd >= 0) {
        mr = MHD_create_response_from_fd_at_offset64((uint64_t)p->length, p->fd,
                                                     (uint64_t)p->offset);
        if (mr)
            p->fd = -1; /* MHD closes it */
    } else if (p->reader) {
        struct reader_body *b = xcalloc(1, sizeof(*b));
        *b = (struct reader_body){p->reader, p->offset, p->length, r->id};
        size_t block = p->length < HTTP_READ_BLOCK ? (size_t)p->length : HTTP_READ_BLOCK;
        mr = MHD_create_response_from_callback((uint64_t)p->length, block ? block : 1,
                                               reader_body_read, b, reader_body_free);
        if (mr)
            p->reader = NULL; /* freed by reader_body_free */
        else
            free(b);
    } else if (p->head_length >= 0) {
        mr = MHD_create_response_from_callback((uint64_t)p->head_length, 4096, never_read, NULL,
                                               NULL);
    } else if (p->body) {
        mr = MHD_create_response_from_buffer(p->body_len, p->body, MHD_RESPMEM_MUST_FREE);
        if (mr)
            p->body = NULL;
    } else {
        mr = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!mr)
        return MHD_NO;
    MHD_add_response_header(mr, "Docker-Distribution-API-Version", "registry/2.0");
    if (p->content_type)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, p->content_type);
    else if (p->ct_owned)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, p->ct_owned);
    for (int i = 0; i < p->nheaders; i++)
        MHD_add_response_header(mr, p->hname[i], p->hvalue[i]);
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)p->status, mr);
    MHD_destroy_response(mr);
    return ret;
}

/* Turn an error code into the response, keeping headers the handler set. */
static void fail(struct request *r, int code)
{
    errmap_respond(r, code);
}

/* Everything done at the headers. Leaves r->resp.status set when the
 * request is answered early. */
static void request_begin(struct request *r)
{
    char allow[64];
    int rc;
    const char *cl = request_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    r->content_length = -1;
    if (cl) {
        char *end = NULL;
        long long v = strtoll(cl, &end, 10);
        if (end != cl && *end == '\0' && v >= 0)
            r->content_length = v;
    }
    switch (route_match(r, allow, sizeof(allow))) {
    case ROUTE_NOT_FOUND:
        fail(r, berr_set(BERR_NOT_FOUND, "no such endpoint: %.200s", r->path));
        return;
    case ROUTE_BAD_METHOD:
        respond_header(r, "Allow", "%s", allow);
        fail(r, berr_set(BERR_UNSUPPORTED, "method %s not allowed here", r->method_str));
        r->resp.status = 405;
        return;
    case ROUTE_OK:
        break;
    }
    rc = route_validate(r);
    if (rc == 0 && !(r->route->access & ACCESS_PUBLIC))
        rc = authz_check(r);
    if (rc < 0) {
        fail(r, rc);
        return;
    }
    if (r->route->body == BODY_BUFFER) {
        size_t cap =
            r->route->body_cap > 0 ? (size_t)r->route->body_cap : (size_t)r->srv->cfg->max_manifest;
        if (r->content_length > (int64_t)cap) {
            fail(r, berr_set(BERR_TOO_LARGE, "body of %" PRId64 " bytes is over the %zu byte cap",
                             r->content_length, cap));
            return;
        }
        buf_init(&r->body, cap);
    } else if (r->route->body == BODY_STREAM && r->route->begin) {
        rc = r->route->begin(r);
        if (rc < 0)
            fail(r, rc);
    }
}

static void request_body(struct request *r, const char *data, size_t len)
{
    int rc = 0;
    r->received += (int64_t)len;
    if (r->skip_body || r->deferred_err)
        return;
    if (r->route->body == BODY_BUFFER)
        rc = buf_append(&r->body, data, len);
    else if (r->route->body == BODY_STREAM)
        rc = r->route->data(r, data, len);
    if (rc < 0) {
        r->deferred_err = rc;
        /* Keep the message: other requests on this thread may overwrite it. */
        r->deferred_msg = xstrdup(berr_message());
    }
}

static void request_end(struct request *r)
{
    int rc;
    r->ended = 1;
    if (r->deferred_err) {
        berr_set(r->deferred_err, "%s", r->deferred_msg ? r->deferred_msg : "");
        fail(r, r->deferred_err);
        return;
    }
    rc = r->route->handle(r);
    if (rc < 0)
        fail(r, rc);
    else if (r->resp.status == 0)
        fail(r, berr_set(BERR_INTERNAL, "handler for %s gave no response", r->route->pattern));
}

/* On an io pool thread, while the connection is suspended: the request is
 * ours alone until MHD_resume_connection hands it back. */
static void request_end_deferred(void *arg)
{
    struct request *r = arg;
    berr_clear();
    request_end(r);
    MHD_resume_connection(r->conn);
}

/* 1 when the client is already sending a body we have not read: answering
 * now and closing would make the kernel reset the connection under the
 * client, which may then never see the answer. Such bodies are drained
 * (up to HTTP_DRAIN_MAX) and the answer sent after them. A client that
 * sent "Expect: 100-continue" waits for us, so it can be answered at once. */
static int body_in_flight(struct request *r)
{
    const char *expect = request_header(r, MHD_HTTP_HEADER_EXPECT);
    if (expect && strcasecmp(expect, "100-continue") == 0)
        return 0;
    if (r->content_length > HTTP_DRAIN_MAX)
        return 0;
    if (r->content_length > 0)
        return 1;
    const char *te = request_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    return te && strcasecmp(te, "chunked") == 0;
}

/* 1 when the client closed its side before sending the whole body, so the
 * body can never complete. MHD 0.9.75 misses a close that arrives together
 * with the last bytes it reads (nothing wakes it again): such a request
 * would hold its upload session until the idle timeout, and the client's
 * retry would find the session in use. Checked at every call while a body
 * of known length is incomplete; bytes still queued in the kernel count (over
 * TLS they are encrypted bytes, which over-count: never a false positive). */
static int client_gone(struct request *r)
{
    if (r->content_length <= 0 || r->received >= r->content_length)
        return 0;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci == NULL)
        return 0;
    struct pollfd p = {ci->connect_fd, POLLRDHUP, 0};
    if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
        return 0;
    int queued = 0;
    if (ioctl(ci->connect_fd, FIONREAD, &queued) < 0)
        return 0;
    return r->received + queued < r->content_length;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct server *srv = cls;
    struct request *r = *con_cls;
    (void)version;
    if (!r) {
        r = xcalloc(1, sizeof(*r));
        r->srv = srv;
        r->conn = conn;
        r->method = method_of(method);
        r->method_str = method;
        r->path = xstrdup(url);
        r->id = atomic_fetch_add(&srv->next_id, 1) + 1;
        r->started_us = now_us();
        r->resp.fd = -1;
        r->resp.head_length = -1;
        *con_cls = r;
        atomic_fetch_add(&srv->inflight, 1);
        berr_clear();
        request_begin(r);
        if (client_gone(r))
            return MHD_NO;
        if (r->resp.status) {
            r->skip_body = 1;
            if (!body_in_flight(r)) {
                r->queued = 1;
                return queue(r);
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        request_body(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        if (client_gone(r))
            return MHD_NO;
        /* An answer waits for the end of a body we discard; past the cap,
         * give up on the connection rather than read a huge body. */
        if (r->skip_body && r->resp.status && r->received > HTTP_DRAIN_MAX)
            return MHD_NO;
        return MHD_YES;
    }
    if (r->queued)
        return MHD_YES;
    if (!r->resp.status && !r->ended && route_writes(r->route)) {
        /* Suspended before the job is handed over: it may resume at once. */
        MHD_suspend_connection(conn);
        if (worker_defer(srv->worker, request_end_deferred, r) < 0) {
            berr_clear(); /* the worker is stopping: do it here */
            request_end(r);
            MHD_resume_connection(conn);
        }
        return MHD_YES; /* called again once resumed, with the response ready */
    }
    if (!r->resp.status)
        request_end(r);
    r->queued = 1;
    return queue(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct server *srv = cls;
    struct request *r = *con_cls;
    (void)conn;
    if (!r)
        return;
    if (srv->cfg->access_log || toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        int64_t us = now_us() - r->started_us;
        log_write(toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? LOG_INFO : LOG_WARN,
                  "req=%llu %s %s %d in=%" PRId64 " %" PRId64 ".%03" PRId64 "ms user=%s%s", r->id,
                  r->method_str, r->path, r->resp.status, r->received, us / 1000, us % 1000,
                  r->principal ? r->principal : "-",
                  toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted");
    }
    request_free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->inflight, 1);
}

/* The first message MHD logged on this thread since it was cleared:
 * MHD_start_daemon says why it failed (a certificate that does not parse, a
 * key that does not match) only through the logger, on the calling thread. */
static _Thread_local char mhd_last[256];

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        line[--n] = '\0';
    if (!mhd_last[0])
        snprintf(mhd_last, sizeof(mhd_last), "%.*s", (int)sizeof(mhd_last) - 1, line);
    log_debug("http: %s", line);
}

/* Parse one "host:port" item into one or more addresses. */
static int parse_listen_item(const char *item, struct listen_addr *out, int max, int *n)
{
    char host[256];
    const char *port;
    const char *colon;
    if (item[0] == '[') {
        const char *close = strchr(item, ']');
        if (!close || close[1] != ':')
            return berr_set(BERR_CONFIG, "listen: bad address '%s' (want [v6addr]:port)", item);
        snprintf(host, sizeof(host), "%.*s", (int)(close - item - 1), item + 1);
        port = close + 2;
    } else {
        colon = strrchr(item, ':');
        if (!colon)
            return berr_set(BERR_CONFIG, "listen: '%s' has no port (want host:port)", item);
        snprintf(host, sizeof(host), "%.*s", (int)(colon - item), item);
        port = colon + 1;
    }
    char *end = NULL;
    long p = strtol(port, &end, 10);
    if (end == port || *end || p < 0 || p > 65535)
        return berr_set(BERR_CONFIG, "listen: bad port in '%s'", item);
    const char *hosts[2] = {host, NULL};
    if (strcmp(host, "localhost") == 0) {
        hosts[0] = "127.0.0.1";
        hosts[1] = "::1";
    } else if (host[0] == '\0') {
        hosts[0] = "0.0.0.0";
        hosts[1] = "::";
    }
    for (int h = 0; h < 2 && hosts[h]; h++) {
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof(hints));
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
        int gai = getaddrinfo(hosts[h], port, &hints, &res);
        if (gai != 0)
            return berr_set(BERR_CONFIG, "listen: cannot resolve '%s': %s", hosts[h],
                            gai_strerror(gai));
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
            if (*n >= max) {
                freeaddrinfo(res);
                return berr_set(BERR_CONFIG, "listen: more than %d addresses", max);
            }
            struct listen_addr *la = &out[(*n)++];
            memcpy(&la->sa, ai->ai_addr, ai->ai_addrlen);
            la->len = ai->ai_addrlen;
            char num[INET6_ADDRSTRLEN];
            if (ai->ai_family == AF_INET6) {
                inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr, num,
                          sizeof(num));
                snprintf(la->text, sizeof(la->text), "[%s]:%ld", num, p);
            } else {
                inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr, num,
                          sizeof(num));
                snprintf(la->text, sizeof(la->text), "%s:%ld", num, p);
            }
        }
        freeaddrinfo(res);
    }
    return 0;
}

static int parse_listen(const char *spec, struct listen_addr *out, int max, int *n)
{
    char *copy = xstrdup(spec);
    char *save = NULL;
    int rc = 0;
    *n = 0;
    for (char *item = strtok_r(copy, ", ", &save); item; item = strtok_r(NULL, ", ", &save)) {
        rc = parse_listen_item(item, out, max, n);
        if (rc < 0)
            break;
    }
    free(copy);
    if (rc == 0 && *n == 0)
        rc = berr_set(BERR_CONFIG, "listen: no address given");
    return rc;
}

static int addr_is_loopback(const struct listen_addr *la)
{
    if (la->sa.ss_family == AF_INET) {
        const struct sockaddr_in *s = (const void *)&la->sa;
        return (ntohl(s->sin_addr.s_addr) >> 24) == 127;
    }
    const struct sockaddr_in6 *s6 = (const void *)&la->sa;
    return IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
}

int http_loopback_only(const struct config *cfg)
{
    struct listen_addr addrs[HTTP_MAX_LISTEN];
    int n = 0;
    if (parse_listen(cfg->listen, addrs, HTTP_MAX_LISTEN, &n) < 0)
        return 0;
    for (int i = 0; i < n; i++)
        if (!addr_is_loopback(&addrs[i]))
            return 0;
    return 1;
}

/* Wipe and free the text of a private key; accepts NULL. */
static void free_secret(char *s)
{
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

static char *read_file(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return NULL;
    struct buf b;
    buf_init(&b, 1 << 20);
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        if (buf_append(&b, chunk, got) < 0)
            break;
    fclose(fp);
    return buf_detach(&b, NULL);
}

int http_start(struct server *srv)
{
    const struct config *cfg = srv->cfg;
    struct listen_addr addrs[HTTP_MAX_LISTEN];
    int n = 0, rc;
    rc = parse_listen(cfg->listen, addrs, HTTP_MAX_LISTEN, &n);
    if (rc < 0)
        return rc;
    struct http *h = xcalloc(1, sizeof(*h));
    srv->http = h;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    if (*cfg->tls_cert) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
            return berr_set(BERR_CONFIG, "tls: this libmicrohttpd has no tls support");
        h->tls_cert = read_file(cfg->tls_cert);
        h->tls_key = read_file(cfg->tls_key);
        if (!h->tls_cert || !h->tls_key)
            return berr_set(BERR_CONFIG, "tls: cannot read '%s' or '%s': %s", cfg->tls_cert,
                            cfg->tls_key, strerror(errno));
        flags |= MHD_USE_TLS;
    }
    int bound = 0;
    for (int i = 0; i < n; i++) {
        /* cfg->threads is the total: split over the addresses, at least one each */
        unsigned threads = (unsigned)(cfg->threads / n + (i < cfg->threads % n));
        unsigned f = flags | (addrs[i].sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
        struct MHD_OptionItem tls_opts[] = {
            {h->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, h->tls_cert},
            {h->tls_key ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, h->tls_key},
            {h->tls_cert ? MHD_OPTION_HTTPS_PRIORITIES : MHD_OPTION_END, 0,
             (void *)HTTP_TLS_PRIORITIES},
            {MHD_OPTION_END, 0, NULL},
        };
        mhd_last[0] = '\0';
        struct MHD_Daemon *d = MHD_start_daemon(
            f, 0, NULL, NULL, on_access, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
            MHD_OPTION_SOCK_ADDR, &addrs[i].sa, MHD_OPTION_THREAD_POOL_SIZE, threads ? threads : 1,
            MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_CONNECTION_LIMIT,
            (unsigned)cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
            (unsigned)cfg->idle_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
            (size_t)HTTP_CONN_MEMORY, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
        if (!d && h->tls_cert && strstr(mhd_last, "TLS"))
            return berr_set(BERR_CONFIG, "tls: cannot use tls.cert '%s' with tls.key '%s': %s",
                            cfg->tls_cert, cfg->tls_key, mhd_last);
        if (!d) {
            /* ::1 may be missing on hosts without IPv6: not fatal when another address serves. */
            int is_v6_loop = addrs[i].sa.ss_family == AF_INET6 && addr_is_loopback(&addrs[i]);
            if (is_v6_loop && n > 1) {
                log_warn("cannot listen on %s (no ipv6 loopback?), continuing without it",
                         addrs[i].text);
                continue;
            }
            return berr_set(BERR_IO, "cannot listen on %s: %s", addrs[i].text, strerror(errno));
        }
        h->daemons[h->n] = d;
        h->names[h->n] = xstrdup(addrs[i].text);
        h->n++;
        bound++;
    }
    return bound ? 0 : berr_set(BERR_IO, "no address could be bound");
}

void http_log_addresses(struct server *srv)
{
    struct http *h = srv->http;
    for (int i = 0; i < h->n; i++) {
        const union MHD_DaemonInfo *di =
            MHD_get_daemon_info(h->daemons[i], MHD_DAEMON_INFO_BIND_PORT);
        log_info("listening on %s://%s (port %u)", h->tls_cert ? "https" : "http", h->names[i],
                 di ? (unsigned)di->port : 0);
    }
}

void http_quiesce(struct server *srv)
{
    struct http *h = srv->http;
    if (!h)
        return;
    for (int i = 0; i < h->n; i++) {
        MHD_socket s = MHD_quiesce_daemon(h->daemons[i]);
        if (s != MHD_INVALID_SOCKET)
            close(s);
    }
}

void http_stop(struct server *srv)
{
    struct http *h = srv->http;
    if (!h)
        return;
    for (int i = 0; i < h->n; i++) {
        MHD_stop_daemon(h->daemons[i]);
        free(h->names[i]);
    }
    free(h->tls_cert);
    free_secret(h->tls_key);
    free(h);
    srv->http = NULL;
}
