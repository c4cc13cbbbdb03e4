/*
 * sinksrv.c - the "ideal durable push" server for the benchmark: the least work a registry must do
 * to acknowledge a blob push durably, and nothing else. Its column bounds what any registry can
 * reach for blob pushes on this machine with the same clients: a push target above it is out of
 * reach here.
 *
 * Per upload, on the thread of its connection (one thread per connection, blocking I/O):
 *   body bytes -> SHA-256 (OpenSSL) -> write() to DIR/tmp.N
 *   at the end of the upload: compare the digest, fsync the file, rename it to DIR/blob.N, fsync
 * DIR No metadata, no database, no sessions beyond "this connection's open upload".
 *
 * Protocol subset (what tests/bench/bclient sends):
 *   POST ...?digest=D  + body  -> 201 (monolithic upload)
 *   POST (no digest)           -> 202 Location (opens this connection's upload)
 *   PATCH + body               -> 202 Location (appends)
 *   PUT ...?digest=D [+ body]  -> 201 (appends, then commits as above)
 *   PUT .../manifests/...      -> 201 (body written, fsync'd, renamed: a durable small write)
 *   GET .../blobs/D            -> 200, the committed blob D (uploads over 1 MiB are remembered)
 *                                 copied from the page cache with pread + send through a 2 MiB
 *                                 buffer, or with sendfile (2 MiB per call) when the path has
 *                                 "via=sendfile": the two ways any registry can serve a stored
 *                                 file, and so the pull bound
 *   GET /v2/                   -> 200
 * A digest mismatch answers 400. Content-Length bodies only.
 *
 * Usage: sinksrv -d DIR [-p PORT]     (prints "port=N" once listening)
 * Build: cc -O2 -pthread -o sinksrv sinksrv.c -lcrypto   (tests/bench/run does it; not part of
 * `make`)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUF        (256 * 1024)
#define SEND_BLOCK (2 * 1024 * 1024)
#define MAX_KEPT   64 /* committed blobs over KEEP_MIN bytes that GET can serve */
#define KEEP_MIN   (1024 * 1024)

static const char *g_dir;
static int g_dirfd;
static atomic_long g_seq;

struct upload {
    int fd;
    long n;
    long long size;
    EVP_MD_CTX *md;
};

/* Committed blobs GET can serve: digest -> blob.N (the most recent MAX_KEPT). */
static pthread_mutex_t g_kept_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char digest[72];
    long n;
} g_kept[MAX_KEPT];
static int g_nkept;

static void keep_blob(const char *digest, long n)
{
    pthread_mutex_lock(&g_kept_lock);
    int i = g_nkept < MAX_KEPT ? g_nkept++ : (int)(n % MAX_KEPT);
    snprintf(g_kept[i].digest, sizeof(g_kept[i].digest), "%s", digest);
    g_kept[i].n = n;
    pthread_mutex_unlock(&g_kept_lock);
}

static long kept_blob(const char *digest)
{
    long n = -1;
    pthread_mutex_lock(&g_kept_lock);
    for (int i = 0; i < g_nkept; i++)
        if (strncmp(g_kept[i].digest, digest, 71) == 0)
            n = g_kept[i].n;
    pthread_mutex_unlock(&g_kept_lock);
    return n;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static int send_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int upload_open(struct upload *u)
{
    char name[64];
    u->n = atomic_fetch_add(&g_seq, 1);
    u->size = 0;
    snprintf(name, sizeof(name), "tmp.%ld", u->n);
    u->fd = openat(g_dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    u->md = EVP_MD_CTX_new();
    if (u->fd < 0 || !u->md || EVP_DigestInit_ex(u->md, EVP_sha256(), NULL) != 1)
        return -1;
    return 0;
}

static int upload_append(struct upload *u, const char *p, size_t len)
{
    if (EVP_DigestUpdate(u->md, p, len) != 1)
        return -1;
    u->size += (long long)len;
    while (len) {
        ssize_t w = write(u->fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static void upload_drop(struct upload *u)
{
    if (u->fd >= 0)
        close(u->fd);
    if (u->md)
        EVP_MD_CTX_free(u->md);
    u->fd = -1;
    u->md = NULL;
}

/* Finish: digest check (when want is given), fsync, rename, fsync the directory.
 * Returns 0, or -1 on I/O error, or 1 on a digest mismatch. */
static int upload_commit(struct upload *u, const char *want)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    char hex[80], from[64], to[64];
    int rc = 0;
    EVP_DigestFinal_ex(u->md, md, &mdlen);
    memcpy(hex, "sha256:", 7);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 7 + 2 * i, 3, "%02x", md[i]);
    if (want && strncmp(want, hex, 71) != 0)
        rc = 1;
    if (rc == 0 && fsync(u->fd) < 0)
        rc = -1;
    snprintf(from, sizeof(from), "tmp.%ld", u->n);
    snprintf(to, sizeof(to), "blob.%ld", u->n);
    if (rc == 0 && (renameat(g_dirfd, from, g_dirfd, to) < 0 || fsync(g_dirfd) < 0))
        rc = -1;
    if (rc != 0)
        unlinkat(g_dirfd, from, 0);
    else if (u->size > KEEP_MIN)
        keep_blob(hex, u->n);
    upload_drop(u);
    return rc;
}

static const char *header(const char *h, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = strchr(h, '\n'); p; p = strchr(p, '\n')) {
        p++;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            p += nl + 1;
            while (*p == ' ')
                p++;
            return p;
        }
    }
    return NULL;
}

/* Send blob.N whole: pread + send through a 2 MiB buffer, or sendfile. */
static int send_blob(int fd, long n, int via_sendfile)
{
    char name[64], head[256];
    snprintf(name, sizeof(name), "blob.%ld", n);
    int bfd = openat(g_dirfd, name, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (bfd < 0 || fstat(bfd, &st) < 0)
        return -1;
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 200 OK\r\nDocker-Distribution-API-Version: registry/2.0\r\n"
                      "Content-Type: application/octet-stream\r\nContent-Length: %lld\r\n\r\n",
                      (long long)st.st_size);
    int rc = send_all(fd, head, (size_t)hl);
    off_t off = 0;
    char *block = via_sendfile ? NULL : malloc(SEND_BLOCK);
    while (rc == 0 && off < st.st_size) {
        ssize_t k;
        if (via_sendfile) {
            k = sendfile(fd, bfd, &off, SEND_BLOCK);
        } else {
            k = pread(bfd, block, SEND_BLOCK, off);
            if (k > 0 && send_all(fd, block, (size_t)k) < 0)
                k = -1;
            if (k > 0)
                off += k;
        }
        if (k <= 0)
            rc = -1;
    }
    free(block);
    close(bfd);
    return rc;
}

static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char *buf = malloc(BUF);
    size_t have = 0;
    struct upload u = {.fd = -1};
    char resp[512];
    for (;;) {
        char *end;
        while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
            if (have == BUF)
                goto out;
            ssize_t r = recv(fd, buf + have, BUF - have, 0);
            if (r <= 0)
                goto out;
            have += (size_t)r;
        }
        size_t hl = (size_t)(end - buf) + 4;
        end[2] = '\0';
        char method[8] = "", path[1024] = "";
        sscanf(buf, "%7s %1023s", method, path);
        const char *cl = header(buf, "Content-Length");
        long long body = cl ? strtoll(cl, NULL, 10) : 0;
        const char *dg = strstr(path, "digest=");
        char want[80] = "";
        if (dg)
            snprintf(want, sizeof(want), "%.71s", dg + 7);
        int is_manifest = strstr(path, "/manifests/") != NULL;
        int is_post = strcmp(method, "POST") == 0, is_patch = strcmp(method, "PATCH") == 0;
        int is_put = strcmp(method, "PUT") == 0;
        int takes_body = (is_post && dg) || is_patch || is_put;
        if ((is_post || (is_put && is_manifest)) && u.fd >= 0)
            upload_drop(&u);
        if (((is_post && dg) || is_manifest || (is_post && !dg)) && upload_open(&u) < 0)
            goto out;
        if (takes_body && u.fd < 0)
            goto out; /* PATCH / PUT without a session on this connection */
        memmove(buf, buf + hl, have - hl);
        have -= hl;
        while (body > 0) {
            if (have == 0) {
                ssize_t r = recv(fd, buf, BUF, 0);
                if (r <= 0)
                    goto out;
                have = (size_t)r;
            }
            size_t take = (long long)have < body ? have : (size_t)body;
            if (takes_body && upload_append(&u, buf, take) < 0)
                goto out;
            memmove(buf, buf + take, have - take);
            have -= take;
            body -= (long long)take;
        }
        int n;
        const char *api = "Docker-Distribution-API-Version: registry/2.0\r\n";
        const char *blob = strstr(path, "/blobs/sha256:");
        if (strcmp(method, "GET") == 0 && blob) {
            long kept = kept_blob(blob + 7);
            if (kept >= 0) {
                if (send_blob(fd, kept, strstr(path, "via=sendfile") != NULL) < 0)
                    goto out;
                continue;
            }
            n = snprintf(resp, sizeof(resp),
                         "HTTP/1.1 404 Not Found\r\n%sContent-Length: 0\r\n\r\n", api);
        } else if ((is_post && dg) || is_put) {
            int rc = upload_commit(&u, is_manifest ? NULL : want);
            if (rc < 0)
                goto out;
            n = snprintf(resp, sizeof(resp),
                         rc == 0 ? "HTTP/1.1 201 Created\r\n%sLocation: %.200s\r\n"
                                   "Content-Length: 0\r\n\r\n"
                                 : "HTTP/1.1 400 Bad Request\r\n%sX-Path: %.200s\r\n"
                                   "Content-Length: 0\r\n\r\n",
                         api, path);
        } else if (is_post || is_patch) {
            n = snprintf(resp, sizeof(resp),
                         "HTTP/1.1 202 Accepted\r\n%sLocation: /v2/sink/blobs/uploads/%ld\r\n"
                         "Range: 0-0\r\nContent-Length: 0\r\n\r\n",
                         api, u.n);
        } else {
            n = snprintf(resp, sizeof(resp),
                         "HTTP/1.1 200 OK\r\n%sContent-Type: application/json\r\n"
                         "Content-Length: 2\r\n\r\n{}",
                         api);
        }
        if (send_all(fd, resp, (size_t)n) < 0)
            goto out;
    }
out:
    upload_drop(&u);
    free(buf);
    close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    int port = 0, opt;
    while ((opt = getopt(argc, argv, "p:d:")) != -1) {
        switch (opt) {
        case 'p':
            port = (int)strtol(optarg, NULL, 10);
            break;
        case 'd':
            g_dir = optarg;
            break;
        default:
            goto usage;
        }
    }
    if (!g_dir)
        goto usage;
    signal(SIGPIPE, SIG_IGN);
    g_dirfd = open(g_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (g_dirfd < 0)
        die(g_dir);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 256) < 0)
        die("bind");
    socklen_t len = sizeof(sa);
    getsockname(s, (struct sockaddr *)&sa, &len);
    printf("port=%d\n", ntohs(sa.sin_port));
    fflush(stdout);
    for (;;) {
        int fd = accept4(s, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &at, serve, (void *)(intptr_t)fd) != 0)
            close(fd);
        pthread_attr_destroy(&at);
    }
usage:
    fprintf(stderr, "usage: sinksrv -d DIR [-p PORT]\n");
    return 2;
}
