/*
 * bclient.c - the benchmark's registry client (libcurl easy handles, one per client thread).
 *
 * Every timed operation is a complete distribution-API exchange, checked for the status codes the
 * specification requires; an unexpected answer aborts the run (exit 1) with the status and URL.
 * Data is generated in memory and hashed before the clock starts, so the client's own SHA-256 and
 * disk never count against the server. Bodies are sent from memory (CURLOPT_POSTFIELDS) without
 * "Expect: 100-continue".
 *
 * Usage: bclient [-u USER:PASS] BASEURL COMMAND ARGS...
 *   probe REPO                           monolithic POST ?digest= supported? prints mono=1|0
 *   push-big REPO MIB single|chunked CHUNK_MIB REPS
 *                                        push REPS distinct blobs of MIB MiB; single = the whole
 * body in one request (POST ?digest=, or POST + PUT ?digest= when the registry answers the POST
 * with 202), chunked = POST, PATCH CHUNK_MIB pieces with Content-Range, PUT ?digest=; client_cpu_ms
 * = this client's CPU per push push-small REPO CONC SECS BYTES      CONC clients push distinct
 * BYTES-byte blobs for SECS seconds manifest-put REPO NTAGS CONC         push a config and a layer,
 * then NTAGS distinct manifests tagged t0000.. from CONC clients populate PREFIX NREPOS CONC
 * FROMREPO CFGDIGEST CFGSIZE LAYERDIGEST LAYERSIZE NREPOS repositories PREFIX/rNNNN: mount both
 * blobs from FROMREPO and PUT a manifest tagged latest get PATH SECS MINREPS sequential GETs of
 * PATH on one connection for SECS seconds and at least MINREPS times: median latency in ms Output:
 * key=value pairs on one line (the last line for push-big). Blob pull is measured with hload (raw
 * sockets): libcurl's receive path tops out below the loopback rate on these machines.
 *
 * Build: cc -O2 -pthread -o bclient bclient.c -lcurl -lcrypto   (tests/bench/run does it)
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MIB          (1024 * 1024)
#define OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCTET        "application/octet-stream"

static const char *g_base;
static const char *g_userpwd;
static int g_bigbuf;
static int g_mono = -1; /* monolithic POST ?digest= answered 201 */

struct res {
    long status;
    char location[4096];
    char digest[160];
    size_t bytes;
    char body[1024]; /* first bytes of the body, for error messages */
    size_t bodylen;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) this process has used. */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bclient: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static void sha256_hex(char out[72], const void *data, size_t len)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    memcpy(out, "sha256:", 7);
    for (int i = 0; i < 32; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void fill_random(void *p, size_t len, uint64_t seed)
{
    uint64_t s = seed | 1, *q = p;
    for (size_t i = 0; i < len / 8; i++)
        q[i] = xorshift(&s);
    for (size_t i = len / 8 * 8; i < len; i++)
        ((unsigned char *)p)[i] = (unsigned char)xorshift(&s);
}

static size_t on_header(char *b, size_t size, size_t n, void *ud)
{
    struct res *r = ud;
    size_t len = size * n;
    char *dst = NULL;
    size_t cap = 0, nl = 0;
    if (len > 9 && strncasecmp(b, "Location:", 9) == 0) {
        dst = r->location, cap = sizeof(r->location), nl = 9;
    } else if (len > 22 && strncasecmp(b, "Docker-Content-Digest:", 22) == 0) {
        dst = r->digest, cap = sizeof(r->digest), nl = 22;
    }
    if (dst) {
        const char *v = b + nl;
        size_t vl = len - nl;
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        if (vl >= cap)
            vl = cap - 1;
        memcpy(dst, v, vl);
        dst[vl] = '\0';
    }
    return len;
}

static size_t on_body(char *b, size_t size, size_t n, void *ud)
{
    struct res *r = ud;
    size_t len = size * n;
    if (r->bodylen < sizeof(r->body) - 1) {
        size_t k = len < sizeof(r->body) - 1 - r->bodylen ? len : sizeof(r->body) - 1 - r->bodylen;
        memcpy(r->body + r->bodylen, b, k);
        r->bodylen += k;
        r->body[r->bodylen] = '\0';
    }
    r->bytes += len;
    return len;
}

/* url: absolute, or a path resolved against the base URL. */
static void full_url(char *out, size_t cap, const char *url)
{
    if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)
        snprintf(out, cap, "%s", url);
    else
        snprintf(out, cap, "%s%s", g_base, url);
}

/* One request. body == NULL: no body (GET/HEAD/DELETE, or an empty POST/PUT when len == 0 and the
 * method is POST/PUT/PATCH). Extra headers are NULL-terminated. */
static void req(CURL *h, struct res *r, const char *method, const char *url, const void *body,
                size_t len, const char *ctype, const char *const *extra)
{
    char u[8192];
    struct curl_slist *hl = NULL;
    full_url(u, sizeof(u), url);
    memset(r, 0, sizeof(*r));
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, u);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 300L);
    if (g_bigbuf) {
        curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024);
        curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 2L * 1024 * 1024);
    }
    if (g_userpwd) {
        curl_easy_setopt(h, CURLOPT_USERPWD, g_userpwd);
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    }
    hl = curl_slist_append(hl, "Expect:");
    int has_body =
        strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (has_body) {
        char ct[256];
        snprintf(ct, sizeof(ct), "Content-Type: %s", ctype ? ctype : OCTET);
        hl = curl_slist_append(hl, ct);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    for (; extra && *extra; extra++)
        hl = curl_slist_append(hl, *extra);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(hl);
    if (rc != CURLE_OK)
        die("%s %s: %s", method, u, curl_easy_strerror(rc));
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
}

static void expect(const struct res *r, long want, const char *method, const char *url)
{
    if (r->status != want)
        die("%s %s: status %ld, expected %ld: %.300s", method, url, r->status, want, r->body);
}

/* URL of the upload location with digest added to its query. */
static void with_digest(char *out, size_t cap, const char *loc, const char *digest)
{
    snprintf(out, cap, "%s%cdigest=%s", loc, strchr(loc, '?') ? '&' : '?', digest);
}

/* Start an upload session; returns its location in out. */
static void upload_start(CURL *h, const char *repo, char *out, size_t cap)
{
    char url[1024];
    struct res r;
    snprintf(url, sizeof(url), "/v2/%s/blobs/uploads/", repo);
    req(h, &r, "POST", url, NULL, 0, NULL, NULL);
    expect(&r, 202, "POST", url);
    if (!r.location[0])
        die("POST %s: 202 without Location", url);
    snprintf(out, cap, "%s", r.location);
}

/* Push a blob with its whole body in one request (plus an empty POST when the registry has no
 * monolithic POST). */
static void push_single(CURL *h, const char *repo, const void *data, size_t len, const char *digest)
{
    char url[8192], loc[4096];
    struct res r;
    if (g_mono) {
        snprintf(url, sizeof(url), "/v2/%s/blobs/uploads/?digest=%s", repo, digest);
        req(h, &r, "POST", url, data, len, OCTET, NULL);
        expect(&r, 201, "POST", url);
        return;
    }
    upload_start(h, repo, loc, sizeof(loc));
    with_digest(url, sizeof(url), loc, digest);
    req(h, &r, "PUT", url, data, len, OCTET, NULL);
    expect(&r, 201, "PUT", url);
}

static void push_chunked(CURL *h, const char *repo, const unsigned char *data, size_t len,
                         size_t chunk, const char *digest)
{
    char loc[4096], url[8192], range[128];
    struct res r;
    upload_start(h, repo, loc, sizeof(loc));
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        snprintf(range, sizeof(range), "Content-Range: %zu-%zu", off, off + n - 1);
        const char *extra[] = {range, NULL};
        req(h, &r, "PATCH", loc, data + off, n, OCTET, extra);
        expect(&r, 202, "PATCH", loc);
        if (r.location[0])
            snprintf(loc, sizeof(loc), "%s", r.location);
    }
    with_digest(url, sizeof(url), loc, digest);
    req(h, &r, "PUT", url, NULL, 0, OCTET, NULL);
    expect(&r, 201, "PUT", url);
}

static void probe(CURL *h, const char *repo)
{
    char url[8192], digest[72], data[64], loc[4096];
    struct res r;
    snprintf(data, sizeof(data), "berth-bench-probe-%ld-%d", (long)time(NULL), (int)getpid());
    sha256_hex(digest, data, strlen(data));
    snprintf(url, sizeof(url), "/v2/%s/blobs/uploads/?digest=%s", repo, digest);
    req(h, &r, "POST", url, data, strlen(data), OCTET, NULL);
    if (r.status == 201) {
        g_mono = 1;
        return;
    }
    if (r.status != 202)
        die("POST %s: status %ld: %.300s", url, r.status, r.body);
    g_mono = 0;
    /* Finish the session the registry opened, so no upload is left behind. */
    if (r.location[0]) {
        snprintf(loc, sizeof(loc), "%s", r.location);
        with_digest(url, sizeof(url), loc, digest);
        req(h, &r, "PUT", url, data, strlen(data), OCTET, NULL);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_double);
    size_t i = (size_t)((double)n * q + 0.999999);
    if (i < 1)
        i = 1;
    if (i > n)
        i = n;
    return v[i - 1];
}

/* --- push-big ------------------------------------------------------------------------ */

static int cmd_push_big(CURL *h, char **a)
{
    const char *repo = a[0];
    size_t len = (size_t)atol(a[1]) * MIB, chunk = (size_t)atol(a[3]) * MIB;
    int chunked = strcmp(a[2], "chunked") == 0, reps = (int)strtol(a[4], NULL, 10);
    unsigned char *data = malloc(len);
    char digest[72];
    double *rate = calloc((size_t)reps, sizeof(*rate));
    if (!data || !rate || reps < 1 || (chunked && chunk == 0))
        die("push-big: bad arguments");
    fill_random(data, len, (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32));
    double client_cpu = 0;
    g_bigbuf = 1;
    for (int i = 0; i < reps; i++) {
        snprintf((char *)data, 48, "bench %d %ld %d %s", i, (long)time(NULL), (int)getpid(), a[2]);
        sha256_hex(digest, data, len);
        double c0 = cpu_s();
        double t0 = now_s();
        if (chunked)
            push_chunked(h, repo, data, len, chunk, digest);
        else
            push_single(h, repo, data, len, digest);
        double el = now_s() - t0;
        client_cpu += cpu_s() - c0;
        rate[i] = (double)len / el / 1e6;
        printf("rep=%d secs=%.3f MBps=%.1f\n", i, el, rate[i]);
        fflush(stdout);
    }
    double best = 0;
    for (int i = 0; i < reps; i++)
        if (rate[i] > best)
            best = rate[i];
    printf("ops=%d bytes=%zu MBps=%.1f MBps_best=%.1f client_cpu_ms=%.1f digest=%s mono=%d\n", reps,
           len, pct(rate, (size_t)reps, 0.5), best, client_cpu * 1e3 / reps, digest, g_mono);
    free(rate);
    free(data);
    return 0;
}

/* --- concurrent operations -------------------------------------------------------------------- */

struct job;
typedef void (*op_fn)(struct job *j, CURL *h, long i, int thread);

struct job {
    op_fn fn;
    long count;      /* > 0: stop after this many operations */
    double deadline; /* > 0: stop starting operations at this time */
    atomic_long next;
    const char *repo;
    const char *prefix;
    size_t bytes;
    char cfg_digest[72], layer_digest[72];
    size_t cfg_size, layer_size;
    const char *from;
    /* results */
    double *lat[256];
    size_t nlat[256], caplat[256];
};

struct worker_arg {
    struct job *j;
    int t;
};

static void *worker(void *p)
{
    struct worker_arg *w = p;
    struct job *j = w->j;
    CURL *h = curl_easy_init();
    for (;;) {
        if (j->deadline > 0 && now_s() >= j->deadline)
            break;
        long i = atomic_fetch_add(&j->next, 1);
        if (j->count > 0 && i >= j->count)
            break;
        j->fn(j, h, i, w->t);
    }
    curl_easy_cleanup(h);
    return NULL;
}

static void lat_add(struct job *j, int t, double v)
{
    if (j->nlat[t] == j->caplat[t]) {
        j->caplat[t] = j->caplat[t] ? j->caplat[t] * 2 : 4096;
        j->lat[t] = realloc(j->lat[t], j->caplat[t] * sizeof(double));
        if (!j->lat[t])
            die("out of memory");
    }
    j->lat[t][j->nlat[t]++] = v;
}

/* Run j with conc threads; prints ops, secs, rate, p50_ms, p99_ms. */
static void run_job(struct job *j, int conc, const char *extra)
{
    pthread_t th[256];
    struct worker_arg wa[256];
    if (conc < 1 || conc > 256)
        die("concurrency must be 1..256");
    double t0 = now_s();
    if (j->deadline > 0)
        j->deadline += t0;
    for (int t = 0; t < conc; t++) {
        wa[t] = (struct worker_arg){j, t};
        pthread_create(&th[t], NULL, worker, &wa[t]);
    }
    for (int t = 0; t < conc; t++)
        pthread_join(th[t], NULL);
    double el = now_s() - t0;
    size_t n = 0;
    for (int t = 0; t < conc; t++)
        n += j->nlat[t];
    double *all = malloc((n ? n : 1) * sizeof(double));
    size_t k = 0;
    for (int t = 0; t < conc; t++) {
        memcpy(all + k, j->lat[t], j->nlat[t] * sizeof(double));
        k += j->nlat[t];
        free(j->lat[t]);
    }
    double p50 = pct(all, n, 0.5), p99 = pct(all, n, 0.99);
    printf("ops=%zu secs=%.3f rate=%.1f p50_ms=%.2f p99_ms=%.2f%s%s\n", n, el, (double)n / el,
           p50 * 1e3, p99 * 1e3, extra ? " " : "", extra ? extra : "");
    free(all);
}

static void op_push_small(struct job *j, CURL *h, long i, int t)
{
    unsigned char data[65536];
    char digest[72];
    size_t len = j->bytes;
    fill_random(data, len, ((uint64_t)i << 20) ^ (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 40));
    snprintf((char *)data, 64, "small %ld %d %ld %d", i, t, (long)time(NULL), (int)getpid());
    sha256_hex(digest, data, len);
    double t0 = now_s();
    push_single(h, j->repo, data, len, digest);
    lat_add(j, t, now_s() - t0);
}

static int manifest_json(char *out, size_t cap, const struct job *j, long n)
{
    return snprintf(out, cap,
                    "{\"schemaVersion\":2,\"mediaType\":\"" OCI_MANIFEST "\","
                    "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                    "\"digest\":\"%s\",\"size\":%zu},"
                    "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
                    "\"digest\":\"%s\",\"size\":%zu}],"
                    "\"annotations\":{\"org.berth.bench.n\":\"%ld\"}}",
                    j->cfg_digest, j->cfg_size, j->layer_digest, j->layer_size, n);
}

static void op_manifest_put(struct job *j, CURL *h, long i, int t)
{
    char body[2048], url[1024];
    struct res r;
    int len = manifest_json(body, sizeof(body), j, i);
    snprintf(url, sizeof(url), "/v2/%s/manifests/t%04ld", j->repo, i);
    double t0 = now_s();
    req(h, &r, "PUT", url, body, (size_t)len, OCI_MANIFEST, NULL);
    expect(&r, 201, "PUT", url);
    lat_add(j, t, now_s() - t0);
}

static void op_populate(struct job *j, CURL *h, long i, int t)
{
    char body[2048], url[1024], repo[512];
    struct res r;
    snprintf(repo, sizeof(repo), "%s/r%04ld", j->prefix, i);
    double t0 = now_s();
    const char *dg[2] = {j->cfg_digest, j->layer_digest};
    for (int k = 0; k < 2; k++) {
        snprintf(url, sizeof(url), "/v2/%s/blobs/uploads/?mount=%s&from=%s", repo, dg[k], j->from);
        req(h, &r, "POST", url, NULL, 0, NULL, NULL);
        expect(&r, 201, "POST", url);
    }
    int len = manifest_json(body, sizeof(body), j, 0);
    snprintf(url, sizeof(url), "/v2/%s/manifests/latest", repo);
    req(h, &r, "PUT", url, body, (size_t)len, OCI_MANIFEST, NULL);
    expect(&r, 201, "PUT", url);
    lat_add(j, t, now_s() - t0);
}

static int cmd_push_small(CURL *h, char **a)
{
    static struct job j;
    (void)h;
    j.fn = op_push_small;
    j.repo = a[0];
    j.deadline = atof(a[2]);
    j.bytes = (size_t)atol(a[3]);
    if (j.bytes == 0 || j.bytes > 65536)
        die("push-small: BYTES must be 1..65536");
    char extra[32];
    snprintf(extra, sizeof(extra), "mono=%d", g_mono);
    run_job(&j, (int)strtol(a[1], NULL, 10), extra);
    return 0;
}

/* Push the config and the layer a manifest refers to; fills j's digests. */
static void push_refs(CURL *h, struct job *j, const char *repo)
{
    unsigned char layer[4096];
    char cfg[512];
    fill_random(layer, sizeof(layer), (uint64_t)time(NULL) ^ (uint64_t)getpid());
    snprintf((char *)layer, 64, "layer %ld %d", (long)time(NULL), (int)getpid());
    sha256_hex(j->layer_digest, layer, sizeof(layer));
    j->layer_size = sizeof(layer);
    int n = snprintf(cfg, sizeof(cfg),
                     "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
                     "\"diff_ids\":[\"%s\"]},\"created\":\"%ld\"}",
                     j->layer_digest, (long)time(NULL));
    sha256_hex(j->cfg_digest, cfg, (size_t)n);
    j->cfg_size = (size_t)n;
    push_single(h, repo, layer, sizeof(layer), j->layer_digest);
    push_single(h, repo, cfg, (size_t)n, j->cfg_digest);
}

static int cmd_manifest_put(CURL *h, char **a)
{
    static struct job j;
    char extra[512];
    j.fn = op_manifest_put;
    j.repo = a[0];
    j.count = atol(a[1]);
    push_refs(h, &j, j.repo);
    snprintf(extra, sizeof(extra), "config=%s config_size=%zu layer=%s layer_size=%zu",
             j.cfg_digest, j.cfg_size, j.layer_digest, j.layer_size);
    run_job(&j, (int)strtol(a[2], NULL, 10), extra);
    return 0;
}

static int cmd_populate(CURL *h, char **a)
{
    static struct job j;
    (void)h;
    j.fn = op_populate;
    j.prefix = a[0];
    j.count = atol(a[1]);
    j.from = a[3];
    snprintf(j.cfg_digest, sizeof(j.cfg_digest), "%s", a[4]);
    j.cfg_size = (size_t)atol(a[5]);
    snprintf(j.layer_digest, sizeof(j.layer_digest), "%s", a[6]);
    j.layer_size = (size_t)atol(a[7]);
    run_job(&j, (int)strtol(a[2], NULL, 10), NULL);
    return 0;
}

static int cmd_get(CURL *h, char **a)
{
    double secs = atof(a[1]);
    int minreps = (int)strtol(a[2], NULL, 10), n = 0, cap = 1024;
    double *ms = malloc((size_t)cap * sizeof(*ms)), sum = 0;
    struct res r;
    size_t bytes = 0;
    double start = now_s();
    while (n < minreps || now_s() - start < secs) {
        double t0 = now_s();
        req(h, &r, "GET", a[0], NULL, 0, NULL, NULL);
        double v = (now_s() - t0) * 1e3;
        expect(&r, 200, "GET", a[0]);
        bytes = r.bytes;
        if (n == cap) {
            cap *= 2;
            ms = realloc(ms, (size_t)cap * sizeof(*ms));
            if (!ms)
                die("out of memory");
        }
        ms[n++] = v;
        sum += v;
    }
    double p50 = pct(ms, (size_t)n, 0.5); /* sorts */
    printf("ops=%d ms=%.3f ms_min=%.3f ms_p90=%.3f ms_mean=%.3f bytes=%zu\n", n, p50, ms[0],
           pct(ms, (size_t)n, 0.9), sum / n, bytes);
    free(ms);
    return 0;
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "+u:")) != -1) {
        if (opt == 'u')
            g_userpwd = optarg;
        else
            goto usage;
    }
    if (argc - optind < 2)
        goto usage;
    g_base = argv[optind];
    const char *cmd = argv[optind + 1];
    char **a = argv + optind + 2;
    int na = argc - optind - 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *h = curl_easy_init();
    int rc = 2;
    static const struct {
        const char *name;
        int nargs;
        int needs_probe;
        int (*fn)(CURL *, char **);
    } cmds[] = {
        {"push-big", 5, 1, cmd_push_big},
        {"push-small", 4, 1, cmd_push_small},
        {"manifest-put", 3, 1, cmd_manifest_put},
        {"populate", 8, 0, cmd_populate},
        {"get", 3, 0, cmd_get},
    };
    if (strcmp(cmd, "probe") == 0 && na == 1) {
        probe(h, a[0]);
        printf("mono=%d\n", g_mono);
        rc = 0;
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(cmd, cmds[i].name) != 0)
            continue;
        if (na != cmds[i].nargs)
            goto usage;
        if (cmds[i].needs_probe)
            probe(h, a[0]);
        rc = cmds[i].fn(h, a);
    }
    curl_easy_cleanup(h);
    curl_global_cleanup();
    if (rc == 2)
        goto usage;
    return rc;
usage:
    fprintf(stderr,
            "usage: bclient [-u USER:PASS] BASEURL probe|push-big|push-small|"
            "manifest-put|populate|get ARGS... (see the comment at the top of bclient.c)\n");
    return 2;
}
