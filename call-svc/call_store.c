/*  call_store: call-svc's SQL (see call_store.h). Prepared statements only: user
    input never becomes SQL text. Text parameters go in binary format with explicit
    lengths (exactly the bytes received); numbers go as decimal text.
    Times come from clock_timestamp(), the database's clock, so every instance's
    timers agree whatever their own clocks say. */
#include "call_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_pg_array.h"
#include "pl_webhook.h"

#define US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

/* The columns every statement that lists calls returns, in call_row_t order. */
#define CALL_COLS                                                                        \
    "c.id, c.caller_id, c.caller_role, c.caller_gw, c.caller_cn, c.callee_id,"           \
    " c.callee_role, c.callee_gw, c.callee_cn, c.media, c.conversation_id, c.state,"     \
    " c.end_reason, c.ended_by, " US("c.created_at") ", " US("c.answered_at") ", "       \
    US("c.ended_at") ", c.caller_detached, c.callee_detached"
enum {
    CC_ID = 0, CC_CALLER, CC_CALLER_ROLE, CC_CALLER_GW, CC_CALLER_CN, CC_CALLEE,
    CC_CALLEE_ROLE, CC_CALLEE_GW, CC_CALLEE_CN, CC_MEDIA, CC_CONV, CC_STATE, CC_END_REASON,
    CC_ENDED_BY, CC_CREATED, CC_ANSWERED, CC_ENDED, CC_CALLER_DET, CC_CALLEE_DET
};

#define MS_FROM_NOW(p) "clock_timestamp() + " p "::bigint * interval '1 millisecond'"

/* Offers for the mentors $1 (text[]) up to $2 live offers each: the waiting requests
   naming them, then (when $3, or, with $3 NULL, when help_mentors lists them) those
   naming nobody, oldest first, that they were never offered and did not ask
   themselves. ON CONFLICT DO NOTHING waits for a concurrent insert of the same offer
   and then skips it: two instances reacting to the same presence event offer once.
   FOR SHARE on the requests picked waits for a transaction closing one of them (its
   UPDATE holds the row) and then skips it, as it no longer waits: without it, an
   offer made to a request whose close had not committed yet would never be closed,
   and would take a place on the mentor's page for good.
   Rows: request id, student_id, topic, message (NULL = none), mentor_id, student_name
   (NULL = none). */
#define HELP_REFILL                                                                      \
    "WITH ms AS (SELECT DISTINCT m AS mentor_id FROM unnest($1::text[]) m),"              \
    " pick AS (SELECT p.id, ms.mentor_id FROM ms CROSS JOIN LATERAL"                     \
    "   (SELECT r.id FROM call.help_requests r"                                          \
    "     WHERE r.state = 'waiting' AND r.expires_at > clock_timestamp()"                \
    "       AND r.student_id <> ms.mentor_id"                                            \
    "       AND (r.mentor_id = ms.mentor_id OR (r.mentor_id IS NULL AND coalesce($3::boolean," \
    "         EXISTS (SELECT 1 FROM call.help_mentors a WHERE a.mentor_id = ms.mentor_id))))" \
    "       AND NOT EXISTS (SELECT 1 FROM call.help_offers o"                            \
    "                        WHERE o.request_id = r.id AND o.mentor_id = ms.mentor_id)"  \
    "     ORDER BY r.mentor_id IS NULL, r.id"                                            \
    "     LIMIT greatest(0, $2::int - (SELECT count(*) FROM call.help_offers o"          \
    "       WHERE o.mentor_id = ms.mentor_id AND o.closed_at IS NULL"                    \
    "         AND o.declined_at IS NULL))"                                               \
    "     FOR SHARE OF r) p),"                                                           \
    " ins AS (INSERT INTO call.help_offers(request_id, mentor_id)"                       \
    "   SELECT id, mentor_id FROM pick ON CONFLICT DO NOTHING RETURNING request_id, mentor_id)" \
    " SELECT r.id, r.student_id, r.topic, r.message, ins.mentor_id, r.student_name"      \
    "   FROM ins JOIN call.help_requests r ON r.id = ins.request_id"                     \
    "  ORDER BY ins.mentor_id, r.id"

/* A help request as the API shows it (call_pack_request; columns HO_* of call_store.h),
   for the API's listing and the webhook events alike. */
#define HELP_OBJECT_COLS                                                                           \
    "r.id, r.student_id, r.topic, r.message, r.mentor_id, r.state, r.accepted_by, "               \
    US("r.created_at") ", " US("r.accepted_at") ", " US("r.expires_at") ", r.student_name"

const pl_stmt_t call_stmts[] = {
    /* Two advisory locks in one statement: target entries are evaluated left to
       right, and the caller passes the ids sorted, so instances never deadlock. */
    {"lock_users", "SELECT pg_advisory_xact_lock(hashtext('parley.call.user'), hashtext($1)),"
                   " pg_advisory_xact_lock(hashtext('parley.call.user'), hashtext($2))", 2},
    {"busy", "SELECT EXISTS(SELECT 1 FROM call.calls WHERE caller_id = $1"
             "   AND state IN ('ringing', 'active'))"
             " OR EXISTS(SELECT 1 FROM call.calls WHERE callee_id = $1 AND state = 'active'),"
             " EXISTS(SELECT 1 FROM call.calls WHERE caller_id = $2"
             "   AND state IN ('ringing', 'active'))"
             " OR EXISTS(SELECT 1 FROM call.calls WHERE callee_id = $2"
             "   AND state IN ('ringing', 'active'))", 2},
    /* A probe of help_open_student per direction (state 'accepted' implies its
       predicate). */
    {"help_partners",
     "SELECT EXISTS(SELECT 1 FROM call.help_requests WHERE state = 'accepted'"
     " AND ((student_id = $1 AND accepted_by = $2) OR (student_id = $2 AND accepted_by = $1)))",
     2},
    {"insert_call",
     "INSERT INTO call.calls(caller_id, caller_role, caller_gw, caller_cn, callee_id, media,"
     " conversation_id, state, end_reason, ended_at, ring_due)"
     " VALUES ($1, $2, $3, $4::bigint, $5, $6, $7::bigint, $8::text,"
     " CASE WHEN $8::text <> 'ringing' THEN $8::text END,"
     " CASE WHEN $8::text <> 'ringing' THEN clock_timestamp() END,"
     " CASE WHEN $8::text = 'ringing' THEN " MS_FROM_NOW("$9") " END) RETURNING id", 9},
    {"get_call", "SELECT " CALL_COLS " FROM call.calls c WHERE c.id = $1::bigint", 1},
    {"accept_call",
     "UPDATE call.calls c SET state = 'active', answered_at = clock_timestamp(),"
     " callee_role = $3, callee_gw = $4, callee_cn = $5::bigint, ring_due = NULL"
     " WHERE c.id = $1::bigint AND c.callee_id = $2 AND c.state = 'ringing'"
     " AND c.ring_due > clock_timestamp() RETURNING " CALL_COLS, 5},
    {"end_ringing",
     "UPDATE call.calls c SET state = $2::text, end_reason = $2::text, ended_by = $3,"
     " end_detail = $4, ended_at = clock_timestamp(), ring_due = NULL"
     " WHERE c.id = $1::bigint AND c.state = 'ringing' RETURNING " CALL_COLS, 4},
    {"end_active",
     "UPDATE call.calls c SET state = 'ended', end_reason = $2, ended_by = $3,"
     " end_detail = $4, ended_at = clock_timestamp(), grace_due = NULL"
     " WHERE c.id = $1::bigint AND c.state = 'active' RETURNING " CALL_COLS, 4},
    /* SET expressions read the old row: the timer stays only for the other side. */
    {"rebind",
     "UPDATE call.calls c SET"
     " caller_gw = CASE WHEN $2::int = 0 THEN $3 ELSE caller_gw END,"
     " caller_cn = CASE WHEN $2::int = 0 THEN $4::bigint ELSE caller_cn END,"
     " caller_detached = CASE WHEN $2::int = 0 THEN false ELSE caller_detached END,"
     " callee_gw = CASE WHEN $2::int = 1 THEN $3 ELSE callee_gw END,"
     " callee_cn = CASE WHEN $2::int = 1 THEN $4::bigint ELSE callee_cn END,"
     " callee_detached = CASE WHEN $2::int = 1 THEN false ELSE callee_detached END,"
     " grace_due = CASE WHEN (CASE WHEN $2::int = 0 THEN callee_detached"
     "   ELSE caller_detached END) THEN grace_due END"
     " WHERE c.id = $1::bigint AND c.state = 'active'", 4},
    {"cancel_by_conn",
     "UPDATE call.calls c SET state = 'cancelled', end_reason = 'cancelled',"
     " ended_by = caller_id, ended_at = clock_timestamp(), ring_due = NULL"
     " WHERE c.caller_gw = $1 AND c.caller_cn = $2::bigint AND c.state = 'ringing'"
     " RETURNING " CALL_COLS, 2},
    {"detach_by_conn",
     "UPDATE call.calls c SET"
     " caller_detached = caller_detached OR (caller_gw = $1 AND caller_cn = $2::bigint),"
     " callee_detached = callee_detached OR (callee_gw = $1 AND callee_cn = $2::bigint),"
     " grace_due = coalesce(grace_due, " MS_FROM_NOW("$4") ")"
     " WHERE c.state = 'active' AND ((c.caller_gw = $1 AND c.caller_cn = $2::bigint)"
     "   OR (c.callee_gw = $1 AND c.callee_cn = $2::bigint)"
     "   OR (c.caller_detached AND c.caller_id = $3) OR (c.callee_detached AND c.callee_id = $3))",
     4},
    {"due_missed",
     "UPDATE call.calls c SET state = 'missed', end_reason = 'missed',"
     " ended_at = clock_timestamp(), ring_due = NULL"
     " FROM (SELECT id FROM call.calls WHERE state = 'ringing' AND ring_due <= clock_timestamp()"
     "   ORDER BY ring_due LIMIT $1::bigint FOR UPDATE SKIP LOCKED) d"
     " WHERE c.id = d.id RETURNING " CALL_COLS, 1},
    {"due_grace",
     "SELECT " CALL_COLS " FROM call.calls c WHERE c.state = 'active'"
     " AND c.grace_due <= clock_timestamp() ORDER BY c.grace_due LIMIT $1::bigint"
     " FOR UPDATE SKIP LOCKED", 1},
    {"keep_call", "UPDATE call.calls SET grace_due = NULL WHERE id = $1::bigint"
                  " AND state = 'active'", 1},
    {"history", "SELECT " CALL_COLS " FROM call.calls c WHERE c.caller_id = $1"
                " OR c.callee_id = $1 ORDER BY c.id DESC LIMIT $2::bigint", 2},
    /* the server API (call_api.c): open help requests, oldest first */
    {"help_open", "SELECT " HELP_OBJECT_COLS " FROM call.help_requests r"
                  " WHERE r.state IN ('waiting', 'accepted') AND ($1::text IS NULL OR r.state = $1)"
                  " ORDER BY r.id LIMIT $2::bigint", 2},
    {"help_one", "SELECT " HELP_OBJECT_COLS " FROM call.help_requests r WHERE r.id = $1::bigint",
     1},
    /* help requests */
    {"help_insert",
     "INSERT INTO call.help_requests(student_id, topic, message, mentor_id, state, expires_at,"
     "  student_name)"
     " VALUES ($1, $2, $3, $4, 'waiting', " MS_FROM_NOW("$5") ", $6)"
     /* the student's open request (help_open_student): no row back */
     " ON CONFLICT (student_id) WHERE state IN ('waiting', 'accepted') DO NOTHING"
     " RETURNING id", 6},
    {"help_get",
     "SELECT r.id, r.student_id, r.mentor_id, r.state, r.accepted_by,"
     " o.mentor_id IS NOT NULL, o.declined_at IS NOT NULL, r.student_name"
     " FROM call.help_requests r LEFT JOIN call.help_offers o"
     " ON o.request_id = r.id AND o.mentor_id = $2 WHERE r.id = $1::bigint", 2},
    {"help_accept",
     "UPDATE call.help_requests r SET state = 'accepted', accepted_by = $2,"
     " accepted_at = clock_timestamp()"
     " WHERE r.id = $1::bigint AND r.state = 'waiting' AND r.expires_at > clock_timestamp()"
     " AND EXISTS(SELECT 1 FROM call.help_offers o WHERE o.request_id = r.id"
     "   AND o.mentor_id = $2 AND o.declined_at IS NULL) RETURNING r.id", 2},
    {"help_close",
     "UPDATE call.help_requests SET state = $2, ended_by = $3, ended_at = clock_timestamp()"
     " WHERE id = $1::bigint AND state = 'waiting' RETURNING id", 3},
    {"help_decline", "UPDATE call.help_offers SET declined_at = clock_timestamp()"
                     " WHERE request_id = $1::bigint AND mentor_id = $2 AND declined_at IS NULL",
     2},
    {"help_end",
     "UPDATE call.help_requests SET state = 'ended', ended_by = $2, ended_at = clock_timestamp()"
     " WHERE id = $1::bigint AND state = 'accepted' AND $2 IN (student_id, accepted_by)"
     " RETURNING id", 2},
    /* Every offer of request $1 closes (the request left `waiting`). Rows: each mentor
       who held one, and whether it was live (not declined). */
    {"help_close_offers",
     "UPDATE call.help_offers SET closed_at = clock_timestamp()"
     " WHERE request_id = $1::bigint AND closed_at IS NULL"
     " RETURNING mentor_id, declined_at IS NULL", 1},
    /* Per-mentor locks for help_refill, in one order (text order of the ids) so that
       two statements locking overlapping sets never wait on each other in a cycle. */
    {"help_lock_mentors",
     "SELECT pg_advisory_xact_lock(hashtext('parley.call.offers'), hashtext(s.m))"
     " FROM (SELECT DISTINCT m FROM unnest($1::text[]) m ORDER BY m) s", 1},
    {"help_refill", HELP_REFILL, 3},
    /* Presence's events reach every instance, and one may handle a mentor's earlier
       `available` after another instance committed their accept: a mentor in a help
       session or a call is never put back here by it (the session's end brings the
       status that does). */
    {"help_mentor_on", "INSERT INTO call.help_mentors(mentor_id) SELECT $1"
                       " WHERE NOT EXISTS(SELECT 1 FROM call.help_requests"
                       "   WHERE accepted_by = $1 AND state = 'accepted')"
                       "  AND NOT EXISTS(SELECT 1 FROM call.calls WHERE state = 'active'"
                       "   AND (caller_id = $1 OR callee_id = $1))"
                       " ON CONFLICT DO NOTHING", 1},
    {"help_mentor_off", "DELETE FROM call.help_mentors WHERE mentor_id = $1", 1},
    {"help_due",
     "UPDATE call.help_requests r SET state = 'expired', ended_at = clock_timestamp()"
     " FROM (SELECT id FROM call.help_requests WHERE state = 'waiting'"
     "   AND expires_at <= clock_timestamp() ORDER BY expires_at LIMIT $1::bigint"
     "   FOR UPDATE SKIP LOCKED) d"
     " WHERE r.id = d.id RETURNING r.id, r.student_id", 1},
    /* webhooks (service/pl_webhook.c) */
    PL_WEBHOOK_STMTS("call"),
    {NULL, NULL, 0}};

/* ---- parameters ------------------------------------------------------------------ */

/* An id that may be absent: 0 is SQL NULL. */
static void p_id_or_null(pl_pg_params_t *p, int64_t x)
{
    if (x) {
        pl_pg_param_int(p, x);
        return;
    }
    pl_pg_param_null(p);
}

/* Run a statement whose result is not needed. */
static int run_void(PGconn *db, const char *stmt, pl_pg_params_t *p)
{
    PGresult *r = pl_pg_run_params(db, stmt, p);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

static void copy_text(char *out, size_t cap, const PGresult *r, int row, int col)
{
    snprintf(out, cap, "%s", PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

static int is_true(const PGresult *r, int row, int col)
{
    return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}

/* ---- calls ----------------------------------------------------------------------- */

int64_t call_duration_s(const call_row_t *c)
{
    if (!c->answered_us || !c->ended_us)
        return -1;
    int64_t d = c->ended_us - c->answered_us;
    return d < 0 ? 0 : (d + 500000) / 1000000;
}

void call_store_row(const PGresult *r, int i, call_row_t *out)
{
    memset(out, 0, sizeof *out);
    out->id = pl_pg_int(r, i, CC_ID);
    copy_text(out->uid[CALL_CALLER], sizeof out->uid[0], r, i, CC_CALLER);
    copy_text(out->role[CALL_CALLER], sizeof out->role[0], r, i, CC_CALLER_ROLE);
    copy_text(out->gw[CALL_CALLER], sizeof out->gw[0], r, i, CC_CALLER_GW);
    out->cn[CALL_CALLER] = (uint64_t)pl_pg_int(r, i, CC_CALLER_CN);
    copy_text(out->uid[CALL_CALLEE], sizeof out->uid[0], r, i, CC_CALLEE);
    copy_text(out->role[CALL_CALLEE], sizeof out->role[0], r, i, CC_CALLEE_ROLE);
    copy_text(out->gw[CALL_CALLEE], sizeof out->gw[0], r, i, CC_CALLEE_GW);
    out->cn[CALL_CALLEE] = (uint64_t)pl_pg_int(r, i, CC_CALLEE_CN);
    copy_text(out->media, sizeof out->media, r, i, CC_MEDIA);
    out->conversation_id = pl_pg_int(r, i, CC_CONV);
    copy_text(out->state, sizeof out->state, r, i, CC_STATE);
    copy_text(out->end_reason, sizeof out->end_reason, r, i, CC_END_REASON);
    copy_text(out->ended_by, sizeof out->ended_by, r, i, CC_ENDED_BY);
    out->created_us = pl_pg_int(r, i, CC_CREATED);
    out->answered_us = pl_pg_int(r, i, CC_ANSWERED);
    out->ended_us = pl_pg_int(r, i, CC_ENDED);
    out->detached[CALL_CALLER] = is_true(r, i, CC_CALLER_DET);
    out->detached[CALL_CALLEE] = is_true(r, i, CC_CALLEE_DET);
}

/* Run a statement that returns at most one call: *got tells whether it did. */
static int one_call(PGconn *db, const char *stmt, pl_pg_params_t *p, call_row_t *out, int *got)
{
    PGresult *r = pl_pg_run_params(db, stmt, p);
    if (!r)
        return -1;
    *got = PQntuples(r) == 1;
    if (*got)
        call_store_row(r, 0, out);
    PQclear(r);
    return 0;
}

int call_store_lock_users(PGconn *db, const char *a, const char *b)
{
    pl_pg_params_t p = {.n = 0};
    int ordered = strcmp(a, b) <= 0;
    pl_pg_param_cstr(&p, ordered ? a : b);
    pl_pg_param_cstr(&p, ordered ? b : a);
    return run_void(db, "lock_users", &p);
}

int call_store_busy(PGconn *db, const char *caller, const char *callee, int *caller_busy,
                    int *callee_busy)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_cstr(&p, caller);
    pl_pg_param_cstr(&p, callee);
    PGresult *r = pl_pg_run_params(db, "busy", &p);
    if (!r)
        return -1;
    *caller_busy = is_true(r, 0, 0);
    *callee_busy = is_true(r, 0, 1);
    PQclear(r);
    return 0;
}

int call_store_help_partners(PGconn *db, const char *a, const char *b, int *partners)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_cstr(&p, a);
    pl_pg_param_cstr(&p, b);
    PGresult *r = pl_pg_run_params(db, "help_partners", &p);
    if (!r)
        return -1;
    *partners = is_true(r, 0, 0);
    PQclear(r);
    return 0;
}

int call_store_insert(PGconn *db, const call_new_t *c, int64_t *id)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_cstr(&p, c->caller);
    pl_pg_param_cstr(&p, c->caller_role);
    pl_pg_param_cstr(&p, c->caller_gw);
    pl_pg_param_int(&p, (int64_t)c->caller_cn);
    pl_pg_param_cstr(&p, c->callee);
    pl_pg_param_cstr(&p, c->media);
    p_id_or_null(&p, c->conversation_id);
    pl_pg_param_cstr(&p, c->state);
    pl_pg_param_int(&p, c->ring_ms);
    PGresult *r = pl_pg_run_params(db, "insert_call", &p);
    if (!r)
        return -1;
    *id = pl_pg_int(r, 0, 0);
    PQclear(r);
    return 0;
}

int call_store_get(PGconn *db, int64_t id, call_row_t *out, int *found)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, id);
    return one_call(db, "get_call", &p, out, found);
}

int call_store_accept(PGconn *db, int64_t id, const char *callee, const char *role,
                      const char *gw, uint64_t cn, call_row_t *out, int *won)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, id);
    pl_pg_param_cstr(&p, callee);
    pl_pg_param_cstr(&p, role);
    pl_pg_param_cstr(&p, gw);
    pl_pg_param_int(&p, (int64_t)cn);
    return one_call(db, "accept_call", &p, out, won);
}

int call_store_end_ringing(PGconn *db, int64_t id, const char *state, const char *by,
                           const char *detail, size_t detail_len, call_row_t *out, int *won)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, id);
    pl_pg_param_cstr(&p, state);
    pl_pg_param_cstr(&p, by);
    pl_pg_param_bytes(&p, detail, detail_len);
    return one_call(db, "end_ringing", &p, out, won);
}

int call_store_end_active(PGconn *db, int64_t id, const char *reason, const char *by,
                          const char *detail, size_t detail_len, call_row_t *out, int *won)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, id);
    pl_pg_param_cstr(&p, reason);
    pl_pg_param_cstr(&p, by);
    pl_pg_param_bytes(&p, detail, detail_len);
    return one_call(db, "end_active", &p, out, won);
}

int call_store_rebind(PGconn *db, int64_t id, call_side_t side, const char *gw, uint64_t cn)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, id);
    pl_pg_param_int(&p, side);
    pl_pg_param_cstr(&p, gw);
    pl_pg_param_int(&p, (int64_t)cn);
    return run_void(db, "rebind", &p);
}

PGresult *call_store_cancel_by_conn(PGconn *db, const char *gw, uint64_t cn)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_cstr(&p, gw);
    pl_pg_param_int(&p, (int64_t)cn);
    return pl_pg_run_params(db, "cancel_by_conn", &p);
}

int call_store_detach_by_conn(PGconn *db, const char *gw, uint64_t cn, const char *uid,
                              int64_t grace_ms)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_cstr(&p, gw);
    pl_pg_param_int(&p, (int64_t)cn);
    pl_pg_param_cstr(&p, uid);
    pl_pg_param_int(&p, grace_ms);
    return run_void(db, "detach_by_conn", &p);
}

PGresult *call_store_due_missed(PGconn *db, int limit)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, limit);
    return pl_pg_run_params(db, "due_missed", &p);
}

PGresult *call_store_due_grace(PGconn *db, int limit)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, limit);
    return pl_pg_run_params(db, "due_grace", &p);
}

int call_store_keep(PGconn *db, int64_t id)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, id);
    return run_void(db, "keep_call", &p);
}

PGresult *call_store_history(PGconn *db, const char *uid, int64_t limit)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_cstr(&p, uid);
    pl_pg_param_int(&p, limit);
    return pl_pg_run_params(db, "history", &p);
}

/* ---- help requests --------------------------------------------------------------- */

int call_help_store_insert(PGconn *db, const char *student, const char *student_name,
                           call_text_t topic, call_text_t message, call_text_t mentor,
                           int64_t timeout_ms, int64_t *id)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_cstr(&p, student);
    pl_pg_param_bytes(&p, topic.ptr, topic.len);
    pl_pg_param_bytes(&p, message.ptr, message.len);
    pl_pg_param_bytes(&p, mentor.ptr, mentor.len);
    pl_pg_param_int(&p, timeout_ms);
    pl_pg_param_bytes(&p, student_name[0] ? student_name : NULL, strlen(student_name));
    PGresult *r = pl_pg_run_params(db, "help_insert", &p);
    if (!r)
        return -1;
    *id = PQntuples(r) == 1 ? pl_pg_int(r, 0, 0) : 0;
    PQclear(r);
    return 0;
}

int call_help_store_get(PGconn *db, int64_t id, const char *uid, help_row_t *out, int *found)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, id);
    pl_pg_param_cstr(&p, uid);
    PGresult *r = pl_pg_run_params(db, "help_get", &p);
    if (!r)
        return -1;
    *found = PQntuples(r) == 1;
    if (*found) {
        memset(out, 0, sizeof *out);
        out->id = pl_pg_int(r, 0, 0);
        copy_text(out->student_id, sizeof out->student_id, r, 0, 1);
        copy_text(out->mentor_id, sizeof out->mentor_id, r, 0, 2);
        copy_text(out->state, sizeof out->state, r, 0, 3);
        copy_text(out->accepted_by, sizeof out->accepted_by, r, 0, 4);
        out->offered = is_true(r, 0, 5);
        out->declined = is_true(r, 0, 6);
        copy_text(out->student_name, sizeof out->student_name, r, 0, 7);
    }
    PQclear(r);
    return 0;
}

/* Run a guarded update that returns the row id when it won. */
static int guarded(PGconn *db, const char *stmt, pl_pg_params_t *p, int *won)
{
    PGresult *r = pl_pg_run_params(db, stmt, p);
    if (!r)
        return -1;
    *won = PQntuples(r) == 1;
    PQclear(r);
    return 0;
}

int call_help_store_accept(PGconn *db, int64_t id, const char *mentor, int *won)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, id);
    pl_pg_param_cstr(&p, mentor);
    return guarded(db, "help_accept", &p, won);
}

int call_help_store_close(PGconn *db, int64_t id, const char *state, const char *by, int *won)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, id);
    pl_pg_param_cstr(&p, state);
    pl_pg_param_cstr(&p, by);
    return guarded(db, "help_close", &p, won);
}

int call_help_store_decline(PGconn *db, int64_t id, const char *mentor)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, id);
    pl_pg_param_cstr(&p, mentor);
    return run_void(db, "help_decline", &p);
}

int call_help_store_end(PGconn *db, int64_t id, const char *by, int *won)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, id);
    pl_pg_param_cstr(&p, by);
    return guarded(db, "help_end", &p, won);
}

PGresult *call_help_store_close_offers(PGconn *db, int64_t id)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, id);
    return pl_pg_run_params(db, "help_close_offers", &p);
}

PGresult *call_help_store_refill(PGconn *db, const call_text_t *mentors, size_t n, int64_t page,
                            int available)
{
    if (n == 0)
        return PQmakeEmptyPGresult(db, PGRES_TUPLES_OK);
    pl_pg_array_t arr;
    pl_pg_array_init(&arr, PL_PG_TEXT);
    for (size_t i = 0; i < n; i++)
        pl_pg_array_bytes(&arr, mentors[i].ptr, mentors[i].len);
    PGresult *r = NULL;
    pl_pg_params_t lock = {.n = 0};
    if (pl_pg_array_param(&arr, &lock) == 0 && run_void(db, "help_lock_mentors", &lock) == 0) {
        pl_pg_params_t p = {.n = 0};
        pl_pg_array_param(&arr, &p); /* the same array, finished already */
        pl_pg_param_int(&p, page);
        if (available < 0)
            pl_pg_param_null(&p);
        else
            pl_pg_param_bool(&p, available);
        r = pl_pg_run_params(db, "help_refill", &p);
    }
    pl_pg_array_free(&arr);
    return r;
}

int call_help_store_mentor_available(PGconn *db, const char *mentor, int available)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_cstr(&p, mentor);
    return run_void(db, available ? "help_mentor_on" : "help_mentor_off", &p);
}

PGresult *call_help_store_due(PGconn *db, int limit)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, limit);
    return pl_pg_run_params(db, "help_due", &p);
}

/* ---- the server API (call_api.c) ---------------------------------------------- */

PGresult *call_help_store_open(PGconn *db, const char *state, int64_t limit)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_bytes(&p, state, state ? strlen(state) : 0); /* NULL: SQL NULL, both */
    pl_pg_param_int(&p, limit);
    return pl_pg_run_params(db, "help_open", &p);
}

PGresult *call_help_store_one(PGconn *db, int64_t id)
{
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, id);
    return pl_pg_run_params(db, "help_one", &p);
}
