/*  presence_handlers: presence-svc's events (see presence_handlers.h).
    Announcement rule, the same for every change: others hear a `status_change` when
    what they see (effective status or status message) changed, preceded by
    `user_online` when the user became visible and followed by `user_offline` when the
    user stopped being visible; other services hear `presence_changed` when the status
    or "has a live connection" changed. A change nobody can see (a second device, a
    reconnect within the grace period) is announced to nobody. */
#include "presence_handlers.h"

#include <stdio.h>
#include <string.h>

#include "pl_buf.h"
#include "pl_clock.h"
#include "pl_hash.h"
#include "pl_log.h"
#include "pl_mp.h"
#include "pl_text.h"
#include "pl_webhook.h"
#include "presence_reconcile.h"
#include "presence_store.h"

#define TIMER_BATCH 1000      /* grace timers / lapsed users handled per tick */
#define SWEEP_EVERY_TICKS 300 /* tombstone sweep: once a minute at 200 ms ticks */
#define QUERY_IDS_MAX 1000    /* presence_query from other services */
#define INTERNAL_TOPIC "presence" /* i<name>: PROTO_TOPIC_PRESENCE_EVENTS, "ipresence" */

/* ---- small helpers -------------------------------------------------------------- */

static int visible(const char *status)
{
    return strcmp(status, "offline") != 0;
}

static int same_text(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int mentor_like(const char *role)
{
    return strcmp(role, "mentor") == 0 || strcmp(role, "admin") == 0;
}

/* Mentors' changes also reach every connected student (the live directory). */
static int in_directory(const char *role)
{
    return role && strcmp(role, "mentor") == 0;
}


static void pack_kv_text(msgpack_packer *pk, const char *key, const char *v)
{
    pl_pack_kv_str_or_nil(pk, key, v);
}

static void pack_kv_pg_text(msgpack_packer *pk, const char *key, const PGresult *r, int row,
                            int col)
{
    if (pl_pg_null(r, row, col))
        pl_pack_kv_nil(pk, key);
    else
        pl_pack_kv_strn(pk, key, PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col));
}

/* last_seen is shown only while the status shown is offline (null while online). */
static void pack_last_seen(msgpack_packer *pk, const char *status, int has, int64_t us)
{
    if (visible(status) || !has) {
        pl_pack_kv_nil(pk, "last_seen");
        return;
    }
    char iso[32];
    pl_iso8601_ms(us, iso, sizeof iso);
    pl_pack_kv_str(pk, "last_seen", iso);
}

static void pack_status_change(msgpack_packer *pk, const presence_change_t *c, const char *status)
{
    msgpack_pack_map(pk, 6);
    pl_pack_kv_str(pk, "type", "status_change");
    pl_pack_kv_str(pk, "user_id", c->user_id);
    pack_kv_text(pk, "role", c->role);
    pl_pack_kv_str(pk, "status", status);
    pack_kv_text(pk, "status_message", c->status_message);
    pack_last_seen(pk, status, c->has_last_seen, c->last_seen_us);
}

/* ---- announcing changes ------------------------------------------------------- */

typedef enum { EV_ONLINE, EV_STATUS, EV_OFFLINE } presence_event_t;

static void emit(pl_service_t *svc, const presence_change_t *c, const proto_exclude_t *x,
                 int to_students, presence_event_t ev)
{
    msgpack_packer *pk = to_students ? pl_service_to_role(svc, "student", x)
                                     : pl_service_to_presence(svc, c->user_id, x);
    if (!pk)
        return;
    switch (ev) {
    case EV_ONLINE:
        msgpack_pack_map(pk, 2);
        pl_pack_kv_str(pk, "type", "user_online");
        pl_pack_kv_str(pk, "user_id", c->user_id);
        break;
    case EV_STATUS:
        pack_status_change(pk, c, c->status);
        break;
    case EV_OFFLINE:
        msgpack_pack_map(pk, 3);
        pl_pack_kv_str(pk, "type", "user_offline");
        pl_pack_kv_str(pk, "user_id", c->user_id);
        pack_last_seen(pk, c->status, c->has_last_seen, c->last_seen_us);
        break;
    }
    pl_service_end(svc);
}

static void emit_presence_changed(pl_service_t *svc, const presence_change_t *c)
{
    msgpack_packer *pk = pl_service_to_internal(svc, INTERNAL_TOPIC);
    if (!pk)
        return;
    msgpack_pack_map(pk, 5);
    pl_pack_kv_str(pk, "type", "presence_changed");
    pl_pack_kv_str(pk, "user_id", c->user_id);
    pack_kv_text(pk, "role", c->role);
    pl_pack_kv_str(pk, "status", c->status);
    pl_pack_kv_bool(pk, "online", c->conns > 0);
    pl_service_end(svc);
}

/* user.online / user.offline to the webhook outbox when the user's `online` flag
   moved: the statement compares it with the last event, in the database, for every
   change row (a status row may hide a flip: an invisible user's grace timer).
   A closing connection starts the grace period and leaves the flag set, so
   `offline` comes from the grace timer (or a lapsed gateway): never for a flap.
   -1 when the database failed. */
static int webhook_connected(pl_service_t *svc, const presence_change_t *c)
{
    if (!pl_webhook_enabled())
        return 0;
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_cstr(&p, c->user_id);
    PGresult *r = pl_pg_run_params(pl_service_db(svc), "webhook_presence", &p);
    int ok = r != NULL;
    PQclear(r);
    return ok ? 0 : -1;
}

/* Publish what others can see of one change, once per topic. `x` skips the acting
   connection (it got an answer, or it is the connection that just opened). -1 when
   the database failed (the webhook outbox row). */
static int announce(pl_service_t *svc, const presence_change_t *c, const proto_exclude_t *x)
{
    int was = visible(c->old_status), is = visible(c->status);
    int status_moved = strcmp(c->old_status, c->status) != 0;
    pl_debug("presence change", "user=%s status=%s->%s conns=%d->%d", c->user_id, c->old_status,
             c->status, c->old_conns, c->conns);
    if (status_moved || !same_text(c->old_message, c->status_message)) {
        for (int students = 0; students <= in_directory(c->role); students++) {
            if (!was && is)
                emit(svc, c, x, students, EV_ONLINE);
            emit(svc, c, x, students, EV_STATUS);
            if (was && !is)
                emit(svc, c, x, students, EV_OFFLINE);
        }
    }
    if (status_moved || (c->conns > 0) != (c->old_conns > 0))
        emit_presence_changed(svc, c);
    return webhook_connected(svc, c);
}

static int announce_all(pl_service_t *svc, const PGresult *r, const proto_exclude_t *x)
{
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        presence_change_t c;
        presence_change_get(r, i, &c);
        if (c.kind == PRES_CHANGE_STATE)
            rc = announce(svc, &c, x);
    }
    return rc;
}

/* ---- gateway notifications ------------------------------------------------------ */

static int on_conn_open(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    presence_app_t *app = app_;
    if (!req->uid[0]) {
        pl_warn("conn_open without user", "gw=%s cn=%llu", req->gw, (unsigned long long)req->cn);
        return 0;
    }
    PGresult *r = presence_conns_take(app, req);
    if (!r)
        r = presence_store_conn_open(pl_service_db(svc), req->gw, req->cn, req->uid, req->role,
                                     req->nm, app->lease_default_ms);
    if (!r)
        return -1;
    /* The new connection knows it is online; everyone else is told. */
    proto_exclude_t opener = pl_service_actor(req);
    int rc = announce_all(svc, r, &opener);
    PQclear(r);
    return rc;
}

static int on_conn_close(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    presence_app_t *app = app_;
    if (!req->uid[0])
        return 0;
    PGresult *r = presence_conns_take(app, req);
    if (!r)
        r = presence_store_conn_close(pl_service_db(svc), req->gw, req->cn, req->uid,
                                      app->grace_ms);
    if (!r)
        return -1;
    int rc = announce_all(svc, r, NULL); /* usually nothing yet: the grace period runs */
    PQclear(r);
    return rc;
}

static int on_lease(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    presence_app_t *app = app_;
    int64_t ttl = app->lease_default_ms;
    pl_mp_int(req->body, "ttl_ms", &ttl);
    if (ttl < 100)
        ttl = 100;
    if (ttl > 3600000)
        ttl = 3600000;
    return presence_store_lease(pl_service_db(svc), req->gw, ttl);
}

/* ---- healing lost notices: the gateways' lists of live connections ---------------- */

static int on_reconcile(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    presence_app_t *app = app_;
    static presence_reconcile_t rc; /* 14 KB: one at a time, the runtime is one thread */
    if (!req->gw[0] || presence_reconcile_read(req->body, &rc)) {
        pl_warn("dropped malformed gw_reconcile", "gw=%s", req->gw);
        return 0;
    }
    PGresult *r = presence_store_reconcile(pl_service_db(svc), req->gw, &rc, app->lease_default_ms,
                                           app->grace_ms);
    if (!r)
        return -1;
    if (PQntuples(r) > 0)
        pl_info("presence reconciled", "gw=%s lo=%lld hi=%lld changes=%d", req->gw,
                (long long)rc.lo, (long long)rc.hi, PQntuples(r));
    int rc_announce = announce_all(svc, r, NULL); /* -1: the webhook outbox row failed */
    PQclear(r);
    return rc_announce;
}

/* ---- client events: statuses ---------------------------------------------------- */

/* status_message: absent, null or "" clear it. */
static presence_str_t status_message(const proto_request_t *req)
{
    presence_str_t m = {NULL, 0};
    if (pl_mp_str(req->body, "status_message", &m.ptr, &m.len) || m.len == 0) {
        m.ptr = NULL;
        m.len = 0;
    }
    return m;
}

static int change_status(pl_service_t *svc, const proto_request_t *req, const char *status)
{
    PGresult *r = presence_store_set_status(pl_service_db(svc), req->uid, req->role, status,
                                            status_message(req));
    if (!r)
        return -1;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return -1;
    }
    presence_change_t c;
    presence_change_get(r, 0, &c);
    /* The actor is connected by definition: it sees its own status as a live
       connection does, even if its conn_open is still on its way to us. */
    msgpack_packer *pk = pl_service_reply(svc, req, NULL, 0);
    if (pk) {
        pack_status_change(pk, &c, c.self_status);
        pl_service_end(svc);
    }
    proto_exclude_t actor = pl_service_actor(req);
    int rc = announce(svc, &c, &actor);
    PQclear(r);
    return rc;
}

static int on_set_status(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    presence_app_t *app = app_;
    (void)app;
    char status[16];
    if (pl_mp_strcpy(req->body, "status", status, sizeof status)) {
        pl_service_error(svc, req, "bad_request", "status: is required");
        return 0;
    }
    if (strcmp(status, "available") == 0 && !mentor_like(req->role)) {
        pl_service_error(svc, req, "forbidden", "status available is for mentors");
        return 0;
    }
    return change_status(svc, req, status);
}

static int on_mentor_status(pl_service_t *svc, const proto_request_t *req, const char *status)
{
    if (!mentor_like(req->role)) {
        pl_service_error(svc, req, "forbidden", "only mentors may do this");
        return 0;
    }
    return change_status(svc, req, status);
}

static int on_mentor_available(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    presence_app_t *app = app_;
    (void)app;
    return on_mentor_status(svc, req, "available");
}

static int on_mentor_busy(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    presence_app_t *app = app_;
    (void)app;
    return on_mentor_status(svc, req, "busy");
}

/* ---- reads ---------------------------------------------------------------------- */

/* Join the strings of list (an array) with 0x1f into b. -1 when an item is not a
   valid user id or there are more than max. */
static int join_ids(const msgpack_object *list, size_t max, pl_buf_t *b)
{
    if (!list || list->type != MSGPACK_OBJECT_ARRAY || list->via.array.size > max)
        return -1;
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *o = &list->via.array.ptr[i];
        if (o->type != MSGPACK_OBJECT_STR || !pl_user_id_valid(o->via.str.ptr, o->via.str.size))
            return -1;
        if ((i && pl_buf_append(b, "\x1f", 1)) || pl_buf_append(b, o->via.str.ptr, o->via.str.size))
            return -1;
    }
    return 0;
}

/* Look up the ids of body.user_ids. Replies bad_request itself and returns 0 with
 *out NULL; -1 on database failure. */
static int lookup(pl_service_t *svc, const proto_request_t *req, size_t max, PGresult **out)
{
    *out = NULL;
    pl_buf_t ids;
    pl_buf_init(&ids, 0);
    int rc = 0;
    if (join_ids(pl_mp_get(req->body, "user_ids"), max, &ids)) {
        pl_service_error(svc, req, "bad_request", "user_ids: must be a list of valid user ids");
        goto done;
    }
    presence_str_t s = {ids.data, ids.len};
    *out = presence_store_presence(pl_service_db(svc), s);
    rc = *out ? 0 : -1;
done:
    pl_buf_free(&ids);
    return rc;
}

/* May the asker see row i? Themselves, a mentor, or a contact (chat's answer). */
static int may_see(const proto_request_t *req, const PGresult *r, int i,
                   const msgpack_object *contacts)
{
    const char *user = PQgetvalue(r, i, PQ_USER);
    if (strcmp(user, req->uid) == 0 ||
        (!pl_pg_null(r, i, PQ_ROLE) && in_directory(PQgetvalue(r, i, PQ_ROLE))))
        return 1;
    for (uint32_t k = 0; k < contacts->via.array.size; k++)
        if (pl_mp_str_eq(&contacts->via.array.ptr[k], user))
            return 1;
    return 0;
}

static int on_get_presence(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    presence_app_t *app = app_;
    const msgpack_object *contacts;
    if (presence_contacts_of(app, req, &contacts) != 0) {
        pl_service_error(svc, req, "unavailable", "chat did not answer in time, try again");
        return 0;
    }
    /* The server API (role system, gw_api.c) asks for up to 1,000 users and sees
       every one of them: the platform's backend is not a user with contacts. */
    int system = strcmp(req->role, PROTO_ROLE_SYSTEM) == 0;
    PGresult *r;
    if (lookup(svc, req, system ? QUERY_IDS_MAX : 500, &r))
        return -1;
    if (!r)
        return 0; /* answered bad_request */
    int n = PQntuples(r), shown = 0;
    for (int i = 0; i < n; i++)
        shown += system || may_see(req, r, i, contacts);
    msgpack_packer *pk = pl_service_reply(svc, req, NULL, 0);
    if (pk) {
        msgpack_pack_map(pk, 2);
        pl_pack_kv_str(pk, "type", "presence");
        pl_pack_str(pk, "users");
        msgpack_pack_array(pk, (size_t)shown);
        for (int i = 0; i < n; i++) {
            if (!system && !may_see(req, r, i, contacts))
                continue; /* left out, without a word: not even "unknown" */
            /* Asking about oneself: the asker is connected, whether or not its
               conn_open has reached us yet (as in the set_status answer). */
            int self = strcmp(PQgetvalue(r, i, PQ_USER), req->uid) == 0;
            const char *status = PQgetvalue(r, i, self ? PQ_SELF : PQ_STATUS);
            msgpack_pack_map(pk, 5);
            pack_kv_pg_text(pk, "user_id", r, i, PQ_USER);
            if (self && pl_pg_null(r, i, PQ_ROLE))
                pl_pack_kv_str(pk, "role", req->role);
            else
                pack_kv_pg_text(pk, "role", r, i, PQ_ROLE);
            pl_pack_kv_str(pk, "status", status);
            pack_kv_pg_text(pk, "status_message", r, i, PQ_MESSAGE);
            pack_last_seen(pk, status, !pl_pg_null(r, i, PQ_LAST_SEEN),
                           pl_pg_int(r, i, PQ_LAST_SEEN));
        }
        pl_service_end(svc);
    }
    PQclear(r);
    return 0;
}

static int on_list_mentors(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    presence_app_t *app = app_;
    (void)app;
    int available_only = 0;
    pl_mp_bool(req->body, "available_only", &available_only);
    PGresult *r = presence_store_mentors(pl_service_db(svc), available_only);
    if (!r)
        return -1;
    int n = PQntuples(r);
    msgpack_packer *pk = pl_service_reply(svc, req, NULL, 0);
    if (pk) {
        msgpack_pack_map(pk, 2);
        pl_pack_kv_str(pk, "type", "mentors");
        pl_pack_str(pk, "mentors");
        msgpack_pack_array(pk, (size_t)n);
        for (int i = 0; i < n; i++) {
            const char *status = PQgetvalue(r, i, PM_STATUS);
            msgpack_pack_map(pk, 5);
            pack_kv_pg_text(pk, "user_id", r, i, PM_USER);
            pack_kv_pg_text(pk, "name", r, i, PM_NAME);
            pl_pack_kv_str(pk, "status", status);
            pack_kv_pg_text(pk, "status_message", r, i, PM_MESSAGE);
            pack_last_seen(pk, status, !pl_pg_null(r, i, PM_LAST_SEEN),
                           pl_pg_int(r, i, PM_LAST_SEEN));
        }
        pl_service_end(svc);
    }
    PQclear(r);
    return 0;
}

/* ---- asks from other services --------------------------------------------------- */

static int on_presence_query(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    presence_app_t *app = app_;
    (void)app;
    PGresult *r;
    if (lookup(svc, req, QUERY_IDS_MAX, &r))
        return -1;
    if (!r)
        return 0; /* answered bad_request */
    int n = PQntuples(r);
    msgpack_packer *pk = pl_service_reply(svc, req, NULL, 0);
    if (pk) {
        msgpack_pack_map(pk, 2);
        pl_pack_kv_str(pk, "type", "presence_info");
        pl_pack_str(pk, "users");
        msgpack_pack_array(pk, (size_t)n);
        for (int i = 0; i < n; i++) {
            int64_t conns = pl_pg_int(r, i, PQ_CONNS);
            msgpack_pack_map(pk, 5);
            pack_kv_pg_text(pk, "user_id", r, i, PQ_USER);
            pack_kv_pg_text(pk, "role", r, i, PQ_ROLE);
            pack_kv_pg_text(pk, "status", r, i, PQ_STATUS);
            pl_pack_kv_bool(pk, "online", conns > 0);
            pl_pack_kv_int(pk, "connections", conns);
        }
        pl_service_end(svc);
    }
    PQclear(r);
    return 0;
}

static int on_available_mentors(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    presence_app_t *app = app_;
    (void)app;
    PGresult *r = presence_store_available(pl_service_db(svc));
    if (!r)
        return -1;
    int n = PQntuples(r);
    msgpack_packer *pk = pl_service_reply(svc, req, NULL, 0);
    if (pk) {
        msgpack_pack_map(pk, 2);
        pl_pack_kv_str(pk, "type", PROTO_EV_AVAILABLE_MENTORS);
        pl_pack_str(pk, "mentors");
        msgpack_pack_array(pk, (size_t)n);
        for (int i = 0; i < n; i++)
            pl_pack_strn(pk, PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0));
        pl_service_end(svc);
    }
    PQclear(r);
    return 0;
}

/* ref may be a string or an integer (a call id); stored as text. */
static int activity_ref(const msgpack_object *o, char *num, size_t cap, presence_str_t *out)
{
    int64_t v;
    if (o && o->type == MSGPACK_OBJECT_STR && o->via.str.size > 0 && o->via.str.size <= 128 &&
        !memchr(o->via.str.ptr, '\0', o->via.str.size)) {
        out->ptr = o->via.str.ptr;
        out->len = o->via.str.size;
        return 0;
    }
    if (pl_mp_as_int(o, &v) == 0) {
        out->len = (size_t)snprintf(num, cap, "%lld", (long long)v);
        out->ptr = num;
        return 0;
    }
    return -1;
}

static int on_activity(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    presence_app_t *app = app_;
    (void)app;
    presence_str_t uid, ref;
    int busy;
    char num[24];
    if (pl_mp_str(req->body, "user_id", &uid.ptr, &uid.len) || !pl_user_id_valid(uid.ptr, uid.len) ||
        pl_mp_bool(req->body, "busy", &busy) ||
        activity_ref(pl_mp_get(req->body, "ref"), num, sizeof num, &ref)) {
        pl_warn("bad activity", "from=%s", req->gw);
        pl_service_error(svc, req, "bad_request", "activity: needs user_id, busy and ref");
        return 0;
    }
    PGresult *r = presence_store_activity(pl_service_db(svc), uid, ref, busy);
    if (!r)
        return -1;
    int rc = announce_all(svc, r, NULL);
    PQclear(r);
    if (rc)
        return -1;
    pl_service_ack(svc, req); /* dropped for notifications (rq 0) */
    return 0;
}

/* ---- tick: timers from the database --------------------------------------------- */

static void emit_conn_gone(pl_service_t *svc, const presence_change_t *c)
{
    msgpack_packer *pk = pl_service_to_internal(svc, INTERNAL_TOPIC);
    if (!pk)
        return;
    msgpack_pack_map(pk, 4);
    pl_pack_kv_str(pk, "type", "conn_gone");
    pl_pack_kv_str(pk, "gw", c->gw);
    pl_pack_str(pk, "cn");
    msgpack_pack_uint64(pk, (uint64_t)c->cn);
    pl_pack_kv_str(pk, "user_id", c->user_id);
    pl_service_end(svc);
}

static int expire_leases(presence_app_t *app, pl_service_t *svc)
{
    PGresult *r = presence_store_expire_leases(pl_service_db(svc), pl_mono_ms() - app->started_ms,
                                               app->grace_ms, TIMER_BATCH);
    if (!r)
        return -1;
    int gone = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        presence_change_t c;
        presence_change_get(r, i, &c);
        if (c.kind == PRES_CHANGE_GONE) {
            emit_conn_gone(svc, &c);
            gone++;
        } else if (announce(svc, &c, NULL)) {
            PQclear(r);
            return -1;
        }
    }
    if (gone)
        pl_info("gateway lease lapsed", "connections_expired=%d", gone);
    PQclear(r);
    return 0;
}

int presence_tick(void *app_, pl_service_t *svc, int64_t now_ms)
{
    (void)now_ms; /* due times are compared with the database's clock */
    presence_app_t *app = app_;
    if (!app->started_ms)
        app->started_ms = pl_mono_ms();
    PGresult *r = presence_store_fire_grace(pl_service_db(svc), TIMER_BATCH);
    if (!r)
        return -1;
    int rc = announce_all(svc, r, NULL);
    PQclear(r);
    if (rc || expire_leases(app, svc))
        return -1;
    if (++app->ticks % SWEEP_EVERY_TICKS == 0 && presence_store_sweep(pl_service_db(svc)))
        return -1;
    return 0;
}

/* ---- dispatch ------------------------------------------------------------------- */

/* What presence-svc serves (the runtime looks requests up here). */
const pl_handler_t presence_handlers[] = {
    {PROTO_EV_CONN_OPEN, on_conn_open},
    {PROTO_EV_CONN_CLOSE, on_conn_close},
    {PROTO_EV_GW_LEASE, on_lease},
    {PROTO_EV_GW_RECONCILE, on_reconcile},
    {PROTO_EV_SET_STATUS, on_set_status},
    {PROTO_EV_MENTOR_AVAILABLE, on_mentor_available},
    {PROTO_EV_MENTOR_BUSY, on_mentor_busy},
    {PROTO_EV_GET_PRESENCE, on_get_presence},
    {PROTO_EV_LIST_MENTORS, on_list_mentors},
    {PROTO_EV_PRESENCE_QUERY, on_presence_query},
    {PROTO_EV_AVAILABLE_MENTORS, on_available_mentors},
    {PROTO_EV_ACTIVITY, on_activity},
    /* the server API and the gateways' revocation list (presence_api.c) */
    {PROTO_EV_API_DISCONNECT, presence_on_api_disconnect},
    {PROTO_EV_REVOCATIONS, presence_on_revocations},
    /* the server API's webhook dead letters (service/pl_webhook.c) */
    {PROTO_EV_API_WEBHOOK_DEAD, pl_webhook_on_dead_letters},
    {PROTO_EV_API_WEBHOOK_REPLAY, pl_webhook_on_replay},
    {NULL, NULL},
};

/* A spread of user ids that every instance computes alike (not keyed per process). */
static int64_t key_of(const char *s, size_t n)
{
    return (int64_t)(pl_hash_stable(s, n) >> 1);
}

/* Every instance takes user row locks in the same order (this key), so two
   instances' batches never deadlock; all requests about one user keep their order. */
int64_t presence_order_key(const proto_request_t *req)
{
    const char *uid;
    size_t n;
    if (strcmp(req->ev, PROTO_EV_ACTIVITY) == 0 && pl_mp_str(req->body, "user_id", &uid, &n) == 0)
        return key_of(uid, n);
    if (strcmp(req->ev, PROTO_EV_GW_LEASE) == 0)
        return key_of(req->gw, strlen(req->gw));
    /* First in its batch: the notices sent after the gateway's snapshot come after it
       in the batch too (those sent before it are harmless either way). It takes
       user locks only with SKIP LOCKED, so it cannot deadlock with another instance. */
    if (strcmp(req->ev, PROTO_EV_GW_RECONCILE) == 0)
        return -1;
    return key_of(req->uid, strlen(req->uid));
}
