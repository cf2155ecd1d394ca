/*  presence_store: every SQL statement of presence-svc, behind typed functions.
    The one thing to know: functions run inside the transaction the service runtime
    opened (a batch of requests, a tick, or a bus event); they return NULL/-1 only when
    the database failed (the runtime then rolls back and retries). Every change comes
    back as rows of `presence.change` (see presence_schema.c): the user after the
    change and what others saw before it, so the caller decides what to announce
    without a second query. */
#ifndef PRESENCE_STORE_H
#define PRESENCE_STORE_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "pl_pg.h"
#include "proto.h"

extern const pl_migration_t presence_migrations[];
extern const pl_stmt_t presence_stmts[];

/* A string that is not NUL-terminated (it points into a request). */
typedef struct {
    const char *ptr;
    size_t len;
} presence_str_t;

typedef enum { PRES_CHANGE_STATE = 0, PRES_CHANGE_GONE } presence_change_kind_t;

/* One row of a change result. Strings point into the PGresult (NULL for SQL NULL).
   A GONE row carries only user_id, role, name, gw and cn. */
typedef struct {
    presence_change_kind_t kind;
    const char *user_id, *role, *name;
    const char *status;         /* effective, after the change */
    const char *status_message; /* after */
    int has_last_seen;
    int64_t last_seen_us;
    int conns;
    const char *old_status, *old_message; /* what others saw before */
    int old_conns;
    const char *self_status; /* as one of the user's own live connections sees it */
    const char *gw;
    int64_t cn;
} presence_change_t;

/* Read row `row` of a change result. */
void presence_change_get(const PGresult *r, int row, presence_change_t *out);

/* Changes. Each returns a result of 0 or 1 change rows (0: nothing happened, e.g. a
   duplicate conn_open), several for the ticks; the caller PQclear()s it. */
PGresult *presence_store_conn_open(PGconn *db, const char *gw, uint64_t cn, const char *uid,
                                   const char *role, const char *name, int64_t lease_ms);
/* A conn_open (open = 1: role and name used) or conn_close of one connection. */
typedef struct {
    int open;
    const char *gw, *uid, *role, *name;
    uint64_t cn;
} presence_notice_t;

/* Several notices in order, in one round trip per 32 (pipeline mode): out[i] gets
   notice i's rows, as presence_store_conn_open / _close would return them. 0, or -1
   when the database failed (out all NULL). */
int presence_store_conn_notices(PGconn *db, const presence_notice_t *v, size_t n, int64_t lease_ms,
                                int64_t grace_ms, PGresult **out);
PGresult *presence_store_conn_close(PGconn *db, const char *gw, uint64_t cn, const char *uid,
                                    int64_t grace_ms);
/* message.ptr NULL clears it. role NULL keeps the stored one. */
PGresult *presence_store_set_status(PGconn *db, const char *uid, const char *role,
                                    const char *status, presence_str_t message);
PGresult *presence_store_activity(PGconn *db, presence_str_t uid, presence_str_t ref, int busy);
PGresult *presence_store_fire_grace(PGconn *db, int limit);
PGresult *presence_store_expire_leases(PGconn *db, int64_t listening_ms, int64_t grace_ms,
                                       int limit);

/* One gw_reconcile message, validated (presence_handlers.c): the gateway's live
   connections with ids in [lo, hi]. Strings point into the request. */
typedef struct {
    int64_t cn;
    presence_str_t uid, role, name; /* name.ptr NULL: none */
} presence_live_conn_t;
typedef struct {
    int64_t lo, hi;
    presence_live_conn_t conns[PROTO_RECONCILE_CHUNK_MAX];
    size_t n;
} presence_reconcile_t;
/* Close the gateway's rows of [lo, hi] it does not list, open those it lists that have
   none (presence.reconcile). Change rows as for the other changes; NULL on failure. */
PGresult *presence_store_reconcile(PGconn *db, const char *gw, const presence_reconcile_t *rc,
                                   int64_t lease_ms, int64_t grace_ms);

/* A gateway's lease renewal. 0 or -1. */
int presence_store_lease(PGconn *db, const char *gw, int64_t ttl_ms);
/* Drop tombstones older than ten minutes. 0 or -1. */
int presence_store_sweep(PGconn *db);

/* Reads. `ids` is user ids joined by 0x1f (no id contains it). Rows in the order
   asked: user_id, role, status, status_message, last_seen_us, connections, and the
   status as one of the user's own live connections would see it. Never-seen users
   come back with role NULL, status offline. */
PGresult *presence_store_presence(PGconn *db, presence_str_t ids);
enum { PQ_USER = 0, PQ_ROLE, PQ_STATUS, PQ_MESSAGE, PQ_LAST_SEEN, PQ_CONNS, PQ_SELF };

/* Mentors who have ever connected (at most PRES_MENTORS_MAX): user_id, name, status,
   status_message, last_seen_us; only those showing `available` when asked. */
PGresult *presence_store_mentors(PGconn *db, int available_only);
enum { PM_USER = 0, PM_NAME, PM_STATUS, PM_MESSAGE, PM_LAST_SEEN };
#define PRES_MENTORS_MAX 1000

/* Mentors and admins showing `available` with at least one live connection:
   one column, user_id. */
PGresult *presence_store_available(PGconn *db);

/* ---- the server API (presence_api.c) ---- */
#define PRES_REVOCATIONS_MAX 100000 /* bound: revocations a gateway loads, the newest */
/* Live connections of uid (on every gateway). 0 or -1. */
int presence_store_user_conns(PGconn *db, const char *uid, int64_t *n);
/* Tokens of uid issued before before_s are revoked; *out: the time now in force (a
   later one is kept). 0 or -1. */
int presence_store_revoke(PGconn *db, const char *uid, int64_t before_s, int64_t *out);
/* (user_id, before_s) rows, the newest PRES_REVOCATIONS_MAX. */
PGresult *presence_store_revocations(PGconn *db);

#endif
