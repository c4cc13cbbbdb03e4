/*
 * metadb.c - registry metadata on SQLite (see metadb.h for the contract and
 * docs/schema.md for the schema, which is migration 1 below).
 *
 * Schema (all text compared with BINARY collation: byte order = lexical order):
 *   repos(id, name UNIQUE, created)
 *   blobs(digest PK, size, created)                      -- a blob's bytes exist
 *   repo_blobs(repo_id, digest, created, PK(repo_id, digest)), index (digest)
 *   manifests(id, repo_id, digest, media_type, size, artifact_type, subject,
 *             annotations, created, payload, UNIQUE(repo_id, digest)),
 *             partial index (repo_id, subject, digest) WHERE subject NOT NULL
 *   manifest_blobs(manifest_id, digest), manifest_children(manifest_id, child_digest)
 *   tags(repo_id, name, manifest_id, updated, PK(repo_id, name)), index (manifest_id)
 *   uploads(id PK, repo name, started, updated), index (updated)
 *   tag_gen(repo_id PK, gen)     -- generation of each repository's tag names
 *   list_gen(seq)                -- one row: generation of the repository names
 * The generations are kept by triggers (migration 2).
 * Deleting a repository, a blob row or a manifest cascades to what hangs off it.
 * `payload` is the last column so that reading any other column of a manifest
 * never walks the payload's overflow pages.
 *
 * Invariants:
 * - One sqlite3 connection per (thread, handle), opened lazily on first use,
 *   recorded in the handle's list under its mutex (metadb_free closes them all)
 *   and cached in a thread-local slot keyed by the handle's id. Ids come from a
 *   process-wide counter and are never reused, so a slot left behind by a freed
 *   handle never matches and is never dereferenced.
 * - Connections are opened SQLITE_OPEN_NOMUTEX: only the owning thread uses one
 *   (metadb_free runs after every user thread has stopped using the handle).
 * - Prepared statements are cached per connection (enum stmt_id), prepared on
 *   first use, and always reset before the function that stepped them returns.
 *   Every statement binds every parameter on every use, so SQLITE_STATIC
 *   bindings of caller strings are never read after the call.
 * - Multi-statement writes run in BEGIN IMMEDIATE ... COMMIT: the write lock is
 *   taken up front, the busy handler covers the wait (busy_wait: 1 ms polls for
 *   up to 10 s), no deferred upgrade can fail.
 *   Single-statement writes run in autocommit, which takes the write lock when
 *   the statement starts, with the same effect.
 * - meta_manifest_put checks references and inserts in one write transaction:
 *   it is the ordering point with the garbage collector (DESIGN.md).
 * - meta_blob_publish runs the caller's file placement and the row inserts in
 *   one write transaction, the collector's row delete and file move run in
 *   another (metadb_gc.c): the same lock orders a re-upload and a collection
 *   of one digest (docs/gc.md).
 * - A repeated link renews repo_blobs.created (the collector's grace).
 * - Callbacks (meta_repo_filter) run while a read statement is open: they must
 *   not call back into metadb.
 */
#include "storage/metadb.h"
#include "storage/metadb_int.h"

#include <assert.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "image/base/err.h"
#include "image/base/log.h"
#include "image/base/xalloc.h"

#define METADB_BUSY_TIMEOUT_MS 10000
#define METADB_BUSY_POLL_US    1000
#define METADB_TL_SLOTS        4

/* ---- schema ----------------------------------------------------------- */

/* Migration i brings user_version from i to i + 1. Append only; never edit a
 * migration that has shipped. */
static const char *const migrations[] = {
    /* 1: initial schema */
    "CREATE TABLE repos ("
    "  id      INTEGER PRIMARY KEY,"
    "  name    TEXT NOT NULL UNIQUE,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE blobs ("
    "  digest  TEXT PRIMARY KEY,"
    "  size    INTEGER NOT NULL,"
    "  created INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE repo_blobs ("
    "  repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,"
    "  digest  TEXT NOT NULL REFERENCES blobs(digest) ON DELETE CASCADE,"
    "  created INTEGER NOT NULL,"
    "  PRIMARY KEY (repo_id, digest)) WITHOUT ROWID;"
    "CREATE INDEX repo_blobs_by_digest ON repo_blobs(digest);"
    "CREATE TABLE manifests ("
    "  id            INTEGER PRIMARY KEY,"
    "  repo_id       INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,"
    "  digest        TEXT NOT NULL,"
    "  media_type    TEXT NOT NULL,"
    "  size          INTEGER NOT NULL,"
    "  artifact_type TEXT,"
    "  subject       TEXT,"
    "  annotations   TEXT,"
    "  created       INTEGER NOT NULL,"
    "  payload       BLOB NOT NULL,"
    "  UNIQUE (repo_id, digest));"
    "CREATE INDEX manifests_by_subject ON manifests(repo_id, subject, digest)"
    "  WHERE subject IS NOT NULL;"
    "CREATE TABLE manifest_blobs ("
    "  manifest_id INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,"
    "  digest      TEXT NOT NULL,"
    "  PRIMARY KEY (manifest_id, digest)) WITHOUT ROWID;"
    "CREATE INDEX manifest_blobs_by_digest ON manifest_blobs(digest);"
    "CREATE TABLE manifest_children ("
    "  manifest_id  INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,"
    "  child_digest TEXT NOT NULL,"
    "  PRIMARY KEY (manifest_id, child_digest)) WITHOUT ROWID;"
    "CREATE INDEX manifest_children_by_digest ON manifest_children(child_digest);"
    "CREATE TABLE tags ("
    "  repo_id     INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,"
    "  name        TEXT NOT NULL,"
    "  manifest_id INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,"
    "  updated     INTEGER NOT NULL,"
    "  PRIMARY KEY (repo_id, name)) WITHOUT ROWID;"
    "CREATE INDEX tags_by_manifest ON tags(manifest_id);"
    "CREATE TABLE uploads ("
    "  id      TEXT PRIMARY KEY,"
    "  repo    TEXT NOT NULL,"
    "  started INTEGER NOT NULL,"
    "  updated INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX uploads_by_updated ON uploads(updated);",
    /* 2: list generations, the validators of cached tag lists and catalog
     * pages (docs/schema.md). tag_gen.gen changes with every change to a
     * repository's set of tag names, list_gen.seq with every change to the
     * set of repository names. Triggers keep both, so every writer (any
     * process, any code path, ON DELETE CASCADE included) moves them in the
     * transaction that makes the change. A name's generation never repeats:
     * a repository that takes a name (insert, rename) starts above every
     * generation an earlier holder of the name had, which the delete or
     * rename of that holder folded into seq. Tag moves (the upsert's UPDATE
     * of manifest_id) change no name and move nothing. A table of its own
     * rather than a column of repos: ALTER TABLE costs every new database
     * ~80 KiB of heap at its first start. */
    "CREATE TABLE list_gen ("
    "  id  INTEGER PRIMARY KEY CHECK (id = 1),"
    "  seq INTEGER NOT NULL);"
    "INSERT INTO list_gen(id, seq) VALUES (1, 0);"
    "CREATE TABLE tag_gen ("
    "  repo_id INTEGER PRIMARY KEY," /* repos.id; rows kept by the triggers */
    "  gen     INTEGER NOT NULL);"
    "INSERT INTO tag_gen(repo_id, gen) SELECT id, 0 FROM repos;"
    "CREATE TRIGGER tags_gen_insert AFTER INSERT ON tags BEGIN"
    "  UPDATE tag_gen SET gen = gen + 1 WHERE repo_id = NEW.repo_id;"
    " END;"
    "CREATE TRIGGER tags_gen_delete AFTER DELETE ON tags BEGIN"
    "  UPDATE tag_gen SET gen = gen + 1 WHERE repo_id = OLD.repo_id;"
    " END;"
    "CREATE TRIGGER tags_gen_update AFTER UPDATE OF repo_id, name ON tags BEGIN"
    "  UPDATE tag_gen SET gen = gen + 1 WHERE repo_id IN (OLD.repo_id, NEW.repo_id);"
    " END;"
    "CREATE TRIGGER repos_gen_insert AFTER INSERT ON repos BEGIN"
    "  UPDATE list_gen SET seq = seq + 1;"
    "  DELETE FROM tag_gen WHERE repo_id = NEW.id;"
    "  INSERT INTO tag_gen(repo_id, gen) SELECT NEW.id, seq FROM list_gen;"
    " END;"
    "CREATE TRIGGER repos_gen_delete AFTER DELETE ON repos BEGIN"
    "  UPDATE list_gen SET seq = max(seq, coalesce("
    "    (SELECT gen FROM tag_gen WHERE repo_id = OLD.id), 0)) + 1;"
    "  DELETE FROM tag_gen WHERE repo_id = OLD.id;"
    " END;"
    "CREATE TRIGGER repos_gen_rename AFTER UPDATE OF name ON repos BEGIN"
    "  UPDATE list_gen SET seq = max(seq, coalesce("
    "    (SELECT gen FROM tag_gen WHERE repo_id = OLD.id), 0)) + 1;"
    "  DELETE FROM tag_gen WHERE repo_id = NEW.id;"
    "  INSERT INTO tag_gen(repo_id, gen) SELECT NEW.id, seq FROM list_gen;"
    " END;",
};

#define METADB_SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* ---- statements ------------------------------------------------------- */

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_REPO_ID,
    ST_REPO_INSERT,
    ST_BLOB_INSERT,
    ST_LINK_INSERT,
    ST_LINK_SIZE,
    ST_BLOB_GET,
    ST_BLOB_EXISTS,
    ST_BLOB_UNLINK,
    ST_BLOB_RENEW,
    ST_BLOB_HOLDERS,
    ST_MANIFEST_ID,
    ST_MANIFEST_INSERT,
    ST_MANIFEST_BLOB_INSERT,
    ST_MANIFEST_CHILD_INSERT,
    ST_TAG_UPSERT,
    ST_MANIFEST_GET_TAG,
    ST_MANIFEST_GET_DIGEST,
    ST_MANIFEST_HEAD_TAG,
    ST_MANIFEST_HEAD_DIGEST,
    ST_MANIFEST_DELETE,
    ST_TAG_DELETE,
    ST_TAGS_GEN,
    ST_TAGS_LIST,
    ST_CATALOG_GEN,
    ST_CATALOG,
    ST_REFERRERS,
    ST_UPLOAD_CREATE,
    ST_UPLOAD_GET,
    ST_UPLOAD_TOUCH,
    ST_UPLOAD_DELETE,
    ST_UPLOAD_EXPIRED,
    ST_UPLOAD_EXISTS,
    ST__COUNT
};

static const char *const stmt_sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_REPO_ID] = "SELECT id FROM repos WHERE name = ?1",
    [ST_REPO_INSERT] = "INSERT INTO repos(name, created) VALUES (?1, ?2)",
    [ST_BLOB_INSERT] = "INSERT INTO blobs(digest, size, created) VALUES (?1, ?2, ?3)"
                       " ON CONFLICT(digest) DO NOTHING",
    /* A repeated link (re-upload, mount) renews `created`: the collector's
     * grace period counts from the last time a client put the blob here. */
    [ST_LINK_INSERT] = "INSERT INTO repo_blobs(repo_id, digest, created) VALUES (?1, ?2, ?3)"
                       " ON CONFLICT(repo_id, digest) DO UPDATE SET created = excluded.created",
    [ST_LINK_SIZE] = "SELECT b.size FROM repo_blobs rb JOIN blobs b ON b.digest = rb.digest"
                     " WHERE rb.repo_id = ?1 AND rb.digest = ?2",
    [ST_BLOB_GET] = "SELECT b.size, rb.created FROM repos r JOIN repo_blobs rb ON rb.repo_id = r.id"
                    " JOIN blobs b ON b.digest = rb.digest WHERE r.name = ?1 AND rb.digest = ?2",
    [ST_BLOB_EXISTS] = "SELECT b.size FROM blobs b WHERE b.digest = ?1"
                       " AND EXISTS (SELECT 1 FROM repo_blobs rb WHERE rb.digest = b.digest)",
    [ST_BLOB_UNLINK] = "DELETE FROM repo_blobs"
                       " WHERE repo_id = (SELECT id FROM repos WHERE name = ?1) AND digest = ?2",
    [ST_BLOB_RENEW] = "UPDATE repo_blobs SET created = ?3"
                      " WHERE repo_id = (SELECT id FROM repos WHERE name = ?1) AND digest = ?2"
                      " AND created < ?4",
    [ST_BLOB_HOLDERS] = "SELECT r.id, r.name FROM repo_blobs rb JOIN repos r ON r.id = rb.repo_id"
                        " WHERE rb.digest = ?1 ORDER BY r.name",
    [ST_MANIFEST_ID] = "SELECT id FROM manifests WHERE repo_id = ?1 AND digest = ?2",
    [ST_MANIFEST_INSERT] =
        "INSERT INTO manifests(repo_id, digest, media_type, size, artifact_type, subject,"
        " annotations, created, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        " ON CONFLICT(repo_id, digest) DO NOTHING RETURNING id",
    [ST_MANIFEST_BLOB_INSERT] = "INSERT INTO manifest_blobs(manifest_id, digest) VALUES (?1, ?2)"
                                " ON CONFLICT(manifest_id, digest) DO NOTHING",
    [ST_MANIFEST_CHILD_INSERT] =
        "INSERT INTO manifest_children(manifest_id, child_digest) VALUES (?1, ?2)"
        " ON CONFLICT(manifest_id, child_digest) DO NOTHING",
    [ST_TAG_UPSERT] = "INSERT INTO tags(repo_id, name, manifest_id, updated)"
                      " VALUES (?1, ?2, ?3, ?4) ON CONFLICT(repo_id, name) DO UPDATE"
                      " SET manifest_id = excluded.manifest_id, updated = excluded.updated",
    [ST_MANIFEST_GET_TAG] = "SELECT m.digest, m.media_type, m.payload FROM repos r"
                            " JOIN tags t ON t.repo_id = r.id JOIN manifests m ON m.id = "
                            "t.manifest_id WHERE r.name = ?1 AND t.name = ?2",
    [ST_MANIFEST_GET_DIGEST] = "SELECT m.digest, m.media_type, m.payload FROM repos r"
                               " JOIN manifests m ON m.repo_id = r.id"
                               " WHERE r.name = ?1 AND m.digest = ?2",
    [ST_MANIFEST_HEAD_TAG] = "SELECT m.digest, m.media_type, m.size FROM repos r"
                             " JOIN tags t ON t.repo_id = r.id JOIN manifests m ON m.id = "
                             "t.manifest_id WHERE r.name = ?1 AND t.name = ?2",
    [ST_MANIFEST_HEAD_DIGEST] = "SELECT m.digest, m.media_type, m.size FROM repos r"
                                " JOIN manifests m ON m.repo_id = r.id"
                                " WHERE r.name = ?1 AND m.digest = ?2",
    [ST_MANIFEST_DELETE] = "DELETE FROM manifests"
                           " WHERE repo_id = (SELECT id FROM repos WHERE name = ?1)"
                           " AND digest = ?2",
    [ST_TAG_DELETE] = "DELETE FROM tags WHERE repo_id = (SELECT id FROM repos WHERE name = ?1)"
                      " AND name = ?2",
    [ST_TAGS_LIST] = "SELECT name FROM tags WHERE repo_id = ?1 AND name > ?2"
                     " ORDER BY name LIMIT ?3",
    [ST_TAGS_GEN] = "SELECT r.id, g.gen FROM repos r LEFT JOIN tag_gen g ON g.repo_id = r.id"
                    " WHERE r.name = ?1",
    [ST_CATALOG_GEN] = "SELECT seq FROM list_gen WHERE id = 1",
    [ST_CATALOG] = "SELECT name FROM repos WHERE name > ?1 ORDER BY name LIMIT ?2",
    [ST_REFERRERS] = "SELECT m.digest, m.media_type, m.size, m.artifact_type, m.annotations"
                     " FROM repos r JOIN manifests m ON m.repo_id = r.id"
                     " WHERE r.name = ?1 AND m.subject = ?2"
                     " AND (?3 IS NULL OR m.artifact_type = ?3) ORDER BY m.digest",
    [ST_UPLOAD_CREATE] = "INSERT INTO uploads(id, repo, started, updated) VALUES (?1, ?2, ?3, ?3)",
    [ST_UPLOAD_GET] = "SELECT started FROM uploads WHERE id = ?1 AND repo = ?2",
    [ST_UPLOAD_TOUCH] = "UPDATE uploads SET updated = ?2 WHERE id = ?1",
    [ST_UPLOAD_DELETE] = "DELETE FROM uploads WHERE id = ?1",
    [ST_UPLOAD_EXPIRED] = "SELECT id FROM uploads WHERE updated < ?1 ORDER BY updated, id",
    [ST_UPLOAD_EXISTS] = "SELECT 1 FROM uploads WHERE id = ?1",
};

/* ---- handle and connections ------------------------------------------- */

struct conn {
    struct metadb *db; /* owner: its write mutex orders this process's writers */
    int write_held;    /* 1 while a tx_begin holds db->write_mu */
    sqlite3 *h;
    sqlite3_stmt *st[ST__COUNT];
    sqlite3_stmt *ext[METADB_EXT_SLOTS]; /* metadb_ext_stmt (metadb_gc.c) */
    struct conn *next;                   /* in metadb.conns */
};

struct metadb {
    char *path;
    uint64_t id;        /* unique for the process lifetime; keys the thread-local slots */
    pthread_mutex_t mu; /* guards conns */
    struct conn *conns;
    /* Orders this process's writers (recursive: a write inside a
     * transaction re-enters). SQLite admits one writer at a time anyway;
     * waiting here is a wake-up on release, where waiting in SQLite's busy
     * handler is a sleep-and-poll. Other processes (berthd gc) still meet
     * the busy handler. */
    pthread_mutex_t write_mu;
    /* Group commit: commits are numbered after they finish; one thread at a
     * time fsyncs the WAL for every commit numbered before it started. */
    pthread_mutex_t sync_mu;
    pthread_cond_t sync_cv;
    uint64_t commit_seq; /* commits finished */
    uint64_t synced_seq; /* commits known durable */
    int syncing;         /* a thread is in fsync */
};

struct tl_slot {
    uint64_t id; /* 0 = free */
    struct conn *c;
};

static _Thread_local struct tl_slot tl_slots[METADB_TL_SLOTS];
static atomic_uint_fast64_t metadb_next_id = 1;

static int db_err(sqlite3 *h, const char *what)
{
    return berr_set(BERR_DB, "metadata: %s: %s", what, sqlite3_errmsg(h));
}

/* Run SQL text with no results (pragmas, migrations). */
static int exec_sql(sqlite3 *h, const char *sql, const char *what)
{
    char *msg = NULL;
    int rc = sqlite3_exec(h, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        berr_set(BERR_DB, "metadata: %s: %s", what, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return BERR_DB;
    }
    return 0;
}

/* Run a one-row pragma and return its first column as an integer or text. */
static int pragma_get(sqlite3 *h, const char *sql, int64_t *int_out, char *text_out,
                      size_t text_cap)
{
    sqlite3_stmt *s = NULL;
    int err = 0;
    int rc = sqlite3_prepare_v2(h, sql, -1, &s, NULL);
    if (rc != SQLITE_OK)
        return db_err(h, sql);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        err = db_err(h, sql);
        goto finalize;
    }
    if (int_out)
        *int_out = sqlite3_column_int64(s, 0);
    if (text_out) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        snprintf(text_out, text_cap, "%s", t ? (const char *)t : "");
    }
finalize:
    sqlite3_finalize(s);
    return err;
}

static void conn_close(struct conn *c)
{
    if (!c)
        return;
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(c->st[i]);
    for (int i = 0; i < METADB_EXT_SLOTS; i++)
        sqlite3_finalize(c->ext[i]);
    if (sqlite3_close(c->h) != SQLITE_OK)
        log_error("metadata: close: %s", sqlite3_errmsg(c->h));
    free(c);
}

/* Wait for the write lock in short, even steps, for up to 10 s. SQLite's
 * default handler (sqlite3_busy_timeout) backs off to 100 ms sleeps, so a
 * writer that has waited a while keeps missing the short gaps the garbage
 * collector leaves between its transactions (docs/gc.md): measured, push p99
 * went from 0.1 s to 1.3 s during a collection. Polling every millisecond
 * takes the lock within about a millisecond of its release. */
static int busy_wait(void *arg, int count)
{
    (void)arg;
    if ((int64_t)count * METADB_BUSY_POLL_US >= (int64_t)METADB_BUSY_TIMEOUT_MS * 1000)
        return 0;
    usleep(METADB_BUSY_POLL_US);
    return 1;
}

/* Open a configured connection to db->path (not yet registered anywhere). */
static int conn_open(struct conn **out, const char *path)
{
    struct conn *c = xcalloc(1, sizeof(*c));
    int err;
    int rc = sqlite3_open_v2(
        path, &c->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        err = berr_set(BERR_DB, "metadata: open \"%s\": %s", path,
                       c->h ? sqlite3_errmsg(c->h) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_handler(c->h, busy_wait, NULL);
    /* NORMAL: a commit does not fsync the WAL itself; metadb_durable does,
     * once for every commit that finished before it started (group commit).
     * No write returns to a caller before its commit is durable. */
    err = exec_sql(c->h, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;", "configure");
    if (err)
        goto fail;
    *out = c;
    return 0;
fail:
    conn_close(c);
    return err;
}

static void slot_clear(uint64_t id)
{
    for (int i = 0; i < METADB_TL_SLOTS; i++) {
        if (tl_slots[i].id == id) {
            tl_slots[i].id = 0;
            tl_slots[i].c = NULL;
        }
    }
}

/* Record c as the calling thread's connection for db. When every slot is
 * taken the oldest is dropped: its connection stays in its handle's list and
 * is closed by that handle's metadb_free. */
static void slot_put(struct metadb *db, struct conn *c)
{
    int i;
    for (i = 0; i < METADB_TL_SLOTS - 1; i++) {
        if (tl_slots[i].id == 0)
            break;
    }
    memmove(&tl_slots[1], &tl_slots[0], (size_t)i * sizeof(tl_slots[0]));
    tl_slots[0].id = db->id;
    tl_slots[0].c = c;
}

/* The calling thread's connection for db, opened on first use. */
static int conn_get(struct metadb *db, struct conn **out)
{
    struct conn *c = NULL;
    int err;
    for (int i = 0; i < METADB_TL_SLOTS; i++) {
        if (tl_slots[i].id == db->id) {
            *out = tl_slots[i].c;
            return 0;
        }
    }
    err = conn_open(&c, db->path);
    if (err == 0)
        c->db = db;
    if (err)
        return err;
    pthread_mutex_lock(&db->mu);
    c->next = db->conns;
    db->conns = c;
    pthread_mutex_unlock(&db->mu);
    slot_put(db, c);
    *out = c;
    return 0;
}

/* Cached prepared statement `id` of connection c. */
static int stmt_get(struct conn *c, enum stmt_id id, sqlite3_stmt **out)
{
    if (!c->st[id]) {
        int rc =
            sqlite3_prepare_v3(c->h, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &c->st[id], NULL);
        if (rc != SQLITE_OK) {
            c->st[id] = NULL;
            return db_err(c->h, "prepare");
        }
    }
    *out = c->st[id];
    return 0;
}

/* Connection and statement in one call: the usual prologue. */
static int prepare(struct metadb *db, enum stmt_id id, struct conn **c_out, sqlite3_stmt **out)
{
    int err = conn_get(db, c_out);
    if (err)
        return err;
    return stmt_get(*c_out, id, out);
}

int metadb_sqlite(struct metadb *db, sqlite3 **out)
{
    struct conn *c = NULL;
    int err = conn_get(db, &c);
    if (err)
        return err;
    *out = c->h;
    return 0;
}

int metadb_ext_stmt(struct metadb *db, int slot, const char *sql, sqlite3 **h_out,
                    sqlite3_stmt **out)
{
    struct conn *c = NULL;
    assert(slot >= 0 && slot < METADB_EXT_SLOTS);
    int err = conn_get(db, &c);
    if (err)
        return err;
    if (!c->ext[slot]) {
        int rc = sqlite3_prepare_v3(c->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->ext[slot], NULL);
        if (rc != SQLITE_OK) {
            c->ext[slot] = NULL;
            return db_err(c->h, "prepare");
        }
    }
    *h_out = c->h;
    *out = c->ext[slot];
    return 0;
}

int metadb_err(sqlite3 *h, const char *what)
{
    return db_err(h, what);
}

/* Bind helpers: SQLITE_STATIC, so the value must outlive the statement's use
 * (always true: statements are reset before returning). NULL binds NULL. */
static int bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (!v)
        return sqlite3_bind_null(s, i);
    return sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

void metadb_write_enter(struct metadb *db)
{
    pthread_mutex_lock(&db->write_mu);
}

void metadb_write_leave(struct metadb *db)
{
    pthread_mutex_unlock(&db->write_mu);
}

/* fsync the WAL through this connection's own handle on it. */
static int wal_sync(sqlite3 *h)
{
    sqlite3_file *f = NULL;
    if (sqlite3_file_control(h, "main", SQLITE_FCNTL_JOURNAL_POINTER, &f) != SQLITE_OK || !f ||
        !f->pMethods)
        return berr_set(BERR_DB, "metadata: no write-ahead log to sync");
    int rc = f->pMethods->xSync(f, SQLITE_SYNC_NORMAL);
    if (rc != SQLITE_OK)
        return berr_set(BERR_DB, "metadata: cannot sync the write-ahead log (%s)",
                        sqlite3_errstr(rc));
    return 0;
}

int metadb_durable(struct metadb *db, sqlite3 *h)
{
    int err = 0;
    pthread_mutex_lock(&db->sync_mu);
    uint64_t mine = ++db->commit_seq; /* our commit finished before this */
    while (err == 0 && db->synced_seq < mine) {
        if (db->syncing) {
            pthread_cond_wait(&db->sync_cv, &db->sync_mu);
            continue;
        }
        uint64_t target = db->commit_seq; /* every one of these has finished */
        db->syncing = 1;
        pthread_mutex_unlock(&db->sync_mu);
        err = wal_sync(h);
        pthread_mutex_lock(&db->sync_mu);
        db->syncing = 0;
        if (err == 0 && target > db->synced_seq)
            db->synced_seq = target;
        pthread_cond_broadcast(&db->sync_cv);
    }
    pthread_mutex_unlock(&db->sync_mu);
    return err;
}

/* Step s to completion (ignoring rows) and reset it. A write outside a
 * transaction returns once it is durable. */
static int stmt_run(struct conn *c, sqlite3_stmt *s, const char *what)
{
    int err = 0;
    if (c->db)
        metadb_write_enter(c->db);
    int rc = sqlite3_step(s);
    if (c->db)
        metadb_write_leave(c->db);
    while (rc == SQLITE_ROW)
        rc = sqlite3_step(s);
    if (rc != SQLITE_DONE)
        err = db_err(c->h, what);
    sqlite3_reset(s);
    if (err == 0 && c->db && !sqlite3_stmt_readonly(s) && sqlite3_get_autocommit(c->h))
        err = metadb_durable(c->db, c->h);
    return err;
}

/* Step s once: 1 for a row (left pending: the caller reads and resets), 0 for
 * no row (reset), or BERR_DB (reset). */
static int stmt_row(struct conn *c, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE) {
        sqlite3_reset(s);
        return 0;
    }
    rc = db_err(c->h, what);
    sqlite3_reset(s);
    return rc;
}

static int tx_exec(struct conn *c, enum stmt_id id, const char *what)
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(c, id, &s);
    if (err)
        return err;
    return stmt_run(c, s, what);
}

/* Roll back if a transaction is still open (some errors end it already).
 * Keeps the thread's error message of the failure being handled. */
static void tx_abort(struct conn *c)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_get_autocommit(c->h))
        return;
    if (stmt_get(c, ST_ROLLBACK, &s) == 0 && sqlite3_step(s) != SQLITE_DONE)
        log_error("metadata: rollback: %s", sqlite3_errmsg(c->h));
    if (s)
        sqlite3_reset(s);
}

/* Give back the process write mutex taken by tx_begin (idempotent). */
static void tx_release(struct conn *c)
{
    if (c->write_held) {
        c->write_held = 0;
        metadb_write_leave(c->db);
    }
}

static int tx_begin(struct conn *c)
{
    metadb_write_enter(c->db);
    int err = tx_exec(c, ST_BEGIN, "begin");
    if (err)
        metadb_write_leave(c->db);
    else
        c->write_held = 1;
    return err;
}

static int tx_commit(struct conn *c)
{
    int err = tx_exec(c, ST_COMMIT, "commit");
    if (err)
        tx_abort(c);
    tx_release(c);
    if (err == 0) /* outside the write mutex: others commit while we sync */
        err = metadb_durable(c->db, c->h);
    return err;
}

/* Roll back an open transaction and release the write mutex. */
static void tx_rollback(struct conn *c)
{
    tx_abort(c);
    tx_release(c);
}

static int64_t now_seconds(void)
{
    return (int64_t)time(NULL);
}

/* Clamp a page size: n < 0 means no limit (-1 for SQLite). Returns the LIMIT
 * that fetches one row past the page, to compute `more`. */
static int64_t page_limit(long n)
{
    if (n < 0 || (int64_t)n >= INT64_MAX - 1)
        return -1;
    return (int64_t)n + 1;
}

static void list_push(struct meta_list *l, size_t *cap, const unsigned char *s, int len)
{
    if (l->n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        l->items = xrealloc(l->items, *cap * sizeof(*l->items));
    }
    l->items[l->n++] = xstrndup((const char *)s, (size_t)len);
}

static char *column_dup(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    if (!t)
        return NULL;
    return xstrndup((const char *)t, (size_t)sqlite3_column_bytes(s, i));
}

/* ---- lifecycle -------------------------------------------------------- */

static int migrate(sqlite3 *h)
{
    char sql[64];
    int64_t version;
    int err;

    for (;;) {
        err = exec_sql(h, "BEGIN IMMEDIATE", "migrate: begin");
        if (err)
            return err;
        err = pragma_get(h, "PRAGMA user_version", &version, NULL, 0);
        if (err)
            goto rollback;
        if (version > METADB_SCHEMA_VERSION) {
            err = berr_set(BERR_DB, "metadata: schema version %lld is newer than this berthd (%d)",
                           (long long)version, METADB_SCHEMA_VERSION);
            goto rollback;
        }
        if (version == METADB_SCHEMA_VERSION)
            return exec_sql(h, "COMMIT", "migrate: commit");
        err = exec_sql(h, migrations[version], "migrate");
        if (err)
            goto rollback;
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %lld", (long long)version + 1);
        err = exec_sql(h, sql, "migrate: set version");
        if (err)
            goto rollback;
        err = exec_sql(h, "COMMIT", "migrate: commit");
        if (err)
            goto rollback;
        log_info("metadata: schema migrated to version %lld", (long long)version + 1);
    }
rollback:
    if (!sqlite3_get_autocommit(h))
        sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    return err;
}

int metadb_open(struct metadb **out, const char *path)
{
    struct metadb *db = xcalloc(1, sizeof(*db));
    struct conn *c = NULL;
    char mode[16];
    int err;

    *out = NULL;
    db->path = xstrdup(path);
    db->id = atomic_fetch_add(&metadb_next_id, 1);
    pthread_mutex_init(&db->mu, NULL);
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&db->write_mu, &attr);
    pthread_mutex_init(&db->sync_mu, NULL);
    pthread_cond_init(&db->sync_cv, NULL);
    pthread_mutexattr_destroy(&attr);

    err = conn_get(db, &c);
    if (err)
        goto fail;
    err = pragma_get(c->h, "PRAGMA journal_mode = WAL", NULL, mode, sizeof(mode));
    if (err)
        goto fail;
    if (strcmp(mode, "wal") != 0) {
        err =
            berr_set(BERR_DB, "metadata: \"%s\": cannot use WAL (journal mode \"%s\")", path, mode);
        goto fail;
    }
    err = migrate(c->h);
    if (err)
        goto fail;
    *out = db;
    return 0;
fail:
    metadb_free(db);
    return err;
}

void metadb_free(struct metadb *db)
{
    struct conn *c, *next;
    if (!db)
        return;
    slot_clear(db->id);
    pthread_mutex_lock(&db->mu);
    for (c = db->conns; c; c = next) {
        next = c->next;
        conn_close(c);
    }
    db->conns = NULL;
    pthread_mutex_unlock(&db->mu);
    pthread_mutex_destroy(&db->mu);
    pthread_mutex_destroy(&db->write_mu);
    pthread_mutex_destroy(&db->sync_mu);
    pthread_cond_destroy(&db->sync_cv);
    free(db->path);
    free(db);
}

void metadb_thread_done(struct metadb *db)
{
    struct conn *c = NULL, **pp;
    if (!db)
        return;
    for (int i = 0; i < METADB_TL_SLOTS; i++) {
        if (tl_slots[i].id == db->id)
            c = tl_slots[i].c;
    }
    if (!c)
        return;
    slot_clear(db->id);
    pthread_mutex_lock(&db->mu);
    for (pp = &db->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    pthread_mutex_unlock(&db->mu);
    conn_close(c);
}

/* ---- repositories ----------------------------------------------------- */

/* Id of repository `repo`: 0 (found), BERR_NAME_UNKNOWN (message set) or BERR_DB. */
static int repo_lookup(struct conn *c, const char *repo, int64_t *id_out)
{
    sqlite3_stmt *s = NULL;
    int rc = stmt_get(c, ST_REPO_ID, &s);
    if (rc)
        return rc;
    if (bind_text(s, 1, repo) != SQLITE_OK)
        return db_err(c->h, "bind");
    rc = stmt_row(c, s, "repository lookup");
    if (rc < 0)
        return rc;
    if (rc == 0)
        return berr_set(BERR_NAME_UNKNOWN, "repository \"%s\" is not known", repo);
    *id_out = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return 0;
}

/* Id of repository `repo`, created when absent. Call inside a write transaction. */
static int repo_ensure(struct conn *c, const char *repo, int64_t now, int64_t *id_out)
{
    sqlite3_stmt *s = NULL;
    int err = repo_lookup(c, repo, id_out);
    if (err != BERR_NAME_UNKNOWN)
        return err;
    err = stmt_get(c, ST_REPO_INSERT, &s);
    if (err)
        return err;
    if ((bind_text(s, 1, repo) | sqlite3_bind_int64(s, 2, now)) != SQLITE_OK)
        return db_err(c->h, "bind");
    err = stmt_run(c, s, "repository insert");
    if (err)
        return err;
    *id_out = sqlite3_last_insert_rowid(c->h);
    return 0;
}

int meta_repo_exists(struct metadb *db, const char *repo)
{
    struct conn *c = NULL;
    int64_t id;
    int err = conn_get(db, &c);
    if (err)
        return err;
    err = repo_lookup(c, repo, &id);
    if (err == BERR_NAME_UNKNOWN) {
        berr_clear();
        return 0;
    }
    return err ? err : 1;
}

/* ---- blobs ------------------------------------------------------------ */

/* Size of d when linked into repo_id: 0, BERR_BLOB_UNKNOWN (no message) or BERR_DB. */
static int link_size(struct conn *c, int64_t repo_id, const char *digest, int64_t *size_out)
{
    sqlite3_stmt *s = NULL;
    int rc = stmt_get(c, ST_LINK_SIZE, &s);
    if (rc)
        return rc;
    if ((sqlite3_bind_int64(s, 1, repo_id) | bind_text(s, 2, digest)) != SQLITE_OK)
        return db_err(c->h, "bind");
    rc = stmt_row(c, s, "blob link lookup");
    if (rc < 0)
        return rc;
    if (rc == 0)
        return BERR_BLOB_UNKNOWN;
    if (size_out)
        *size_out = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return 0;
}

/* Insert the blob row (when absent) and the link. Inside a write transaction. */
static int link_insert(struct conn *c, int64_t repo_id, const char *digest, int64_t size,
                       int64_t now)
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(c, ST_BLOB_INSERT, &s);
    if (err)
        return err;
    if ((bind_text(s, 1, digest) | sqlite3_bind_int64(s, 2, size) |
         sqlite3_bind_int64(s, 3, now)) != SQLITE_OK)
        return db_err(c->h, "bind");
    err = stmt_run(c, s, "blob insert");
    if (err)
        return err;
    err = stmt_get(c, ST_LINK_INSERT, &s);
    if (err)
        return err;
    if ((sqlite3_bind_int64(s, 1, repo_id) | bind_text(s, 2, digest) |
         sqlite3_bind_int64(s, 3, now)) != SQLITE_OK)
        return db_err(c->h, "bind");
    return stmt_run(c, s, "blob link insert");
}

int meta_blob_link(struct metadb *db, const char *repo, const struct digest *d, int64_t size)
{
    return meta_blob_publish(db, repo, d, size, NULL, NULL);
}

int meta_blob_publish(struct metadb *db, const char *repo, const struct digest *d, int64_t size,
                      meta_locked_fn place, void *place_ctx)
{
    struct conn *c = NULL;
    int64_t repo_id, now = now_seconds();
    int err = conn_get(db, &c);
    if (err)
        return err;
    err = tx_begin(c);
    if (err)
        return err;
    /* The write lock is held from here to COMMIT: the collector cannot
     * decide about this digest, nor move its file, in between. */
    if (place) {
        err = place(place_ctx);
        if (err)
            goto rollback;
    }
    err = repo_ensure(c, repo, now, &repo_id);
    if (err)
        goto rollback;
    err = link_insert(c, repo_id, d->str, size, now);
    if (err)
        goto rollback;
    err = tx_commit(c);
    if (err)
        goto rollback;
    return 0;
rollback:
    tx_rollback(c);
    return err;
}

int meta_blob_get(struct metadb *db, const char *repo, const struct digest *d, int64_t *size_out)
{
    return meta_blob_get_link(db, repo, d, size_out, NULL);
}

int meta_blob_renew(struct metadb *db, const char *repo, const struct digest *d, int64_t older_than)
{
    struct conn *c = NULL;
    sqlite3_stmt *s = NULL;
    int err = conn_get(db, &c);
    if (err)
        return err;
    err = tx_begin(c);
    if (err)
        return err;
    err = stmt_get(c, ST_BLOB_RENEW, &s);
    if (err)
        goto rollback;
    if ((bind_text(s, 1, repo) | bind_text(s, 2, d->str) | sqlite3_bind_int64(s, 3, now_seconds()) |
         sqlite3_bind_int64(s, 4, older_than)) != SQLITE_OK) {
        err = db_err(c->h, "bind");
        goto rollback;
    }
    err = stmt_run(c, s, "blob link renew");
    if (err)
        goto rollback;
    int renewed = sqlite3_changes(c->h) > 0;
    err = tx_commit(c);
    return err ? err : renewed;
rollback:
    tx_rollback(c);
    return err;
}

int meta_blob_get_link(struct metadb *db, const char *repo, const struct digest *d,
                       int64_t *size_out, int64_t *linked_out)
{
    struct conn *c = NULL;
    sqlite3_stmt *s = NULL;
    int rc = prepare(db, ST_BLOB_GET, &c, &s);
    if (rc)
        return rc;
    if ((bind_text(s, 1, repo) | bind_text(s, 2, d->str)) != SQLITE_OK)
        return db_err(c->h, "bind");
    rc = stmt_row(c, s, "blob lookup");
    if (rc < 0)
        return rc;
    if (rc == 0)
        return berr_set(BERR_BLOB_UNKNOWN, "blob \"%s\" is not in repository \"%s\"", d->str, repo);
    if (size_out)
        *size_out = sqlite3_column_int64(s, 0);
    if (linked_out)
        *linked_out = sqlite3_column_int64(s, 1);
    sqlite3_reset(s);
    return 0;
}

int meta_blob_exists(struct metadb *db, const struct digest *d, int64_t *size_out)
{
    struct conn *c = NULL;
    sqlite3_stmt *s = NULL;
    int rc = prepare(db, ST_BLOB_EXISTS, &c, &s);
    if (rc)
        return rc;
    if (bind_text(s, 1, d->str) != SQLITE_OK)
        return db_err(c->h, "bind");
    rc = stmt_row(c, s, "blob lookup");
    if (rc < 0)
        return rc;
    if (rc == 0)
        return berr_set(BERR_BLOB_UNKNOWN, "blob \"%s\" is not known", d->str);
    if (size_out)
        *size_out = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return 0;
}

/* Run a DELETE statement keyed by two text parameters (in autocommit); 1 when
 * it removed a row, 0 when there was none, or BERR_DB. */
static int delete_pair(struct metadb *db, enum stmt_id id, const char *a, const char *b,
                       const char *what)
{
    struct conn *c = NULL;
    sqlite3_stmt *s = NULL;
    int err = prepare(db, id, &c, &s);
    if (err)
        return err;
    if ((bind_text(s, 1, a) | bind_text(s, 2, b)) != SQLITE_OK)
        return db_err(c->h, "bind");
    err = stmt_run(c, s, what);
    if (err)
        return err;
    return sqlite3_changes(c->h) > 0;
}

int meta_blob_unlink(struct metadb *db, const char *repo, const struct digest *d)
{
    int rc = delete_pair(db, ST_BLOB_UNLINK, repo, d->str, "blob unlink");
    if (rc == 0)
        return berr_set(BERR_BLOB_UNKNOWN, "blob \"%s\" is not in repository \"%s\"", d->str, repo);
    return rc < 0 ? rc : 0;
}

/* Find a repository holding d that the filter accepts (any when from == NULL,
 * else only `from`). 0 with *src_id set, BERR_BLOB_UNKNOWN or BERR_DB. */
static int mount_source(struct conn *c, const struct digest *d, const char *from,
                        meta_repo_filter filter, void *filter_ctx, int64_t *src_id)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (from) {
        rc = repo_lookup(c, from, src_id);
        if (rc == BERR_NAME_UNKNOWN)
            return BERR_BLOB_UNKNOWN;
        if (rc)
            return rc;
        if (filter && !filter(filter_ctx, from))
            return BERR_BLOB_UNKNOWN;
        return link_size(c, *src_id, d->str, NULL);
    }
    rc = stmt_get(c, ST_BLOB_HOLDERS, &s);
    if (rc)
        return rc;
    if (bind_text(s, 1, d->str) != SQLITE_OK)
        return db_err(c->h, "bind");
    for (;;) {
        rc = stmt_row(c, s, "blob holders");
        if (rc < 0)
            return rc;
        if (rc == 0)
            return BERR_BLOB_UNKNOWN;
        if (!filter || filter(filter_ctx, (const char *)sqlite3_column_text(s, 1))) {
            *src_id = sqlite3_column_int64(s, 0);
            sqlite3_reset(s);
            return 0;
        }
    }
}

int meta_blob_mount(struct metadb *db, const char *repo, const struct digest *d, const char *from,
                    meta_repo_filter filter, void *filter_ctx, int64_t *size_out)
{
    struct conn *c = NULL;
    int64_t src_id, repo_id, size, now = now_seconds();
    int err = conn_get(db, &c);
    if (err)
        return err;
    /* Choose the source outside the write lock (the filter is caller code),
     * then re-check it under the lock: it may have been unlinked meanwhile. */
    err = mount_source(c, d, from, filter, filter_ctx, &src_id);
    if (err)
        goto unknown;
    err = tx_begin(c);
    if (err)
        return err;
    err = link_size(c, src_id, d->str, &size);
    if (err)
        goto rollback;
    err = repo_ensure(c, repo, now, &repo_id);
    if (err)
        goto rollback;
    err = link_insert(c, repo_id, d->str, size, now);
    if (err)
        goto rollback;
    err = tx_commit(c);
    if (err)
        goto rollback;
    if (size_out)
        *size_out = size;
    return 0;
rollback:
    tx_rollback(c);
unknown:
    if (err == BERR_BLOB_UNKNOWN)
        berr_set(err, "blob \"%s\" cannot be mounted from %s%s%s", d->str, from ? "\"" : "",
                 from ? from : "any readable repository", from ? "\"" : "");
    return err;
}

/* ---- manifests -------------------------------------------------------- */

/* Check every reference of p is present in repo_id. Inside the write transaction. */
static int manifest_check_refs(struct conn *c, const struct meta_manifest_put *p, int64_t repo_id)
{
    sqlite3_stmt *s = NULL;
    int rc;

    for (size_t i = 0; i < p->n_blobs; i++) {
        rc = link_size(c, repo_id, p->blobs[i].str, NULL);
        if (rc == BERR_BLOB_UNKNOWN)
            return berr_set(BERR_MANIFEST_BLOB_UNKNOWN,
                            "blob \"%s\" referenced by the manifest is not in repository \"%s\"",
                            p->blobs[i].str, p->repo);
        if (rc)
            return rc;
    }
    rc = stmt_get(c, ST_MANIFEST_ID, &s);
    if (rc)
        return rc;
    for (size_t i = 0; i < p->n_children; i++) {
        if ((sqlite3_bind_int64(s, 1, repo_id) | bind_text(s, 2, p->children[i].str)) != SQLITE_OK)
            return db_err(c->h, "bind");
        rc = stmt_row(c, s, "manifest lookup");
        if (rc < 0)
            return rc;
        if (rc == 0)
            return berr_set(BERR_MANIFEST_BLOB_UNKNOWN,
                            "manifest \"%s\" referenced by the index is not in repository \"%s\"",
                            p->children[i].str, p->repo);
        sqlite3_reset(s);
    }
    return 0;
}

/* Insert the manifest row when absent; *id_out is its id either way, *fresh
 * says whether it was inserted now. */
static int manifest_insert(struct conn *c, const struct meta_manifest_put *p, int64_t repo_id,
                           int64_t now, int64_t *id_out, int *fresh)
{
    sqlite3_stmt *s = NULL;
    int rc = stmt_get(c, ST_MANIFEST_INSERT, &s);
    if (rc)
        return rc;
    if ((sqlite3_bind_int64(s, 1, repo_id) | bind_text(s, 2, p->digest->str) |
         bind_text(s, 3, p->media_type) | sqlite3_bind_int64(s, 4, (int64_t)p->payload_len) |
         bind_text(s, 5, p->artifact_type) | bind_text(s, 6, p->subject) |
         bind_text(s, 7, p->annotations) | sqlite3_bind_int64(s, 8, now) |
         sqlite3_bind_blob64(s, 9, p->payload, p->payload_len, SQLITE_STATIC)) != SQLITE_OK) {
        rc = db_err(c->h, "bind");
        sqlite3_reset(s);
        return rc;
    }
    rc = stmt_row(c, s, "manifest insert");
    if (rc < 0)
        return rc;
    if (rc == 1) {
        *id_out = sqlite3_column_int64(s, 0);
        *fresh = 1;
        return stmt_run(c, s, "manifest insert");
    }
    *fresh = 0;
    rc = stmt_get(c, ST_MANIFEST_ID, &s);
    if (rc)
        return rc;
    if ((sqlite3_bind_int64(s, 1, repo_id) | bind_text(s, 2, p->digest->str)) != SQLITE_OK)
        return db_err(c->h, "bind");
    rc = stmt_row(c, s, "manifest lookup");
    if (rc < 0)
        return rc;
    if (rc == 0)
        return berr_set(BERR_INTERNAL, "metadata: manifest \"%s\" vanished inside a transaction",
                        p->digest->str);
    *id_out = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return 0;
}

/* Insert (manifest_id, digest) rows with statement `id`. */
static int manifest_refs_insert(struct conn *c, enum stmt_id id, int64_t manifest_id,
                                const struct digest *d, size_t n)
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(c, id, &s);
    if (err)
        return err;
    for (size_t i = 0; i < n; i++) {
        if ((sqlite3_bind_int64(s, 1, manifest_id) | bind_text(s, 2, d[i].str)) != SQLITE_OK)
            return db_err(c->h, "bind");
        err = stmt_run(c, s, "manifest reference insert");
        if (err)
            return err;
    }
    return 0;
}

static int tag_upsert(struct conn *c, int64_t repo_id, const char *tag, int64_t manifest_id,
                      int64_t now)
{
    sqlite3_stmt *s = NULL;
    int err = stmt_get(c, ST_TAG_UPSERT, &s);
    if (err)
        return err;
    if ((sqlite3_bind_int64(s, 1, repo_id) | bind_text(s, 2, tag) |
         sqlite3_bind_int64(s, 3, manifest_id) | sqlite3_bind_int64(s, 4, now)) != SQLITE_OK)
        return db_err(c->h, "bind");
    return stmt_run(c, s, "tag update");
}

int meta_manifest_put(struct metadb *db, const struct meta_manifest_put *p)
{
    struct conn *c = NULL;
    int64_t repo_id = 0, manifest_id = 0, now = now_seconds();
    int fresh = 0, err;

    assert(p && p->repo && p->digest && p->media_type && (p->payload || !p->payload_len));
    assert((p->blobs || !p->n_blobs) && (p->children || !p->n_children));
    err = conn_get(db, &c);
    if (err)
        return err;
    err = tx_begin(c);
    if (err)
        return err;
    err = repo_lookup(c, p->repo, &repo_id);
    if (err == BERR_NAME_UNKNOWN && p->n_blobs == 0 && p->n_children == 0)
        err = repo_ensure(c, p->repo, now, &repo_id);
    if (err == BERR_NAME_UNKNOWN) {
        /* nothing can be linked into a repository that does not exist */
        err = berr_set(BERR_MANIFEST_BLOB_UNKNOWN,
                       "%s \"%s\" referenced by the manifest is not "
                       "in repository \"%s\"",
                       p->n_blobs ? "blob" : "manifest",
                       p->n_blobs ? p->blobs[0].str : p->children[0].str, p->repo);
    }
    if (err)
        goto rollback;
    err = manifest_check_refs(c, p, repo_id);
    if (err)
        goto rollback;
    err = manifest_insert(c, p, repo_id, now, &manifest_id, &fresh);
    if (err)
        goto rollback;
    if (fresh) {
        err = manifest_refs_insert(c, ST_MANIFEST_BLOB_INSERT, manifest_id, p->blobs, p->n_blobs);
        if (err)
            goto rollback;
        err = manifest_refs_insert(c, ST_MANIFEST_CHILD_INSERT, manifest_id, p->children,
                                   p->n_children);
        if (err)
            goto rollback;
    }
    if (p->tag) {
        err = tag_upsert(c, repo_id, p->tag, manifest_id, now);
        if (err)
            goto rollback;
    }
    err = tx_commit(c);
    if (err)
        goto rollback;
    return 0;
rollback:
    tx_rollback(c);
    return err;
}

/* Shared body of get and head: column 2 is the payload (get) or size (head). */
static int manifest_lookup(struct metadb *db, const char *repo, const char *ref, int is_digest,
                           int with_payload, struct meta_manifest *out)
{
    enum stmt_id id;
    struct conn *c = NULL;
    sqlite3_stmt *s = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (with_payload)
        id = is_digest ? ST_MANIFEST_GET_DIGEST : ST_MANIFEST_GET_TAG;
    else
        id = is_digest ? ST_MANIFEST_HEAD_DIGEST : ST_MANIFEST_HEAD_TAG;
    rc = prepare(db, id, &c, &s);
    if (rc)
        return rc;
    if ((bind_text(s, 1, repo) | bind_text(s, 2, ref)) != SQLITE_OK)
        return db_err(c->h, "bind");
    rc = stmt_row(c, s, "manifest lookup");
    if (rc < 0)
        return rc;
    if (rc == 0)
        return berr_set(BERR_MANIFEST_UNKNOWN, "manifest \"%s\" is not in repository \"%s\"", ref,
                        repo);
    out->digest = column_dup(s, 0);
    out->media_type = column_dup(s, 1);
    if (with_payload) {
        const void *blob = sqlite3_column_blob(s, 2);
        size_t len = (size_t)sqlite3_column_bytes(s, 2);
        out->payload = xmalloc(len + 1);
        if (len)
            memcpy(out->payload, blob, len);
        out->payload[len] = '\0';
        out->payload_len = len;
    } else {
        out->payload_len = (size_t)sqlite3_column_int64(s, 2);
    }
    sqlite3_reset(s);
    if (!out->digest || !out->media_type) {
        meta_manifest_release(out);
        return berr_set(BERR_DB, "metadata: manifest \"%s\" row is incomplete", ref);
    }
    return 0;
}

int meta_manifest_get(struct metadb *db, const char *repo, const char *ref, int is_digest,
                      struct meta_manifest *out)
{
    return manifest_lookup(db, repo, ref, is_digest, 1, out);
}

int meta_manifest_head(struct metadb *db, const char *repo, const char *ref, int is_digest,
                       struct meta_manifest *out)
{
    return manifest_lookup(db, repo, ref, is_digest, 0, out);
}

void meta_manifest_release(struct meta_manifest *m)
{
    if (!m)
        return;
    free(m->digest);
    free(m->media_type);
    free(m->payload);
    memset(m, 0, sizeof(*m));
}

int meta_manifest_delete(struct metadb *db, const char *repo, const char *digest)
{
    /* tags, manifest_blobs and manifest_children go by ON DELETE CASCADE */
    int rc = delete_pair(db, ST_MANIFEST_DELETE, repo, digest, "manifest delete");
    if (rc == 0)
        return berr_set(BERR_MANIFEST_UNKNOWN, "manifest \"%s\" is not in repository \"%s\"",
                        digest, repo);
    return rc < 0 ? rc : 0;
}

int meta_tag_delete(struct metadb *db, const char *repo, const char *tag)
{
    int rc = delete_pair(db, ST_TAG_DELETE, repo, tag, "tag delete");
    if (rc == 0)
        return berr_set(BERR_MANIFEST_UNKNOWN, "tag \"%s\" is not in repository \"%s\"", tag, repo);
    return rc < 0 ? rc : 0;
}

/* ---- listings --------------------------------------------------------- */

void meta_list_release(struct meta_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof(*l));
}

/* Call fn for column 0 of s's rows, at most n (n < 0: all), accepted by
 * filter (NULL: all); *more_out = 1 when one more accepted row exists.
 * Resets s. A negative code from fn stops the walk and is returned. */
static int list_each(struct conn *c, sqlite3_stmt *s, long n, meta_repo_filter filter,
                     void *filter_ctx, meta_name_fn fn, void *ctx, int *more_out)
{
    size_t count = 0;
    *more_out = 0;
    for (;;) {
        const char *name;
        int rc = stmt_row(c, s, "list");
        if (rc <= 0)
            return rc;
        name = (const char *)sqlite3_column_text(s, 0);
        if (!name || (filter && !filter(filter_ctx, name)))
            continue;
        if (n >= 0 && count == (size_t)n) {
            *more_out = 1;
            sqlite3_reset(s);
            return 0;
        }
        rc = fn(ctx, name, (size_t)sqlite3_column_bytes(s, 0));
        if (rc < 0) {
            sqlite3_reset(s);
            return rc;
        }
        count++;
    }
}

struct list_collector {
    struct meta_list *out;
    size_t cap;
};

static int list_collect_one(void *ctx, const char *name, size_t len)
{
    struct list_collector *lc = ctx;
    list_push(lc->out, &lc->cap, (const unsigned char *)name, (int)len);
    return 0;
}

/* list_each into a struct meta_list (released on failure). */
static int list_collect(struct conn *c, sqlite3_stmt *s, long n, meta_repo_filter filter,
                        void *filter_ctx, struct meta_list *out)
{
    struct list_collector lc = {out, 0};
    int err = list_each(c, s, n, filter, filter_ctx, list_collect_one, &lc, &out->more);
    if (err)
        meta_list_release(out);
    return err;
}

/* Id and tag generation of repository `repo`: 0, BERR_NAME_UNKNOWN (message
 * set) or BERR_DB. */
static int tags_gen_lookup(struct conn *c, const char *repo, int64_t *id_out, int64_t *gen_out)
{
    sqlite3_stmt *s = NULL;
    int rc = stmt_get(c, ST_TAGS_GEN, &s);
    if (rc)
        return rc;
    if (bind_text(s, 1, repo) != SQLITE_OK)
        return db_err(c->h, "bind");
    rc = stmt_row(c, s, "repository lookup");
    if (rc < 0)
        return rc;
    if (rc == 0)
        return berr_set(BERR_NAME_UNKNOWN, "repository \"%s\" is not known", repo);
    if (id_out)
        *id_out = sqlite3_column_int64(s, 0);
    /* no row: the triggers' table was edited by hand; nothing to validate with */
    *gen_out = sqlite3_column_type(s, 1) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 1);
    sqlite3_reset(s);
    return 0;
}

int meta_tags_gen(struct metadb *db, const char *repo, int64_t *gen_out)
{
    struct conn *c = NULL;
    int err = conn_get(db, &c);
    if (err)
        return err;
    return tags_gen_lookup(c, repo, NULL, gen_out);
}

/* The generation is read by a statement that completes before the rows'
 * statement starts: the rows are of that generation's state or of a later
 * one, never an earlier one (see metadb.h). */
int meta_tags_each(struct metadb *db, const char *repo, const char *last, long n, meta_name_fn fn,
                   void *ctx, int *more_out, int64_t *gen_out)
{
    struct conn *c = NULL;
    sqlite3_stmt *s = NULL;
    int64_t repo_id, gen;
    int err;

    assert(fn && more_out);
    *more_out = 0;
    err = prepare(db, ST_TAGS_LIST, &c, &s);
    if (err)
        return err;
    err = tags_gen_lookup(c, repo, &repo_id, &gen);
    if (err)
        return err;
    if (gen_out)
        *gen_out = gen;
    if (n == 0)
        return 0;
    if ((sqlite3_bind_int64(s, 1, repo_id) | bind_text(s, 2, last ? last : "") |
         sqlite3_bind_int64(s, 3, page_limit(n))) != SQLITE_OK)
        return db_err(c->h, "bind");
    return list_each(c, s, n, NULL, NULL, fn, ctx, more_out);
}

int meta_tags_list(struct metadb *db, const char *repo, const char *last, long n,
                   struct meta_list *out)
{
    struct list_collector lc = {out, 0};
    memset(out, 0, sizeof(*out));
    int err = meta_tags_each(db, repo, last, n, list_collect_one, &lc, &out->more, NULL);
    if (err)
        meta_list_release(out);
    return err;
}

/* Generation of the repository list on connection c. */
static int catalog_gen_lookup(struct conn *c, int64_t *gen_out)
{
    sqlite3_stmt *s = NULL;
    int rc = stmt_get(c, ST_CATALOG_GEN, &s);
    if (rc)
        return rc;
    rc = stmt_row(c, s, "catalog generation");
    if (rc < 0)
        return rc;
    if (rc == 0)
        return berr_set(BERR_DB, "metadata: the list_gen row is missing");
    *gen_out = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return 0;
}

int meta_catalog_gen(struct metadb *db, int64_t *gen_out)
{
    struct conn *c = NULL;
    int err = conn_get(db, &c);
    if (err)
        return err;
    return catalog_gen_lookup(c, gen_out);
}

int meta_catalog_each(struct metadb *db, const char *last, long n, meta_repo_filter filter,
                      void *filter_ctx, meta_name_fn fn, void *ctx, int *more_out, int64_t *gen_out)
{
    struct conn *c = NULL;
    sqlite3_stmt *s = NULL;
    int err;

    assert(fn && more_out);
    *more_out = 0;
    err = prepare(db, ST_CATALOG, &c, &s);
    if (err)
        return err;
    if (gen_out) {
        err = catalog_gen_lookup(c, gen_out);
        if (err)
            return err;
    }
    if (n == 0)
        return 0;
    /* with a filter the page may need any number of rows: stop stepping instead */
    if ((bind_text(s, 1, last ? last : "") |
         sqlite3_bind_int64(s, 2, filter ? -1 : page_limit(n))) != SQLITE_OK)
        return db_err(c->h, "bind");
    return list_each(c, s, n, filter, filter_ctx, fn, ctx, more_out);
}

int meta_catalog(struct metadb *db, const char *last, long n, meta_repo_filter filter,
                 void *filter_ctx, struct meta_list *out)
{
    struct list_collector lc = {out, 0};
    memset(out, 0, sizeof(*out));
    int err =
        meta_catalog_each(db, last, n, filter, filter_ctx, list_collect_one, &lc, &out->more, NULL);
    if (err)
        meta_list_release(out);
    return err;
}

/* ---- referrers -------------------------------------------------------- */

int meta_referrers(struct metadb *db, const char *repo, const char *subject,
                   const char *artifact_type, struct meta_referrer **out, size_t *n_out)
{
    struct meta_referrer *r = NULL;
    size_t n = 0, cap = 0;
    struct conn *c = NULL;
    sqlite3_stmt *s = NULL;
    int rc;

    *out = NULL;
    *n_out = 0;
    rc = prepare(db, ST_REFERRERS, &c, &s);
    if (rc)
        return rc;
    if ((bind_text(s, 1, repo) | bind_text(s, 2, subject) | bind_text(s, 3, artifact_type)) !=
        SQLITE_OK)
        return db_err(c->h, "bind");
    for (;;) {
        rc = stmt_row(c, s, "referrers");
        if (rc < 0) {
            meta_referrers_free(r, n);
            return rc;
        }
        if (rc == 0)
            break;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            r = xrealloc(r, cap * sizeof(*r));
        }
        r[n].digest = column_dup(s, 0);
        r[n].media_type = column_dup(s, 1);
        r[n].size = sqlite3_column_int64(s, 2);
        r[n].artifact_type = column_dup(s, 3);
        r[n].annotations = column_dup(s, 4);
        n++;
    }
    *out = r;
    *n_out = n;
    return 0;
}

void meta_referrers_free(struct meta_referrer *r, size_t n)
{
    if (!r)
        return;
    for (size_t i = 0; i < n; i++) {
        free(r[i].digest);
        free(r[i].media_type);
        free(r[i].artifact_type);
        free(r[i].annotations);
    }
    free(r);
}

/* ---- upload sessions -------------------------------------------------- */

int meta_upload_create(struct metadb *db, const char *id, const char *repo, int64_t now)
{
    struct conn *c = NULL;
    sqlite3_stmt *s = NULL;
    int rc = prepare(db, ST_UPLOAD_CREATE, &c, &s);
    if (rc)
        return rc;
    if ((bind_text(s, 1, id) | bind_text(s, 2, repo) | sqlite3_bind_int64(s, 3, now)) != SQLITE_OK)
        return db_err(c->h, "bind");
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(s);
        return 0;
    }
    if (rc == SQLITE_CONSTRAINT)
        rc = berr_set(BERR_EXISTS, "upload session \"%s\" already exists", id);
    else
        rc = db_err(c->h, "upload create");
    sqlite3_reset(s);
    return rc;
}

int meta_upload_get(struct metadb *db, const char *id, const char *repo, int64_t *started_out)
{
    struct conn *c = NULL;
    sqlite3_stmt *s = NULL;
    int rc = prepare(db, ST_UPLOAD_GET, &c, &s);
    if (rc)
        return rc;
    if ((bind_text(s, 1, id) | bind_text(s, 2, repo)) != SQLITE_OK)
        return db_err(c->h, "bind");
    rc = stmt_row(c, s, "upload lookup");
    if (rc < 0)
        return rc;
    if (rc == 0)
        return berr_set(BERR_UPLOAD_UNKNOWN, "upload \"%s\" is not in repository \"%s\"", id, repo);
    if (started_out)
        *started_out = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return 0;
}

/* Run a single-row write on uploads.id = ?1 (with ?2 = now when used). */
static int upload_row_write(struct metadb *db, enum stmt_id st, const char *id, int64_t now,
                            const char *what)
{
    struct conn *c = NULL;
    sqlite3_stmt *s = NULL;
    int err = prepare(db, st, &c, &s);
    if (err)
        return err;
    if (bind_text(s, 1, id) != SQLITE_OK ||
        (sqlite3_bind_parameter_count(s) > 1 && sqlite3_bind_int64(s, 2, now) != SQLITE_OK))
        return db_err(c->h, "bind");
    err = stmt_run(c, s, what);
    if (err)
        return err;
    if (sqlite3_changes(c->h) == 0)
        return berr_set(BERR_UPLOAD_UNKNOWN, "upload \"%s\" is not known", id);
    return 0;
}

int meta_upload_touch(struct metadb *db, const char *id, int64_t now)
{
    return upload_row_write(db, ST_UPLOAD_TOUCH, id, now, "upload touch");
}

int meta_upload_delete(struct metadb *db, const char *id)
{
    return upload_row_write(db, ST_UPLOAD_DELETE, id, 0, "upload delete");
}

int meta_upload_expired(struct metadb *db, int64_t before, struct meta_list *out)
{
    struct conn *c = NULL;
    sqlite3_stmt *s = NULL;
    int err;

    memset(out, 0, sizeof(*out));
    err = prepare(db, ST_UPLOAD_EXPIRED, &c, &s);
    if (err)
        return err;
    if (sqlite3_bind_int64(s, 1, before) != SQLITE_OK)
        return db_err(c->h, "bind");
    return list_collect(c, s, -1, NULL, NULL, out);
}

int meta_upload_exists(struct metadb *db, const char *id)
{
    struct conn *c = NULL;
    sqlite3_stmt *s = NULL;
    int rc = prepare(db, ST_UPLOAD_EXISTS, &c, &s);
    if (rc)
        return rc;
    if (bind_text(s, 1, id) != SQLITE_OK)
        return db_err(c->h, "bind");
    rc = stmt_row(c, s, "upload lookup");
    if (rc == 1)
        sqlite3_reset(s);
    return rc;
}
