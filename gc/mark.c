/*
 * mark.c - the mark phase: what the policy collects, decided in one read
 * snapshot of the metadata (meta_gc_mark), without taking the write lock.
 *
 * The mark is advice, not authority: the sweep re-checks every candidate
 * under the write lock, so anything that became reachable since the
 * snapshot (a tag pushed, an index referencing a manifest, a blob linked
 * again) is kept, and anything that became garbage since is left for the
 * next run. A dry run reports the mark as it is - exactly what a run
 * starting now would delete if nothing changed meanwhile.
 */
#include "gc/gc_int.h"

#include <stdlib.h>

#include "image/base/xalloc.h"

/* Page through one candidate list of the mark into the report: link bytes
 * and, with per_repo, the per-repository figures. */
static int mark_report(struct gc_run *g, enum meta_gc_kind kind)
{
    size_t max = 256, n = 0;
    struct meta_gc_item *items = xcalloc(max, sizeof(*items));
    int64_t after = 0;
    int rc;
    for (;;) {
        rc = meta_gc_candidates(g->st->db, kind, after, max, items, &n);
        if (rc < 0 || n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            if (kind == META_GC_MANIFEST) {
                gc_repo_add(g, items[i].repo, 1, items[i].size, 0, 0);
            } else {
                g->rep->link_bytes += items[i].size;
                gc_repo_add(g, items[i].repo, 0, 0, 1, items[i].size);
            }
        }
        after = items[n - 1].seq;
    }
    free(items);
    return rc;
}

int gc_mark(struct gc_run *g)
{
    struct meta_gc_totals t;
    int rc = meta_gc_mark(g->st->db, &g->policy, &t);
    if (rc < 0)
        return rc;
    if (!g->opt->dry_run)
        return 0;
    g->rep->manifests = t.manifests;
    g->rep->manifest_bytes = t.manifest_bytes;
    g->rep->links = t.links;
    g->rep->blobs = t.blobs;
    g->rep->blob_bytes = t.blob_bytes;
    if (g->opt->per_repo) {
        rc = mark_report(g, META_GC_MANIFEST);
        if (rc < 0)
            return rc;
    }
    return mark_report(g, META_GC_LINK);
}
