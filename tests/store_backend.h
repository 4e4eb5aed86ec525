/* store_backend.h - the two backends the store tests run on (test_store.c,
 * test_store_evals.c): every case that touches a database runs on SQLite
 * and then, prefixed pg_, on PostgreSQL when TUNA_TEST_PG_URL names a
 * server (tests/run starts a throwaway one with tests/pg_server), each case
 * in a fresh schema of its own; without a server the PostgreSQL half is one
 * skipped case that says so. Static functions: include it once per program. */
#ifndef TN_TESTS_STORE_BACKEND_H
#define TN_TESTS_STORE_BACKEND_H

#include "harness.h"
#include "store/store.h"
#include "base/err.h"
#include "base/fs.h"
#include "base/mem.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The backend the cases run on: 0 SQLite, 1 PostgreSQL at pg_url. */
static int use_pg;
static const char *pg_url;
static int pg_schemas; /* t<pid>_1 .. t<pid>_N, dropped at the end */

static inline void quiet(void *arg, const char *msg) {
    (void)arg;
    (void)msg;
}

/* Runs SQL outside the store: on the SQLite file, or on the PostgreSQL
 * database (and schema) a store URL names. 0 on success. */
static inline int raw_exec(const char *where, const char *sql) {
    if (!use_pg) {
        sqlite3 *db = NULL;
        int rc = sqlite3_open(where, &db) == SQLITE_OK &&
                         sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK
                     ? 0
                     : -1;
        sqlite3_close(db);
        return rc;
    }
    PGconn *c = PQconnectdb(where);
    PQsetNoticeProcessor(c, quiet, NULL); /* "drop cascades to ..." */
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    int rc = r && PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc) fprintf(stderr, "  raw_exec: %s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return rc;
}

/* PostgreSQL: a fresh schema, and the store URL whose search_path is it. */
static inline char *pg_fresh(void) {
    char *schema = tn_sprintf("t%d_%d", (int)getpid(), ++pg_schemas);
    char *sql = tn_sprintf("CREATE SCHEMA %s", schema);
    CHECK(raw_exec(pg_url, sql) == 0);
    char *url = tn_sprintf("%s%coptions=-csearch_path%%3D%s", pg_url, strchr(pg_url, '?') ? '&' : '?',
                           schema);
    free(sql);
    free(schema);
    return url;
}

/* A fresh database (SQLite: a path, removed with its WAL files;
 * PostgreSQL: a URL naming a new, empty schema). */
static inline char *db_path(const char *name) {
    if (use_pg) return pg_fresh();
    char *p = tn_path_join(tn_t_tmpdir(), name);
    char *w = tn_sprintf("%s-wal", p), *m = tn_sprintf("%s-shm", p);
    unlink(p);
    unlink(w);
    unlink(m);
    free(w);
    free(m);
    return p;
}

static inline tn_store *open_db(const char *path) {
    tn_store *s = tn_store_open(path, NULL);
    CHECKF(s != NULL, "%s", tn_errmsg());
    return s;
}

TEST(postgres_available) {
    SKIP("PostgreSQL half skipped: TUNA_TEST_PG_URL is not set (tests/run starts a throwaway "
         "server with tests/pg_server when PostgreSQL is installed: apt-get install postgresql)");
}

/* A case that touches a database, run once per backend. */
typedef struct {
    const char *name;
    void (*fn)(void);
} sb_case;
#define SB_CASE(x) {#x, test_##x}

static inline void sb_run_cases(const char *prefix, const sb_case *cases, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char name[96];
        snprintf(name, sizeof name, "%s%s", prefix, cases[i].name);
        tn_t_run(name, cases[i].fn);
    }
}

/* Runs the cases on SQLite, then (prefixed pg_) on PostgreSQL or the skip
 * that says why not; drops the schemas it made. */
static inline void sb_run_both(const sb_case *cases, size_t n) {
    use_pg = 0;
    sb_run_cases("", cases, n);
    pg_url = getenv("TUNA_TEST_PG_URL");
    if (!pg_url || !*pg_url) {
        RUN(postgres_available);
        return;
    }
    use_pg = 1;
    sb_run_cases("pg_", cases, n);
    /* leave a server that was given to us as we found it */
    for (int i = 1; i <= pg_schemas; i++) {
        char *sql = tn_sprintf("DROP SCHEMA t%d_%d CASCADE", (int)getpid(), i);
        raw_exec(pg_url, sql);
        free(sql);
    }
}

#endif
