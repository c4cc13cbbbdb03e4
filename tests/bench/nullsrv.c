/*
 * nullsrv.c - a "null registry" for the benchmark: the cheapest HTTP/1.1 server we can write, so
 * the benchmark can show what its own clients (wrk, hload, bclient) reach when the server costs
 * nothing. A figure for a real registry close to the null server's figure is a client (or loopback)
 * limit, not a server figure.
 *
 * It speaks just enough of the distribution API for the benchmark's clients:
 *   HEAD anything                 -> 200, Content-Length 4096, no body
 *   GET  .../blobs/...            -> 200 with the file given by -f, sent with sendfile, or with
 *                                    send() from a copy in memory when -W is given, except for a
 *                                    path with "via=sendfile" in it (the two pull ceilings)
 *   GET  anything else            -> 200 with a fixed ~550-byte OCI manifest
 *   POST ...?digest=... / PUT     -> 201 (body read and discarded)
 *   POST (no digest) / PATCH      -> 202 with a Location (body read and discarded)
 *   DELETE                        -> 202
 * Keep-alive, Content-Length bodies only (the benchmark's clients never send chunked bodies).
 * One epoll loop per thread, each with its own SO_REUSEPORT listening socket on 127.0.0.1.
 *
 * Usage: nullsrv [-p PORT] [-t THREADS] [-f BLOBFILE [-W]]   (prints "port=N" once listening)
 * Build: cc -O2 -pthread -o nullsrv nullsrv.c   (tests/bench/run does it; not part of `make`)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define IN_CAP      (64 * 1024)
#define SCRATCH_CAP (1024 * 1024)
#define OUT_CAP     2048

static const char MANIFEST[] =
    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
    "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
    "\"digest\":\"sha256:0000000000000000000000000000000000000000000000000000000000000001\","
    "\"size\":200},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
    "\"digest\":\"sha256:0000000000000000000000000000000000000000000000000000000000000002\","
    "\"size\":4096}],\"annotations\":{\"org.berth.bench.n\":\"0000\"}}";
static const char DIGEST[] =
    "sha256:00000000000000000000000000000000000000000000000000000000000000ff";

struct conn {
    int fd;
    size_t inlen;
    int64_t body_left; /* request body bytes still to discard */
    int have_head;     /* a request head is parsed, waiting for its body */
    char method[8];
    int kind; /* response chosen at head time */
    int close_after;
    char out[OUT_CAP];
    size_t outlen, outoff;
    int64_t file_off, file_left;
    int writing;
    int from_mem; /* the blob body goes out with send() from g_blob_mem */
    char in[IN_CAP];
};

enum { K_HEAD, K_BLOB, K_MANIFEST, K_CREATED, K_ACCEPTED, K_DELETED, K_BASE };

static int g_port;
static int g_blob_fd = -1;
static int64_t g_blob_size;
static char *g_blob_mem; /* -W: the blob in memory, sent with send() */

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static int listen_socket(int port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
        die("socket");
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die("bind");
    if (listen(s, 1024) < 0)
        die("listen");
    socklen_t len = sizeof(sa);
    getsockname(s, (struct sockaddr *)&sa, &len);
    g_port = ntohs(sa.sin_port);
    return s;
}

/* Case-insensitive search for a header value inside the head [h, h+n). */
static const char *header_value(const char *h, size_t n, const char *name)
{
    size_t nl = strlen(name);
    const char *p = h, *end = h + n;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            break;
        if ((size_t)(eol - p) > nl + 1 && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            p += nl + 1;
            while (*p == ' ')
                p++;
            return p;
        }
        p = eol + 1;
    }
    return NULL;
}

static void build_response(struct conn *c, const char *path)
{
    const char *api = "Docker-Distribution-API-Version: registry/2.0\r\n";
    const char *ka = c->close_after ? "Connection: close\r\n" : "";
    int n = 0;
    switch (c->kind) {
    case K_HEAD:
        n = snprintf(c->out, OUT_CAP,
                     "HTTP/1.1 200 OK\r\n%s%sContent-Type: application/octet-stream\r\n"
                     "Docker-Content-Digest: %s\r\nContent-Length: 4096\r\n\r\n",
                     api, ka, DIGEST);
        break;
    case K_BLOB:
        n = snprintf(c->out, OUT_CAP,
                     "HTTP/1.1 200 OK\r\n%s%sContent-Type: application/octet-stream\r\n"
                     "Docker-Content-Digest: %s\r\nContent-Length: %lld\r\n\r\n",
                     api, ka, DIGEST, (long long)g_blob_size);
        c->file_off = 0;
        c->file_left = g_blob_size;
        break;
    case K_MANIFEST:
        n = snprintf(
            c->out, OUT_CAP,
            "HTTP/1.1 200 OK\r\n%s%sContent-Type: application/vnd.oci.image.manifest.v1+json\r\n"
            "Docker-Content-Digest: %s\r\nContent-Length: %zu\r\n\r\n%s",
            api, ka, DIGEST, sizeof(MANIFEST) - 1, MANIFEST);
        break;
    case K_BASE:
        n = snprintf(c->out, OUT_CAP,
                     "HTTP/1.1 200 OK\r\n%s%sContent-Type: application/json\r\n"
                     "Content-Length: 2\r\n\r\n{}",
                     api, ka);
        break;
    case K_CREATED:
        n = snprintf(c->out, OUT_CAP,
                     "HTTP/1.1 201 Created\r\n%s%sLocation: %.300s\r\nDocker-Content-Digest: %s\r\n"
                     "Content-Length: 0\r\n\r\n",
                     api, ka, path, DIGEST);
        break;
    case K_ACCEPTED:
        n = snprintf(c->out, OUT_CAP,
                     "HTTP/1.1 202 Accepted\r\n%s%sLocation: /v2/null/blobs/uploads/0123456789\r\n"
                     "Range: 0-0\r\nDocker-Upload-UUID: 0123456789\r\nContent-Length: 0\r\n\r\n",
                     api, ka);
        break;
    case K_DELETED:
        n = snprintf(c->out, OUT_CAP, "HTTP/1.1 202 Accepted\r\n%s%sContent-Length: 0\r\n\r\n", api,
                     ka);
        break;
    }
    c->outlen = (size_t)n;
    c->outoff = 0;
    c->writing = 1;
}

/* Parse a complete head at c->in (length hl including the blank line). */
static void parse_head(struct conn *c, size_t hl)
{
    char path[512];
    const char *sp = memchr(c->in, ' ', hl);
    size_t ml = sp ? (size_t)(sp - c->in) : 0;
    if (ml >= sizeof(c->method))
        ml = sizeof(c->method) - 1;
    memcpy(c->method, c->in, ml);
    c->method[ml] = '\0';
    const char *ps = sp ? sp + 1 : c->in;
    const char *pe = memchr(ps, ' ', hl - (size_t)(ps - c->in));
    size_t pl = pe ? (size_t)(pe - ps) : 0;
    if (pl >= sizeof(path))
        pl = sizeof(path) - 1;
    memcpy(path, ps, pl);
    path[pl] = '\0';
    const char *cl = header_value(c->in, hl, "Content-Length");
    c->body_left = cl ? strtoll(cl, NULL, 10) : 0;
    const char *conn = header_value(c->in, hl, "Connection");
    c->close_after = conn && strncasecmp(conn, "close", 5) == 0;
    if (strcmp(c->method, "HEAD") == 0)
        c->kind = K_HEAD;
    else if (strcmp(c->method, "GET") == 0)
        c->kind = strstr(path, "/blobs/") && g_blob_fd >= 0 ? K_BLOB
                  : strcmp(path, "/v2/") == 0               ? K_BASE
                                                            : K_MANIFEST;
    else if (strcmp(c->method, "PUT") == 0)
        c->kind = K_CREATED;
    else if (strcmp(c->method, "POST") == 0)
        c->kind = strstr(path, "digest=") || strstr(path, "mount=") ? K_CREATED : K_ACCEPTED;
    else if (strcmp(c->method, "PATCH") == 0)
        c->kind = K_ACCEPTED;
    else
        c->kind = K_DELETED;
    c->from_mem = g_blob_mem && !strstr(path, "via=sendfile");
    build_response(c, path);
    c->writing = 0; /* not before the body is consumed */
    c->have_head = 1;
}

/* Try to make progress on the output. Returns 1 when all is written, 0 on EAGAIN, -1 on error. */
static int flush_out(struct conn *c)
{
    while (c->outoff < c->outlen) {
        ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN ? 0 : -1;
        c->outoff += (size_t)w;
    }
    while (c->file_left > 0 && c->from_mem) {
        size_t want = c->file_left > (1 << 20) ? (1 << 20) : (size_t)c->file_left;
        ssize_t w = send(c->fd, g_blob_mem + c->file_off, want, MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN ? 0 : -1;
        c->file_off += w;
        c->file_left -= w;
    }
    while (c->file_left > 0) {
        off_t off = c->file_off;
        size_t want = c->file_left > (1 << 30) ? (1 << 30) : (size_t)c->file_left;
        ssize_t w = sendfile(c->fd, g_blob_fd, &off, want);
        if (w < 0)
            return errno == EAGAIN ? 0 : -1;
        if (w == 0)
            return -1;
        c->file_off = off;
        c->file_left -= w;
    }
    return 1;
}

/* Consume what is buffered: discard body bytes, parse heads, start responses. */
static int process(struct conn *c)
{
    for (;;) {
        if (c->writing)
            return 0;
        if (c->have_head) {
            size_t take = c->body_left < (int64_t)c->inlen ? (size_t)c->body_left : c->inlen;
            memmove(c->in, c->in + take, c->inlen - take);
            c->inlen -= take;
            c->body_left -= (int64_t)take;
            if (c->body_left > 0)
                return 0;
            c->have_head = 0;
            c->writing = 1;
            return 0;
        }
        char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
        if (!end) {
            if (c->inlen == IN_CAP)
                return -1;
            return 0;
        }
        size_t hl = (size_t)(end - c->in) + 4;
        parse_head(c, hl);
        memmove(c->in, c->in + hl, c->inlen - hl);
        c->inlen -= hl;
    }
}

static void set_events(int ep, struct conn *c, uint32_t ev)
{
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
}

static void conn_close(int ep, struct conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

static void *serve(void *arg)
{
    int ls = (int)(intptr_t)arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    char *scratch = malloc(SCRATCH_CAP);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (ep < 0 || !scratch)
        die("epoll");
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                for (;;) {
                    int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0)
                        break;
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    struct conn *nc = calloc(1, sizeof(*nc));
                    nc->fd = fd;
                    struct epoll_event e = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                }
                continue;
            }
            int dead = 0;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                if (c->have_head && c->inlen == 0 && c->body_left > 0) {
                    /* Big body: read straight into the scratch area and drop it. */
                    size_t want = c->body_left < SCRATCH_CAP ? (size_t)c->body_left : SCRATCH_CAP;
                    ssize_t r = recv(c->fd, scratch, want, 0);
                    if (r > 0)
                        c->body_left -= r;
                    else if (r == 0 || errno != EAGAIN)
                        dead = 1;
                } else if (!c->writing) {
                    ssize_t r = recv(c->fd, c->in + c->inlen, IN_CAP - c->inlen, 0);
                    if (r > 0)
                        c->inlen += (size_t)r;
                    else if (r == 0 || errno != EAGAIN)
                        dead = 1;
                }
            }
            while (!dead) {
                if (process(c) < 0) {
                    dead = 1;
                    break;
                }
                if (c->have_head && c->body_left == 0) {
                    c->have_head = 0;
                    c->writing = 1;
                }
                if (!c->writing)
                    break;
                int f = flush_out(c);
                if (f < 0) {
                    dead = 1;
                } else if (f == 0) {
                    set_events(ep, c, EPOLLOUT);
                    break;
                } else {
                    c->writing = 0;
                    c->outlen = c->outoff = 0;
                    if (c->close_after) {
                        dead = 1;
                        break;
                    }
                    if (evs[i].events & EPOLLOUT)
                        set_events(ep, c, EPOLLIN);
                    evs[i].events = 0;
                }
            }
            if (dead)
                conn_close(ep, c);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int port = 0, threads = 2, opt, in_memory = 0;
    const char *file = NULL;
    while ((opt = getopt(argc, argv, "p:t:f:W")) != -1) {
        switch (opt) {
        case 'p':
            port = (int)strtol(optarg, NULL, 10);
            break;
        case 't':
            threads = (int)strtol(optarg, NULL, 10);
            break;
        case 'f':
            file = optarg;
            break;
        case 'W':
            in_memory = 1;
            break;
        default:
            fprintf(stderr, "usage: nullsrv [-p PORT] [-t THREADS] [-f BLOBFILE [-W]]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    if (file) {
        struct stat st;
        g_blob_fd = open(file, O_RDONLY | O_CLOEXEC);
        if (g_blob_fd < 0 || fstat(g_blob_fd, &st) < 0)
            die(file);
        g_blob_size = st.st_size;
        if (in_memory) {
            g_blob_mem = malloc((size_t)g_blob_size + 1);
            if (!g_blob_mem || pread(g_blob_fd, g_blob_mem, (size_t)g_blob_size, 0) != g_blob_size)
                die("read blob");
        }
    }
    if (threads < 1)
        threads = 1;
    int first = listen_socket(port);
    for (int i = 1; i < threads; i++) {
        pthread_t t;
        int s = listen_socket(g_port);
        pthread_create(&t, NULL, serve, (void *)(intptr_t)s);
    }
    printf("port=%d\n", g_port);
    fflush(stdout);
    serve((void *)(intptr_t)first);
    return 0;
}
