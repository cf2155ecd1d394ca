/*  parley-broker: the stateless rendezvous every other process connects to.
    The one thing to know: it holds no state that matters. It forwards requests from
    one queue per service kind (PULL front, PUSH back: round-robin over the live
    instances) and events from every service to every subscriber (XSUB/XPUB, which
    forwards subscriptions upstream so filtering happens at the publisher). Restarting
    it costs in-flight messages only; clients and services reconnect by themselves.
    Every socket is a CURVE server: broker_guard runs the ZAP handler that admits only
    the keys in BUS_CLIENT_KEYS_DIR (unless BUS_INSECURE=1), and counts refusals.
    docs/design/topology.md says why this hop exists. */
#include <czmq.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "broker_guard.h"
#include "broker_pump.h"
#include "pl_config.h"
#include "pl_log.h"
#include "pl_metrics.h"
#include "pl_metrics_http.h"
#include "pl_zmq.h"
#include "proto.h"

static volatile sig_atomic_t s_stop = 0;

static void on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static unsigned s_ipc_bound; /* bit per port offset whose ipc:// file this broker made */

/* Bind TCP on host, and a Unix socket too when BROKER_IPC_DIR is set: processes on
   this machine may then skip the loopback TCP stack (docs/design/topology.md), while
   the TCP port keeps serving everyone else. Both are CURVE servers (unless insecure),
   watched by the guard from before the bind. */
static void *bind_socket(void *ctx, int type, const char *host, const pl_broker_addr_t *addr,
                         int offset, broker_guard_t *guard, const char *name)
{
    char tcp[300], ipc[300] = "";
    snprintf(tcp, sizeof tcp, "tcp://%s:%d", host, addr->port + offset);
    if (addr->ipc_dir[0])
        pl_broker_endpoint(addr, offset, ipc, sizeof ipc);
    void *s = zmq_socket(ctx, type);
    int hwm = 100000, linger = 0;
    const char *ep = tcp;
    if (!s || zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) ||
        pl_bus_keys_apply_server(&addr->keys, s) || broker_guard_watch(guard, s, name) ||
        zmq_bind(s, tcp) != 0 || (ipc[0] && (ep = ipc, zmq_bind(s, ipc) != 0))) {
        pl_error("cannot bind", "endpoint=%s err=\"%s\"", ep, zmq_strerror(errno));
        if (s)
            zmq_close(s);
        return NULL;
    }
    if (ipc[0])
        s_ipc_bound |= 1u << offset;
    return s;
}

/* The Unix socket directory is private to the user running the stack (TCP on the
   loopback is open to every local user; this is not). */
static int make_ipc_dir(const pl_broker_addr_t *addr)
{
    if (!addr->ipc_dir[0] || mkdir(addr->ipc_dir, 0700) == 0 || errno == EEXIST)
        return 0;
    pl_error("cannot create BROKER_IPC_DIR", "dir=%s err=\"%s\"", addr->ipc_dir, strerror(errno));
    return -1;
}

/* libzmq leaves a bound ipc:// file behind; a later broker would replace it, but a
   stopped stack should leave nothing. Only the files this broker bound: the TCP bind
   comes first, so a second broker on the same port fails before it touches any.
   Called after the sockets are closed. */
static void remove_ipc_files(const pl_broker_addr_t *addr)
{
    for (int off = 0; off < PROTO_PORT_COUNT; off++) {
        if (!(s_ipc_bound & (1u << off)))
            continue;
        char ep[300];
        pl_broker_endpoint(addr, off, ep, sizeof ep);
        unlink(ep + strlen("ipc://"));
    }
}

/* By port offset (proto.h): names in logs. */
static const char *const s_port_names[PROTO_PORT_COUNT] = {
    "events-in",   "events-out",   "chat-in", "chat-out",
    "presence-in", "presence-out", "call-in", "call-out"};

typedef struct {
    broker_pump_t *pump;
    broker_guard_t *guard;
    int secure;
} metrics_ctx_t;

/* /metrics of the broker (METRICS_PORT): refused handshakes, forwarded requests. */
static void render_metrics(void *arg, pl_buf_t *o)
{
    metrics_ctx_t *m = arg;
    pl_metrics_help(o, "parley_broker_bus_secure", "gauge",
                    "1 when the bus is CURVE with an allow-list, 0 with BUS_INSECURE=1");
    pl_buf_printf(o, "parley_broker_bus_secure %d\n", m->secure);
    pl_metrics_help(o, "parley_broker_handshakes_refused_total", "counter",
                    "Connections that did not complete the ZeroMQ handshake: key = a CURVE key "
                    "not in BUS_CLIENT_KEYS_DIR, protocol = not CURVE with the broker's key, "
                    "aborted = the peer hung up first (a plain client, a TCP probe)");
    static const char *const reasons[BROKER_REFUSED_REASONS] = {"key", "protocol", "aborted"};
    for (int r = 0; r < BROKER_REFUSED_REASONS; r++)
        pl_buf_printf(o, "parley_broker_handshakes_refused_total{reason=\"%s\"} %llu\n", reasons[r],
                      (unsigned long long)broker_guard_refused(m->guard, (broker_refused_t)r));
    pl_metrics_help(o, "parley_broker_requests_forwarded_total", "counter",
                    "Requests forwarded from the gateways' queue to a service instance");
    for (int i = 0; i < BROKER_QUEUES; i++)
        pl_buf_printf(o, "parley_broker_requests_forwarded_total{queue=\"%s\"} %llu\n",
                      m->pump->queues[i].name, m->pump->queues[i].forwarded);
}

/* Scrapers are served between passes of the pump, which then wakes at least every
   METRICS_WAKE_MS: the listener's sockets are not in the pump's epoll set. */
#define METRICS_WAKE_MS 50

static void serve_metrics(pl_metrics_http_t *metrics)
{
    zmq_pollitem_t items[PL_METRICS_HTTP_POLL_MAX];
    int n = pl_metrics_http_poll_items(metrics, items, PL_METRICS_HTTP_POLL_MAX);
    if (n > 0 && zmq_poll(items, n, 0) >= 0)
        pl_metrics_http_serve(metrics, items, n, 1);
}

int main(void)
{
    if (pl_log_init("broker")) {
        fprintf(stderr, "parley-broker: bad LOG_LEVEL or LOG_FORMAT\n");
        return 2;
    }
    pl_broker_addr_t addr; /* port and ipc_dir; BROKER_HOST is for the others */
    if (pl_broker_addr_from_env(&addr))
        return 2;
    int64_t port = addr.port;
    const char *host = pl_env_str("BROKER_BIND", "127.0.0.1");
    char keys_dir[4096];
    if (pl_bus_keys_server_from_env(&addr.keys, keys_dir, sizeof keys_dir))
        return 2;
    char instance[24];
    snprintf(instance, sizeof instance, "%d", (int)getpid());
    pl_metrics_http_t *metrics = pl_metrics_http_new("broker", instance);
    if (!metrics)
        return 2;

    /* zauth lives in CZMQ's context, and a ZAP handler serves only the sockets of its
       own context: the broker's sockets are made there too (still plain libzmq
       sockets). The broker installs its own signal handlers. */
    zsys_handler_set(NULL);
    void *ctx = zsys_init();
    broker_guard_t *guard = NULL;
    broker_pump_t pump;
    memset(&pump, 0, sizeof pump);
    broker_queue_t *queues = pump.queues;
    proto_svc_t kinds[BROKER_QUEUES] = {PROTO_SVC_CHAT, PROTO_SVC_PRESENCE, PROTO_SVC_CALL};
    metrics_ctx_t mctx = {&pump, NULL, !addr.keys.insecure};
    int rc = 1, pumping = 0;
    if (!ctx || make_ipc_dir(&addr))
        goto done;
    guard = broker_guard_new(addr.keys.insecure ? NULL : keys_dir);
    if (!guard)
        goto done;
    mctx.guard = guard;
    pl_metrics_http_set_render(metrics, render_metrics, &mctx);
    pump.xsub.sock = bind_socket(ctx, ZMQ_XSUB, host, &addr, PROTO_PORT_EVENTS_IN, guard,
                                 s_port_names[PROTO_PORT_EVENTS_IN]);
    pump.xpub.sock = bind_socket(ctx, ZMQ_XPUB, host, &addr, PROTO_PORT_EVENTS_OUT, guard,
                                 s_port_names[PROTO_PORT_EVENTS_OUT]);
    if (!pump.xsub.sock || !pump.xpub.sock)
        goto done;
    for (int i = 0; i < BROKER_QUEUES; i++) {
        int off = proto_svc_queue_offset(kinds[i]);
        queues[i].name = proto_svc_name(kinds[i]);
        queues[i].front.sock =
            bind_socket(ctx, ZMQ_PULL, host, &addr, off, guard, s_port_names[off]);
        queues[i].back.sock =
            bind_socket(ctx, ZMQ_PUSH, host, &addr, off + 1, guard, s_port_names[off + 1]);
        if (!queues[i].front.sock || !queues[i].back.sock)
            goto done;
    }
    pumping = 1;
    if (broker_pump_init(&pump))
        goto done;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pl_info("broker ready", "bind=%s ports=%lld-%lld ipc_dir=%s bus=%s keys_dir=%s", host,
            (long long)port, (long long)port + PROTO_PORT_COUNT - 1,
            addr.ipc_dir[0] ? addr.ipc_dir : "-", addr.keys.insecure ? "plain" : "curve",
            keys_dir[0] ? keys_dir : "-");
    int wake_ms = pl_metrics_http_port(metrics) ? METRICS_WAKE_MS : 500;
    while (!s_stop) {
        if (broker_pump_run_once(&pump, wake_ms))
            goto done;
        if (wake_ms == METRICS_WAKE_MS)
            serve_metrics(metrics);
    }
    pl_info("broker stopping", "chat=%llu presence=%llu call=%llu", queues[0].forwarded,
            queues[1].forwarded, queues[2].forwarded);
    rc = 0;
done:
    if (pumping)
        broker_pump_close(&pump);
    for (int i = 0; i < BROKER_QUEUES; i++) {
        if (queues[i].front.sock)
            zmq_close(queues[i].front.sock);
        if (queues[i].back.sock)
            zmq_close(queues[i].back.sock);
    }
    if (pump.xsub.sock)
        zmq_close(pump.xsub.sock);
    if (pump.xpub.sock)
        zmq_close(pump.xpub.sock);
    broker_guard_destroy(&guard);
    pl_metrics_http_destroy(&metrics);
    zsys_shutdown(); /* terminates the context */
    remove_ipc_files(&addr);
    return rc;
}
