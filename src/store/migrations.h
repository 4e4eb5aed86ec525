/* migrations.h - the schema as an ordered list of migrations (SQLite, PostgreSQL).
 *
 * Migration i (1-based) takes a database from version i-1 to version i. The
 * list is append-only: a released migration is never edited, because
 * databases in the field have already run it; changes go into a new one.
 * sqlite_store.c applies each in its own transaction together with the
 * schema_version row that records it.
 */
#ifndef TN_STORE_MIGRATIONS_H
#define TN_STORE_MIGRATIONS_H

typedef struct {
    int version;
    const char *what; /* one line, logged and stored */
    const char *sql;  /* one or more statements */
} tn_migration;

extern const tn_migration tn_store_migrations[];
extern const int tn_store_nmigrations;

/* The same schema versions in PostgreSQL's dialect (pg_migrations.c):
 * tn_store_pg_migrations[i].version == tn_store_migrations[i].version for
 * every i (tests/test_store.c checks it), so both backends report the same
 * TN_STORE_SCHEMA_VERSION. pg_store.c applies each in its own transaction
 * under an advisory lock. */
extern const tn_migration tn_store_pg_migrations[];
extern const int tn_store_pg_nmigrations;

#endif
