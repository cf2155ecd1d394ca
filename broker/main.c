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

#include "pl_config.h"
#include "pl_log.h"
#include "proto.h"

#define N_QUEUES 3

typedef struct {
    void *front, *back;
    const char *name;
    unsigned long long forwarded;
} queue_t;

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

/* Move every frame of one message from `from` to `to`. */
static int forward_message(void *from, void *to)
{
    for (;;) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, from, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part);
            return -1;
        }
        int more = zmq_msg_more(&part);
        if (zmq_msg_send(&part, to, more ? ZMQ_SNDMORE : 0) < 0) {
            zmq_msg_close(&part);
            return -1;
        }
        if (!more)
            return 0;
    }
}

static int writable(void *s)
{
    int ev = 0;
    size_t sz = sizeof ev;
    return zmq_getsockopt(s, ZMQ_EVENTS, &ev, &sz) == 0 && (ev & ZMQ_POLLOUT);
}

/* One pass: forward what is ready, at most `budget` messages per socket so no
   stream starves the others. A queue's front is read only when its back has a
   service ready to take the message; otherwise requests wait (bounded by the
   high-water marks, then the gateway's own deadline). */
static void pump(queue_t *queues, void *xsub, void *xpub, long timeout_ms)
{
    zmq_pollitem_t items[N_QUEUES + 2];
    int n = 0;
    int polled_queue[N_QUEUES];
    for (int i = 0; i < N_QUEUES; i++) {
        polled_queue[i] = writable(queues[i].back);
        items[n++] = (zmq_pollitem_t){polled_queue[i] ? queues[i].front : queues[i].back, 0,
                                      polled_queue[i] ? ZMQ_POLLIN : ZMQ_POLLOUT, 0};
    }
    items[n++] = (zmq_pollitem_t){xsub, 0, ZMQ_POLLIN, 0};
    items[n++] = (zmq_pollitem_t){xpub, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(items, n, timeout_ms) <= 0)
        return;
    for (int i = 0; i < N_QUEUES; i++) {
        if (!polled_queue[i] || !(items[i].revents & ZMQ_POLLIN))
            continue;
        for (int k = 0; k < 1000 && writable(queues[i].back); k++) {
            if (forward_message(queues[i].front, queues[i].back) != 0)
                break;
            queues[i].forwarded++;
        }
    }
    if (items[N_QUEUES].revents & ZMQ_POLLIN)
        for (int k = 0; k < 1000; k++)
            if (forward_message(xsub, xpub) != 0)
                break;
    if (items[N_QUEUES + 1].revents & ZMQ_POLLIN) /* subscriptions travel upstream */
        for (int k = 0; k < 1000; k++)
            if (forward_message(xpub, xsub) != 0)
                break;
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
    queue_t queues[N_QUEUES] = {{0}};
    proto_svc_t kinds[N_QUEUES] = {PROTO_SVC_CHAT, PROTO_SVC_PRESENCE, PROTO_SVC_CALL};
    void *xsub = NULL, *xpub = NULL;
    int rc = 1;
    if (!ctx)
        goto done;
    xsub = bind_socket(ctx, ZMQ_XSUB, host, (int)port + PROTO_PORT_EVENTS_IN);
    xpub = bind_socket(ctx, ZMQ_XPUB, host, (int)port + PROTO_PORT_EVENTS_OUT);
    if (!xsub || !xpub)
        goto done;
    for (int i = 0; i < N_QUEUES; i++) {
        int off = proto_svc_queue_offset(kinds[i]);
        queues[i].name = proto_svc_name(kinds[i]);
        queues[i].front = bind_socket(ctx, ZMQ_PULL, host, (int)port + off);
        queues[i].back = bind_socket(ctx, ZMQ_PUSH, host, (int)port + off + 1);
        if (!queues[i].front || !queues[i].back)
            goto done;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pl_info("broker ready", "bind=%s ports=%lld-%lld", host, (long long)port, (long long)port + 7);
    while (!s_stop)
        pump(queues, xsub, xpub, 500);
    pl_info("broker stopping", "chat=%llu presence=%llu call=%llu", queues[0].forwarded,
            queues[1].forwarded, queues[2].forwarded);
    rc = 0;
done:
    for (int i = 0; i < N_QUEUES; i++) {
        if (queues[i].front)
            zmq_close(queues[i].front);
        if (queues[i].back)
            zmq_close(queues[i].back);
    }
    if (xsub)
        zmq_close(xsub);
    if (xpub)
        zmq_close(xpub);
    if (ctx)
        zmq_ctx_term(ctx);
    return rc;
}
