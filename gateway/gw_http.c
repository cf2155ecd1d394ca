/*  gw_http: plain HTTP on the gateway's port: /healthz and /metrics.
    The one thing to know: the response body is prepared when the request arrives and
    written in HTTP_WRITEABLE (headers first, then the body in one final write), the
    lws way; it lives in the session's rx buffer until the transaction ends. */
#include "gw.h"
#include "gw_tls.h"

#include <stdlib.h>
#include <string.h>

#include "pl_clock.h"

#define HEALTH_WINDOW_MS 3000

int gw_healthy(gw_t *self, int64_t now_ms, int *per_service)
{
    int all = 1;
    for (int s = PROTO_SVC_CHAT; s < PROTO_SVC_COUNT; s++) {
        int ok = self->health_ok_ms[s] && now_ms - self->health_ok_ms[s] <= HEALTH_WINDOW_MS;
        if (per_service)
            per_service[s - PROTO_SVC_CHAT] = ok;
        all &= ok;
    }
    return all;
}

static void render_health(gw_t *gw, pl_buf_t *b, int *status)
{
    int up[PROTO_SVC_COUNT - 1];
    int ok = gw_healthy(gw, pl_mono_ms(), up);
    *status = ok ? HTTP_STATUS_OK : HTTP_STATUS_SERVICE_UNAVAILABLE;
    pl_buf_printf(b, "{\"status\":\"%s\",\"gateway\":\"%s\",\"connections\":%lld,\"services\":{",
                  ok ? "ok" : "unavailable", gw->gwid, (long long)gw->metrics.connections_open);
    for (int s = PROTO_SVC_CHAT; s < PROTO_SVC_COUNT; s++)
        pl_buf_printf(b, "%s\"%s\":\"%s\"", s > PROTO_SVC_CHAT ? "," : "",
                      proto_svc_name((proto_svc_t)s), up[s - PROTO_SVC_CHAT] ? "ok" : "down");
    pl_buf_puts(b, "}}\n");
}

static void render_metrics(gw_t *gw, pl_buf_t *b)
{
    const char *names[PROTO_SVC_COUNT - 1];
    int up[PROTO_SVC_COUNT - 1];
    gw_healthy(gw, pl_mono_ms(), up);
    for (int s = PROTO_SVC_CHAT; s < PROTO_SVC_COUNT; s++)
        names[s - PROTO_SVC_CHAT] = proto_svc_name((proto_svc_t)s);
    gw_metrics_render(&gw->metrics, b, names, up, PROTO_SVC_COUNT - 1);
    gw_inflight_render(gw, b);
    gw_tls_render_metrics(gw->tls, b); /* nothing without TLS */
}

/* Anything under /socket.io/ that is not a WebSocket upgrade: Engine.IO's polling
   transport, which Parley does not offer. Answered like Socket.IO's own server does
   ({"code","message"}, 400), with a message that says what to change. */
static int is_socketio(const char *path)
{
    return strncmp(path, "/socket.io", 10) == 0 && (path[10] == '/' || path[10] == '\0');
}

static void render_socketio_refusal(struct lws *wsi, pl_buf_t *b)
{
    char v[PL_TOKEN_MAX + 4096]; /* lws stops at the first argument that does not fit */
    const char *eio = lws_get_urlarg_by_name(wsi, "EIO=", v, sizeof v);
    if (eio && strcmp(eio, "4") != 0)
        pl_buf_puts(b, "{\"code\":5,\"message\":\"Unsupported protocol version: Engine.IO 4 "
                       "(EIO=4, Socket.IO v3/v4 clients) over WebSocket is required\"}\n");
    else
        pl_buf_puts(b, "{\"code\":3,\"message\":\"Bad request: HTTP long-polling is not "
                       "offered; connect with transports: ['websocket'] "
                       "(/socket.io/?EIO=4&transport=websocket)\"}\n");
}

/* A file of the demo page, sent by lws in pieces as the socket takes them. */
static int serve_file(struct lws *wsi, const char *file, const char *type)
{
    unsigned char hdr[LWS_PRE + 128], *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr;
    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                     (const unsigned char *)"no-store", 8, &p, end))
        return -1;
    int n = lws_serve_http_file(wsi, file, type, (const char *)start, (int)(p - start));
    if (n < 0 || (n > 0 && lws_http_transaction_completed(wsi)))
        return -1;
    return 0;
}

int gw_http_request(gw_t *gw, struct lws *wsi, const char *path)
{
    gw_conn_t *c = lws_wsi_user(wsi);
    if (!c)
        return -1;
    pl_buf_t *b = &c->rx;
    pl_buf_init(b, 0);
    const char *type = "application/json";
    int status = HTTP_STATUS_OK;
    char file[1536];
    gw_static_t st;
    if (strcmp(path, "/healthz") == 0) {
        render_health(gw, b, &status);
    } else if (strcmp(path, "/metrics") == 0) {
        render_metrics(gw, b);
        type = "text/plain; version=0.0.4";
    } else if (is_socketio(path)) {
        status = HTTP_STATUS_BAD_REQUEST;
        render_socketio_refusal(wsi, b);
    } else if ((st = gw_static_request(gw, wsi, path, b, &type, &status, file, sizeof file)) ==
               GW_STATIC_FILE) {
        pl_buf_free(b);
        return serve_file(wsi, file, type);
    } else if (st == GW_STATIC_BODY) {
        /* a dev token, or a 404 for a file that is not there */
    } else {
        status = HTTP_STATUS_NOT_FOUND;
        pl_buf_puts(b, "{\"error\":\"not found\"}\n");
    }
    if (!b->data)
        return -1;
    unsigned char hdr[LWS_PRE + 512], *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr;
    if (lws_add_http_common_headers(wsi, (unsigned int)status, type, b->len, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                     (const unsigned char *)"no-store", 8, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return 1;
    lws_callback_on_writable(wsi);
    return 0;
}

int gw_http_writeable(gw_t *gw, struct lws *wsi, gw_conn_t *c)
{
    (void)gw;
    if (!c || !c->rx.data)
        return -1;
    /* The body needs LWS_PRE of headroom: copy once into a buffer that has it. */
    size_t n = c->rx.len;
    unsigned char *buf = malloc(LWS_PRE + n);
    if (!buf)
        return -1;
    memcpy(buf + LWS_PRE, c->rx.data, n);
    int w = lws_write(wsi, buf + LWS_PRE, n, LWS_WRITE_HTTP_FINAL);
    free(buf);
    pl_buf_free(&c->rx);
    if (w != (int)n)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

void gw_http_done(gw_conn_t *c)
{
    if (c && !c->id) /* an HTTP session (WebSocket sessions have an id) */
        pl_buf_free(&c->rx);
}
