/*  gw_ws: the libwebsockets protocol: one callback, one switch, as in lws' minimal
    examples. HTTP (/healthz, /metrics, upgrade checks) and WebSocket events of the
    same port arrive here; the work itself lives in gw_conn, gw_router and gw_http.
    Socket.IO clients upgrade at /socket.io/ and speak Engine.IO v4 / Socket.IO v5
    (codec: gw_sio.c); gw_sio_session.c turns their packets into the same request
    objects raw clients send, so the router serves both alike. */
#include "gw.h"
#include "gw_tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        if (pl_jwt_verify(gw->jwt, token, pl_wall_ms() / 1000, &id, why, sizeof why) != 0 ||
            gw_revoke_refused(gw, id.user_id, id.iat))
            return refuse(wsi, HTTP_STATUS_UNAUTHORIZED, "invalid token");
    }
    status = gw_admission_check(gw, wsi, have > 0 ? id.user_id : NULL, &full);
    return status ? refuse(wsi, status, full) : 0;
}

static void on_established(gw_t *gw, gw_conn_t *c, struct lws *wsi)
{
    gw_conn_open(gw, c, wsi);
    if (gw_admission_opened(gw, c, wsi) != 0) {
        gw_conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
        return;
    }
    if (path_is_socketio(wsi)) {
        char token[PL_TOKEN_MAX + 1];
        int have = upgrade_token(wsi, token, sizeof token);
        /* one too long to be ours is kept as "", which the CONNECT then refuses */
        gw_sio_session_open(gw, c, have > 0 ? token : have < 0 ? "" : NULL);
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
        c->sio ? gw_sio_session_frame : gw_router_frame;
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
        gw_keepalive_alive(gw, c);
        return on_receive(gw, c, wsi, in, len);
    case LWS_CALLBACK_RECEIVE_PONG:
        gw_keepalive_alive(gw, c);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return gw_conn_writeable(gw, c);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        /* Our close frame went out by hand (gw_conn_writeable), so lws does not know
           the handshake is ours: echoing the client's answer would be a second close
           frame, which browsers take as a protocol error and report as 1006 instead
           of our code (4001, 4002, 1008). Nonzero: close without echoing. */
        return c && c->close_sent ? 1 : 0;
    case LWS_CALLBACK_CLOSED:
        gw_conn_closed(gw, c);
        return 0;
    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
        return gw_tls_attach(gw->tls, user) ? -1 : 0; /* user: this vhost's SSL_CTX */
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
