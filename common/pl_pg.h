/*  pl_pg: PostgreSQL helpers shared by the services: connect with a start-up
    deadline, versioned migrations, prepared statements, result checks.
    The one thing to know: all SQL that takes input goes through prepared statements
    (PQexecPrepared); plain PQexec is only for fixed text such as BEGIN or DDL. */
#ifndef PL_PG_H
#define PL_PG_H

#include <libpq-fe.h>
#include <stdint.h>

/* Connect, retrying until `wait_ms` passes (a database starting alongside us is
   normal). NULL with one clear log line when it cannot. `app` names the connection
   in pg_stat_activity unless the conninfo sets application_name itself. */
PGconn *pl_pg_connect(const char *conninfo, const char *app, int wait_ms);

/* Run fixed SQL that returns no rows; 0 or -1 (logged with `what`). */
int pl_pg_exec(PGconn *db, const char *sql, const char *what);

typedef struct {
    int version;     /* 1, 2, 3, ... applied in order, each once */
    const char *sql; /* may hold several statements */
} pl_migration_t;

/* Create `schema` and apply the migrations not yet recorded in
   <schema>.schema_migrations, each in its own transaction under an advisory lock,
   so several instances starting at once apply each exactly once. `migs` ends with
   {0, NULL}. 0 or -1 (logged). */
int pl_pg_migrate(PGconn *db, const char *schema, const pl_migration_t *migs);

typedef struct {
    const char *name;
    const char *sql;
    int nparams;
} pl_stmt_t;

/* Prepare every statement of the list (ends with {NULL}). 0 or -1 (logged). */
int pl_pg_prepare_all(PGconn *db, const pl_stmt_t *stmts);

/* Execute prepared statement `name` with text parameters (NULL = SQL NULL).
   Returns the result when its status is COMMAND_OK or TUPLES_OK; otherwise logs,
   clears it and returns NULL. The caller PQclear()s a returned result. */
PGresult *pl_pg_run(PGconn *db, const char *name, int n, const char *const *params);
/* The same with explicit lengths and formats (binary parameters such as bytea). */
PGresult *pl_pg_run_ex(PGconn *db, const char *name, int n, const char *const *params,
                       const int *lengths, const int *formats);

/* Parameters of one prepared statement, built in order. Text values go in binary
   format with explicit lengths, so they need no NUL terminator and are passed exactly
   as received; numbers are formatted into the struct itself (no allocation). */
#define PL_PG_MAX_PARAMS 16
typedef struct {
    const char *v[PL_PG_MAX_PARAMS];
    int len[PL_PG_MAX_PARAMS];
    int fmt[PL_PG_MAX_PARAMS];
    char num[PL_PG_MAX_PARAMS][24];
    int n;
    int overflow; /* more than PL_PG_MAX_PARAMS were added: executing fails */
} pl_pg_params_t;

void pl_pg_param_int(pl_pg_params_t *p, int64_t x);
void pl_pg_param_null(pl_pg_params_t *p);
/* Text or bytea bytes; a NULL pointer is SQL NULL. */
void pl_pg_param_bytes(pl_pg_params_t *p, const char *s, size_t len);
void pl_pg_param_cstr(pl_pg_params_t *p, const char *s); /* NULL is SQL NULL */
void pl_pg_param_bool(pl_pg_params_t *p, int b);
/* pl_pg_run_ex with these parameters. */
PGresult *pl_pg_run_params(PGconn *db, const char *name, const pl_pg_params_t *p);

/* SQLSTATE of the last failed pl_pg_run, "" if none (e.g. "23505" unique violation). */
const char *pl_pg_last_sqlstate(void);

/* Column value as int64 (0 when NULL). */
int64_t pl_pg_int(const PGresult *r, int row, int col);
/* Column value is NULL? */
int pl_pg_null(const PGresult *r, int row, int col);

#endif
