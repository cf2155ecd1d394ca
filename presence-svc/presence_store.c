/*  presence_store: presence-svc's SQL (see presence_store.h). Prepared statements only:
    user input never becomes SQL text. Text parameters go in binary format with
    explicit lengths, so values need no NUL terminator and pass exactly as received.
    Each change is one round trip to a function of presence_schema.c. */
#include "presence_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_log.h"
#include "pl_pg_array.h"
#include "pl_webhook.h"

#define CHANGE                                                                                     \
    "SELECT kind, user_id, role, name, status, status_message, last_seen_us, conns,"               \
    " old_status, old_message, old_conns, self_status, gw, cn FROM "
/* Notices per pipeline sync: a blocking libpq connection that writes far more than the
   server's results can buffer could wait on a server waiting on it; 32 notices and
   their results stay well inside the socket buffers. */
#define NOTICES_PER_SYNC 32
#define LAST_SEEN_US "(extract(epoch FROM u.last_seen) * 1000000)::bigint"
#define EFFECTIVE "presence.effective(u.online, u.chosen_status, u.busy_refs)"
#define ISO_UTC(col)                                                                               \
    "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
#define STR_(x) #x
#define STR(x) STR_(x)

const pl_stmt_t presence_stmts[] = {
    {"conn_open", CHANGE "presence.conn_open($1, $2::bigint, $3, $4, $5, $6::int)", 6},
    {"conn_close", CHANGE "presence.conn_close($1, $2::bigint, $3, $4::int)", 4},
    {"set_status", CHANGE "presence.set_status($1, $2, $3, $4)", 4},
    {"activity", CHANGE "presence.activity($1, $2, $3::boolean)", 3},
    {"fire_grace", CHANGE "presence.fire_grace($1::int)", 1},
    {"expire_leases", CHANGE "presence.expire_leases($1::bigint, $2::int, $3::int)", 3},
    {"reconcile",
     CHANGE "presence.reconcile($1, $2::bigint, $3::bigint, $4::bigint[], $5::text[], $6::text[],"
            " $7::text[], $8::int, $9::int)",
     9},
    {"lease",
     "INSERT INTO presence.gateways(gw, lease_expires_at, ttl_ms)"
     " VALUES ($1, now() + $2::int * interval '1 millisecond', $2::int)"
     " ON CONFLICT (gw) DO UPDATE SET lease_expires_at = EXCLUDED.lease_expires_at,"
     " ttl_ms = EXCLUDED.ttl_ms",
     2},
    /* the server API (presence_api.c) */
    {"user_conns", "SELECT count(*) FROM presence.connections WHERE user_id = $1", 1},
    {"revoke",
     "INSERT INTO presence.revocations(user_id, before_s) VALUES ($1, $2::bigint)"
     " ON CONFLICT (user_id) DO UPDATE"
     " SET before_s = GREATEST(presence.revocations.before_s, EXCLUDED.before_s)"
     " RETURNING before_s",
     2},
    {"revocations",
     "SELECT user_id, before_s FROM presence.revocations"
     " ORDER BY before_s DESC LIMIT " STR(PRES_REVOCATIONS_MAX),
     0},
    {"sweep", "DELETE FROM presence.closed WHERE closed_at < now() - interval '10 minutes'", 0},
    {"presence",
     "SELECT q.id, u.role,"
     " coalesce(" EFFECTIVE ", 'offline'), u.status_message, " LAST_SEEN_US ","
     " (SELECT count(*) FROM presence.connections c WHERE c.user_id = q.id),"
     " presence.effective(true, coalesce(u.chosen_status, 'online'),"
     "                    coalesce(u.busy_refs, 0))"
     " FROM unnest(string_to_array($1, E'\\x1f')) WITH ORDINALITY AS q(id, ord)"
     " LEFT JOIN presence.users u ON u.user_id = q.id ORDER BY q.ord",
     1},
    {"mentors",
     "SELECT u.user_id, u.name, " EFFECTIVE ", u.status_message, " LAST_SEEN_US
     " FROM presence.users u WHERE u.role = 'mentor'"
     " AND (NOT $1::boolean OR " EFFECTIVE " = 'available')"
     " ORDER BY u.user_id LIMIT " STR(PRES_MENTORS_MAX),
     1},
    {"available",
     "SELECT u.user_id FROM presence.users u WHERE u.role IN ('mentor', 'admin')"
     " AND " EFFECTIVE " = 'available'"
     " AND EXISTS (SELECT 1 FROM presence.connections c WHERE c.user_id = u.user_id)"
     " ORDER BY u.user_id LIMIT 1000",
     0},
    /* webhooks (service/pl_webhook.c): user.online / user.offline when the user's
       `online` flag (first connection .. grace timer fired) differs from what the
       last event said; the version grows with each event. A user's first event is
       an `online`. $1 is the user. */
    {"webhook_presence",
     "WITH cur AS (SELECT u.online, u.last_seen FROM presence.users u WHERE u.user_id = $1),"
     " v AS (INSERT INTO presence.webhook_versions AS w (user_id, version, online)"
     "   SELECT $1, 1, cur.online FROM cur WHERE cur.online"
     "     OR EXISTS (SELECT 1 FROM presence.webhook_versions x WHERE x.user_id = $1)"
     "   ON CONFLICT (user_id) DO UPDATE SET version = w.version + 1, online = EXCLUDED.online"
     "   WHERE w.online IS DISTINCT FROM (SELECT online FROM cur)"
     "   RETURNING w.version, w.online)"
     " INSERT INTO presence.webhook_outbox(type, user_key, data)"
     " SELECT CASE WHEN v.online THEN 'user.online' ELSE 'user.offline' END, $1,"
     "   json_build_object('user_id', $1::text, 'version', v.version, 'last_seen',"
     "     CASE WHEN v.online THEN NULL ELSE " ISO_UTC("cur.last_seen") " END)::text"
     " FROM v, cur",
     1},
    PL_WEBHOOK_STMTS("presence"),
    {NULL, NULL, 0}};

/* An empty C string is SQL NULL too: the envelope's absent name or role. */
static void p_cstr(pl_pg_params_t *p, const char *s)
{
    pl_pg_param_bytes(p, s && *s ? s : NULL, s ? strlen(s) : 0);
}

static const char *text_or_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

void presence_change_get(const PGresult *r, int row, presence_change_t *out)
{
    memset(out, 0, sizeof *out);
    out->kind = strcmp(PQgetvalue(r, row, 0), "gone") == 0 ? PRES_CHANGE_GONE : PRES_CHANGE_STATE;
    out->user_id = PQgetvalue(r, row, 1);
    out->role = text_or_null(r, row, 2);
    out->name = text_or_null(r, row, 3);
    out->status = PQgetvalue(r, row, 4);
    out->status_message = text_or_null(r, row, 5);
    out->has_last_seen = !PQgetisnull(r, row, 6);
    out->last_seen_us = pl_pg_int(r, row, 6);
    out->conns = (int)pl_pg_int(r, row, 7);
    out->old_status = PQgetvalue(r, row, 8);
    out->old_message = text_or_null(r, row, 9);
    out->old_conns = (int)pl_pg_int(r, row, 10);
    out->self_status = PQgetvalue(r, row, 11);
    out->gw = PQgetvalue(r, row, 12);
    out->cn = pl_pg_int(r, row, 13);
}

PGresult *presence_store_conn_open(PGconn *db, const char *gw, uint64_t cn, const char *uid,
                                   const char *role, const char *name, int64_t lease_ms)
{
    pl_pg_params_t p = {.n = 0};
    p_cstr(&p, gw);
    pl_pg_param_int(&p, (int64_t)cn);
    p_cstr(&p, uid);
    p_cstr(&p, role);
    p_cstr(&p, name);
    pl_pg_param_int(&p, lease_ms);
    return pl_pg_run_params(db, "conn_open", &p);
}

/* Send one notice's statement into the pipeline. 1 if sent. */
static int send_notice(PGconn *db, const presence_notice_t *v, int64_t lease_ms, int64_t grace_ms)
{
    pl_pg_params_t p = {.n = 0};
    p_cstr(&p, v->gw);
    pl_pg_param_int(&p, (int64_t)v->cn);
    p_cstr(&p, v->uid);
    if (v->open) {
        p_cstr(&p, v->role);
        p_cstr(&p, v->name);
        pl_pg_param_int(&p, lease_ms);
    } else {
        pl_pg_param_int(&p, grace_ms);
    }
    return PQsendQueryPrepared(db, v->open ? "conn_open" : "conn_close", p.n, p.v, p.len, p.fmt,
                               0);
}

/* One chunk [from, to) of notices: sent, synced, results read into out. 0 or -1. */
static int notices_chunk(PGconn *db, const presence_notice_t *v, size_t from, size_t to,
                         int64_t lease_ms, int64_t grace_ms, PGresult **out)
{
    size_t sent = 0;
    while (from + sent < to && send_notice(db, &v[from + sent], lease_ms, grace_ms))
        sent++;
    if (PQpipelineSync(db) != 1)
        return -1;
    int rc = sent == to - from ? 0 : -1;
    for (size_t i = 0; i < sent; i++) {
        PGresult *r = PQgetResult(db);
        if (!r)
            return -1; /* the connection broke */
        if (PQresultStatus(r) == PGRES_TUPLES_OK) {
            out[from + i] = r;
        } else {
            if (rc == 0 && PQresultStatus(r) != PGRES_PIPELINE_ABORTED)
                pl_error("database error", "op=conn_notices err=\"%.200s\"",
                         PQresultErrorMessage(r));
            PQclear(r);
            rc = -1;
        }
        while ((r = PQgetResult(db))) /* the NULL that ends each statement's results */
            PQclear(r);
    }
    PGresult *sync = PQgetResult(db);
    if (!sync || PQresultStatus(sync) != PGRES_PIPELINE_SYNC)
        rc = -1;
    PQclear(sync);
    return rc;
}

int presence_store_conn_notices(PGconn *db, const presence_notice_t *v, size_t n, int64_t lease_ms,
                                int64_t grace_ms, PGresult **out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    if (PQenterPipelineMode(db) != 1) {
        pl_error("database error", "op=conn_notices err=\"%s\"", "cannot enter pipeline mode");
        return -1;
    }
    int rc = 0;
    for (size_t from = 0; from < n && rc == 0; from += NOTICES_PER_SYNC) {
        size_t to = from + NOTICES_PER_SYNC < n ? from + NOTICES_PER_SYNC : n;
        rc = notices_chunk(db, v, from, to, lease_ms, grace_ms, out);
    }
    if (PQexitPipelineMode(db) != 1) {
        pl_error("database error", "op=conn_notices err=\"%.200s\"", PQerrorMessage(db));
        rc = -1;
    }
    if (rc != 0)
        for (size_t i = 0; i < n; i++) {
            PQclear(out[i]);
            out[i] = NULL;
        }
    return rc;
}

PGresult *presence_store_conn_close(PGconn *db, const char *gw, uint64_t cn, const char *uid,
                                    int64_t grace_ms)
{
    pl_pg_params_t p = {.n = 0};
    p_cstr(&p, gw);
    pl_pg_param_int(&p, (int64_t)cn);
    p_cstr(&p, uid);
    pl_pg_param_int(&p, grace_ms);
    return pl_pg_run_params(db, "conn_close", &p);
}

PGresult *presence_store_set_status(PGconn *db, const char *uid, const char *role,
                                    const char *status, presence_str_t message)
{
    pl_pg_params_t p = {.n = 0};
    p_cstr(&p, uid);
    p_cstr(&p, role);
    p_cstr(&p, status);
    pl_pg_param_bytes(&p, message.ptr, message.len);
    return pl_pg_run_params(db, "set_status", &p);
}

PGresult *presence_store_activity(PGconn *db, presence_str_t uid, presence_str_t ref, int busy)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_bytes(&p, uid.ptr, uid.len);
    pl_pg_param_bytes(&p, ref.ptr, ref.len);
    pl_pg_param_bool(&p, busy);
    return pl_pg_run_params(db, "activity", &p);
}

PGresult *presence_store_fire_grace(PGconn *db, int limit)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, limit);
    return pl_pg_run_params(db, "fire_grace", &p);
}

PGresult *presence_store_expire_leases(PGconn *db, int64_t listening_ms, int64_t grace_ms,
                                       int limit)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, listening_ms);
    pl_pg_param_int(&p, grace_ms);
    pl_pg_param_int(&p, limit);
    return pl_pg_run_params(db, "expire_leases", &p);
}

PGresult *presence_store_reconcile(PGconn *db, const char *gw, const presence_reconcile_t *rc,
                                   int64_t lease_ms, int64_t grace_ms)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_array_t cns, uids, roles, names;
    pl_pg_array_init(&cns, PL_PG_INT8);
    pl_pg_array_init(&uids, PL_PG_TEXT);
    pl_pg_array_init(&roles, PL_PG_TEXT);
    pl_pg_array_init(&names, PL_PG_TEXT);
    for (size_t i = 0; i < rc->n; i++) {
        pl_pg_array_int8(&cns, rc->conns[i].cn);
        pl_pg_array_bytes(&uids, rc->conns[i].uid.ptr, rc->conns[i].uid.len);
        pl_pg_array_bytes(&roles, rc->conns[i].role.ptr, rc->conns[i].role.len);
        pl_pg_array_bytes(&names, rc->conns[i].name.ptr, rc->conns[i].name.len);
    }
    p_cstr(&p, gw);
    pl_pg_param_int(&p, rc->lo);
    pl_pg_param_int(&p, rc->hi);
    PGresult *r = NULL;
    if (pl_pg_array_param(&cns, &p) == 0 && pl_pg_array_param(&uids, &p) == 0 &&
        pl_pg_array_param(&roles, &p) == 0 && pl_pg_array_param(&names, &p) == 0) {
        pl_pg_param_int(&p, lease_ms);
        pl_pg_param_int(&p, grace_ms);
        r = pl_pg_run_params(db, "reconcile", &p);
    }
    pl_pg_array_free(&cns);
    pl_pg_array_free(&uids);
    pl_pg_array_free(&roles);
    pl_pg_array_free(&names);
    return r;
}

static int run_command(PGconn *db, const char *stmt, pl_pg_params_t *p)
{
    PGresult *r = pl_pg_run_params(db, stmt, p);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

int presence_store_lease(PGconn *db, const char *gw, int64_t ttl_ms)
{
    pl_pg_params_t p = {.n = 0};
    p_cstr(&p, gw);
    pl_pg_param_int(&p, ttl_ms);
    return run_command(db, "lease", &p);
}

int presence_store_sweep(PGconn *db)
{
    pl_pg_params_t p = {.n = 0};
    return run_command(db, "sweep", &p);
}

PGresult *presence_store_presence(PGconn *db, presence_str_t ids)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_bytes(&p, ids.ptr ? ids.ptr : "", ids.len);
    return pl_pg_run_params(db, "presence", &p);
}

PGresult *presence_store_mentors(PGconn *db, int available_only)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_bool(&p, available_only);
    return pl_pg_run_params(db, "mentors", &p);
}

PGresult *presence_store_available(PGconn *db)
{
    pl_pg_params_t p = {.n = 0};
    return pl_pg_run_params(db, "available", &p);
}

/* ---- the server API (presence_api.c) ------------------------------------------ */

int presence_store_user_conns(PGconn *db, const char *uid, int64_t *n)
{
    pl_pg_params_t p = {.n = 0};
    p_cstr(&p, uid);
    PGresult *r = pl_pg_run_params(db, "user_conns", &p);
    if (!r)
        return -1;
    *n = pl_pg_int(r, 0, 0);
    PQclear(r);
    return 0;
}

int presence_store_revoke(PGconn *db, const char *uid, int64_t before_s, int64_t *out)
{
    pl_pg_params_t p = {.n = 0};
    p_cstr(&p, uid);
    pl_pg_param_int(&p, before_s);
    PGresult *r = pl_pg_run_params(db, "revoke", &p);
    if (!r)
        return -1;
    *out = pl_pg_int(r, 0, 0);
    PQclear(r);
    return 0;
}

PGresult *presence_store_revocations(PGconn *db)
{
    pl_pg_params_t p = {.n = 0};
    return pl_pg_run_params(db, "revocations", &p);
}
