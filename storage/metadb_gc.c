/*
 * metadb_gc.c - the SQL of garbage collection and fsck (see metadb_gc.h for
 * the contract, docs/gc.md for the rule and the lock order).
 *
 * Mark runs in one deferred (read) transaction: WAL gives it a snapshot,
 * and its results go to TEMP tables of the calling thread's connection,
 * which lock only the connection's own temp database - a writer is never
 * blocked by a mark, however long it takes. Each candidate list has an
 * INTEGER PRIMARY KEY `seq` that pages it (keyset, no OFFSET).
 *
 * Sweep statements run inside meta_tx (BEGIN IMMEDIATE) and re-check the
 * candidate against the current state in the same statement that deletes
 * it (or, for manifests, in a query right before, under the same lock), so
 * a decision is never based on anything older than the lock.
 *
 * Invariants:
 * - every statement here is cached in an extension slot of the connection
 *   (metadb_int.h), binds every parameter on every use, and is reset before
 *   the function that stepped it returns;
 * - manifests_by_subject, manifest_children_by_digest and
 *   manifest_blobs_by_digest serve the reachability queries: no query scans
 *   a table per candidate (checked with EXPLAIN QUERY PLAN). "A manifest of
 *   repository R references blob D" is always looked up D first, through
 *   manifest_blobs_by_digest, then the manifest by rowid: CROSS JOIN pins
 *   that order (without statistics SQLite would walk every manifest of R).
 */
#include "storage/metadb_gc.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"
#include "storage/metadb_int.h"

struct meta_tx {
    struct metadb *db;
    sqlite3 *h;
};

enum slot {
    X_BEGIN_IMMEDIATE,
    X_BEGIN_READ,
    X_COMMIT,
    X_ROLLBACK,
    X_MARK_KEEP,
    X_MARK_MANIFESTS,
    X_MARK_LINKS,
    X_MARK_BLOBS,
    X_TOTALS,
    X_CAND_MANIFESTS,
    X_CAND_LINKS,
    X_CAND_BLOBS,
    X_MANIFEST_KEPT,
    X_MANIFEST_DELETE,
    X_LINK_COLLECT,
    X_BLOB_COLLECT,
    X_BLOB_ROW,
    X_BLOB_ROWS,
    X_DANGLING,
    X__COUNT
};

/* Temp tables; created on first use per connection (IF NOT EXISTS). */
static const char temp_schema[] =
    "CREATE TEMP TABLE IF NOT EXISTS gc_keep (id INTEGER PRIMARY KEY);"
    "CREATE TEMP TABLE IF NOT EXISTS gc_manifests (seq INTEGER PRIMARY KEY,"
    "  id INTEGER NOT NULL, repo_id INTEGER NOT NULL, digest TEXT NOT NULL,"
    "  size INTEGER NOT NULL);"
    "CREATE TEMP TABLE IF NOT EXISTS gc_links (seq INTEGER PRIMARY KEY,"
    "  repo_id INTEGER NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL,"
    "  UNIQUE (repo_id, digest));"
    "CREATE TEMP TABLE IF NOT EXISTS gc_blobs (seq INTEGER PRIMARY KEY,"
    "  digest TEXT NOT NULL UNIQUE, size INTEGER NOT NULL);";

static const char temp_clear[] = "DELETE FROM temp.gc_keep; DELETE FROM temp.gc_manifests;"
                                 "DELETE FROM temp.gc_links; DELETE FROM temp.gc_blobs;";

/* Roots: ?1 = cutoff, ?2 = delete_untagged. Edges: a kept index keeps its
 * children, a kept subject keeps its referrers (same repository). UNION
 * (not UNION ALL) deduplicates, so cycles terminate. */
#define KEEP_ROOTS                                                                                 \
    "m.created >= ?1 OR (?2 = 0 AND m.subject IS NULL)"                                            \
    " OR EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id)"

static const char *const slot_sql[X__COUNT] = {
    [X_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [X_BEGIN_READ] = "BEGIN",
    [X_COMMIT] = "COMMIT",
    [X_ROLLBACK] = "ROLLBACK",
    [X_MARK_KEEP] =
        "WITH RECURSIVE keep(id, repo_id, digest) AS ("
        "  SELECT m.id, m.repo_id, m.digest FROM manifests m WHERE " KEEP_ROOTS "  UNION"
        "  SELECT c.id, c.repo_id, c.digest FROM keep k"
        "    JOIN manifest_children mc ON mc.manifest_id = k.id"
        "    JOIN manifests c ON c.repo_id = k.repo_id AND c.digest = mc.child_digest"
        "  UNION"
        "  SELECT r.id, r.repo_id, r.digest FROM keep k"
        "    JOIN manifests r ON r.repo_id = k.repo_id AND r.subject = k.digest)"
        " INSERT INTO temp.gc_keep(id) SELECT DISTINCT id FROM keep",
    [X_MARK_MANIFESTS] = "INSERT INTO temp.gc_manifests(id, repo_id, digest, size)"
                         " SELECT m.id, m.repo_id, m.digest, m.size FROM manifests m"
                         " WHERE NOT EXISTS (SELECT 1 FROM temp.gc_keep k WHERE k.id = m.id)"
                         " ORDER BY m.repo_id, m.id",
    [X_MARK_LINKS] = "INSERT INTO temp.gc_links(repo_id, digest, size)"
                     " SELECT rb.repo_id, rb.digest, b.size FROM repo_blobs rb"
                     "   JOIN blobs b ON b.digest = rb.digest"
                     " WHERE rb.created < ?1 AND NOT EXISTS ("
                     "   SELECT 1 FROM manifest_blobs mb"
                     "   CROSS JOIN manifests m ON m.id = mb.manifest_id"
                     "   CROSS JOIN temp.gc_keep k ON k.id = m.id"
                     "   WHERE mb.digest = rb.digest AND m.repo_id = rb.repo_id)"
                     " ORDER BY rb.repo_id, rb.digest",
    [X_MARK_BLOBS] = "INSERT INTO temp.gc_blobs(digest, size)"
                     " SELECT b.digest, b.size FROM blobs b"
                     " WHERE b.created < ?1"
                     " AND NOT EXISTS (SELECT 1 FROM repo_blobs rb WHERE rb.digest = b.digest"
                     "   AND NOT EXISTS (SELECT 1 FROM temp.gc_links l"
                     "                   WHERE l.repo_id = rb.repo_id AND l.digest = rb.digest))"
                     " AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb JOIN temp.gc_keep k"
                     "   ON k.id = mb.manifest_id WHERE mb.digest = b.digest)"
                     " ORDER BY b.digest",
    [X_TOTALS] = "SELECT (SELECT count(*) FROM temp.gc_manifests),"
                 " (SELECT coalesce(sum(size), 0) FROM temp.gc_manifests),"
                 " (SELECT count(*) FROM temp.gc_links),"
                 " (SELECT count(*) FROM temp.gc_blobs),"
                 " (SELECT coalesce(sum(size), 0) FROM temp.gc_blobs)",
    [X_CAND_MANIFESTS] = "SELECT g.seq, g.id, g.size, g.digest, coalesce(r.name, '')"
                         " FROM temp.gc_manifests g LEFT JOIN repos r ON r.id = g.repo_id"
                         " WHERE g.seq > ?1 ORDER BY g.seq LIMIT ?2",
    [X_CAND_LINKS] = "SELECT g.seq, g.repo_id, g.size, g.digest, coalesce(r.name, '')"
                     " FROM temp.gc_links g LEFT JOIN repos r ON r.id = g.repo_id"
                     " WHERE g.seq > ?1 ORDER BY g.seq LIMIT ?2",
    [X_CAND_BLOBS] = "SELECT g.seq, 0, g.size, g.digest, '' FROM temp.gc_blobs g"
                     " WHERE g.seq > ?1 ORDER BY g.seq LIMIT ?2",
    /* A row when manifest ?1 is still reachable: some manifest it can be
     * reached from (upwards: indexes listing it, its subject) is a root. */
    [X_MANIFEST_KEPT] =
        "WITH RECURSIVE up(id, repo_id, digest, subject, created) AS ("
        "  SELECT id, repo_id, digest, subject, created FROM manifests WHERE id = ?3"
        "  UNION"
        "  SELECT p.id, p.repo_id, p.digest, p.subject, p.created FROM up"
        "    JOIN manifest_children mc ON mc.child_digest = up.digest"
        "    JOIN manifests p ON p.id = mc.manifest_id AND p.repo_id = up.repo_id"
        "  UNION"
        "  SELECT s.id, s.repo_id, s.digest, s.subject, s.created FROM up"
        "    JOIN manifests s ON s.repo_id = up.repo_id AND s.digest = up.subject)"
        " SELECT 1 FROM up m WHERE " KEEP_ROOTS " LIMIT 1",
    [X_MANIFEST_DELETE] = "DELETE FROM manifests WHERE id = ?1",
    [X_LINK_COLLECT] = "DELETE FROM repo_blobs WHERE repo_id = ?1 AND digest = ?2 AND created < ?3"
                       " AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb CROSS JOIN manifests m"
                       "   ON m.id = mb.manifest_id WHERE mb.digest = ?2 AND m.repo_id = ?1)",
    [X_BLOB_COLLECT] = "DELETE FROM blobs WHERE digest = ?1 AND created < ?2"
                       " AND NOT EXISTS (SELECT 1 FROM repo_blobs rb WHERE rb.digest = ?1)"
                       " AND NOT EXISTS (SELECT 1 FROM manifest_blobs mb WHERE mb.digest = ?1)",
    [X_BLOB_ROW] = "SELECT size FROM blobs WHERE digest = ?1",
    [X_BLOB_ROWS] = "SELECT digest, size FROM blobs WHERE digest > ?1 ORDER BY digest LIMIT ?2",
    [X_DANGLING] = "SELECT r.name, m.digest, mb.digest FROM manifest_blobs mb"
                   " JOIN manifests m ON m.id = mb.manifest_id JOIN repos r ON r.id = m.repo_id"
                   " WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = mb.digest)"
                   " ORDER BY r.name, m.digest, mb.digest LIMIT ?1",
};

/* ---- helpers -------------------------------------------------------------- */

static int stmt(struct metadb *db, enum slot id, sqlite3 **h, sqlite3_stmt **out)
{
    return metadb_ext_stmt(db, (int)id, slot_sql[id], h, out);
}

static int bind_text(sqlite3_stmt *s, int i, const char *v)
{
    return sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

/* Step s to completion and reset it. */
static int run(sqlite3 *h, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    while (rc == SQLITE_ROW)
        rc = sqlite3_step(s);
    int err = rc == SQLITE_DONE ? 0 : metadb_err(h, what);
    sqlite3_reset(s);
    return err;
}

/* Run a cached statement without parameters. */
static int run_slot(struct metadb *db, enum slot id, const char *what)
{
    sqlite3 *h;
    sqlite3_stmt *s;
    int err = stmt(db, id, &h, &s);
    if (err)
        return err;
    return run(h, s, what);
}

/* Create the temp tables on this connection (idempotent). */
static int temp_ensure(struct metadb *db)
{
    sqlite3 *h;
    char *msg = NULL;
    int err = metadb_sqlite(db, &h);
    if (err)
        return err;
    if (sqlite3_exec(h, temp_schema, NULL, NULL, &msg) != SQLITE_OK) {
        err = berr_set(BERR_DB, "metadata: gc tables: %s", msg ? msg : sqlite3_errmsg(h));
        sqlite3_free(msg);
    }
    return err;
}

static void copy_text(char *dst, size_t cap, sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

/* ---- transactions ----------------------------------------------------------- */

int meta_tx_begin(struct metadb *db, struct meta_tx **out)
{
    sqlite3 *h;
    *out = NULL;
    int err = metadb_sqlite(db, &h);
    if (err)
        return err;
    metadb_write_enter(db);
    err = run_slot(db, X_BEGIN_IMMEDIATE, "begin");
    if (err) {
        metadb_write_leave(db);
        return err;
    }
    struct meta_tx *tx = xcalloc(1, sizeof(*tx));
    tx->db = db;
    tx->h = h;
    *out = tx;
    return 0;
}

/* Roll back when a transaction is open; keeps the thread's message. */
static void rollback_open(struct meta_tx *tx)
{
    sqlite3 *h;
    sqlite3_stmt *s;
    if (sqlite3_get_autocommit(tx->h))
        return;
    if (stmt(tx->db, X_ROLLBACK, &h, &s) != 0)
        return;
    if (sqlite3_step(s) != SQLITE_DONE)
        log_error("metadata: rollback: %s", sqlite3_errmsg(h));
    sqlite3_reset(s);
}

int meta_tx_commit(struct meta_tx *tx)
{
    int err = run_slot(tx->db, X_COMMIT, "commit");
    if (err)
        rollback_open(tx);
    metadb_write_leave(tx->db);
    if (err == 0) /* the collector unlinks files only after this */
        err = metadb_durable(tx->db, tx->h);
    free(tx);
    return err;
}

void meta_tx_rollback(struct meta_tx *tx)
{
    if (!tx)
        return;
    rollback_open(tx);
    metadb_write_leave(tx->db);
    free(tx);
}

/* ---- mark --------------------------------------------------------------- */

/* Run a mark statement: ?1 = cutoff, ?2 = delete_untagged, where present. */
static int mark_step(struct metadb *db, enum slot id, const struct meta_gc_policy *p,
                     const char *what)
{
    sqlite3 *h;
    sqlite3_stmt *s;
    int err = stmt(db, id, &h, &s);
    if (err)
        return err;
    int n = sqlite3_bind_parameter_count(s);
    if ((n >= 1 && sqlite3_bind_int64(s, 1, p->cutoff) != SQLITE_OK) ||
        (n >= 2 && sqlite3_bind_int(s, 2, p->delete_untagged ? 1 : 0) != SQLITE_OK))
        return metadb_err(h, "bind");
    return run(h, s, what);
}

static int totals_read(struct metadb *db, struct meta_gc_totals *out)
{
    sqlite3 *h;
    sqlite3_stmt *s;
    int err = stmt(db, X_TOTALS, &h, &s);
    if (err)
        return err;
    if (sqlite3_step(s) != SQLITE_ROW) {
        err = metadb_err(h, "gc totals");
        sqlite3_reset(s);
        return err;
    }
    out->manifests = sqlite3_column_int64(s, 0);
    out->manifest_bytes = sqlite3_column_int64(s, 1);
    out->links = sqlite3_column_int64(s, 2);
    out->blobs = sqlite3_column_int64(s, 3);
    out->blob_bytes = sqlite3_column_int64(s, 4);
    sqlite3_reset(s);
    return 0;
}

int meta_gc_mark(struct metadb *db, const struct meta_gc_policy *p, struct meta_gc_totals *out)
{
    sqlite3 *h;
    char *msg = NULL;
    memset(out, 0, sizeof(*out));
    int err = temp_ensure(db);
    if (err)
        return err;
    err = metadb_sqlite(db, &h);
    if (err)
        return err;
    /* One deferred transaction: every read below sees the same snapshot;
     * only the temp database is written. */
    err = run_slot(db, X_BEGIN_READ, "gc mark: begin");
    if (err)
        return err;
    if (sqlite3_exec(h, temp_clear, NULL, NULL, &msg) != SQLITE_OK) {
        err = berr_set(BERR_DB, "metadata: gc mark: %s", msg ? msg : sqlite3_errmsg(h));
        sqlite3_free(msg);
        goto rollback;
    }
    err = mark_step(db, X_MARK_KEEP, p, "gc mark: reachable manifests");
    if (err)
        goto rollback;
    err = mark_step(db, X_MARK_MANIFESTS, p, "gc mark: manifests");
    if (err)
        goto rollback;
    err = mark_step(db, X_MARK_LINKS, p, "gc mark: links");
    if (err)
        goto rollback;
    err = mark_step(db, X_MARK_BLOBS, p, "gc mark: blobs");
    if (err)
        goto rollback;
    err = totals_read(db, out);
    if (err)
        goto rollback;
    err = run_slot(db, X_COMMIT, "gc mark: commit");
    if (err)
        goto rollback;
    return 0;
rollback:
    if (!sqlite3_get_autocommit(h))
        sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    return err;
}

void meta_gc_mark_release(struct metadb *db)
{
    sqlite3 *h;
    if (temp_ensure(db) != 0 || metadb_sqlite(db, &h) != 0)
        return;
    if (sqlite3_exec(h, temp_clear, NULL, NULL, NULL) != SQLITE_OK)
        log_warn("metadata: gc: cannot clear candidates: %s", sqlite3_errmsg(h));
}

int meta_gc_candidates(struct metadb *db, enum meta_gc_kind kind, int64_t after, size_t max,
                       struct meta_gc_item *out, size_t *n_out)
{
    static const enum slot slots[] = {
        [META_GC_MANIFEST] = X_CAND_MANIFESTS,
        [META_GC_LINK] = X_CAND_LINKS,
        [META_GC_BLOB] = X_CAND_BLOBS,
    };
    sqlite3 *h;
    sqlite3_stmt *s;
    size_t n = 0;
    *n_out = 0;
    assert(kind >= META_GC_MANIFEST && kind <= META_GC_BLOB);
    int err = temp_ensure(db);
    if (err)
        return err;
    err = stmt(db, slots[kind], &h, &s);
    if (err)
        return err;
    if (sqlite3_bind_int64(s, 1, after) != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, (sqlite3_int64)max) != SQLITE_OK)
        return metadb_err(h, "bind");
    for (;;) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            err = metadb_err(h, "gc candidates");
            break;
        }
        assert(n < max);
        struct meta_gc_item *it = &out[n++];
        it->seq = sqlite3_column_int64(s, 0);
        it->id = sqlite3_column_int64(s, 1);
        it->size = sqlite3_column_int64(s, 2);
        copy_text(it->digest, sizeof(it->digest), s, 3);
        copy_text(it->repo, sizeof(it->repo), s, 4);
    }
    sqlite3_reset(s);
    if (err == 0)
        *n_out = n;
    return err;
}

/* ---- sweep -------------------------------------------------------------- */

int meta_gc_manifest_collect(struct meta_tx *tx, int64_t id, const struct meta_gc_policy *p)
{
    sqlite3 *h;
    sqlite3_stmt *s;
    assert(!sqlite3_get_autocommit(tx->h));
    int err = stmt(tx->db, X_MANIFEST_KEPT, &h, &s);
    if (err)
        return err;
    if (sqlite3_bind_int64(s, 1, p->cutoff) != SQLITE_OK ||
        sqlite3_bind_int(s, 2, p->delete_untagged ? 1 : 0) != SQLITE_OK ||
        sqlite3_bind_int64(s, 3, id) != SQLITE_OK)
        return metadb_err(h, "bind");
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW)
        return 0; /* reachable again (a tag, an index, a subject arrived) */
    if (rc != SQLITE_DONE)
        return metadb_err(h, "gc manifest check");
    err = stmt(tx->db, X_MANIFEST_DELETE, &h, &s);
    if (err)
        return err;
    if (sqlite3_bind_int64(s, 1, id) != SQLITE_OK)
        return metadb_err(h, "bind");
    /* tags (none), manifest_blobs and manifest_children go by cascade */
    err = run(h, s, "gc manifest delete");
    if (err)
        return err;
    return sqlite3_changes(h) > 0 ? 1 : 0;
}

int meta_gc_link_collect(struct meta_tx *tx, int64_t repo_id, const char *digest,
                         const struct meta_gc_policy *p)
{
    sqlite3 *h;
    sqlite3_stmt *s;
    assert(!sqlite3_get_autocommit(tx->h));
    int err = stmt(tx->db, X_LINK_COLLECT, &h, &s);
    if (err)
        return err;
    if (sqlite3_bind_int64(s, 1, repo_id) != SQLITE_OK || bind_text(s, 2, digest) != SQLITE_OK ||
        sqlite3_bind_int64(s, 3, p->cutoff) != SQLITE_OK)
        return metadb_err(h, "bind");
    err = run(h, s, "gc link delete");
    if (err)
        return err;
    return sqlite3_changes(h) > 0 ? 1 : 0;
}

int meta_gc_blob_collect(struct meta_tx *tx, const char *digest, const struct meta_gc_policy *p)
{
    sqlite3 *h;
    sqlite3_stmt *s;
    assert(!sqlite3_get_autocommit(tx->h));
    int err = stmt(tx->db, X_BLOB_COLLECT, &h, &s);
    if (err)
        return err;
    if (bind_text(s, 1, digest) != SQLITE_OK || sqlite3_bind_int64(s, 2, p->cutoff) != SQLITE_OK)
        return metadb_err(h, "bind");
    err = run(h, s, "gc blob delete");
    if (err)
        return err;
    return sqlite3_changes(h) > 0 ? 1 : 0;
}

/* ---- blob rows -------------------------------------------------------------- */

int meta_blob_row(struct metadb *db, const char *digest, int64_t *size_out)
{
    sqlite3 *h;
    sqlite3_stmt *s;
    int err = stmt(db, X_BLOB_ROW, &h, &s);
    if (err)
        return err;
    if (bind_text(s, 1, digest) != SQLITE_OK)
        return metadb_err(h, "bind");
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (size_out)
            *size_out = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
        return 1;
    }
    err = rc == SQLITE_DONE ? 0 : metadb_err(h, "blob row lookup");
    sqlite3_reset(s);
    return err;
}

int meta_blob_rows(struct metadb *db, const char *after, size_t max, struct meta_blob_row *out,
                   size_t *n_out)
{
    sqlite3 *h;
    sqlite3_stmt *s;
    size_t n = 0;
    *n_out = 0;
    int err = stmt(db, X_BLOB_ROWS, &h, &s);
    if (err)
        return err;
    if (bind_text(s, 1, after ? after : "") != SQLITE_OK ||
        sqlite3_bind_int64(s, 2, (sqlite3_int64)max) != SQLITE_OK)
        return metadb_err(h, "bind");
    for (;;) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            err = metadb_err(h, "blob rows");
            break;
        }
        assert(n < max);
        copy_text(out[n].digest, sizeof(out[n].digest), s, 0);
        out[n].size = sqlite3_column_int64(s, 1);
        n++;
    }
    sqlite3_reset(s);
    if (err == 0)
        *n_out = n;
    return err;
}

int meta_gc_dangling(struct metadb *db, size_t max, struct meta_dangling *out, size_t *n_out)
{
    sqlite3 *h;
    sqlite3_stmt *s;
    size_t n = 0;
    *n_out = 0;
    int err = stmt(db, X_DANGLING, &h, &s);
    if (err)
        return err;
    if (sqlite3_bind_int64(s, 1, (sqlite3_int64)max) != SQLITE_OK)
        return metadb_err(h, "bind");
    for (;;) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            err = metadb_err(h, "dangling references");
            break;
        }
        assert(n < max);
        copy_text(out[n].repo, sizeof(out[n].repo), s, 0);
        copy_text(out[n].manifest, sizeof(out[n].manifest), s, 1);
        copy_text(out[n].blob, sizeof(out[n].blob), s, 2);
        n++;
    }
    sqlite3_reset(s);
    if (err == 0)
        *n_out = n;
    return err;
}
