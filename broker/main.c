/*  parley-broker: the stateless rendezvous every other process connects to.
    The one thing to know: it holds no state that matters. It forwards requests from
    one queue per service kind (PULL front, PUSH back: round-robin over the live
    instances) and events from every service to every subscriber (XSUB/XPUB, which
    forwards subscriptions upstream so filtering happens at the publisher). Restarting
    it costs in-flight messages only; clients and services reconnect by themselves.
    docs/design/topology.md says why this hop exists. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "broker_pump.h"
#include "pl_config.h"
#include "pl_log.h"
#include "proto.h"

static volatile sig_atomic_t s_stop = 0;

static void on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static void *bind_socket(void *ctx, int type, const char *host, int port)
{
    char ep[300];
    snprintf(ep, sizeof ep, "tcp://%s:%d", host, port);
    void *s = zmq_socket(ctx, type);
    int hwm = 100000, linger = 0;
    if (!s || zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) || zmq_bind(s, ep) != 0) {
        pl_error("cannot bind", "endpoint=%s err=\"%s\"", ep, zmq_strerror(errno));
        if (s)
            zmq_close(s);
        return NULL;
    }
    return s;
}

int main(void)
{
    if (pl_log_init("broker")) {
        fprintf(stderr, "parley-broker: bad LOG_LEVEL or LOG_FORMAT\n");
        return 2;
    }
    int64_t port;
    if (pl_env_int("BROKER_PORT", 5550, 1, 65535 - 8, &port))
        return 2;
    const char *host = pl_env_str("BROKER_BIND", "127.0.0.1");

    void *ctx = zmq_ctx_new();
    broker_pump_t pump;
    memset(&pump, 0, sizeof pump);
    broker_queue_t *queues = pump.queues;
    proto_svc_t kinds[BROKER_QUEUES] = {PROTO_SVC_CHAT, PROTO_SVC_PRESENCE, PROTO_SVC_CALL};
    int rc = 1, pumping = 0;
    if (!ctx)
        goto done;
    pump.xsub.sock = bind_socket(ctx, ZMQ_XSUB, host, (int)port + PROTO_PORT_EVENTS_IN);
    pump.xpub.sock = bind_socket(ctx, ZMQ_XPUB, host, (int)port + PROTO_PORT_EVENTS_OUT);
    if (!pump.xsub.sock || !pump.xpub.sock)
        goto done;
    for (int i = 0; i < BROKER_QUEUES; i++) {
        int off = proto_svc_queue_offset(kinds[i]);
        queues[i].name = proto_svc_name(kinds[i]);
        queues[i].front.sock = bind_socket(ctx, ZMQ_PULL, host, (int)port + off);
        queues[i].back.sock = bind_socket(ctx, ZMQ_PUSH, host, (int)port + off + 1);
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
    pl_info("broker ready", "bind=%s ports=%lld-%lld", host, (long long)port, (long long)port + 7);
    while (!s_stop)
        if (broker_pump_run_once(&pump, 500))
            goto done;
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
    if (ctx)
        zmq_ctx_term(ctx);
    return rc;
}
