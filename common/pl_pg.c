/*  pl_pg: PostgreSQL helpers (see pl_pg.h). */
#include "pl_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pl_clock.h"
#include "pl_log.h"

static char s_sqlstate[6];

/* The first line of libpq's message is enough for a log line. */
static void log_pg_error(const char *what, const char *msg)
{
    char line[256];
    snprintf(line, sizeof line, "%s", msg ? msg : "");
    char *nl = strchr(line, '\n');
    if (nl)
        *nl = '\0';
    pl_error("database error", "op=%s err=\"%s\"", what, line);
}

PGconn *pl_pg_connect(const char *conninfo, const char *app, int wait_ms)
{
    int64_t deadline = pl_mono_ms() + wait_ms;
    /* dbname with expand_dbname: the whole conninfo string or URL is read from it */
    const char *const keys[] = {"dbname", "fallback_application_name", NULL};
    const char *const values[] = {conninfo, app, NULL};
    for (;;) {
        PGconn *db = PQconnectdbParams(keys, values, 1);
        if (db && PQstatus(db) == CONNECTION_OK)
            return db;
        int last = pl_mono_ms() >= deadline;
        if (last) {
            log_pg_error("connect", db ? PQerrorMessage(db) : "out of memory");
            PQfinish(db);
            return NULL;
        }
        PQfinish(db);
        struct timespec ts = {0, 200 * 1000000};
        nanosleep(&ts, NULL);
    }
}

int pl_pg_exec(PGconn *db, const char *sql, const char *what)
{
    PGresult *r = PQexec(db, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        log_pg_error(what, PQerrorMessage(db));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    return 0;
}

static int applied_version(PGconn *db, const char *schema, int *out)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT coalesce(max(version), 0) FROM %s.schema_migrations",
             schema);
    PGresult *r = PQexec(db, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        log_pg_error("read migrations", PQerrorMessage(db));
        PQclear(r);
        return -1;
    }
    *out = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

int pl_pg_migrate(PGconn *db, const char *schema, const pl_migration_t *migs)
{
    char sql[512];
    /* The advisory lock serialises instances starting together; CREATE ... IF NOT
       EXISTS alone races on the catalog. Schema names are ours, never user input. */
    snprintf(sql, sizeof sql,
             "BEGIN; SELECT pg_advisory_xact_lock(hashtext('parley.migrate.%s'));"
             "CREATE SCHEMA IF NOT EXISTS %s;"
             "CREATE TABLE IF NOT EXISTS %s.schema_migrations ("
             " version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());"
             "COMMIT;",
             schema, schema, schema);
    if (pl_pg_exec(db, sql, "create schema"))
        return -1;
    for (const pl_migration_t *m = migs; m->sql; m++) {
        snprintf(sql, sizeof sql, "BEGIN; SELECT pg_advisory_xact_lock(hashtext('parley.migrate.%s'));",
                 schema);
        if (pl_pg_exec(db, sql, "lock migrations"))
            return -1;
        int have;
        if (applied_version(db, schema, &have))
            goto fail;
        if (have >= m->version) {
            pl_pg_exec(db, "ROLLBACK", "rollback");
            continue;
        }
        if (pl_pg_exec(db, m->sql, "migrate"))
            goto fail;
        snprintf(sql, sizeof sql, "INSERT INTO %s.schema_migrations(version) VALUES (%d); COMMIT;",
                 schema, m->version);
        if (pl_pg_exec(db, sql, "record migration"))
            goto fail;
        pl_info("migration applied", "schema=%s version=%d", schema, m->version);
    }
    return 0;
fail:
    pl_pg_exec(db, "ROLLBACK", "rollback");
    return -1;
}

int pl_pg_prepare_all(PGconn *db, const pl_stmt_t *stmts)
{
    for (const pl_stmt_t *s = stmts; s->name; s++) {
        PGresult *r = PQprepare(db, s->name, s->sql, s->nparams, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            char what[96];
            snprintf(what, sizeof what, "prepare %s", s->name);
            log_pg_error(what, PQerrorMessage(db));
            PQclear(r);
            return -1;
        }
        PQclear(r);
    }
    return 0;
}

PGresult *pl_pg_run_ex(PGconn *db, const char *name, int n, const char *const *params,
                       const int *lengths, const int *formats)
{
    s_sqlstate[0] = '\0';
    PGresult *r = PQexecPrepared(db, name, n, params, lengths, formats, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(s_sqlstate, sizeof s_sqlstate, "%s", state ? state : "");
    /* A unique violation is often an expected race (idempotent retries); the caller
       decides, so it is logged at debug only. */
    if (strcmp(s_sqlstate, "23505") == 0)
        pl_debug("database unique violation", "stmt=%s", name);
    else
        log_pg_error(name, PQerrorMessage(db));
    PQclear(r);
    return NULL;
}

PGresult *pl_pg_run(PGconn *db, const char *name, int n, const char *const *params)
{
    return pl_pg_run_ex(db, name, n, params, NULL, NULL);
}

static int param_slot(pl_pg_params_t *p)
{
    if (p->n >= PL_PG_MAX_PARAMS) {
        p->overflow = 1;
        return -1;
    }
    return p->n++;
}

void pl_pg_param_int(pl_pg_params_t *p, int64_t x)
{
    int i = param_slot(p);
    if (i < 0)
        return;
    snprintf(p->num[i], sizeof p->num[0], "%lld", (long long)x);
    p->v[i] = p->num[i];
    p->len[i] = 0;
    p->fmt[i] = 0;
}

void pl_pg_param_null(pl_pg_params_t *p)
{
    pl_pg_param_bytes(p, NULL, 0);
}

void pl_pg_param_bytes(pl_pg_params_t *p, const char *s, size_t len)
{
    int i = param_slot(p);
    if (i < 0)
        return;
    p->v[i] = s;
    p->len[i] = (int)len;
    p->fmt[i] = s ? 1 : 0;
}

void pl_pg_param_cstr(pl_pg_params_t *p, const char *s)
{
    pl_pg_param_bytes(p, s, s ? strlen(s) : 0);
}

void pl_pg_param_bool(pl_pg_params_t *p, int b)
{
    int i = param_slot(p);
    if (i < 0)
        return;
    p->v[i] = b ? "true" : "false";
    p->len[i] = 0;
    p->fmt[i] = 0;
}

PGresult *pl_pg_run_params(PGconn *db, const char *name, const pl_pg_params_t *p)
{
    if (p->overflow) {
        pl_error("too many statement parameters", "stmt=%s", name);
        return NULL;
    }
    return pl_pg_run_ex(db, name, p->n, p->v, p->len, p->fmt);
}

const char *pl_pg_last_sqlstate(void)
{
    return s_sqlstate;
}

int64_t pl_pg_int(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

int pl_pg_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col);
}
