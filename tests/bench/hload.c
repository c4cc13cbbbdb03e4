/*
 * hload.c - a small closed-loop HTTP/1.1 keep-alive load generator for the benchmark.
 *
 * wrk cannot do HEAD (it waits for the body a HEAD response announces but never sends), so blob
 * HEAD is measured with this tool; it also runs manifest GET as a cross-check of wrk. Each of C
 * connections keeps exactly one request in flight (no pipelining), like wrk; T threads each own an
 * epoll loop and C/T connections. Responses must carry Content-Length (or be HEAD responses).
 *
 * Usage: hload [-c CONNS] [-t THREADS] [-d SECONDS] [-m METHOD] [-H 'Name: value']... URL
 *   URL is http://HOST:PORT/PATH (numeric IPv4 host).
 * Prints one line: requests=N secs=S rps=R p50_ms=.. p90_ms=.. p99_ms=.. max_ms=.. non2xx=N
 * errors=N body_MBps=.. (response body bytes per second: with -c 1 on a large blob, the raw pull
 * rate) Exit status 1 when any request failed at the socket level or nothing completed.
 *
 * Build: cc -O2 -pthread -o hload hload.c   (tests/bench/run does it; not part of `make`)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HIST_US 10     /* histogram resolution: 10 us */
#define HIST_N  200000 /* up to 2 s; slower requests land in the last bucket */
#define RBUF    (256 * 1024)

struct hconn {
    int fd;
    int64_t sent_ns;
    size_t rlen;
    int64_t body_left; /* -1 while reading the head */
    char rbuf[RBUF];
};

struct worker {
    pthread_t th;
    int nconn;
    uint64_t done, non2xx, errors, body_bytes;
    int64_t max_ns;
    uint32_t *hist;
};

static struct sockaddr_in g_addr;
static char g_req[8192];
static size_t g_reqlen;
static int g_is_head;
static int64_t g_deadline_ns;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int conn_open(int ep, struct hconn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&g_addr, sizeof(g_addr)) < 0) {
        close(c->fd);
        return -1;
    }
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e);
    c->rlen = 0;
    c->body_left = -1;
    return 0;
}

static int conn_send(struct hconn *c)
{
    c->sent_ns = now_ns();
    size_t off = 0;
    while (off < g_reqlen) {
        ssize_t w = send(c->fd, g_req + off, g_reqlen - off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

static void record(struct worker *w, struct hconn *c, int status)
{
    int64_t lat = now_ns() - c->sent_ns;
    size_t b = (size_t)(lat / (HIST_US * 1000));
    if (b >= HIST_N)
        b = HIST_N - 1;
    w->hist[b]++;
    if (lat > w->max_ns)
        w->max_ns = lat;
    w->done++;
    if (status < 200 || status > 299)
        w->non2xx++;
}

/* Parse what is buffered. Returns 1 when a full response was consumed, 0 when more is needed,
 * -1 on a protocol error; *status and *close_after are set on completion. */
static int parse(struct hconn *c, int *status, int *close_after, uint64_t *body_bytes)
{
    if (c->body_left < 0) {
        char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
        if (!end)
            return c->rlen == RBUF ? -1 : 0;
        size_t hl = (size_t)(end - c->rbuf) + 4;
        *end = '\0';
        if (strncmp(c->rbuf, "HTTP/1.", 7) != 0)
            return -1;
        *status = (int)strtol(c->rbuf + 9, NULL, 10);
        int64_t cl = -1;
        *close_after = 0;
        for (char *p = strchr(c->rbuf, '\n'); p && *p; p = strchr(p, '\n')) {
            p++;
            if (strncasecmp(p, "Content-Length:", 15) == 0)
                cl = strtoll(p + 15, NULL, 10);
            else if (strncasecmp(p, "Connection:", 11) == 0) {
                const char *v = p + 11;
                while (*v == ' ')
                    v++;
                *close_after = strncasecmp(v, "close", 5) == 0;
            } else if (strncasecmp(p, "Transfer-Encoding:", 18) == 0)
                return -1; /* chunked responses are not supported */
        }
        if (cl < 0 && !g_is_head)
            return -1;
        c->body_left = g_is_head || *status == 204 || *status == 304 ? 0 : cl;
        memmove(c->rbuf, c->rbuf + hl, c->rlen - hl);
        c->rlen -= hl;
    }
    size_t take = c->body_left < (int64_t)c->rlen ? (size_t)c->body_left : c->rlen;
    memmove(c->rbuf, c->rbuf + take, c->rlen - take);
    c->rlen -= take;
    c->body_left -= (int64_t)take;
    *body_bytes += take;
    if (c->body_left > 0)
        return 0;
    c->body_left = -1;
    return 1;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct hconn *conns = calloc((size_t)w->nconn, sizeof(*conns));
    w->hist = calloc(HIST_N, sizeof(*w->hist));
    int status = 0, close_after = 0;
    for (int i = 0; i < w->nconn; i++) {
        if (conn_open(ep, &conns[i]) < 0 || conn_send(&conns[i]) < 0) {
            w->errors++;
            return NULL;
        }
    }
    struct epoll_event evs[256];
    while (now_ns() < g_deadline_ns) {
        int n = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < n; i++) {
            struct hconn *c = evs[i].data.ptr;
            ssize_t r = recv(c->fd, c->rbuf + c->rlen, RBUF - c->rlen, 0);
            int bad = 0;
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN)
                    continue;
                bad = 1;
            } else {
                c->rlen += (size_t)r;
                for (;;) {
                    int p = parse(c, &status, &close_after, &w->body_bytes);
                    if (p < 0) {
                        bad = 1;
                        break;
                    }
                    if (p == 0)
                        break;
                    record(w, c, status);
                    if (close_after) {
                        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                        close(c->fd);
                        if (conn_open(ep, c) < 0)
                            bad = 1;
                    }
                    if (!bad && now_ns() < g_deadline_ns && conn_send(c) < 0)
                        bad = 1;
                    break;
                }
            }
            if (bad) {
                w->errors++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                if (now_ns() < g_deadline_ns && (conn_open(ep, c) < 0 || conn_send(c) < 0))
                    return NULL;
            }
        }
    }
    for (int i = 0; i < w->nconn; i++)
        close(conns[i].fd);
    free(conns);
    close(ep);
    return NULL;
}

static double percentile_ms(const uint64_t *hist, uint64_t total, double q)
{
    uint64_t want = (uint64_t)((double)total * q + 0.999999), seen = 0;
    for (size_t b = 0; b < HIST_N; b++) {
        seen += hist[b];
        if (seen >= want && want > 0)
            return (double)((b + 1) * HIST_US) / 1000.0;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int conns = 32, threads = 2, opt;
    double secs = 10;
    const char *method = "GET";
    char headers[4096] = "";
    size_t hlen = 0;
    while ((opt = getopt(argc, argv, "c:t:d:m:H:")) != -1) {
        switch (opt) {
        case 'c':
            conns = (int)strtol(optarg, NULL, 10);
            break;
        case 't':
            threads = (int)strtol(optarg, NULL, 10);
            break;
        case 'd':
            secs = atof(optarg);
            break;
        case 'm':
            method = optarg;
            break;
        case 'H':
            hlen += (size_t)snprintf(headers + hlen, sizeof(headers) - hlen, "%s\r\n", optarg);
            if (hlen >= sizeof(headers))
                return 2;
            break;
        default:
            goto usage;
        }
    }
    if (optind != argc - 1)
        goto usage;
    const char *url = argv[optind];
    char host[64];
    int port;
    int pathoff = 0;
    if (sscanf(url, "http://%63[0-9.]:%d%n", host, &port, &pathoff) != 2 || port <= 0)
        goto usage;
    const char *path = url + pathoff;
    if (!*path)
        path = "/";
    memset(&g_addr, 0, sizeof(g_addr));
    g_addr.sin_family = AF_INET;
    g_addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &g_addr.sin_addr) != 1)
        goto usage;
    g_is_head = strcmp(method, "HEAD") == 0;
    g_reqlen = (size_t)snprintf(g_req, sizeof(g_req), "%s %s HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n",
                                method, path, host, port, headers);
    if (threads < 1)
        threads = 1;
    if (conns < threads)
        conns = threads;
    signal(SIGPIPE, SIG_IGN);

    struct worker *ws = calloc((size_t)threads, sizeof(*ws));
    int64_t t0 = now_ns();
    g_deadline_ns = t0 + (int64_t)(secs * 1e9);
    for (int i = 0; i < threads; i++) {
        ws[i].nconn = conns / threads + (i < conns % threads ? 1 : 0);
        pthread_create(&ws[i].th, NULL, run, &ws[i]);
    }
    uint64_t done = 0, non2xx = 0, errors = 0, body_bytes = 0;
    int64_t max_ns = 0;
    uint64_t *hist = calloc(HIST_N, sizeof(*hist));
    for (int i = 0; i < threads; i++) {
        pthread_join(ws[i].th, NULL);
        done += ws[i].done;
        non2xx += ws[i].non2xx;
        errors += ws[i].errors;
        body_bytes += ws[i].body_bytes;
        if (ws[i].max_ns > max_ns)
            max_ns = ws[i].max_ns;
        if (ws[i].hist)
            for (size_t b = 0; b < HIST_N; b++)
                hist[b] += ws[i].hist[b];
    }
    double el = (double)(now_ns() - t0) / 1e9;
    printf("requests=%llu secs=%.3f rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f "
           "non2xx=%llu errors=%llu body_MBps=%.1f\n",
           (unsigned long long)done, el, (double)done / el, percentile_ms(hist, done, 0.50),
           percentile_ms(hist, done, 0.90), percentile_ms(hist, done, 0.99), (double)max_ns / 1e6,
           (unsigned long long)non2xx, (unsigned long long)errors, (double)body_bytes / el / 1e6);
    return done == 0 || errors ? 1 : 0;
usage:
    fprintf(stderr, "usage: hload [-c CONNS] [-t THREADS] [-d SECONDS] [-m METHOD] "
                    "[-H 'Name: value']... http://IPv4:PORT/PATH\n");
    return 2;
}
