/*  gw_ws: the libwebsockets protocol: one callback, one switch, as in lws' minimal
    examples. HTTP (/healthz, /metrics, upgrade checks) and WebSocket events of the
    same port arrive here; the work itself lives in gw_conn, gw_router and gw_http.
    Socket.IO clients upgrade at /socket.io/ and speak Engine.IO v4 / Socket.IO v5
    (codec: gw_sio.c); the section "Socket.IO sessions" below turns their packets into
    the same request objects raw clients send, so the router serves both alike. */
#include "gw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_sio.h"
#include "pl_clock.h"
#include "pl_config.h"
#include "pl_log.h"

/* Read the token given at the upgrade: `?token=` or `Authorization: Bearer`.
   Returns 1 and fills buf if there is one, 0 if none, -1 if one is there but is
   longer than any token we accept. */
static int upgrade_token(struct lws *wsi, char *buf, int cap)
{
    const char *v = lws_get_urlarg_by_name(wsi, "token=", buf, cap);
    if (v && *v) {
        memmove(buf, v, strlen(v) + 1);
        return 1;
    }
    char auth[PL_TOKEN_MAX + 16];
    int n = lws_hdr_copy(wsi, auth, sizeof auth, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n > 7 && strncasecmp(auth, "Bearer ", 7) == 0) {
        const char *t = auth + 7;
        while (*t == ' ')
            t++;
        size_t tl = strlen(t);
        if (tl == 0 || tl >= (size_t)cap)
            return tl ? -1 : 0; /* too long to be one of our tokens */
        memcpy(buf, t, tl + 1);
        return 1;
    }
    return 0;
}

static int path_is_websocket(struct lws *wsi)
{
    char uri[256];
    if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0)
        return 0;
    return strcmp(uri, "/") == 0 || strcmp(uri, "/ws") == 0;
}

static int path_is_socketio(struct lws *wsi)
{
    char uri[256];
    if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0)
        return 0;
    return strcmp(uri, "/socket.io/") == 0 || strcmp(uri, "/socket.io") == 0;
}

/* Refuse an upgrade with an HTTP status before any WebSocket exists. */
static int refuse(struct lws *wsi, unsigned int status, const char *why)
{
    pl_info("upgrade refused", "status=%u reason=\"%s\"", status, why);
    lws_return_http_status(wsi, status, why);
    return 1;
}

/* Is query argument `name` (with its '=') exactly `want`? lws stops looking at the
   first argument that does not fit its buffer, so the buffer fits any (a token). */
static int url_arg_is(struct lws *wsi, const char *name, const char *want)
{
    char v[PL_TOKEN_MAX + 4096];
    const char *got = lws_get_urlarg_by_name(wsi, name, v, sizeof v);
    return got && strcmp(got, want) == 0;
}

/* Engine.IO 4 over WebSocket only. A token is not checked here: a Socket.IO client
   learns of a bad one from the CONNECT_ERROR its namespace connect gets. */
static int confirm_socketio(struct lws *wsi)
{
    if (!url_arg_is(wsi, "EIO=", "4"))
        return refuse(wsi, HTTP_STATUS_BAD_REQUEST,
                      "unsupported protocol version: Engine.IO 4 (EIO=4, Socket.IO v3/v4 "
                      "clients) is required");
    if (!url_arg_is(wsi, "transport=", "websocket"))
        return refuse(wsi, HTTP_STATUS_BAD_REQUEST,
                      "transport=websocket is required: set transports: ['websocket']");
    return 0;
}

static int confirm_upgrade(gw_t *gw, struct lws *wsi)
{
    /* During the shutdown grace a new connection would be cut again at once; refused,
       a reconnecting client (Socket.IO's does so by itself) goes on to try elsewhere. */
    if (gw->stopping)
        return refuse(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "server shutting down");
    int sio = path_is_socketio(wsi);
    if (!sio && !path_is_websocket(wsi))
        return refuse(wsi, HTTP_STATUS_NOT_FOUND,
                      "no WebSocket endpoint here: use /, /ws or /socket.io/");
    char origin[512];
    int n = lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN);
    if (n > 0 && !gw_config_origin_allowed(&gw->cfg, origin, (size_t)n))
        return refuse(wsi, HTTP_STATUS_FORBIDDEN, "origin not allowed");
    const char *full;
    unsigned status;
    if (sio) {
        if (confirm_socketio(wsi))
            return 1;
        status = gw_admission_check(gw, wsi, NULL, &full);
        return status ? refuse(wsi, status, full) : 0;
    }
    char token[PL_TOKEN_MAX + 1];
    int have = upgrade_token(wsi, token, sizeof token);
    if (have < 0)
        return refuse(wsi, HTTP_STATUS_UNAUTHORIZED, "invalid token");
    pl_identity_t id;
    if (have > 0) {
        char why[96];
        if (pl_jwt_verify(gw->jwt, token, pl_wall_ms() / 1000, &id, why, sizeof why) != 0)
            return refuse(wsi, HTTP_STATUS_UNAUTHORIZED, "invalid token");
    }
    status = gw_admission_check(gw, wsi, have > 0 ? id.user_id : NULL, &full);
    return status ? refuse(wsi, status, full) : 0;
}

/* ---- Socket.IO sessions ------------------------------------------------------------
   One Engine.IO connection carries one Socket.IO socket on "/", and that socket is the
   session: the namespace CONNECT authenticates it (gw_router_begin_session), its EVENTs
   become request objects for the router, and its DISCONNECT closes the connection.
   Heartbeat: every Socket.IO connection sits in one of two lists, both in due order
   because every connection uses the same interval: sio_wait (next ping due at
   sio_due_ms) or sio_pong (ping out, pong due by sio_due_ms). The tick's sweep only
   looks at the heads, so its cost is the number of connections that are due. */

static void list_append(gw_conn_list_t *l, gw_conn_t *c)
{
    c->sio_prev = l->tail;
    c->sio_next = NULL;
    if (l->tail)
        l->tail->sio_next = c;
    else
        l->head = c;
    l->tail = c;
}

static void list_remove(gw_conn_list_t *l, gw_conn_t *c)
{
    if (!c->sio_prev && l->head != c)
        return; /* not in this list */
    if (c->sio_prev)
        c->sio_prev->sio_next = c->sio_next;
    else
        l->head = c->sio_next;
    if (c->sio_next)
        c->sio_next->sio_prev = c->sio_prev;
    else
        l->tail = c->sio_prev;
    c->sio_prev = c->sio_next = NULL;
}

/* Queue a ready Engine.IO packet (sent as is, never converted). */
static void sio_send(gw_t *gw, gw_conn_t *c, const char *packet, size_t len)
{
    gw_msg_t *m = packet ? gw_msg_new(packet, len) : NULL;
    if (!m) {
        gw_conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
        return;
    }
    m->wire = 1;
    gw_conn_send(gw, c, m);
    gw_msg_unref(m);
}

/* The connection's session id, as auth_success reports it (gw_router_begin_session). */
static void session_id(gw_t *gw, const gw_conn_t *c, char *out, size_t cap)
{
    snprintf(out, cap, "%s-%llx", gw->gwid, (unsigned long long)c->id);
}

static void sio_refuse(gw_t *gw, gw_conn_t *c, const char *nsp, size_t nsp_len, const char *code,
                       const char *message)
{
    pl_buf_t b;
    pl_buf_init(&b, 0);
    gw->metrics.errors[gw_metrics_error_index(code)]++;
    if (gw_sio_connect_error(&b, nsp, nsp_len, code, message) == 0)
        sio_send(gw, c, b.data, b.len);
    else
        gw_conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
    pl_buf_free(&b);
}

void gw_ws_sio_refused(gw_t *gw, gw_conn_t *c, const char *code, const char *message)
{
    c->sio_connecting = 0;
    sio_refuse(gw, c, NULL, 0, code, message);
}

void gw_ws_sio_connected(gw_t *gw, gw_conn_t *c)
{
    char sid[48];
    pl_buf_t b;
    pl_buf_init(&b, 0);
    c->sio_connecting = 0;
    session_id(gw, c, sid, sizeof sid);
    if (gw_sio_connect_ok(&b, sid) == 0)
        sio_send(gw, c, b.data, b.len);
    else
        gw_conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
    pl_buf_free(&b);
}

void gw_ws_sio_disconnect(gw_t *gw, gw_conn_t *c)
{
    sio_send(gw, c, "41", 2);
}

void gw_ws_sio_closed(gw_t *gw, gw_conn_t *c)
{
    if (c->sio)
        list_remove(c->sio_ping_out ? &gw->sio_pong : &gw->sio_wait, c);
}

void gw_ws_sio_sweep(gw_t *gw, int64_t now_ms)
{
    while (gw->sio_pong.head && gw->sio_pong.head->sio_due_ms <= now_ms) {
        gw_conn_t *c = gw->sio_pong.head;
        list_remove(&gw->sio_pong, c);
        c->sio_ping_out = 0; /* in no list from now on */
        pl_info("ping timeout", "conn=%llu user=%s", (unsigned long long)c->id,
                c->uid ? c->uid : "-");
        gw_conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "ping timeout");
    }
    while (gw->sio_wait.head && gw->sio_wait.head->sio_due_ms <= now_ms) {
        gw_conn_t *c = gw->sio_wait.head;
        list_remove(&gw->sio_wait, c);
        sio_send(gw, c, "2", 1);
        c->sio_ping_out = 1;
        c->sio_due_ms = now_ms + gw->cfg.sio_ping_timeout_ms;
        list_append(&gw->sio_pong, c);
    }
}

static void sio_pong(gw_t *gw, gw_conn_t *c)
{
    if (!c->sio_ping_out)
        return; /* unasked: it proves nothing we wait for */
    list_remove(&gw->sio_pong, c);
    c->sio_ping_out = 0;
    c->sio_due_ms = pl_mono_ms() + gw->cfg.sio_ping_interval_ms;
    list_append(&gw->sio_wait, c);
}

/* Engine.IO open; the upgrade's token (?token= or Bearer) waits for the CONNECT. */
static void sio_open(gw_t *gw, gw_conn_t *c, struct lws *wsi)
{
    c->sio = 1;
    char token[PL_TOKEN_MAX + 1];
    int have = upgrade_token(wsi, token, sizeof token);
    /* one too long to be ours is kept as "", which the CONNECT then refuses */
    if (have != 0 && !(c->sio_token = strdup(have > 0 ? token : ""))) {
        gw_conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
        return;
    }
    char sid[48];
    pl_buf_t b;
    pl_buf_init(&b, 0);
    session_id(gw, c, sid, sizeof sid);
    if (gw_eio_open(&b, sid, gw->cfg.sio_ping_interval_ms, gw->cfg.sio_ping_timeout_ms,
                    gw->cfg.max_frame_bytes) == 0)
        sio_send(gw, c, b.data, b.len);
    else
        gw_conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
    pl_buf_free(&b);
    c->sio_due_ms = pl_mono_ms() + gw->cfg.sio_ping_interval_ms;
    list_append(&gw->sio_wait, c);
}

/* A packet the client got wrong: an `error` event (or the ack's answer when it asked
   for one). Before the namespace is connected there is no socket to tell. */
static void sio_bad(gw_t *gw, gw_conn_t *c, int64_t ack, const char *why, int admitted)
{
    if (!admitted || c->state != GW_CONN_AUTHED)
        return;
    char id_json[24] = "";
    if (ack >= 0)
        snprintf(id_json, sizeof id_json, "%lld", (long long)ack);
    gw_send_error(gw, c, id_json, "bad_request", why);
}

static void sio_connect(gw_t *gw, gw_conn_t *c, const gw_sio_packet_t *p)
{
    if (!gw_sio_default_nsp(p)) {
        sio_refuse(gw, c, p->nsp, p->nsp_len, "not_found",
                   "Invalid namespace: only the default namespace / is served");
        return;
    }
    if (c->state != GW_CONN_NEW || c->sio_connecting)
        return; /* connected, or on its way: a repeated CONNECT changes nothing */
    char token[PL_TOKEN_MAX + 1];
    int have = gw_sio_auth_token(p->data, p->data_len, token, sizeof token);
    if (have == -1) {
        gw_ws_sio_refused(gw, c, "bad_request",
                          "the CONNECT payload must be a JSON object: {\"token\": \"...\"}");
        return;
    }
    if (have == -2) {
        gw_ws_sio_refused(gw, c, "unauthenticated",
                          "invalid token: a string of at most 8192 bytes is required");
        return;
    }
    if (have == 0 && !c->sio_token) {
        gw_ws_sio_refused(gw, c, "unauthenticated",
                          "authentication required: connect with auth: {token} or ?token=");
        return;
    }
    if (have == 0)
        snprintf(token, sizeof token, "%s", c->sio_token);
    pl_identity_t id;
    char why[96], msg[128];
    if (pl_jwt_verify(gw->jwt, token, pl_wall_ms() / 1000, &id, why, sizeof why) != 0) {
        pl_info("auth refused", "conn=%llu reason=\"%s\"", (unsigned long long)c->id, why);
        snprintf(msg, sizeof msg, "invalid token: %s", why);
        gw_ws_sio_refused(gw, c, "unauthenticated", msg);
        return;
    }
    free(c->sio_token);
    c->sio_token = NULL;
    c->sio_connecting = 1; /* until auth_success (40) or a refusal (44) */
    gw_router_begin_session(gw, c, &id, "", 0);
}

/* An EVENT becomes the request object a raw client would send; the router does the
   rest (rate limit, validation, forwarding; answers carry the ack id as their id). */
static void sio_event(gw_t *gw, gw_conn_t *c, const gw_sio_packet_t *p, int admitted)
{
    /* no connected socket to serve it (it was counted all the same), or a flood that
       is being closed: nothing more is parsed */
    if (c->state != GW_CONN_AUTHED || !gw_sio_default_nsp(p) || (!admitted && c->close_code))
        return;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    char err[128];
    if (gw_sio_event_request(p->data, p->data_len, p->ack, &sb, err, sizeof err) != 0) {
        sio_bad(gw, c, p->ack, err, admitted);
    } else {
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        size_t off = 0;
        if (msgpack_unpack_next(&up, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS)
            gw_router_object(gw, c, &up.data, admitted);
        msgpack_unpacked_destroy(&up);
    }
    msgpack_sbuffer_destroy(&sb);
}

static void sio_message(gw_t *gw, gw_conn_t *c, const char *data, size_t len, int admitted)
{
    gw_sio_packet_t p;
    char err[128];
    if (gw_sio_parse(data, len, &p, err, sizeof err) != 0) {
        sio_bad(gw, c, -1, err, admitted);
        return;
    }
    switch (p.type) {
    case GW_SIO_EVENT:
        sio_event(gw, c, &p, admitted);
        break;
    case GW_SIO_CONNECT:
        if (admitted)
            sio_connect(gw, c, &p);
        break;
    case GW_SIO_DISCONNECT:
        if (gw_sio_default_nsp(&p))
            gw_conn_close(c, LWS_CLOSE_STATUS_NORMAL, "client disconnected");
        break;
    case GW_SIO_BINARY_EVENT:
    case GW_SIO_BINARY_ACK:
        /* its attachments follow as binary frames: dropped quietly, one error is enough */
        c->sio_bin_skip = (uint8_t)p.attachments;
        sio_bad(gw, c, p.type == GW_SIO_BINARY_EVENT ? p.ack : -1,
                "binary events are not supported: send JSON (no Buffer, ArrayBuffer or Blob "
                "in the arguments)",
                admitted);
        break;
    default: /* ACK, CONNECT_ERROR: the server asks clients for nothing */
        break;
    }
}

/* One Engine.IO packet (a whole text frame), counted by the rate limiter already. */
static void sio_frame(gw_t *gw, gw_conn_t *c, const char *data, size_t len, int admitted)
{
    gw->metrics.bytes_in += len;
    gw_eio_packet_t e;
    if (gw_eio_parse(data, len, &e) != 0) {
        sio_bad(gw, c, -1, "not an Engine.IO packet: expected a type digit 0-6", admitted);
        return;
    }
    if (e.type == GW_EIO_MESSAGE) {
        sio_message(gw, c, e.data, e.len, admitted);
        return;
    }
    if (e.type == GW_EIO_PONG) {
        sio_pong(gw, c);
    } else if (e.type == GW_EIO_PING && admitted && e.len <= 16) {
        char pong[17] = "3"; /* a client ping ("2probe") gets its data back */
        memcpy(pong + 1, e.data, e.len);
        sio_send(gw, c, pong, 1 + e.len);
    } else if (e.type == GW_EIO_CLOSE) {
        gw_conn_close(c, LWS_CLOSE_STATUS_NORMAL, "client closed");
    }
}

static void on_established(gw_t *gw, gw_conn_t *c, struct lws *wsi)
{
    gw_conn_open(gw, c, wsi);
    if (gw_admission_opened(gw, c, wsi) != 0) {
        gw_conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
        return;
    }
    if (path_is_socketio(wsi)) {
        sio_open(gw, c, wsi);
        return;
    }
    char token[PL_TOKEN_MAX + 1];
    if (upgrade_token(wsi, token, sizeof token) <= 0)
        return;
    pl_identity_t id;
    char why[96];
    /* Verified at the upgrade already; checked again because the identity is not
       carried across lws' HTTP → WebSocket switch. */
    if (pl_jwt_verify(gw->jwt, token, pl_wall_ms() / 1000, &id, why, sizeof why) != 0) {
        gw_conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "invalid token");
        return;
    }
    c->upgrade_token = 1;
    gw_router_begin_session(gw, c, &id, "", 0);
}

/* Collect a message that may arrive in pieces; act on it when complete. */
static int on_receive(gw_t *gw, gw_conn_t *c, struct lws *wsi, const char *in, size_t len)
{
    if (c->close_code)
        return 0;
    size_t total = c->rx.len + len + lws_remaining_packet_payload(wsi);
    if (total > (size_t)gw->cfg.max_frame_bytes) {
        pl_info("frame too large", "conn=%llu bytes=%zu", (unsigned long long)c->id, total);
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)"frame too large", 15);
        return -1;
    }
    int final = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;
    /* Every whole frame costs a token before anything parses it, so a flood of frames
       the gateway would refuse anyway (bad JSON, bad ids, before auth) is limited and
       closed like any other. */
    int admitted = final ? gw_conn_admit(gw, c, pl_mono_ms()) : 1;
    if (lws_frame_is_binary(wsi)) {
        if (!final)
            return 0; /* binary payloads are never kept */
        pl_buf_reset(&c->rx);
        if (c->sio_bin_skip) { /* an attachment of a binary packet refused already */
            c->sio_bin_skip--;
            return 0;
        }
        if (++c->binary_frames >= 2) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
                             (unsigned char *)"binary frames are not accepted", 30);
            return -1;
        }
        if (admitted)
            gw_send_error(gw, c, NULL, "bad_request", "binary frames are not accepted: send JSON text");
        return 0;
    }
    void (*frame)(gw_t *, gw_conn_t *, const char *, size_t, int) =
        c->sio ? sio_frame : gw_router_frame;
    if (final && c->rx.len == 0) { /* the common case: one piece, no copy */
        frame(gw, c, in, len, admitted);
        return 0;
    }
    if (pl_buf_append(&c->rx, in, len) != 0)
        return -1;
    if (final) {
        frame(gw, c, c->rx.data, c->rx.len, admitted);
        pl_buf_free(&c->rx); /* large buffers are not kept for idle connections */
    }
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    gw_t *gw = lws_context_user(lws_get_context(wsi));
    gw_conn_t *c = user;
    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return confirm_upgrade(gw, wsi);
    case LWS_CALLBACK_HTTP:
        return gw_http_request(gw, wsi, (const char *)in);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return gw_http_writeable(gw, wsi, c);
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        gw_http_done(c);
        return 0;
    case LWS_CALLBACK_ESTABLISHED:
        on_established(gw, c, wsi);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        return on_receive(gw, c, wsi, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return gw_conn_writeable(gw, c);
    case LWS_CALLBACK_CLOSED:
        gw_conn_closed(gw, c);
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

const struct lws_protocols gw_protocols[] = {
    /* A small rx buffer keeps idle connections cheap; bigger messages arrive in
       pieces and are reassembled (up to MAX_FRAME_BYTES) only while they arrive. */
    {"parley", callback, sizeof(gw_conn_t), 512, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};
