/*  gw_sio_session: Socket.IO sessions (Engine.IO v4 over WebSocket at /socket.io/;
    the codec is gw_sio.c, the WebSocket callback gw_ws.c).
    One Engine.IO connection carries one Socket.IO socket on "/", and that socket is the
   session: the namespace CONNECT authenticates it (gw_router_begin_session), its EVENTs
   become request objects for the router, and its DISCONNECT closes the connection.
   Heartbeat: every Socket.IO connection sits in one of two lists, both in due order
   because every connection uses the same interval: sio_wait (next ping due at
   sio_due_ms) or sio_pong (ping out, pong due by sio_due_ms). The tick's sweep only
   looks at the heads, so its cost is the number of connections that are due. */
#include "gw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_sio.h"
#include "pl_clock.h"
#include "pl_log.h"
#include "pl_mp.h"

static void list_append(gw_conn_list_t *l, gw_conn_t *c)
{
    PL_LIST_APPEND(l->head, l->tail, c, sio_prev, sio_next);
}

static void list_remove(gw_conn_list_t *l, gw_conn_t *c)
{
    if (PL_LIST_LINKED(l->head, c, sio_prev))
        PL_LIST_UNLINK(l->head, l->tail, c, sio_prev, sio_next);
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

static void sio_refuse(gw_t *gw, gw_conn_t *c, const char *nsp, size_t nsp_len, const char *code,
                       const char *message)
{
    pl_buf_t b;
    pl_buf_init(&b, 0);
    gw->metrics.errors[pl_error_code_index(code)]++;
    if (gw_sio_connect_error(&b, nsp, nsp_len, code, message) == 0)
        sio_send(gw, c, b.data, b.len);
    else
        gw_conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
    pl_buf_free(&b);
}

void gw_sio_session_refused(gw_t *gw, gw_conn_t *c, const char *code, const char *message)
{
    c->sio_connecting = 0;
    sio_refuse(gw, c, NULL, 0, code, message);
}

void gw_sio_session_connected(gw_t *gw, gw_conn_t *c)
{
    char sid[48];
    pl_buf_t b;
    pl_buf_init(&b, 0);
    c->sio_connecting = 0;
    gw_conn_session_id(gw, c, sid, sizeof sid);
    if (gw_sio_connect_ok(&b, sid) == 0)
        sio_send(gw, c, b.data, b.len);
    else
        gw_conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
    pl_buf_free(&b);
}

void gw_sio_session_disconnect(gw_t *gw, gw_conn_t *c)
{
    sio_send(gw, c, "41", 2);
}

void gw_sio_session_closed(gw_t *gw, gw_conn_t *c)
{
    if (c->sio)
        list_remove(c->sio_ping_out ? &gw->sio_pong : &gw->sio_wait, c);
}

void gw_sio_session_sweep(gw_t *gw, int64_t now_ms)
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

/* Engine.IO open. `token`: the upgrade's (?token= or Bearer), kept for the CONNECT;
   NULL when there was none. */
void gw_sio_session_open(gw_t *gw, gw_conn_t *c, const char *token)
{
    c->sio = 1;
    if (token && !(c->sio_token = strdup(token))) {
        gw_conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
        return;
    }
    char sid[48];
    pl_buf_t b;
    pl_buf_init(&b, 0);
    gw_conn_session_id(gw, c, sid, sizeof sid);
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
    gw_sio_token_t have = gw_sio_auth_token(p->data, p->data_len, token, sizeof token);
    if (have == GW_SIO_TOKEN_NOT_OBJECT) {
        gw_sio_session_refused(gw, c, "bad_request",
                          "the CONNECT payload must be a JSON object: {\"token\": \"...\"}");
        return;
    }
    if (have == GW_SIO_TOKEN_BAD) {
        gw_sio_session_refused(gw, c, "unauthenticated",
                          "invalid token: a string of at most 8192 bytes is required");
        return;
    }
    if (have == GW_SIO_TOKEN_NONE && !c->sio_token) {
        gw_sio_session_refused(gw, c, "unauthenticated",
                          "authentication required: connect with auth: {token} or ?token=");
        return;
    }
    if (have == GW_SIO_TOKEN_NONE)
        snprintf(token, sizeof token, "%s", c->sio_token);
    pl_identity_t id;
    char why[96], msg[128];
    if (pl_jwt_verify(gw->jwt, token, pl_wall_ms() / 1000, &id, why, sizeof why) != 0) {
        pl_info("auth refused", "conn=%llu reason=\"%s\"", (unsigned long long)c->id, why);
        snprintf(msg, sizeof msg, "invalid token: %s", why);
        gw_sio_session_refused(gw, c, "unauthenticated", msg);
        return;
    }
    free(c->sio_token);
    c->sio_token = NULL;
    c->sio_connecting = 1; /* until auth_success (40) or a refusal (44) */
    gw_router_begin_session(gw, c, &id, "", 0);
}

/* An EVENT is the request a raw client would send: its name the type, its ack the id,
   its argument the members (converted once; the router forwards those bytes). The
   router does the rest (rate limit, validation, forwarding; answers carry the ack id
   as their id). */
static void sio_event(gw_t *gw, gw_conn_t *c, const gw_sio_packet_t *p, int admitted)
{
    /* no connected socket to serve it (it was counted all the same), or a flood that
       is being closed: nothing more is parsed */
    if (c->state != GW_CONN_AUTHED || !gw_sio_default_nsp(p) || (!admitted && c->close_code))
        return;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    char err[128];
    gw_sio_event_t ev;
    if (gw_sio_event_parse(p->data, p->data_len, &sb, &up, &ev, err, sizeof err) != 0) {
        sio_bad(gw, c, p->ack, err, admitted);
    } else {
        msgpack_object ack = pl_mp_obj_int(p->ack);
        gw_request_t rq = {ev.arg, ev.name, p->ack >= 0 ? &ack : NULL, ev.body, ev.body_len};
        gw_router_request(gw, c, &rq, admitted);
    }
    msgpack_unpacked_destroy(&up);
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
void gw_sio_session_frame(gw_t *gw, gw_conn_t *c, const char *data, size_t len, int admitted)
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

