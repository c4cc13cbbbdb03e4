/*
 * routes.c - THE route table and its matcher.
 *
 * Order matters: the first row whose pattern matches wins, so the upload
 * routes come before the {digest} blob routes they would otherwise shadow.
 * Matching never allocates beyond copying the parameters into the request.
 */
#include "server/routes.h"

#include "image/base/err.h"
#include "image/base/xalloc.h"
#include "image/reference.h"
#include "server/handlers.h"
#include "storage/paths.h"

#include <stdio.h>
#include <string.h>

#define R_PULL ACCESS_PULL
#define R_PUSH (ACCESS_PULL | ACCESS_PUSH)

/* clang-format off */
const struct route routes[] = {
    {M_GET,    "/v2/", NULL, NULL, h_base_get, ACCESS_NONE, BODY_NONE,
     "API version check", "end-1", 0},
    {M_GET,    "/v2/_catalog", NULL, NULL, h_catalog, ACCESS_CATALOG, BODY_NONE,
     "list repositories (?n=&last=)", "", 0},
    {M_POST,   "/v2/{name}/blobs/uploads/", h_upload_post_begin, h_upload_data, h_upload_post,
     R_PUSH, BODY_STREAM, "start an upload; ?digest= single request; ?mount=&from= mount", "end-4a end-4b end-11", 0},
    {M_POST,   "/v2/{name}/blobs/uploads", h_upload_post_begin, h_upload_data, h_upload_post,
     R_PUSH, BODY_STREAM, "same, without the trailing slash", "end-4a", 0},
    {M_PATCH,  "/v2/{name}/blobs/uploads/{uuid}", h_upload_patch_begin, h_upload_data,
     h_upload_patch, R_PUSH, BODY_STREAM, "upload a chunk (Content-Range) or stream", "end-5", 0},
    {M_PUT,    "/v2/{name}/blobs/uploads/{uuid}", h_upload_put_begin, h_upload_data, h_upload_put,
     R_PUSH, BODY_STREAM, "complete an upload (?digest=, optional last chunk)", "end-6", 0},
    {M_GET,    "/v2/{name}/blobs/uploads/{uuid}", NULL, NULL, h_upload_status, R_PUSH, BODY_NONE,
     "upload status", "end-13", 0},
    {M_DELETE, "/v2/{name}/blobs/uploads/{uuid}", NULL, NULL, h_upload_cancel, R_PUSH, BODY_NONE,
     "cancel an upload", "", 0},
    {M_GET,    "/v2/{name}/blobs/{digest}", NULL, NULL, h_blob_get, R_PULL, BODY_NONE,
     "fetch a blob (Range supported)", "end-2", 0},
    {M_HEAD,   "/v2/{name}/blobs/{digest}", NULL, NULL, h_blob_head, R_PULL, BODY_NONE,
     "check a blob", "end-2", 0},
    {M_DELETE, "/v2/{name}/blobs/{digest}", NULL, NULL, h_blob_delete, ACCESS_DELETE, BODY_NONE,
     "unlink a blob from the repository", "end-10", 0},
    {M_GET,    "/v2/{name}/manifests/{reference}", NULL, NULL, h_manifest_get, R_PULL, BODY_NONE,
     "fetch a manifest by tag or digest", "end-3", 0},
    {M_HEAD,   "/v2/{name}/manifests/{reference}", NULL, NULL, h_manifest_head, R_PULL, BODY_NONE,
     "check a manifest", "end-3", 0},
    {M_PUT,    "/v2/{name}/manifests/{reference}", NULL, NULL, h_manifest_put, R_PUSH, BODY_BUFFER,
     "push a manifest", "end-7", 0},
    {M_DELETE, "/v2/{name}/manifests/{reference}", NULL, NULL, h_manifest_delete, ACCESS_DELETE,
     BODY_NONE, "delete a manifest (digest) or untag (tag)", "end-9", 0},
    {M_GET,    "/v2/{name}/tags/list", NULL, NULL, h_tags_list, R_PULL, BODY_NONE,
     "list tags (?n=&last=)", "end-8a end-8b", 0},
    {M_GET,    "/v2/{name}/referrers/{digest}", NULL, NULL, h_referrers, R_PULL, BODY_NONE,
     "list referrers (?artifactType=)", "end-12a end-12b", 0},
    {M_GET,    "/auth/token", NULL, NULL, h_token_get, ACCESS_PUBLIC, BODY_NONE,
     "built-in token issuer (Basic or anonymous)", "", 0},
    {M_POST,   "/auth/token", NULL, NULL, h_token_post, ACCESS_PUBLIC, BODY_BUFFER,
     "built-in token issuer (OAuth2 password / refresh_token)", "", 64 * 1024},
};
/* clang-format on */

const size_t routes_count = sizeof(routes) / sizeof(routes[0]);

const char *method_name(enum http_method m)
{
    static const char *names[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OTHER"};
    return names[m];
}

/* A path segment view. */
struct seg {
    const char *p;
    size_t n;
};

#define MAX_TAIL 8

/* Split the pattern's tail (after "{name}") into segments. */
static int split(const char *s, struct seg *out, int max)
{
    int n = 0;
    while (n < max) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        out[n].p = s;
        out[n].n = len;
        n++;
        if (!e)
            break;
        s = e + 1;
    }
    return n;
}

static int is_param(const struct seg *s)
{
    return s->n >= 2 && s->p[0] == '{' && s->p[s->n - 1] == '}';
}

static int seg_is(const struct seg *s, const char *lit)
{
    return strlen(lit) == s->n && memcmp(s->p, lit, s->n) == 0;
}

/* Try one pattern against path. On success store the parameters in r. */
static int pattern_match(const char *pattern, const char *path, struct request *r, int store)
{
    const char *name_at = strstr(pattern, "{name}");
    if (!name_at)
        return strcmp(pattern, path) == 0;
    size_t prefix = (size_t)(name_at - pattern); /* "/v2/" */
    if (strncmp(pattern, path, prefix) != 0)
        return 0;
    struct seg tail[MAX_TAIL], have[MAX_TAIL];
    int nt = split(name_at + 7, tail, MAX_TAIL); /* skip "{name}/" */
    /* Take the last nt segments of the path, from the right. */
    const char *rest = path + prefix;
    const char *end = rest + strlen(rest);
    const char *cut = end;
    for (int i = nt - 1; i >= 0; i--) {
        const char *slash = cut;
        while (slash > rest && slash[-1] != '/')
            slash--;
        if (slash <= rest)
            return 0; /* nothing left for the name */
        have[i].p = slash;
        have[i].n = (size_t)(cut - slash);
        cut = slash - 1; /* at the '/' before this segment */
    }
    size_t name_len = (size_t)(cut - rest);
    if (name_len == 0)
        return 0;
    for (int i = 0; i < nt; i++) {
        if (is_param(&tail[i])) {
            if (have[i].n == 0)
                return 0;
        } else if (tail[i].n != have[i].n || memcmp(tail[i].p, have[i].p, have[i].n) != 0) {
            return 0;
        }
    }
    if (!store)
        return 1;
    r->name = xstrndup(rest, name_len);
    for (int i = 0; i < nt; i++) {
        if (!is_param(&tail[i]))
            continue;
        if (seg_is(&tail[i], "{uuid}")) {
            size_t n = have[i].n < sizeof(r->uuid) - 1 ? have[i].n : sizeof(r->uuid) - 1;
            memcpy(r->uuid, have[i].p, n);
            r->uuid[n] = '\0';
            if (have[i].n >= sizeof(r->uuid))
                r->uuid[0] = '!'; /* too long: fails validation */
        } else {
            r->ref = xstrndup(have[i].p, have[i].n);
            r->ref_is_digest = seg_is(&tail[i], "{digest}") || memchr(have[i].p, ':', have[i].n);
        }
    }
    return 1;
}

int route_writes(const struct route *rt)
{
    return rt->method == M_POST || rt->method == M_PUT || rt->method == M_PATCH ||
           rt->method == M_DELETE;
}

/* 1 when the table has an explicit HEAD row for this pattern. */
static int has_head_route(const char *pattern)
{
    for (size_t i = 0; i < routes_count; i++)
        if (routes[i].method == M_HEAD && strcmp(routes[i].pattern, pattern) == 0)
            return 1;
    return 0;
}

enum route_match_result route_match(struct request *r, char *allow, size_t allow_len)
{
    const struct route *found = NULL;
    int any = 0;
    size_t used = 0;
    allow[0] = '\0';
    for (size_t i = 0; i < routes_count; i++) {
        const struct route *rt = &routes[i];
        if (!pattern_match(rt->pattern, r->path, r, 0))
            continue;
        if (found && strcmp(found->pattern, rt->pattern) != 0)
            continue; /* a later, different pattern: shadowed */
        if (!found)
            found = rt;
        any = 1;
        if (rt->method == r->method ||
            (r->method == M_HEAD && rt->method == M_GET && !has_head_route(rt->pattern))) {
            pattern_match(rt->pattern, r->path, r, 1);
            r->route = rt;
            return ROUTE_OK;
        }
        int n = snprintf(allow + used, allow_len - used, "%s%s", used ? ", " : "",
                         method_name(rt->method));
        if (n > 0 && (size_t)n < allow_len - used)
            used += (size_t)n;
    }
    return any ? ROUTE_BAD_METHOD : ROUTE_NOT_FOUND;
}

int route_validate(struct request *r)
{
    if (r->name && !ref_name_valid(r->name, strlen(r->name)))
        return berr_set(BERR_NAME_INVALID, "invalid repository name '%.300s'", r->name);
    if (r->uuid[0] && !paths_upload_id_valid(r->uuid, strlen(r->uuid)))
        return berr_set(BERR_UPLOAD_UNKNOWN, "unknown upload '%.64s'", r->uuid);
    if (r->ref) {
        if (r->ref_is_digest) {
            int rc = digest_parse_cstr(&r->digest, r->ref);
            if (rc < 0)
                return rc;
        } else if (!ref_tag_valid(r->ref, strlen(r->ref))) {
            return berr_set(BERR_TAG_INVALID, "invalid tag '%.200s'", r->ref);
        }
    }
    return 0;
}

void routes_print_doc(FILE *fp)
{
    fprintf(fp, "| method | path | access | body | spec | what |\n|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < routes_count; i++) {
        const struct route *rt = &routes[i];
        const char *acc = rt->access & ACCESS_PUBLIC    ? "public"
                          : rt->access & ACCESS_CATALOG ? "registry:catalog:*"
                          : rt->access & ACCESS_DELETE  ? "delete"
                          : rt->access & ACCESS_PUSH    ? "pull,push"
                          : rt->access & ACCESS_PULL    ? "pull"
                                                        : "authenticated";
        const char *body = rt->body == BODY_STREAM   ? "streamed"
                           : rt->body == BODY_BUFFER ? "buffered (capped)"
                                                     : "-";
        fprintf(fp, "| %s | `%s` | %s | %s | %s | %s |\n", method_name(rt->method), rt->pattern,
                acc, body, rt->spec_id, rt->summary);
    }
}
