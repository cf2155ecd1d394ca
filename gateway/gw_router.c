/*  gw_router: what happens to a client frame, and to the answer that comes back.
    Frame path: JSON → MessagePack (no DOM, once) → envelope checks (object, id, type,
    rate limit, authentication) read from the unpacked map → proto validation → handled
    here (auth, ping, refresh, unsubscribe) or forwarded to the service named by proto/
    with a deadline: the envelope head, then the converted bytes themselves, copied less
    `type` and `id` (never packed again from the unpacked objects).
    Every forwarded request is remembered until its reply or its deadline; at the
    deadline the client gets `unavailable`, so a dead service never hangs a client. */
#include "gw.h"
#include "gw_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_clock.h"
#include "pl_json.h"
#include "pl_log.h"
#include "pl_mp.h"
#include "proto_envelope.h"

#define ID_MAX_BYTES 128
#define ID_JSON_MAX (ID_MAX_BYTES * 6 + 8) /* every byte escaped, quotes */

/* ---- pending requests --------------------------------------------------------- */

static gw_pending_t *pending_add(gw_t *gw, proto_svc_t svc, uint64_t conn_id, uint64_t rq,
                                 const char *id_json, int is_auth)
{
    size_t idlen = strlen(id_json);
    gw_pending_t *p = malloc(sizeof *p + idlen + 1);
    if (!p)
        return NULL;
    p->rq = rq;
    p->conn_id = conn_id;
    p->is_api = 0;
    p->deadline_ms = pl_mono_ms() + gw->cfg.request_timeout_ms;
    p->has_id = idlen > 0;
    p->is_auth = (uint8_t)is_auth;
    p->svc = (uint8_t)svc;
    memcpy(p->id_json, id_json, idlen + 1);
    if (pl_map_puti(gw->pending, rq, p) != 0) {
        free(p);
        return NULL;
    }
    /* One timeout for all requests: send order is deadline order, so a FIFO list
       is enough to find what expired. */
    PL_LIST_APPEND(gw->pend_head, gw->pend_tail, p, prev, next);
    if (!is_auth) /* sessions are bounded apart (gw_router_begin_session) */
        gw->inflight[svc]++;
    return p;
}

static void pending_free(gw_t *gw, gw_pending_t *p)
{
    pl_map_removei(gw->pending, p->rq);
    PL_LIST_UNLINK(gw->pend_head, gw->pend_tail, p, prev, next);
    if (!p->is_auth)
        gw->inflight[p->svc]--;
    free(p);
}

int gw_router_pending_api(gw_t *gw, uint64_t sess, uint64_t rq)
{
    gw_pending_t *p = pending_add(gw, PROTO_SVC_GATEWAY, sess, rq, "", 0);
    if (!p)
        return -1;
    p->is_api = 1;
    p->type_idx = GW_METRICS_MAX_TYPES;
    p->sent_us = pl_mono_us();
    return 0;
}

void gw_router_drop_pending(gw_t *gw, uint64_t rq)
{
    gw_pending_t *p = pl_map_geti(gw->pending, rq);
    if (p)
        pending_free(gw, p);
}

void gw_router_forget_pending(gw_t *gw)
{
    while (gw->pend_head)
        pending_free(gw, gw->pend_head);
}

/* ---- sessions ------------------------------------------------------------------ */

/* A session that could not be opened returns to "no identity". */
static void session_abort(gw_t *gw, gw_conn_t *c)
{
    gw_index_drop_conn(gw, c);
    free(c->uid);
    free(c->name);
    c->uid = c->name = NULL;
    c->role = PL_ROLE_NONE;
    c->state = GW_CONN_NEW;
    c->exp_s = 0;
}

/* The client hears why its session did not open: an error answer, or for a Socket.IO
   client the CONNECT_ERROR its namespace connect is waiting for. */
static void session_failed(gw_t *gw, gw_conn_t *c, const char *id_json, const char *code,
                           const char *message)
{
    session_abort(gw, c);
    if (c->sio)
        gw_sio_session_refused(gw, c, code, message);
    else
        gw_send_error(gw, c, id_json, code, message);
}

/* Forward a client's map (MessagePack bytes as converted from JSON) as request `ev`:
   the envelope head, then the map's own bytes less its `type` and `id`. */
static int forward(gw_t *gw, gw_conn_t *c, proto_svc_t svc, const char *ev, const char *as,
                   const char *body, size_t body_len, const char *id_json, int is_auth)
{
    uint64_t rq = ++gw->next_rq;
    msgpack_sbuffer_clear(&gw->scratch);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &gw->scratch, msgpack_sbuffer_write);
    /* ts: services shed what queued too long (overload.md); a session opening is
       never shed (0: not stamped), see gw_router_begin_session */
    int64_t now = pl_wall_ms();
    if (proto_pack_request_head_ts(&pk, ev, as, gw->gwid, c->id, rq, c->uid,
                                   pl_role_name(c->role), c->name,
                                   now + gw->cfg.request_timeout_ms, is_auth ? 0 : now) != 0 ||
        proto_pack_request_body(&gw->scratch, body, body_len) != 0)
        return -1;
    gw_pending_t *p = pending_add(gw, svc, c->id, rq, id_json, is_auth);
    if (p) { /* for the latency histogram */
        p->type_idx = (uint16_t)gw_metrics_type_index(as);
        p->sent_us = pl_mono_us();
    }
    if (!p || gw_bus_request(gw, svc, gw->scratch.data, gw->scratch.size) != 0) {
        if (p)
            pending_free(gw, p);
        return -1;
    }
    if (is_auth)
        c->auth_rq = rq;
    return 0;
}

void gw_router_begin_session(gw_t *gw, gw_conn_t *c, const pl_identity_t *id,
                             const char *id_json, int has_id)
{
    (void)has_id;
    if (gw_revoke_refused(gw, id->user_id, id->iat)) {
        pl_info("auth refused", "conn=%llu user=%s reason=\"token revoked\"",
                (unsigned long long)c->id, id->user_id);
        session_failed(gw, c, id_json, "unauthenticated", "invalid token: revoked");
        if (c->upgrade_token) /* no frame asked for it: the upgrade's token is dead */
            gw_conn_close(c, GW_CLOSE_DISCONNECTED, "token revoked");
        return;
    }
    if (gw_admission_user_full(gw, id->user_id)) {
        /* too late for an HTTP 429: the token came after the upgrade */
        session_failed(gw, c, id_json, "rate_limited", "too many connections for this user");
        gw_conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "too many connections");
        return;
    }
    /* No in-flight bound and no shedding by age for a session opening: each
       connection has one at most, so the connection caps bound them, and refusing
       them in a reconnect storm would only turn it into a storm of retries (every
       refused client reconnects). They wait their turn at chat-svc, which reads many
       at once (chat_sessions.c), and get `unavailable` only after
       REQUEST_TIMEOUT_MS (docs/design/overload.md). */
    c->uid = strdup(id->user_id);
    c->name = id->name[0] ? strdup(id->name) : NULL;
    c->role = id->role;
    gw_expiry_set(gw, c, id->exp); /* kept until the session opens */
    if (!c->uid || gw_index_set_user(gw, c, c->uid) != 0) {
        session_failed(gw, c, id_json, "internal", "internal error");
        return;
    }
    c->state = GW_CONN_AUTHING;
    /* chat-svc answers with auth_success (the user's conversations); the session
       id names this connection uniquely across gateways. */
    char sid[48];
    gw_conn_session_id(gw, c, sid, sizeof sid);
    msgpack_sbuffer body;
    msgpack_sbuffer_init(&body);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &body, msgpack_sbuffer_write);
    int rc = msgpack_pack_map(&pk, 1) || pl_pack_kv_str(&pk, "session_id", sid)
                 ? -1
                 : forward(gw, c, PROTO_SVC_CHAT, PROTO_EV_SESSION_OPEN, "auth", body.data,
                           body.size, id_json, 1);
    msgpack_sbuffer_destroy(&body);
    if (rc != 0)
        session_failed(gw, c, id_json, "unavailable", "the chat service is unavailable");
}

/* The `token` of an auth or refresh frame, verified. 0 with *out filled, or -1 after
   answering `unauthenticated`. */
static int frame_token(gw_t *gw, gw_conn_t *c, const msgpack_object *body, const char *id_json,
                       const char *what, pl_identity_t *out)
{
    const char *tok;
    size_t len;
    char token[PL_TOKEN_MAX + 1];
    pl_mp_str(body, "token", &tok, &len); /* validated by proto: 0..8192 chars */
    if (len > PL_TOKEN_MAX) {
        gw_send_error(gw, c, id_json, "unauthenticated", "invalid token: too long");
        return -1;
    }
    memcpy(token, tok, len);
    token[len] = '\0';
    char why[96];
    if (pl_jwt_verify(gw->jwt, token, pl_wall_ms() / 1000, out, why, sizeof why) != 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "invalid token: %s", why);
        pl_info(what, "conn=%llu user=%s reason=\"%s\"", (unsigned long long)c->id,
                c->uid ? c->uid : "-", why);
        gw_send_error(gw, c, id_json, "unauthenticated", msg);
        return -1;
    }
    return 0;
}

static void on_auth(gw_t *gw, gw_conn_t *c, const msgpack_object *body, const char *id_json)
{
    if (c->state != GW_CONN_NEW) {
        gw_send_error(gw, c, id_json, "conflict", "already authenticated");
        return;
    }
    pl_identity_t ident;
    if (frame_token(gw, c, body, id_json, "auth refused", &ident) != 0)
        return;
    gw_router_begin_session(gw, c, &ident, id_json, *id_json != '\0');
}

/* A new token for the session (before the old one expires): same verifier, same user,
   same role. Anything refused leaves the session exactly as it was. Its exp replaces
   the session's, later or earlier; a token without exp ends the expiry. */
static void on_refresh(gw_t *gw, gw_conn_t *c, const msgpack_object *body, const char *id_json)
{
    pl_identity_t ident;
    if (frame_token(gw, c, body, id_json, "refresh refused", &ident) != 0)
        return;
    if (gw_revoke_refused(gw, ident.user_id, ident.iat)) {
        gw_send_error(gw, c, id_json, "unauthenticated", "invalid token: revoked");
        return;
    }
    if (strcmp(ident.user_id, c->uid) != 0) {
        pl_info("refresh refused", "conn=%llu user=%s reason=\"another user's token\"",
                (unsigned long long)c->id, c->uid);
        gw_send_error(gw, c, id_json, "forbidden", "the token is for another user");
        return;
    }
    if (ident.role != c->role) {
        /* Role topics, presence and every service's view of the session hang on the
           role: a change takes a new connection. */
        pl_info("refresh refused", "conn=%llu user=%s reason=\"role changed\"",
                (unsigned long long)c->id, c->uid);
        gw_send_error(gw, c, id_json, "forbidden",
                      "the token has another role: connect again with it");
        return;
    }
    gw_expiry_refreshed(gw, c, ident.exp, id_json);
}

/* A gateway-built answer: {"type":…[,"conversation_id":…][,"id":…]}. The id is the
   client's, re-encoded as JSON (up to ID_JSON_MAX bytes), so the frame is built in a
   growable buffer: a fixed stack array here once let a hostile id write past its end. */
static void send_local(gw_t *gw, gw_conn_t *c, const char *type, long long conv,
                       const char *id_json)
{
    pl_buf_t b;
    pl_buf_init(&b, 0);
    int rc = pl_buf_printf(&b, "{\"type\":\"%s\"", type);
    if (rc == 0 && conv > 0)
        rc = pl_buf_printf(&b, ",\"conversation_id\":%lld", conv);
    if (rc == 0 && *id_json)
        rc = pl_buf_printf(&b, ",\"id\":%s", id_json);
    if (rc == 0)
        rc = pl_buf_putc(&b, '}');
    gw_msg_t *m = rc == 0 ? gw_msg_new(b.data, b.len) : NULL;
    pl_buf_free(&b);
    if (m) {
        gw_conn_send(gw, c, m);
        gw_msg_unref(m);
    }
}

/* ---- frames in ----------------------------------------------------------------- */

/* The client's id as JSON text: a string (≤ 128 bytes) or an integer. Returns 0 with
   out filled ("" when absent), -1 when present but unusable. */
static int read_id(const msgpack_object *id, char *out, size_t cap)
{
    out[0] = '\0';
    if (!id || id->type == MSGPACK_OBJECT_NIL)
        return 0;
    int64_t v;
    if (pl_mp_as_int(id, &v) == 0) {
        snprintf(out, cap, "%lld", (long long)v);
        return 0;
    }
    if (id->type != MSGPACK_OBJECT_STR || id->via.str.size > ID_MAX_BYTES)
        return -1;
    pl_buf_t b;
    pl_buf_init(&b, 0);
    int rc = pl_msgpack_to_json(id, &b);
    if (rc == 0 && b.len < cap)
        memcpy(out, b.data, b.len + 1);
    else
        rc = -1;
    pl_buf_free(&b);
    return rc;
}

/* An id we do not keep (a string over 128 bytes, a number that is not an int64) is
   still given back on its refusal when it is a string or a number, so the client can
   match the one answer its request gets. The frame limit bounds its size. */
static void refuse_id(gw_t *gw, gw_conn_t *c, const msgpack_object *id)
{
    const char *why = "id: must be a string of at most 128 bytes or an integer";
    pl_buf_t raw;
    pl_buf_init(&raw, 0);
    int scalar = id->type == MSGPACK_OBJECT_STR || id->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
                 id->type == MSGPACK_OBJECT_NEGATIVE_INTEGER || id->type == MSGPACK_OBJECT_FLOAT32 ||
                 id->type == MSGPACK_OBJECT_FLOAT64;
    if (scalar && pl_msgpack_to_json(id, &raw) == 0 && raw.data)
        gw_send_error(gw, c, raw.data, "bad_request", why);
    else
        gw_send_error(gw, c, NULL, "bad_request", why);
    pl_buf_free(&raw);
}

static int event_index(const proto_event_t *ev)
{
    size_t n;
    const proto_event_t *all = proto_events(&n);
    size_t i = (size_t)(ev - all);
    return i < GW_METRICS_MAX_TYPES ? (int)i : GW_METRICS_MAX_TYPES;
}

/* `admitted`: the frame's token was taken (gw_conn_admit, counted by the caller before
   any parsing); a frame over the limit still gets its one answer, with its id. */
static void handle_request(gw_t *gw, gw_conn_t *c, const gw_request_t *rq, int admitted)
{
    const msgpack_object *root = rq->fields;
    char id_json[ID_JSON_MAX];
    if (read_id(rq->id, id_json, sizeof id_json) != 0) {
        if (admitted)
            refuse_id(gw, c, rq->id);
        else
            gw_send_error(gw, c, NULL, "rate_limited", "too many frames, slow down");
        return;
    }
    if (!admitted) {
        gw_send_error(gw, c, id_json, "rate_limited", "too many frames, slow down");
        return;
    }
    if (!rq->type || rq->type->type != MSGPACK_OBJECT_STR) {
        gw_send_error(gw, c, id_json, c->state == GW_CONN_NEW ? "unauthenticated" : "bad_request",
                      "type: a string is required");
        return;
    }
    const char *type = rq->type->via.str.ptr;
    size_t tlen = rq->type->via.str.size;
    const proto_event_t *ev = proto_event_find(type, tlen);
    gw->metrics.frames_in[ev ? event_index(ev) : GW_METRICS_MAX_TYPES]++;
    int is_auth_or_ping = ev && ev->svc == PROTO_SVC_GATEWAY &&
                          (strcmp(ev->name, PROTO_EV_AUTH) == 0 || strcmp(ev->name, PROTO_EV_PING) == 0);
    if (c->state == GW_CONN_NEW && !is_auth_or_ping) {
        gw_send_error(gw, c, id_json, "unauthenticated", "authenticate first: send auth with a token");
        return;
    }
    if (!ev) {
        gw_send_error(gw, c, id_json, "bad_request", "unknown type");
        return;
    }
    char why[160];
    proto_verdict_t verdict = proto_validate(ev, root, why, sizeof why);
    if (verdict != PROTO_OK) {
        gw_send_error(gw, c, id_json, verdict == PROTO_TOO_LARGE ? "too_large" : "bad_request", why);
        return;
    }
    if (strcmp(ev->name, PROTO_EV_PING) == 0) {
        send_local(gw, c, "pong", 0, id_json);
        return;
    }
    if (strcmp(ev->name, PROTO_EV_AUTH) == 0) {
        on_auth(gw, c, root, id_json);
        return;
    }
    if (strcmp(ev->name, PROTO_EV_REFRESH) == 0) {
        on_refresh(gw, c, root, id_json);
        return;
    }
    if (strcmp(ev->name, PROTO_EV_UNSUBSCRIBE_CONVERSATION) == 0) {
        int64_t conv;
        pl_mp_int(root, "conversation_id", &conv);
        gw_index_unsubscribe(gw, c, conv);
        send_local(gw, c, "unsubscribed", (long long)conv, id_json);
        return;
    }
    if (gw_inflight_full(gw, ev->svc)) {
        gw_inflight_refuse(gw, c, id_json);
        return;
    }
    char as[64];
    snprintf(as, sizeof as, "%.*s", (int)tlen, type);
    if (forward(gw, c, ev->svc, ev->name, as, rq->body, rq->body_len, id_json, 0) != 0)
        gw_send_error(gw, c, id_json, "unavailable", "the service is unavailable, try again");
}

void gw_router_frame(gw_t *gw, gw_conn_t *c, const char *data, size_t len, int admitted)
{
    gw->metrics.bytes_in += len;
    /* A flood already closed the connection: nothing it sends is parsed any more. */
    if (!admitted && c->close_code)
        return;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    char err[128];
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    /* Raw text: a string's bytes are judged by proto_validate, which names the field
       and lets the refusal carry the request's id (proto_events.c, check_text). */
    if (pl_json_to_msgpack_ex(data, len, PL_JSON_RAW_TEXT, &sb, err, sizeof err) != 0)
        gw_send_error(gw, c, NULL, admitted ? "bad_request" : "rate_limited",
                      admitted ? err : "too many frames, slow down");
    else if (msgpack_unpack_next(&up, sb.data, sb.size, &off) != MSGPACK_UNPACK_SUCCESS ||
             up.data.type != MSGPACK_OBJECT_MAP)
        gw_send_error(gw, c, NULL, admitted ? "bad_request" : "rate_limited",
                      admitted ? "a frame must be a JSON object" : "too many frames, slow down");
    else {
        /* the map's bytes: the one object the converter wrote, forwarded as they are */
        gw_request_t rq = {&up.data, pl_mp_get(&up.data, "type"), pl_mp_get(&up.data, "id"),
                           sb.data, off};
        handle_request(gw, c, &rq, admitted);
    }
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
}

void gw_router_request(gw_t *gw, gw_conn_t *c, const gw_request_t *rq, int admitted)
{
    handle_request(gw, c, rq, admitted);
}

/* ---- answers in ---------------------------------------------------------------- */

static void note_health(gw_t *gw, const msgpack_object *body)
{
    const msgpack_object *svc = pl_mp_get(body, "svc");
    for (int s = PROTO_SVC_CHAT; s < PROTO_SVC_COUNT; s++)
        if (pl_mp_str_eq(svc, proto_svc_name((proto_svc_t)s)))
            gw->health_ok_ms[s] = pl_mono_ms();
}

void gw_router_reply(gw_t *gw, const msgpack_object *root)
{
    uint64_t cn, rq;
    const msgpack_object *body = pl_mp_get(root, PK_B);
    if (pl_mp_uint(root, PK_CN, &cn) || pl_mp_uint(root, PK_RQ, &rq) || !body ||
        body->type != MSGPACK_OBJECT_MAP)
        return;
    if (cn == 0) {
        if (pl_mp_str_eq(pl_mp_get(body, "type"), "revocations"))
            gw_revoke_load(gw, body);
        note_health(gw, body);
        return;
    }
    if (rq == 0) { /* a push to one connection, answering nothing */
        gw_conn_t *target = pl_map_geti(gw->conns, cn);
        gw_msg_t *m = target && target->state == GW_CONN_AUTHED
                          ? gw_msg_from_event(gw, body, NULL)
                          : NULL;
        if (m) {
            gw_deliver_frame(gw, target, root, body, m);
            gw_msg_unref(m);
        }
        return;
    }
    gw_pending_t *p = pl_map_geti(gw->pending, rq);
    if (!p)
        return; /* answered `unavailable` already */
    if (p->is_api) { /* a server API request: the answer is HTTP (gw_api.c) */
        uint64_t sess = p->conn_id;
        pending_free(gw, p);
        gw_api_reply(gw, sess, body);
        return;
    }
    gw_metrics_observe(&gw->metrics, p->type_idx, pl_mono_us() - p->sent_us);
    if (!p->is_auth)
        gw_inflight_answered(gw, (proto_svc_t)p->svc, p->sent_us,
                             pl_mp_str_eq(pl_mp_get(body, "code"), "overloaded"));
    gw_conn_t *c = pl_map_geti(gw->conns, cn);
    int is_auth = p->is_auth;
    char id_json[ID_JSON_MAX];
    snprintf(id_json, sizeof id_json, "%s", p->id_json);
    int has_id = p->has_id;
    pending_free(gw, p);
    if (!c || !c->wsi)
        return;
    const msgpack_object *type = pl_mp_get(body, "type");
    if (is_auth) {
        if (!pl_mp_str_eq(type, "auth_success")) {
            if (c->sio) { /* the refusal is a CONNECT_ERROR, not an error event */
                char code[32] = "internal", msg[256] = "the session could not be opened";
                (void)pl_mp_strcpy(body, "code", code, sizeof code); /* else the default */
                (void)pl_mp_strcpy(body, "message", msg, sizeof msg);
                session_failed(gw, c, "", code, msg);
                return;
            }
            session_abort(gw, c);
        } else {
            c->state = GW_CONN_AUTHED;
            gw_unauth_remove(gw, c);
            gw->metrics.connections_authed++;
            if (gw->role_conns[c->role]++ == 0) {
                const char *role = pl_role_name(c->role);
                gw_bus_topic(gw, PROTO_TOPIC_ROLE, role, strlen(role), 1);
            }
            gw_bus_notify(gw, c, PROTO_SVC_PRESENCE, PROTO_EV_CONN_OPEN);
            gw_expiry_set(gw, c, c->exp_s); /* the token's lifetime starts counting */
            if (c->sio)
                gw_sio_session_connected(gw, c); /* 40{"sid"} goes out before auth_success */
        }
    }
    if (pl_mp_str_eq(type, "ack") && !has_id) {
        gw_deliver_frame(gw, c, root, body, NULL); /* no frame, but what it subscribes */
        return; /* requests without an id get no ack */
    }
    if (pl_mp_str_eq(type, "error")) {
        const msgpack_object *code = pl_mp_get(body, "code");
        char cs[32] = "internal";
        if (code && code->type == MSGPACK_OBJECT_STR && code->via.str.size < sizeof cs)
            snprintf(cs, sizeof cs, "%.*s", (int)code->via.str.size, code->via.str.ptr);
        gw->metrics.errors[pl_error_code_index(cs)]++;
    }
    gw_msg_t *m = gw_msg_from_event(gw, body, id_json);
    if (m) {
        gw_deliver_frame(gw, c, root, body, m);
        gw_msg_unref(m);
    }
}

void gw_router_expire(gw_t *gw, int64_t now_ms)
{
    while (gw->pend_head && gw->pend_head->deadline_ms <= now_ms) {
        gw_pending_t *p = gw->pend_head;
        gw_conn_t *c = p->is_api ? NULL : pl_map_geti(gw->conns, p->conn_id);
        gw->metrics.requests_timed_out++;
        if (p->is_api)
            gw_api_timeout(gw, p->conn_id);
        if (c && c->wsi) {
            if (p->is_auth)
                session_failed(gw, c, p->id_json, "unavailable",
                               "the service did not answer in time, try again");
            else
                gw_send_error(gw, c, p->id_json, "unavailable",
                              "the service did not answer in time, try again");
        }
        pending_free(gw, p);
    }
}
