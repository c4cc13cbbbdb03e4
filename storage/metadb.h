/*
 * metadb.h - registry metadata: repositories, blobs and their links,
 * manifests and their references, tags, upload sessions.
 *
 * Implemented on SQLite (WAL, one connection per thread opened lazily and kept
 * in a thread-local slot, prepared statements cached per connection, short
 * BEGIN IMMEDIATE write transactions, versioned migrations). Callers never see
 * SQL: a PostgreSQL implementation can stand beside this one.
 *
 * All strings passed in are already validated by the caller (names, tags,
 * digests). All functions return 0 or a negative BERR_* code with a message.
 * Results are owned by the caller and released with the matching _release.
 */
#ifndef BERTH_METADB_H
#define BERTH_METADB_H

#include <stddef.h>
#include <stdint.h>

#include "image/digest.h"

struct metadb;

/* Open (creating and migrating) the database at `path`. */
int metadb_open(struct metadb **out, const char *path);
/* Close every connection this handle opened. Accepts NULL. */
void metadb_free(struct metadb *db);
/* Close the calling thread's connection (call before a worker thread exits). */
void metadb_thread_done(struct metadb *db);

/* ---- blobs ------------------------------------------------------------ */

/* Record that blob d (size bytes, data already durable) is in repository
 * `repo`: create the repository and the blob row when absent, add the link
 * (a repeated link renews its age, which the collector's grace counts from).
 * Publishing new bytes goes through meta_blob_publish instead. */
int meta_blob_link(struct metadb *db, const char *repo, const struct digest *d, int64_t size);
/* Work done while the metadata write lock is held; 0 or a BERR_* code. */
typedef int (*meta_locked_fn)(void *ctx);
/* Publish blob d (size bytes) into `repo` under the metadata write lock, the
 * lock the garbage collector takes to delete a blob row and move its file:
 * BEGIN IMMEDIATE; place(place_ctx) puts the blob's durable bytes in place
 * (or finds them there); create the repository, the blob row when absent and
 * the link; COMMIT. place() must do no I/O beyond a rename or an unlink.
 * When place fails nothing is recorded and its code is returned. A failure
 * after place leaves the bytes without a row: an orphan file, which the
 * collector removes after its grace period. A repeated link renews its age.
 * place may be NULL (meta_blob_link: the bytes are known to be stored). */
int meta_blob_publish(struct metadb *db, const char *repo, const struct digest *d, int64_t size,
                      meta_locked_fn place, void *place_ctx);
/* Size of blob d if it is linked into repo, else BERR_BLOB_UNKNOWN. */
int meta_blob_get(struct metadb *db, const char *repo, const struct digest *d, int64_t *size_out);
/* meta_blob_get, plus the time the link was made or last renewed (seconds
 * since the epoch; the collector's grace counts from it). */
int meta_blob_get_link(struct metadb *db, const char *repo, const struct digest *d,
                       int64_t *size_out, int64_t *linked_out);
/* Renew the link repo->d (its collector grace starts again now) when it was
 * made before older_than. 1 when renewed, 0 when young or not linked. A
 * client that finds a blob (HEAD) and skips its upload relies on it until
 * its manifest arrives. */
int meta_blob_renew(struct metadb *db, const char *repo, const struct digest *d,
                    int64_t older_than);
/* Size of blob d if any repository has it, else BERR_BLOB_UNKNOWN. */
int meta_blob_exists(struct metadb *db, const struct digest *d, int64_t *size_out);
/* Remove the link repo->d. BERR_BLOB_UNKNOWN when not linked. */
int meta_blob_unlink(struct metadb *db, const char *repo, const struct digest *d);

/* Predicate for "may the caller read repository `repo`" (NULL = yes): nonzero
 * accepts. It runs while metadb holds a read statement open on this thread:
 * it must not call metadb functions. */
typedef int (*meta_repo_filter)(void *ctx, const char *repo);
/* Cross-repository mount: link d into `repo` when it is linked in `from`, or
 * (from == NULL) in any repository accepted by `filter`. On success *size_out
 * is set. BERR_BLOB_UNKNOWN when not reachable. The filter also applies to
 * `from` when both are given. Mounting a blob already linked into repo succeeds. */
int meta_blob_mount(struct metadb *db, const char *repo, const struct digest *d, const char *from,
                    meta_repo_filter filter, void *filter_ctx, int64_t *size_out);

/* ---- manifests -------------------------------------------------------- */

struct meta_manifest_put {
    const char *repo;
    const struct digest *digest; /* of payload */
    const char *media_type;
    const char *payload; /* exact bytes */
    size_t payload_len;
    const char *artifact_type;  /* effective artifact type, or NULL */
    const char *subject;        /* subject digest string, or NULL */
    const char *annotations;    /* JSON object text or NULL */
    const char *tag;            /* tag to point at it, or NULL (push by digest) */
    const struct digest *blobs; /* config + layers: must be linked in repo */
    size_t n_blobs;
    const struct digest *children; /* index entries: must be manifests in repo */
    size_t n_children;
};
/* In one write transaction: check every blob and child is present (else
 * BERR_MANIFEST_BLOB_UNKNOWN naming the first missing one), create the
 * repository, insert the manifest (idempotent), its references, and move the
 * tag. Last writer wins on a tag. */
int meta_manifest_put(struct metadb *db, const struct meta_manifest_put *p);

struct meta_manifest {
    char *digest; /* "sha256:..." */
    char *media_type;
    char *payload; /* exact bytes */
    size_t payload_len;
};
/* Look up by tag (is_digest == 0) or digest string. BERR_MANIFEST_UNKNOWN. */
int meta_manifest_get(struct metadb *db, const char *repo, const char *ref, int is_digest,
                      struct meta_manifest *out);
/* As get, without the payload (HEAD). payload is NULL, payload_len set. */
int meta_manifest_head(struct metadb *db, const char *repo, const char *ref, int is_digest,
                       struct meta_manifest *out);
void meta_manifest_release(struct meta_manifest *m);
/* Delete a manifest by digest with every tag pointing at it. BERR_MANIFEST_UNKNOWN. */
int meta_manifest_delete(struct metadb *db, const char *repo, const char *digest);
/* Remove one tag (the manifest stays). BERR_MANIFEST_UNKNOWN when absent. */
int meta_tag_delete(struct metadb *db, const char *repo, const char *tag);

/* ---- listings --------------------------------------------------------- */

struct meta_list {
    char **items; /* owned strings */
    size_t n;
    int more; /* 1 when more items exist after the last one returned */
};
void meta_list_release(struct meta_list *l);
/* Tags of repo in lexical (byte) order, after `last` (NULL = from the
 * start), at most n (n < 0: all). BERR_NAME_UNKNOWN when the repository has
 * never been created. n == 0 returns an empty list with more == 0. */
int meta_tags_list(struct metadb *db, const char *repo, const char *last, long n,
                   struct meta_list *out);
/* Repositories in lexical order, filtered (filter may be NULL), paginated as above. */
int meta_catalog(struct metadb *db, const char *last, long n, meta_repo_filter filter,
                 void *filter_ctx, struct meta_list *out);

/* Streaming listings, for callers that render rows as they come (no
 * per-row allocation). fn gets each name (name[len] == '\0', valid only
 * during the call) and returns 0 to go on or a negative BERR_* code, which
 * stops the walk and is returned. fn runs while a read statement is open:
 * it must not call metadb functions.
 *
 * Generations validate cached renderings of a listing. A repository's tag
 * generation changes with every change to its set of tag names (tag created
 * or deleted, directly or by the deletion of its manifest or repository; a
 * tag moved to another manifest changes no name and keeps it), made by any
 * process; the catalog generation changes with every change to the set of
 * repository names. Both are kept by the database in the transaction of the
 * change, never decrease, and a value is never reused for another state of
 * the same name (a repository created again after a deletion starts above
 * every value the old one had). So a rendering made from a listing of
 * generation G is current exactly while the generation read now is G.
 * The _each functions report the generation read before the rows: the rows
 * are of that state or of a later one (which has a later generation), never
 * of an earlier one. A generation of -1 means there is none to validate
 * with (the database's generation rows were edited by hand): do not cache. */
typedef int (*meta_name_fn)(void *ctx, const char *name, size_t len);
/* Tag generation of repo. BERR_NAME_UNKNOWN when the repository does not exist. */
int meta_tags_gen(struct metadb *db, const char *repo, int64_t *gen_out);
/* meta_tags_list streamed to fn: *more_out as meta_list.more; *gen_out (may
 * be NULL) the tag generation read first. */
int meta_tags_each(struct metadb *db, const char *repo, const char *last, long n, meta_name_fn fn,
                   void *ctx, int *more_out, int64_t *gen_out);
/* Catalog generation (of the unfiltered repository list). */
int meta_catalog_gen(struct metadb *db, int64_t *gen_out);
/* meta_catalog streamed to fn, as meta_tags_each. */
int meta_catalog_each(struct metadb *db, const char *last, long n, meta_repo_filter filter,
                      void *filter_ctx, meta_name_fn fn, void *ctx, int *more_out,
                      int64_t *gen_out);
/* 1 when the repository exists, 0 when not, or a negative BERR_DB. */
int meta_repo_exists(struct metadb *db, const char *repo);

/* ---- referrers -------------------------------------------------------- */

struct meta_referrer {
    char *digest;
    char *media_type;
    int64_t size;
    char *artifact_type; /* or NULL */
    char *annotations;   /* JSON object text or NULL */
};
/* Manifests in repo whose subject is `subject`, filtered by artifact type
 * when artifact_type != NULL; ordered by digest. */
int meta_referrers(struct metadb *db, const char *repo, const char *subject,
                   const char *artifact_type, struct meta_referrer **out, size_t *n_out);
void meta_referrers_free(struct meta_referrer *r, size_t n);

/* ---- upload sessions -------------------------------------------------- */

/* New session `id` for repo (the repository is not created). BERR_EXISTS when
 * the id is taken. */
int meta_upload_create(struct metadb *db, const char *id, const char *repo, int64_t now);
/* BERR_UPLOAD_UNKNOWN when there is no session `id` for `repo`. */
int meta_upload_get(struct metadb *db, const char *id, const char *repo, int64_t *started_out);
/* Mark activity (for expiry). BERR_UPLOAD_UNKNOWN when there is no session. */
int meta_upload_touch(struct metadb *db, const char *id, int64_t now);
/* BERR_UPLOAD_UNKNOWN when there is no session. */
int meta_upload_delete(struct metadb *db, const char *id);
/* Ids of sessions idle since before `before` (last touched < before), oldest first. */
int meta_upload_expired(struct metadb *db, int64_t before, struct meta_list *out);
/* 1 when a session row exists for id (any repository), 0 when not, or BERR_DB. */
int meta_upload_exists(struct metadb *db, const char *id);

#endif
