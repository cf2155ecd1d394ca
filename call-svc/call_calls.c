/*  call_calls: calls, a state machine stored in call.calls.

        ringing ──accept──▶ active ──end_call / grace──▶ ended (hangup | disconnected)
           └──reject / cancel / ring timeout──▶ rejected | cancelled | missed
        (offline and busy calls are born terminal)

    The one thing to know: every arrow is one guarded UPDATE in call_store; a handler
    that gets no row back lost a race and answers `conflict`. Each side of a call has
    one connection of its own (the caller's initiating one; the callee's accepting
    one): that side's events and signals are pushed to exactly that connection. Only
    the callee's devices are all addressed, while the call rings. */
#include <string.h>

#include "call_handlers.h"
#include "call_presence.h"
#include "call_store.h"
#include "pl_clock.h"
#include "pl_log.h"
#include "pl_mp.h"

#define TIMER_BATCH 64 /* due timers fired per tick; the rest wait for the next one */
#define GRACE_BATCH 16 /* each may ask presence: keep a tick short */

static call_side_t other(call_side_t s)
{
    return s == CALL_CALLER ? CALL_CALLEE : CALL_CALLER;
}

/* Is the request's connection the side's own connection? */
static int is_side_conn(const call_row_t *c, call_side_t s, const proto_request_t *req)
{
    return c->cn[s] == req->cn && strcmp(c->gw[s], req->gw) == 0;
}

/* A push to the side's own connection (rq 0 on its gateway's topic). */
static msgpack_packer *to_side(pl_service_t *svc, const call_row_t *c, call_side_t s)
{
    return pl_service_to_conn(svc, c->gw[s], c->cn[s]);
}

static void pack_iso_or_nil(msgpack_packer *pk, const char *key, int64_t us)
{
    if (!us) {
        pl_pack_kv_nil(pk, key);
        return;
    }
    char iso[32];
    pl_iso8601_ms(us, iso, sizeof iso);
    pl_pack_kv_str(pk, key, iso);
}

/* call_ended {call_id, reason} and, for a call that was active, {ended_by,
   duration_s}. */
static void send_ended(msgpack_packer *pk, pl_service_t *svc, const call_row_t *c,
                       const char *reason)
{
    if (!pk)
        return;
    int64_t duration = call_duration_s(c);
    int was_active = duration >= 0;
    msgpack_pack_map(pk, was_active ? 5 : 3);
    pl_pack_kv_str(pk, "type", "call_ended");
    pl_pack_kv_int(pk, "call_id", c->id);
    pl_pack_kv_str(pk, "reason", reason);
    if (was_active) {
        pl_pack_kv_str(pk, "ended_by", c->ended_by);
        pl_pack_kv_int(pk, "duration_s", duration);
    }
    pl_service_end(svc);
}

/* {type, call_id}: call_accepted and friends. */
static void send_simple(msgpack_packer *pk, pl_service_t *svc, const char *type, int64_t id)
{
    if (!pk)
        return;
    msgpack_pack_map(pk, 2);
    pl_pack_kv_str(pk, "type", type);
    pl_pack_kv_int(pk, "call_id", id);
    pl_service_end(svc);
}

/* Both parties of an active call that just began (busy) or ended (not busy). */
static void report_activity(pl_service_t *svc, const call_row_t *c, int busy)
{
    for (int s = CALL_CALLER; s <= CALL_CALLEE; s++)
        call_presence_activity(svc, c->uid[s], c->role[s], busy, "call", c->id);
}

/* Read the call the request names and check the actor is one of its parties.
   Replies not_found / forbidden itself. 1 = go on, 0 = refused, -1 = database. */
static int load(pl_service_t *svc, const proto_request_t *req, call_row_t *c, call_side_t *side)
{
    int64_t id = 0;
    int found;
    pl_mp_int(req->body, "call_id", &id);
    if (call_store_get(pl_service_db(svc), id, c, &found))
        return -1;
    if (!found) {
        pl_service_error(svc, req, "not_found", "no such call");
        return 0;
    }
    if (strcmp(c->uid[CALL_CALLER], req->uid) == 0) {
        *side = CALL_CALLER;
    } else if (strcmp(c->uid[CALL_CALLEE], req->uid) == 0) {
        *side = CALL_CALLEE;
    } else {
        pl_service_error(svc, req, "forbidden", "not a party of this call");
        return 0;
    }
    return 1;
}

/* The optional free-text `reason` of reject_call / end_call. */
static void reason_text(const proto_request_t *req, const char **s, size_t *n)
{
    if (pl_mp_str(req->body, "reason", s, n)) {
        *s = NULL;
        *n = 0;
    }
}

/* ---- initiate_call ------------------------------------------------------------- */

static int busy_mentor(const call_presence_t *p)
{
    return call_is_mentor(p->role) && strcmp(p->status, "busy") == 0;
}

/* What the new call is, from what presence and our own table say. `callee_busy`: the
   callee is party to a ringing or active call, which nobody gets past (a party has
   one call at a time). `partners`: caller and callee are the student and the mentor
   of an accepted help session; the session is what makes the mentor busy, and
   talking is what it is for, so a busy mentor's status does not stop them. */
static const char *first_state(const call_presence_t *p, int callee_busy, int partners)
{
    if (p->connections <= 0)
        return "offline";
    if (callee_busy || (busy_mentor(p) && !partners))
        return "busy";
    return "ringing";
}

static void send_incoming(pl_service_t *svc, const proto_request_t *req, int64_t id,
                          const char *callee, const char *media, int64_t conv)
{
    msgpack_packer *pk = pl_service_to_user(svc, callee, NULL, 0);
    if (!pk)
        return;
    msgpack_pack_map(pk, 7);
    pl_pack_kv_str(pk, "type", "incoming_call");
    pl_pack_kv_int(pk, "call_id", id);
    pl_pack_kv_str(pk, "caller_id", req->uid);
    pl_pack_kv_str_or_nil(pk, "caller_name", req->nm[0] ? req->nm : NULL);
    pl_pack_kv_str(pk, "caller_role", req->role);
    pl_pack_kv_str(pk, "media", media);
    if (conv)
        pl_pack_kv_int(pk, "conversation_id", conv);
    else
        pl_pack_kv_nil(pk, "conversation_id");
    pl_service_end(svc);
}

int call_initiate(void *cfg_, pl_service_t *svc, const proto_request_t *req)
{
    const call_cfg_t *cfg = cfg_;
    char callee[CALL_UID_MAX], media[8];
    int64_t conv = 0;
    if (pl_mp_strcpy(req->body, "callee_id", callee, sizeof callee) ||
        pl_mp_strcpy(req->body, "media", media, sizeof media)) {
        pl_service_error(svc, req, "bad_request", "callee_id: not a user id");
        return 0;
    }
    pl_mp_int(req->body, "conversation_id", &conv);
    if (strcmp(callee, req->uid) == 0) {
        pl_service_error(svc, req, "bad_request", "callee_id: you cannot call yourself");
        return 0;
    }
    /* Asked before any lock is taken: the asks may take a while. A conversation named
       must be one of both parties; whether it exists does not matter (not yours is
       not yours), so an unknown one is refused the same way. */
    int both = 1;
    if (conv && call_chat_both_members(svc, call_ask_budget(cfg, req), conv, req->uid, callee,
                                       &both)) {
        pl_service_error(svc, req, "unavailable", "chat did not answer in time, try again");
        return 0;
    }
    if (!both) {
        pl_service_error(svc, req, "forbidden",
                         "conversation_id: not a conversation of both caller and callee");
        return 0;
    }
    call_presence_t p;
    if (call_presence_query(svc, call_ask_budget(cfg, req), callee, &p)) {
        pl_service_error(svc, req, "unavailable", "presence did not answer in time, try again");
        return 0;
    }
    PGconn *db = pl_service_db(svc);
    int caller_busy, callee_busy;
    if (call_store_lock_users(db, req->uid, callee) ||
        call_store_busy(db, req->uid, callee, &caller_busy, &callee_busy))
        return -1;
    if (caller_busy) {
        pl_service_error(svc, req, "conflict", "you are already in a call");
        return 0;
    }
    /* Asked only when it decides something: most calls reach a mentor who is not busy. */
    int partners = 0;
    if (!callee_busy && busy_mentor(&p) &&
        call_store_help_partners(db, req->uid, callee, &partners))
        return -1;
    call_new_t n = {.caller = req->uid,
                    .caller_role = req->role,
                    .caller_gw = req->gw,
                    .caller_cn = req->cn,
                    .callee = callee,
                    .media = media,
                    .conversation_id = conv,
                    .state = first_state(&p, callee_busy, partners),
                    .ring_ms = cfg->ring_ms};
    int64_t id;
    if (call_store_insert(db, &n, &id))
        return -1;
    msgpack_packer *pk = pl_service_reply(svc, req, NULL, 0);
    if (pk) {
        msgpack_pack_map(pk, 4);
        pl_pack_kv_str(pk, "type", "call_initiated");
        pl_pack_kv_int(pk, "call_id", id);
        pl_pack_kv_str(pk, "callee_id", callee);
        pl_pack_kv_str(pk, "media", media);
        pl_service_end(svc);
    }
    /* The outcome follows the answer on the same connection, in order. */
    if (strcmp(n.state, "ringing") == 0) {
        send_incoming(svc, req, id, callee, media, conv);
    } else {
        int offline = strcmp(n.state, "offline") == 0;
        pk = pl_service_to_conn(svc, req->gw, req->cn);
        if (pk) {
            msgpack_pack_map(pk, 3);
            pl_pack_kv_str(pk, "type", offline ? "call_ended" : "call_rejected");
            pl_pack_kv_int(pk, "call_id", id);
            pl_pack_kv_str(pk, "reason", n.state);
            pl_service_end(svc);
        }
    }
    pl_info("call initiated", "call=%lld caller=%s callee=%s state=%s gw=%s cn=%llu", (long long)id,
            req->uid, callee, n.state, req->gw, (unsigned long long)req->cn);
    return 0;
}

/* ---- accept_call ------------------------------------------------------------------- */

int call_accept(void *cfg_, pl_service_t *svc, const proto_request_t *req)
{
    const call_cfg_t *cfg = cfg_;
    (void)cfg;
    call_row_t c;
    call_side_t side;
    int ok = load(svc, req, &c, &side);
    if (ok <= 0)
        return ok;
    if (side != CALL_CALLEE) {
        pl_service_error(svc, req, "forbidden", "only the callee can accept a call");
        return 0;
    }
    int won;
    if (call_store_accept(pl_service_db(svc), c.id, req->uid, req->role, req->gw, req->cn, &c,
                          &won))
        return -1;
    if (!won) {
        pl_service_error(svc, req, "conflict", "the call is no longer ringing");
        return 0;
    }
    send_simple(pl_service_reply(svc, req, NULL, 0), svc, "call_accepted", c.id);
    send_simple(to_side(svc, &c, CALL_CALLER), svc, "call_accepted", c.id);
    proto_exclude_t actor = pl_service_actor(req);
    send_ended(pl_service_to_user(svc, c.uid[CALL_CALLEE], &actor, 0), svc, &c,
               "answered_elsewhere");
    report_activity(svc, &c, 1);
    pl_info("call accepted", "call=%lld callee=%s gw=%s cn=%llu", (long long)c.id, req->uid,
            req->gw, (unsigned long long)req->cn);
    return 0;
}

/* ---- reject_call / end_call -------------------------------------------------------- */

/* The callee turns down a ringing call (reject_call, or end_call while ringing). */
static int reject(pl_service_t *svc, const proto_request_t *req, const call_row_t *read)
{
    const char *why;
    size_t why_len;
    reason_text(req, &why, &why_len);
    call_row_t c;
    int won;
    if (call_store_end_ringing(pl_service_db(svc), read->id, "rejected", req->uid, why, why_len, &c,
                               &won))
        return -1;
    if (!won) {
        pl_service_error(svc, req, "conflict", "the call is no longer ringing");
        return 0;
    }
    pl_service_ack(svc, req);
    msgpack_packer *pk = to_side(svc, &c, CALL_CALLER);
    if (pk) {
        msgpack_pack_map(pk, 3);
        pl_pack_kv_str(pk, "type", "call_rejected");
        pl_pack_kv_int(pk, "call_id", c.id);
        if (why)
            pl_pack_kv_strn(pk, "reason", why, why_len);
        else
            pl_pack_kv_str(pk, "reason", "rejected");
        pl_service_end(svc);
    }
    proto_exclude_t actor = pl_service_actor(req);
    send_ended(pl_service_to_user(svc, c.uid[CALL_CALLEE], &actor, 0), svc, &c, "rejected");
    pl_info("call rejected", "call=%lld callee=%s", (long long)c.id, req->uid);
    return 0;
}

int call_reject(void *cfg_, pl_service_t *svc, const proto_request_t *req)
{
    const call_cfg_t *cfg = cfg_;
    (void)cfg;
    call_row_t c;
    call_side_t side;
    int ok = load(svc, req, &c, &side);
    if (ok <= 0)
        return ok;
    if (side != CALL_CALLEE) {
        pl_service_error(svc, req, "forbidden", "only the callee can reject a call");
        return 0;
    }
    return reject(svc, req, &c);
}

/* The caller gives up on a ringing call. */
static int cancel(pl_service_t *svc, const proto_request_t *req, const call_row_t *read)
{
    const char *why;
    size_t why_len;
    reason_text(req, &why, &why_len);
    call_row_t c;
    int won;
    if (call_store_end_ringing(pl_service_db(svc), read->id, "cancelled", req->uid, why, why_len,
                               &c, &won))
        return -1;
    if (!won) {
        pl_service_error(svc, req, "conflict", "the call is no longer ringing");
        return 0;
    }
    pl_service_ack(svc, req);
    send_ended(pl_service_to_user(svc, c.uid[CALL_CALLEE], NULL, 0), svc, &c, "cancelled");
    if (!is_side_conn(&c, CALL_CALLER, req)) /* ended from another device of the caller */
        send_ended(to_side(svc, &c, CALL_CALLER), svc, &c, "cancelled");
    pl_info("call cancelled", "call=%lld caller=%s", (long long)c.id, req->uid);
    return 0;
}

static int hangup(pl_service_t *svc, const proto_request_t *req, const call_row_t *read,
                  call_side_t side)
{
    const char *why;
    size_t why_len;
    reason_text(req, &why, &why_len);
    call_row_t c;
    int won;
    if (call_store_end_active(pl_service_db(svc), read->id, "hangup", req->uid, why, why_len, &c,
                              &won))
        return -1;
    if (!won) {
        pl_service_error(svc, req, "conflict", "the call has already ended");
        return 0;
    }
    pl_service_ack(svc, req);
    send_ended(to_side(svc, &c, other(side)), svc, &c, "hangup");
    if (!is_side_conn(&c, side, req))
        send_ended(to_side(svc, &c, side), svc, &c, "hangup");
    report_activity(svc, &c, 0);
    pl_info("call ended", "call=%lld by=%s reason=hangup duration_s=%lld", (long long)c.id,
            req->uid, (long long)call_duration_s(&c));
    return call_webhook_call(svc, "call.ended", &c);
}

int call_end(void *cfg_, pl_service_t *svc, const proto_request_t *req)
{
    const call_cfg_t *cfg = cfg_;
    (void)cfg;
    call_row_t c;
    call_side_t side;
    int ok = load(svc, req, &c, &side);
    if (ok <= 0)
        return ok;
    /* The state read here picks the transition; the guarded update re-checks it, so a
       racing accept makes this `conflict` rather than a surprise hangup. */
    if (strcmp(c.state, "ringing") == 0)
        return side == CALL_CALLER ? cancel(svc, req, &c) : reject(svc, req, &c);
    if (strcmp(c.state, "active") == 0)
        return hangup(svc, req, &c, side);
    pl_service_error(svc, req, "conflict", "the call has already ended");
    return 0;
}

/* ---- call_signal ----------------------------------------------------------------- */

int call_signal(void *cfg_, pl_service_t *svc, const proto_request_t *req)
{
    const call_cfg_t *cfg = cfg_;
    (void)cfg;
    call_row_t c;
    call_side_t side;
    /* One primary-key read per signal and no write: signals (ICE candidates) are the
       most frequent call event and change nothing. */
    int ok = load(svc, req, &c, &side);
    if (ok <= 0)
        return ok;
    int active = strcmp(c.state, "active") == 0;
    if (!active && strcmp(c.state, "ringing") != 0) {
        pl_service_error(svc, req, "conflict", "the call is not ringing or active");
        return 0;
    }
    const msgpack_object *signal = pl_mp_get(req->body, "signal");
    if (!signal || signal->type != MSGPACK_OBJECT_MAP) {
        pl_service_error(svc, req, "bad_request", "signal: must be an object");
        return 0;
    }
    /* During the call a side is wherever that party last spoke from: this is how a
       client that lost its connection resumes (from a new one, typically with an ICE
       restart offer). Not conditional on `detached`: the old connection's conn_close
       may be handled after this, by another instance; it then matches nothing. */
    if (active && !is_side_conn(&c, side, req)) {
        if (call_store_rebind(pl_service_db(svc), c.id, side, req->gw, req->cn))
            return -1;
        pl_info("call side moved", "call=%lld user=%s gw=%s cn=%llu", (long long)c.id, req->uid,
                req->gw, (unsigned long long)req->cn);
    }
    pl_debug("call signal", "call=%lld from=%s gw=%s cn=%llu", (long long)c.id, req->uid, req->gw,
             (unsigned long long)req->cn);
    msgpack_packer *pk;
    if (side == CALL_CALLEE)
        pk = to_side(svc, &c, CALL_CALLER);
    else if (active)
        pk = to_side(svc, &c, CALL_CALLEE);
    else /* not answered yet: every ringing device of the callee */
        pk = pl_service_to_user(svc, c.uid[CALL_CALLEE], NULL, 0);
    if (pk) {
        msgpack_pack_map(pk, 4);
        pl_pack_kv_str(pk, "type", "call_signal");
        pl_pack_kv_int(pk, "call_id", c.id);
        pl_pack_kv_str(pk, "from", req->uid);
        pl_pack_kv_obj(pk, "signal", signal); /* relayed unchanged */
        pl_service_end(svc);
    }
    pl_service_ack(svc, req);
    return 0;
}

/* ---- call_history ---------------------------------------------------------------- */

void call_pack_call(msgpack_packer *pk, const call_row_t *c)
{
    int64_t duration = call_duration_s(c);
    msgpack_pack_map(pk, 11);
    pl_pack_kv_int(pk, "call_id", c->id);
    pl_pack_kv_str(pk, "caller_id", c->uid[CALL_CALLER]);
    pl_pack_kv_str(pk, "callee_id", c->uid[CALL_CALLEE]);
    pl_pack_kv_str(pk, "media", c->media);
    pl_pack_kv_str(pk, "state", c->state);
    pl_pack_kv_str_or_nil(pk, "end_reason", c->end_reason[0] ? c->end_reason : NULL);
    if (c->conversation_id)
        pl_pack_kv_int(pk, "conversation_id", c->conversation_id);
    else
        pl_pack_kv_nil(pk, "conversation_id");
    pack_iso_or_nil(pk, "created_at", c->created_us);
    pack_iso_or_nil(pk, "answered_at", c->answered_us);
    pack_iso_or_nil(pk, "ended_at", c->ended_us);
    if (duration >= 0)
        pl_pack_kv_int(pk, "duration_s", duration);
    else
        pl_pack_kv_nil(pk, "duration_s");
}

int call_answer_history(pl_service_t *svc, const proto_request_t *req, const char *uid,
                        const char *type)
{
    int64_t limit = PROTO_HISTORY_DEFAULT;
    pl_mp_int(req->body, "limit", &limit);
    if (limit > PROTO_HISTORY_MAX)
        limit = PROTO_HISTORY_MAX;
    PGresult *r = call_store_history(pl_service_db(svc), uid, limit);
    if (!r)
        return -1;
    int n = PQntuples(r);
    msgpack_packer *pk = pl_service_reply(svc, req, NULL, 0);
    if (pk) {
        msgpack_pack_map(pk, 2);
        pl_pack_kv_str(pk, "type", type);
        pl_pack_str(pk, "calls");
        msgpack_pack_array(pk, (size_t)n);
        for (int i = 0; i < n; i++) {
            call_row_t c;
            call_store_row(r, i, &c);
            call_pack_call(pk, &c);
        }
        pl_service_end(svc);
    }
    PQclear(r);
    return 0;
}

int call_history(void *cfg_, pl_service_t *svc, const proto_request_t *req)
{
    (void)cfg_;
    return call_answer_history(svc, req, req->uid, "call_history");
}

/* ---- connections that go away ----------------------------------------------------- */

int call_conn_gone(const call_cfg_t *cfg, pl_service_t *svc, const char *gw, uint64_t cn,
                   const char *uid)
{
    PGconn *db = pl_service_db(svc);
    /* The caller's side is its initiating connection: without it nobody can hear the
       answer, so a ringing call ends at once. */
    PGresult *r = call_store_cancel_by_conn(db, gw, cn);
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++) {
        call_row_t c;
        call_store_row(r, i, &c);
        send_ended(pl_service_to_user(svc, c.uid[CALL_CALLEE], NULL, 0), svc, &c, "cancelled");
        pl_info("call cancelled", "call=%lld reason=\"caller connection closed\"", (long long)c.id);
    }
    PQclear(r);
    /* An active call waits CALL_GRACE_MS for the side to come back. */
    return call_store_detach_by_conn(db, gw, cn, uid, cfg->grace_ms);
}

/* ---- timers ------------------------------------------------------------------------ */

static int fire_missed(pl_service_t *svc)
{
    PGresult *r = call_store_due_missed(pl_service_db(svc), TIMER_BATCH);
    if (!r)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        call_row_t c;
        call_store_row(r, i, &c);
        send_ended(to_side(svc, &c, CALL_CALLER), svc, &c, "missed");
        send_ended(pl_service_to_user(svc, c.uid[CALL_CALLEE], NULL, 0), svc, &c, "missed");
        pl_info("call missed", "call=%lld", (long long)c.id);
        rc = call_webhook_call(svc, "call.missed", &c);
    }
    PQclear(r);
    return rc;
}

/* Has this detached side really lost every connection? Presence knows; when it does
   not answer, the side has not come back on the call either, so it counts as gone
   (a call must not hang on forever because presence is down). After one unanswered
   ask the rest of the tick does not ask again: it would block this instance for a
   timeout per call. */
static int side_gone(const call_cfg_t *cfg, pl_service_t *svc, const call_row_t *c, call_side_t s,
                     int *presence_down)
{
    if (!c->detached[s])
        return 0;
    call_presence_t p;
    if (*presence_down || call_presence_query(svc, cfg->ask_ms, c->uid[s], &p)) {
        *presence_down = 1;
        return 1;
    }
    return p.connections <= 0;
}

static int fire_grace_one(const call_cfg_t *cfg, pl_service_t *svc, const call_row_t *c,
                          int *presence_down)
{
    int gone[2] = {side_gone(cfg, svc, c, CALL_CALLER, presence_down),
                   side_gone(cfg, svc, c, CALL_CALLEE, presence_down)};
    if (!gone[CALL_CALLER] && !gone[CALL_CALLEE])
        return call_store_keep(pl_service_db(svc), c->id);
    call_side_t who = gone[CALL_CALLER] ? CALL_CALLER : CALL_CALLEE;
    call_row_t e;
    int won;
    if (call_store_end_active(pl_service_db(svc), c->id, "disconnected", c->uid[who], NULL, 0, &e,
                              &won))
        return -1;
    if (!won) /* locked above, so only a bug gets here */
        return 0;
    for (int s = CALL_CALLER; s <= CALL_CALLEE; s++)
        if (!gone[s])
            send_ended(to_side(svc, &e, (call_side_t)s), svc, &e, "disconnected");
    report_activity(svc, &e, 0);
    pl_info("call ended", "call=%lld reason=disconnected gone=%s", (long long)e.id, e.uid[who]);
    return call_webhook_call(svc, "call.ended", &e);
}

int call_timers(const call_cfg_t *cfg, pl_service_t *svc)
{
    if (fire_missed(svc))
        return -1;
    PGresult *r = call_store_due_grace(pl_service_db(svc), GRACE_BATCH);
    if (!r)
        return -1;
    int rc = 0, presence_down = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        call_row_t c;
        call_store_row(r, i, &c);
        rc = fire_grace_one(cfg, svc, &c, &presence_down);
    }
    PQclear(r);
    return rc;
}
