/*  gw_server: the gateway object's life: libuv loop, lws context on that loop,
    ZeroMQ bus, the 100 ms housekeeping tick, and a clean shutdown on SIGINT/SIGTERM
    (clients are told 1001 "going away", then everything is torn down in reverse). */
#include "gw.h"
#include "gw_api.h"
#include "gw_tls.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_clock.h"
#include "pl_log.h"

#define TICK_MS 100
#define PROBE_EVERY_MS 1000
#define SHUTDOWN_GRACE_MS 500

static void random_gwid(char *out)
{
    unsigned char b[8] = {0};
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(b, 1, sizeof b, f) != sizeof b) {
        int64_t t = pl_wall_ms();
        memcpy(b, &t, sizeof b);
    }
    if (f)
        fclose(f);
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void expire_unauthenticated(gw_t *gw, int64_t now)
{
    while (gw->unauth_head && now - gw->unauth_head->opened_ms >= gw->cfg.auth_timeout_ms) {
        gw_conn_t *c = gw->unauth_head;
        gw_unauth_remove(gw, c);
        pl_info("auth timeout", "conn=%llu", (unsigned long long)c->id);
        gw_conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "authentication timeout");
    }
}

static void on_tick(uv_timer_t *t)
{
    gw_t *gw = t->data;
    int64_t now = pl_mono_ms();
    gw_router_expire(gw, now);
    expire_unauthenticated(gw, now);
    gw_typing_expire(gw, now);
    gw_admission_sweep(gw, now);
    gw_sio_session_sweep(gw, now); /* Engine.IO heartbeats: only the connections due */
    gw_keepalive_sweep(gw, now);   /* WebSocket pings: only the connections due */
    gw_expiry_sweep(gw, pl_wall_ms()); /* token lifetimes: only the connections due */
    gw_revoke_ask(gw, now);            /* until presence sent the revocation list */
    if (now >= gw->next_lease_ms) {
        gw_bus_lease(gw);
        if (++gw->leases_sent % GW_RECONCILE_EVERY_LEASES == 0)
            gw_reconcile_send(gw);
        gw->next_lease_ms = now + gw->cfg.lease_interval_ms;
    }
    if (now >= gw->next_probe_ms) {
        gw_bus_probe(gw, now);
        gw->next_probe_ms = now + PROBE_EVERY_MS;
    }
}

static void close_each(const void *key, size_t klen, void *value, void *arg)
{
    (void)key;
    (void)klen;
    (void)arg;
    gw_conn_close(value, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
}

static void on_grace_over(uv_timer_t *t)
{
    gw_t *gw = t->data;
    uv_stop(&gw->loop);
}

static void on_signal(uv_signal_t *h, int signum)
{
    gw_t *gw = h->data;
    if (gw->stopping)
        return;
    gw->stopping = 1;
    pl_info("stopping", "signal=%d connections=%lld", signum,
            (long long)gw->metrics.connections_open);
    pl_map_each(gw->conns, close_each, NULL);
    /* reuse the tick timer: give close frames a moment to leave */
    uv_timer_stop(&gw->tick);
    uv_timer_start(&gw->tick, on_grace_over, SHUTDOWN_GRACE_MS, 0);
}

/* SIGHUP: a rotated certificate is read again; nothing else is reloaded. */
static void on_hup(uv_signal_t *h, int signum)
{
    gw_t *gw = h->data;
    (void)signum;
    if (!gw->tls) {
        pl_info("reload ignored", "reason=\"nothing to reload: TLS_CERT_FILE is not set\"");
        return;
    }
    (void)gw_tls_reload(gw->tls); /* logs what now serves, or why the old one still does */
}

/* Route lws' own log lines into ours (warnings and errors only). */
static void lws_log_emit(int level, const char *line)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s", line);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    pl_log(level == LLL_ERR ? PL_LOG_ERROR : PL_LOG_WARN, "libwebsockets", "detail=\"%s\"", msg);
}

/* lws 4.1 loads its libuv glue as a plugin and unloads it when a context is destroyed,
   even while uv handles it closed still have their close callbacks pending in the loop
   (which happens after a vhost failed to bind): holding our own reference keeps the
   plugin mapped for the life of the process. With a static lws there is no plugin,
   dlopen fails and nothing is needed. */
static void pin_lws_uv_plugin(void)
{
    static void *plugin;
    if (!plugin)
        plugin = dlopen("libwebsockets-evlib_uv.so", RTLD_NOW | RTLD_NODELETE);
}

static int start_lws(gw_t *gw)
{
    pin_lws_uv_plugin();
    /* lws' idle policy off (0: no validity timer at all; without a policy lws would
       apply its default of 300 s): its per-thread sorted timer list costs O(N) per
       connection. Pings are gw_keepalive.c's. lws keeps a pointer: static. */
    static lws_retry_bo_t retry;
    retry.secs_since_valid_ping = 0;
    retry.secs_since_valid_hangup = 0;
    void *foreign[1] = {&gw->loop};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = gw->cfg.port;
    info.protocols = gw_protocols;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
    info.foreign_loops = foreign;
    info.user = gw;
    info.retry_and_idle_policy = &retry;
    info.max_http_header_data = PL_TOKEN_MAX + 4096; /* tokens may come in the URL */
    info.timeout_secs = 10;
    gw_tls_vhost_info(gw->tls, &info); /* the default vhost's SSL_CTX: gw_ws.c hands it over */
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
    gw->ctx = lws_create_context(&info);
    /* On a foreign loop lws 4.1 returns a context even when the listening vhost could
       not bind: without this check the gateway would run deaf. */
    if (!gw->ctx || !lws_get_vhost_by_name(gw->ctx, "default")) {
        pl_error("cannot listen", "port=%d reason=\"libwebsockets context failed (port in use?)\"",
                 gw->cfg.port);
        /* The vhost that failed to bind left its listening socket's close pending on
           our loop; let it finish while the context is whole, or it runs inside
           gw_destroy's uv_run after lws_context_destroy and crashes (lws 4.1). */
        if (gw->ctx)
            uv_run(&gw->loop, UV_RUN_NOWAIT);
        return -1;
    }
    return 0;
}

gw_t *gw_new(const gw_config_t *cfg)
{
    gw_t *gw = calloc(1, sizeof *gw);
    if (!gw)
        return NULL;
    gw->cfg = *cfg;
    random_gwid(gw->gwid);
    gw->shed_rnd = strtoull(gw->gwid, NULL, 16); /* retry_after_ms jitter: random per start */
    gw_inflight_init(gw);
    msgpack_sbuffer_init(&gw->scratch);
    pl_buf_init(&gw->json, GW_MSG_HEAD);
    gw->conns = pl_map_new();
    gw->users = pl_map_new();
    gw->convs = pl_map_new();
    gw->pending = pl_map_new();
    gw->typing = pl_map_new();
    gw->watch = pl_map_new();
    gw->jwt = pl_jwt_verifier_new(cfg->jwt_alg, (const unsigned char *)cfg->jwt_key,
                                  cfg->jwt_key_len);
    if (!gw->conns || !gw->users || !gw->convs || !gw->pending || !gw->typing || !gw->watch ||
        !gw->jwt || gw_rel_init(&gw->subs) != 0 || gw_rel_init(&gw->watchers) != 0) {
        pl_error("gateway init failed", "reason=\"%s\"", gw->jwt ? "out of memory" : "bad JWT key");
        goto fail;
    }
    if (pl_jwt_verifier_expect(gw->jwt, cfg->jwt_issuer, cfg->jwt_audience) != 0) {
        pl_error("gateway init failed", "reason=\"out of memory\"");
        goto fail;
    }
    char brokers[PL_BROKERS_MAX * (PL_BROKER_HOST_MAX + 8)];
    pl_broker_describe(&cfg->broker, brokers, sizeof brokers);
    if (uv_loop_init(&gw->loop) != 0)
        goto fail;
    gw->loop_ready = 1;
    uv_timer_init(&gw->loop, &gw->tick);
    gw->tick.data = gw;
    uv_signal_init(&gw->loop, &gw->sigint);
    uv_signal_init(&gw->loop, &gw->sigterm);
    uv_signal_init(&gw->loop, &gw->sighup);
    gw->sigint.data = gw->sigterm.data = gw->sighup.data = gw;
    /* Before the broker and the listeners: a bad certificate is a start-up error. */
    if (cfg->tls_cert_file && !(gw->tls = gw_tls_new(cfg->tls_cert_file, cfg->tls_key_file)))
        goto fail;
    if (gw_bus_open(gw) != 0) {
        pl_error("cannot reach the brokers", "brokers=%s", brokers);
        goto fail;
    }
    if (gw_static_init(gw) != 0 || gw_admission_init(gw) != 0 || gw_revoke_init(gw) != 0)
        goto fail;
    if (start_lws(gw) != 0 || gw_api_init(gw) != 0)
        goto fail;
    uv_timer_start(&gw->tick, on_tick, TICK_MS, TICK_MS);
    uv_signal_start(&gw->sigint, on_signal, SIGINT);
    uv_signal_start(&gw->sigterm, on_signal, SIGTERM);
    uv_signal_start(&gw->sighup, on_hup, SIGHUP);
    gw_bus_probe(gw, pl_mono_ms());
    gw->next_probe_ms = pl_mono_ms() + PROBE_EVERY_MS;
    pl_info("gateway listening", "port=%d tls=%s gateway=%s brokers=%s bus=%s", cfg->port,
            gw->tls ? "on" : "off", gw->gwid, brokers,
            cfg->broker.keys.insecure ? "plain" : "curve");
    return gw;
fail:
    gw_destroy(&gw);
    return NULL;
}

int gw_run(gw_t *self)
{
    uv_run(&self->loop, UV_RUN_DEFAULT);
    return 0;
}

static void close_handle(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h))
        uv_close(h, NULL);
}

static void free_each_conv(const void *k, size_t kl, void *v, void *arg)
{
    (void)k;
    (void)kl;
    (void)arg;
    gw_conv_t *c = v;
    free(c->subscribers.at);
    free(c);
}

static void free_each(const void *k, size_t kl, void *v, void *arg)
{
    (void)k;
    (void)kl;
    (void)arg;
    free(v);
}

void gw_destroy(gw_t **self_p)
{
    gw_t *gw = *self_p;
    if (!gw)
        return;
    struct lws_context *ctx = gw->ctx;
    if (ctx)
        lws_context_destroy(ctx); /* closes every connection (CLOSED callbacks run) */
    if (gw->loop_ready) {
        if (gw->sub_poll.loop) /* not initialised when gw_new failed before the bus */
            uv_poll_stop(&gw->sub_poll);
        close_handle((uv_handle_t *)&gw->tick);
        close_handle((uv_handle_t *)&gw->req_flush);
        close_handle((uv_handle_t *)&gw->sigint);
        close_handle((uv_handle_t *)&gw->sigterm);
        close_handle((uv_handle_t *)&gw->sighup);
        close_handle((uv_handle_t *)&gw->sub_poll);
        close_handle((uv_handle_t *)&gw->sub_check);
        close_handle((uv_handle_t *)&gw->sub_idle);
        uv_run(&gw->loop, UV_RUN_DEFAULT); /* let lws and our handles finish closing */
        /* On a foreign loop, lws' first destroy only starts closing its handles; the
           second, once the loop has run them down, frees the context. */
        if (ctx)
            lws_context_destroy(ctx);
        uv_loop_close(&gw->loop);
    } else if (ctx) {
        lws_context_destroy(ctx);
    }
    gw->ctx = NULL;
    gw_api_free(gw); /* after the context: its sessions are closed */
    gw_bus_close(gw);
    gw_router_forget_pending(gw);
    if (gw->convs)
        pl_map_each(gw->convs, free_each_conv, NULL);
    if (gw->users)
        pl_map_each(gw->users, free_each, NULL);
    pl_map_destroy(&gw->conns);
    pl_map_destroy(&gw->users);
    pl_map_destroy(&gw->convs);
    pl_map_destroy(&gw->pending);
    gw_typing_free(gw);
    gw_watch_free(gw);
    gw_rel_free(&gw->subs);
    gw_rel_free(&gw->watchers);
    gw_expiry_free(gw);
    pl_jwt_verifier_destroy(&gw->jwt);
    gw_static_free(gw);
    gw_admission_free(gw);
    gw_revoke_free(gw);
    gw_tls_destroy(&gw->tls); /* after the context: its SSL_CTXs are gone */
    msgpack_sbuffer_destroy(&gw->scratch);
    pl_buf_free(&gw->json);
    free(gw);
    *self_p = NULL;
}
