/*
 * metadb_int.h - the seam between metadb.c (connections, statement cache,
 * migrations) and the files that add SQL beside it (metadb_gc.c).
 *
 * Internal to storage/: nothing outside this directory includes it. The
 * rules of metadb.c hold for every statement prepared through it: one
 * connection per (thread, handle), statements cached per connection and
 * reset before the function that stepped them returns, every parameter
 * bound on every use.
 */
#ifndef BERTH_METADB_INT_H
#define BERTH_METADB_INT_H

#include <sqlite3.h>

#include "storage/metadb.h"

/* Statement slots a sibling file may cache per connection (slot < this). */
#define METADB_EXT_SLOTS 32

/* The calling thread's connection for db (opened on first use). */
int metadb_sqlite(struct metadb *db, sqlite3 **out);
/* The calling thread's cached statement `slot`, prepared from `sql` on first
 * use. A slot always holds the same SQL. 0 or BERR_DB. */
int metadb_ext_stmt(struct metadb *db, int slot, const char *sql, sqlite3 **h_out,
                    sqlite3_stmt **out);
/* Set a BERR_DB message naming `what` and SQLite's error; returns BERR_DB. */
int metadb_err(sqlite3 *h, const char *what);

/* Take / release the process-wide writer mutex of db (recursive). Hold it
 * from BEGIN IMMEDIATE to COMMIT/ROLLBACK. */
void metadb_write_enter(struct metadb *db);
void metadb_write_leave(struct metadb *db);
/* Return once every commit this thread made on connection h is durable
 * (fsync of the WAL, shared with concurrent committers). Call after a
 * successful COMMIT, outside the write mutex. 0 or BERR_DB. */
int metadb_durable(struct metadb *db, sqlite3 *h);

#endif
