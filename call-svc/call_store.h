/*  call_store: every SQL statement of call-svc, behind typed functions.
    The one thing to know: each state change of a call or a help request is ONE guarded
    UPDATE (`WHERE id = $1 AND state = 'ringing' ...`). PostgreSQL re-checks the WHERE
    on the newest row version after waiting for a concurrent writer, so of two racing
    actions exactly one gets its row back (`*won`) and the other learns it lost.
    Functions run inside the transaction the runtime opened; they return -1 only when
    the database failed, and report "not found / lost the race" as data. */
#ifndef CALL_STORE_H
#define CALL_STORE_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "pl_pg.h"

extern const pl_migration_t call_migrations[];
extern const pl_stmt_t call_stmts[];

#define CALL_UID_MAX 129 /* user ids are 1..128 bytes (proto) + NUL */

/* ---- calls --------------------------------------------------------------------- */

typedef enum { CALL_CALLER = 0, CALL_CALLEE = 1 } call_side_t;

/* One row of call.calls. Strings are NUL-terminated copies; a connection whose gw is
   "" is absent (the callee's before the answer). Times are epoch µs, 0 = NULL. */
typedef struct {
    int64_t id;
    char uid[2][CALL_UID_MAX]; /* [CALL_CALLER], [CALL_CALLEE] */
    char role[2][16];          /* the callee's is known once it answered */
    char gw[2][24];            /* the side's connection: initiating / accepting */
    uint64_t cn[2];
    int detached[2]; /* that connection closed during the active call */
    char media[8];
    int64_t conversation_id; /* 0 = none */
    char state[16];          /* ringing active ended rejected cancelled missed offline busy */
    char end_reason[16];     /* "" while not ended */
    char ended_by[CALL_UID_MAX];
    int64_t created_us, answered_us, ended_us;
} call_row_t;

/* Whole seconds between answer and end, rounded; -1 when the call was never answered
   or has not ended. */
int64_t call_duration_s(const call_row_t *c);

/* Rows of a result that lists calls (every *_rows function below). */
void call_store_row(const PGresult *r, int i, call_row_t *out);

/* Serialise everything that decides about these users' calls (busy checks, new
   calls) for the rest of the transaction: advisory locks, taken in a fixed order. */
int call_store_lock_users(PGconn *db, const char *a, const char *b);

/* caller_busy: `caller` has an active call or an outgoing ringing one.
   callee_busy: `callee` is party to a ringing or active call. */
int call_store_busy(PGconn *db, const char *caller, const char *callee, int *caller_busy,
                    int *callee_busy);

/* `a` and `b` are the student and the mentor of an accepted help session, either way
   round (a help session in progress is what lets them call a busy mentor). */
int call_store_help_partners(PGconn *db, const char *a, const char *b, int *partners);

typedef struct {
    const char *caller, *caller_role, *caller_gw;
    uint64_t caller_cn;
    const char *callee, *media;
    int64_t conversation_id; /* 0 = none */
    const char *state;       /* ringing, or the terminal offline / busy */
    int64_t ring_ms;         /* ring timeout, for a ringing call */
} call_new_t;

int call_store_insert(PGconn *db, const call_new_t *c, int64_t *id);

int call_store_get(PGconn *db, int64_t id, call_row_t *out, int *found);

/* ringing → active, by `callee` from connection (gw, cn), before the ring timeout. */
int call_store_accept(PGconn *db, int64_t id, const char *callee, const char *role, const char *gw,
                      uint64_t cn, call_row_t *out, int *won);

/* ringing → `state` (rejected, cancelled), end_reason = state. `detail` is the
   client's free-text reason or NULL. */
int call_store_end_ringing(PGconn *db, int64_t id, const char *state, const char *by,
                           const char *detail, size_t detail_len, call_row_t *out, int *won);

/* active → ended with `reason` (hangup, disconnected). */
int call_store_end_active(PGconn *db, int64_t id, const char *reason, const char *by,
                          const char *detail, size_t detail_len, call_row_t *out, int *won);

/* A side of an active call speaks from (gw, cn), not its own connection: that
   connection becomes the side's, the side is attached again, and the disconnect timer
   stops unless the other side is detached too. */
int call_store_rebind(PGconn *db, int64_t id, call_side_t side, const char *gw, uint64_t cn);

/* Connection (gw, cn) of `uid` is gone. Ringing calls it initiated become cancelled
   (returned rows, caller PQclear()s; NULL on failure). */
PGresult *call_store_cancel_by_conn(PGconn *db, const char *gw, uint64_t cn);
/* ... and active calls it carried get their side detached and the disconnect timer
   started (also when `uid` is an already detached side: its other devices going away
   re-arm the timer). */
int call_store_detach_by_conn(PGconn *db, const char *gw, uint64_t cn, const char *uid,
                              int64_t grace_ms);

/* Timers. Rows whose due time passed, locked FOR UPDATE SKIP LOCKED so that with
   several instances each fires exactly once. `missed` already made the transition;
   `grace` only locks: decide with call_store_end_active or call_store_keep. */
PGresult *call_store_due_missed(PGconn *db, int limit);
PGresult *call_store_due_grace(PGconn *db, int limit);
/* The detached side still has connections elsewhere: stop the timer (the call goes
   on; that side resumes by speaking from another connection). */
int call_store_keep(PGconn *db, int64_t id);

/* The user's calls, newest first. */
PGresult *call_store_history(PGconn *db, const char *uid, int64_t limit);

/* ---- help requests ------------------------------------------------------------- */

typedef struct {
    int64_t id;
    char student_id[CALL_UID_MAX];
    char mentor_id[CALL_UID_MAX];   /* the named mentor, "" if offered to all */
    char state[16];                 /* waiting accepted ended cancelled expired declined */
    char accepted_by[CALL_UID_MAX]; /* "" until accepted */
    char student_name[CALL_UID_MAX]; /* the token's name when they asked, "" if none */
    int offered;                    /* to the user asked about */
    int declined;                   /* ... who declined it */
} help_row_t;

/* Text that is not NUL-terminated (it points into a request); ptr NULL = absent. */
typedef struct {
    const char *ptr;
    size_t len;
} call_text_t;

/* A new waiting request; *id = 0 when the student already has an open (waiting or
   accepted) one: the unique index help_open_student decides, also between instances
   inserting at the same moment. */
int call_help_store_insert(PGconn *db, const char *student, const char *student_name,
                           call_text_t topic, call_text_t message, call_text_t mentor,
                           int64_t timeout_ms, int64_t *id);

/* Request `id` as seen by `uid` (offered / declined are about uid). */
int call_help_store_get(PGconn *db, int64_t id, const char *uid, help_row_t *out, int *found);

/* waiting → accepted by `mentor`, who was offered it and did not decline. */
int call_help_store_accept(PGconn *db, int64_t id, const char *mentor, int *won);

/* waiting → `state` (cancelled, declined) by `by`. */
int call_help_store_close(PGconn *db, int64_t id, const char *state, const char *by, int *won);

/* The offer to `mentor` is declined (the request stays open for the others). */
int call_help_store_decline(PGconn *db, int64_t id, const char *mentor);

/* accepted → ended by `by` (the student or the mentor). */
int call_help_store_end(PGconn *db, int64_t id, const char *by, int *won);

/* Request `id` left `waiting`: every offer of it closes. Rows: mentor_id, and 't'
   when that offer was live (not declined). Caller PQclear()s; NULL on failure. */
PGresult *call_help_store_close_offers(PGconn *db, int64_t id);

/* Offers for `mentors` (duplicates allowed), each up to `page` live offers (offers
   of waiting requests they have not declined): first the waiting requests that name
   them, then, if they take requests for anyone, those that name nobody, oldest
   first, each at most once per mentor. `available`: 1 or 0 says whether they take
   requests for anyone; -1 asks help_mentors. The mentors are locked first (per-user
   advisory locks, held to the end of the transaction), so the page holds also when
   instances offer to the same mentor at once. Rows: id, student_id, topic, message
   (NULL = none), mentor_id: the offers just made. Caller PQclear()s; NULL on
   failure. */
PGresult *call_help_store_refill(PGconn *db, const call_text_t *mentors, size_t n, int64_t page,
                            int available);

/* Presence says `mentor` takes requests for anyone (available and online) or not. */
int call_help_store_mentor_available(PGconn *db, const char *mentor, int available);

/* waiting requests past their expiry → expired. Rows: id, student_id. */
PGresult *call_help_store_due(PGconn *db, int limit);

/* ---- the server API (call_api.c) ---- */
/* Open help requests (waiting and accepted, or only `state` when not NULL), oldest
   first, at most limit. Columns: HO_* */
/* Help request `id` with the same columns (no row: gone). */
PGresult *call_help_store_one(PGconn *db, int64_t id);
enum { HO_ID = 0, HO_STUDENT, HO_TOPIC, HO_MESSAGE, HO_MENTOR, HO_STATE, HO_ACCEPTED_BY,
       HO_CREATED, HO_ACCEPTED, HO_EXPIRES, HO_STUDENT_NAME };
PGresult *call_help_store_open(PGconn *db, const char *state, int64_t limit);

#endif
