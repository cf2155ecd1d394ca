/*  hooks_source: one service's outbox and dead letters, over a connection of its own
    (each service may live in its own database). All SQL of parley-hooks is here.
    The one thing to know: every statement runs on its own (autocommit); the claim is
    one UPDATE whose inner SELECT takes the rows FOR UPDATE SKIP LOCKED, so two
    workers never claim the same row, and the attempt count it sets is the lease's
    token: a worker whose lease lapsed (it was slow, or killed and replaced) finds its
    row changed and leaves it alone. */
#include "hooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_clock.h"
#include "pl_config.h"
#include "pl_log.h"
#include "pl_pg.h"

#define RECONNECT_MS 2000
#define CONNECT_WAIT_MS 1000
#define ISO(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

struct hooks_source {
    char schema[16];
    char *dsn;
    int idx;
    PGconn *db;
    int ready; /* connected, tables present, statements prepared */
    int64_t next_try_ms;
};

/* The statements, for one schema: "{S}" is the schema. */
static const struct {
    const char *name;
    const char *sql;
    int nparams;
} s_stmts[] = {
    /* Heads only: the oldest row of its user_key (NOT EXISTS an older one), due, and
       not leased; oldest first. */
    {"claim",
     "UPDATE {S}.webhook_outbox o SET attempts = o.attempts + 1,"
     "  lease_until = clock_timestamp() + $2::bigint * interval '1 millisecond'"
     " WHERE o.id IN (SELECT c.id FROM {S}.webhook_outbox c"
     "   WHERE c.next_at <= clock_timestamp()"
     "     AND (c.lease_until IS NULL OR c.lease_until < clock_timestamp())"
     "     AND NOT EXISTS (SELECT 1 FROM {S}.webhook_outbox e"
     "                     WHERE e.user_key = c.user_key AND e.id < c.id)"
     "   ORDER BY c.id LIMIT $1::int FOR UPDATE SKIP LOCKED)"
     " RETURNING o.id, o.attempts, o.event_id, o.type, " ISO(
         "o.created_at") ", o.data,"
                         "  (extract(epoch FROM o.created_at) * 1000000)::bigint",
     2},
    {"delivered", "DELETE FROM {S}.webhook_outbox WHERE id = $1::bigint AND attempts = $2::int", 2},
    {"retry",
     "UPDATE {S}.webhook_outbox SET lease_until = NULL, last_error = $3,"
     "  next_at = clock_timestamp() + $4::bigint * interval '1 millisecond'"
     " WHERE id = $1::bigint AND attempts = $2::int",
     4},
    {"dead",
     "WITH d AS (DELETE FROM {S}.webhook_outbox WHERE id = $1::bigint AND attempts = $2::int"
     "  RETURNING *)"
     " INSERT INTO {S}.webhook_dead(event_id, type, user_key, data, created_at, attempts,"
     "  last_error) SELECT event_id, type, user_key, data, created_at, attempts, $3 FROM d"
     " ON CONFLICT (event_id) DO UPDATE SET attempts = EXCLUDED.attempts,"
     "  last_error = EXCLUDED.last_error, dead_at = clock_timestamp()"
     " RETURNING event_id",
     3},
    {"depth",
     "SELECT (SELECT count(*) FROM {S}.webhook_outbox),"
     " (SELECT coalesce(extract(epoch FROM clock_timestamp() - min(created_at)), 0)"
     "  FROM {S}.webhook_outbox),"
     " (SELECT count(*) FROM {S}.webhook_dead)",
     0},
    {"prune",
     "DELETE FROM {S}.webhook_dead WHERE dead_at < clock_timestamp() - $1::int * interval '1 day'",
     1},
};
#define NSTMTS (sizeof s_stmts / sizeof s_stmts[0])

hooks_source_t *hooks_source_new(const char *schema, const char *dsn_var, int idx)
{
    const char *dsn = pl_env_str(dsn_var, pl_env_str("DB_CONNECTION_STRING", NULL));
    if (!dsn) {
        pl_error("bad configuration", "reason=\"set DB_CONNECTION_STRING or %s\"", dsn_var);
        return NULL;
    }
    hooks_source_t *self = calloc(1, sizeof *self);
    if (!self || !(self->dsn = strdup(dsn))) {
        free(self);
        return NULL;
    }
    snprintf(self->schema, sizeof self->schema, "%s", schema);
    self->idx = idx;
    return self;
}

void hooks_source_destroy(hooks_source_t **self_p)
{
    hooks_source_t *self = *self_p;
    if (!self)
        return;
    if (self->db)
        PQfinish(self->db);
    free(self->dsn);
    free(self);
    *self_p = NULL;
}

const char *hooks_source_name(const hooks_source_t *self)
{
    return self->schema;
}

/* `sql` with every {S} replaced by the schema (a constant of main.c). */
static int expand(const char *sql, const char *schema, pl_buf_t *out)
{
    pl_buf_reset(out);
    for (const char *s = sql; *s;) {
        const char *at = strstr(s, "{S}");
        size_t n = at ? (size_t)(at - s) : strlen(s);
        if (pl_buf_append(out, s, n) || (at && pl_buf_puts(out, schema)))
            return -1;
        s += n + (at ? 3 : 0);
    }
    return 0;
}

/* Statement names are per connection, so the plain names serve every source. */
static int prepare(hooks_source_t *self)
{
    pl_buf_t sql;
    pl_buf_init(&sql, 0);
    int rc = 0;
    for (size_t i = 0; i < NSTMTS && rc == 0; i++) {
        if (expand(s_stmts[i].sql, self->schema, &sql)) {
            rc = -1;
            break;
        }
        PGresult *r = PQprepare(self->db, s_stmts[i].name, sql.data, s_stmts[i].nparams, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            pl_warn("webhook outbox not ready", "source=%s stmt=%s err=\"%s\"", self->schema,
                    s_stmts[i].name, PQerrorMessage(self->db));
            rc = -1;
        }
        PQclear(r);
    }
    pl_buf_free(&sql);
    return rc;
}

int hooks_source_ready(hooks_source_t *self)
{
    if (self->ready && PQstatus(self->db) == CONNECTION_OK)
        return 1;
    int64_t now = pl_mono_ms();
    if (now < self->next_try_ms)
        return 0;
    self->next_try_ms = now + RECONNECT_MS;
    self->ready = 0;
    if (self->db)
        PQfinish(self->db);
    char app[48];
    snprintf(app, sizeof app, "parley-hooks-%s", self->schema);
    /* The service creates the tables (its migrations); until it has, preparing fails
       and this is tried again. */
    self->db = pl_pg_connect(self->dsn, app, CONNECT_WAIT_MS);
    if (!self->db || prepare(self)) {
        if (self->db)
            PQfinish(self->db);
        self->db = NULL;
        return 0;
    }
    self->ready = 1;
    pl_info("webhook outbox ready", "source=%s", self->schema);
    return 1;
}

/* A failed statement: the connection is checked again before the next use. */
static PGresult *run(hooks_source_t *self, const char *name, const pl_pg_params_t *p)
{
    PGresult *r = pl_pg_run_params(self->db, name, p);
    if (!r && PQstatus(self->db) != CONNECTION_OK)
        self->ready = 0;
    return r;
}

int hooks_source_claim(hooks_source_t *self, const hooks_cfg_t *cfg, int max, hooks_row_t *rows,
                       pl_buf_t *bodies)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, max);
    pl_pg_param_int(&p, cfg->lease_ms);
    PGresult *r = run(self, "claim", &p);
    if (!r)
        return -1;
    int n = 0;
    for (int i = 0; i < PQntuples(r) && n < max; i++) {
        hooks_row_t *row = &rows[n];
        memset(row, 0, sizeof *row);
        row->id = pl_pg_int(r, i, 0);
        row->attempts = pl_pg_int(r, i, 1);
        row->created_us = pl_pg_int(r, i, 6);
        row->src = self->idx;
        snprintf(row->event_id, sizeof row->event_id, "%s", PQgetvalue(r, i, 2));
        snprintf(row->type, sizeof row->type, "%s", PQgetvalue(r, i, 3));
        if (hooks_body(&bodies[n], PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4),
                       PQgetvalue(r, i, 5)) != 0) {
            /* Not ours to send: it waits as a dead letter for someone to look at. */
            pl_error("webhook row malformed", "source=%s id=%lld", self->schema,
                     (long long)row->id);
            (void)hooks_source_done(self, cfg, row, 0, "malformed outbox row", -1);
            continue;
        }
        n++;
    }
    PQclear(r);
    return n;
}

int hooks_source_done(hooks_source_t *self, const hooks_cfg_t *cfg, const hooks_row_t *row, int ok,
                      const char *error, int64_t backoff_ms)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, row->id);
    pl_pg_param_int(&p, row->attempts);
    const char *stmt = "delivered";
    int dead = 0;
    if (!ok) {
        dead = backoff_ms < 0 || row->attempts >= cfg->max_attempts;
        pl_pg_param_cstr(&p, error);
        if (!dead)
            pl_pg_param_int(&p, backoff_ms);
        stmt = dead ? "dead" : "retry";
    }
    PGresult *r = run(self, stmt, &p);
    if (!r)
        return -1;
    int moved = dead && PQntuples(r) == 1;
    PQclear(r);
    return moved;
}

int hooks_source_depth(hooks_source_t *self, int64_t *depth, double *oldest_s, int64_t *dead)
{
    pl_pg_params_t none = {.n = 0};
    PGresult *r = run(self, "depth", &none);
    if (!r)
        return -1;
    *depth = pl_pg_int(r, 0, 0);
    *oldest_s = strtod(PQgetvalue(r, 0, 1), NULL);
    *dead = pl_pg_int(r, 0, 2);
    PQclear(r);
    return 0;
}

int hooks_source_prune(hooks_source_t *self, const hooks_cfg_t *cfg)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, cfg->dead_retention_days);
    PGresult *r = run(self, "prune", &p);
    if (!r)
        return -1;
    const char *n = PQcmdTuples(r);
    if (n[0] && strcmp(n, "0") != 0)
        pl_info("dead letters pruned", "source=%s rows=%s", self->schema, n);
    PQclear(r);
    return 0;
}
