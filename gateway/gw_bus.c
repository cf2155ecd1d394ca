/*  gw_bus: the gateway's ZeroMQ side: request queues out, replies and events in.
    The one thing to know: ZMQ_FD is edge-triggered and only says "look at
    ZMQ_EVENTS". So the uv_poll callback drains while ZMQ_EVENTS has POLLIN, and a
    uv_check (run after every loop pass) drains too, because sends and other socket
    activity can consume the edge without a new one coming. */
#include "gw.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "pl_clock.h"
#include "pl_log.h"
#include "pl_mp.h"
#include "pl_zmq.h"
#include "proto_envelope.h"

#define DRAIN_BUDGET 2000 /* messages per pass, so clients' sockets get their turn */

void gw_bus_topic(gw_t *gw, char prefix, const char *id, size_t len, int on)
{
    char topic[PROTO_TOPIC_MAX];
    int n = proto_topic(topic, sizeof topic, prefix, id, len);
    if (n < 0 || !gw->sub)
        return;
    if (zmq_setsockopt(gw->sub, on ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE, topic, (size_t)n) != 0)
        pl_warn("zmq subscription failed", "err=\"%s\"", zmq_strerror(errno));
}

/* Deliver one event to the local connections of a user or a conversation. */
static void deliver(gw_t *gw, char kind, const char *id, size_t idlen, const msgpack_object *root)
{
    const msgpack_object *body = pl_mp_get(root, PK_B);
    if (!body || body->type != MSGPACK_OBJECT_MAP)
        return;
    const char *xg = NULL, *xu = NULL;
    size_t xglen = 0, xulen = 0;
    uint64_t xc = 0;
    int64_t sub = 0;
    pl_mp_str(root, PK_XG, &xg, &xglen);
    pl_mp_uint(root, PK_XC, &xc);
    pl_mp_str(root, PK_XU, &xu, &xulen);
    pl_mp_int(root, PK_SUB, &sub);
    int skip_conn = xg && xglen == PROTO_GWID_LEN && memcmp(xg, gw->gwid, xglen) == 0;

    gw_msg_t *m = gw_msg_from_event(gw, body, NULL);
    if (!m)
        return;
    gw_conn_t *list_one[1];
    gw_conn_t **targets = list_one;
    uint32_t n = 0;
    gw_conn_t *ucur = NULL;
    if (kind == PROTO_TOPIC_USER) {
        gw_user_t *u = gw_index_user(gw, id, idlen);
        ucur = u ? u->head : NULL;
    } else {
        char num[24];
        size_t k = idlen < sizeof num - 1 ? idlen : sizeof num - 1;
        memcpy(num, id, k);
        num[k] = '\0';
        gw_conv_t *v = gw_index_conv(gw, strtoll(num, NULL, 10));
        if (v) {
            targets = v->conns;
            n = v->n;
        }
    }
    /* Walk users' lists directly; conversations by index (the array may be appended
       to while we deliver, never shrunk, since delivery does not close inline). */
    for (uint32_t i = 0;; i++) {
        gw_conn_t *c;
        if (kind == PROTO_TOPIC_USER) {
            c = ucur;
            if (!c)
                break;
            ucur = c->user_next;
        } else {
            if (i >= n)
                break;
            c = targets[i];
        }
        if (skip_conn && c->id == xc)
            continue;
        if (xu && c->uid && strlen(c->uid) == xulen && memcmp(c->uid, xu, xulen) == 0)
            continue;
        if (sub > 0)
            gw_index_subscribe(gw, c, sub);
        gw_conn_send(gw, c, m);
    }
    gw_msg_unref(m);
}

static void dispatch(gw_t *gw, const zmq_msg_t *topic, const zmq_msg_t *body)
{
    const char *t = zmq_msg_data((zmq_msg_t *)topic);
    size_t tlen = zmq_msg_size((zmq_msg_t *)topic);
    if (tlen < 2 || t[tlen - 1] != '\0')
        return;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    if (msgpack_unpack_next(&up, zmq_msg_data((zmq_msg_t *)body), zmq_msg_size((zmq_msg_t *)body),
                            &off) == MSGPACK_UNPACK_SUCCESS &&
        up.data.type == MSGPACK_OBJECT_MAP) {
        gw->metrics.bus_events_in++;
        if (t[0] == PROTO_TOPIC_GATEWAY)
            gw_router_reply(gw, &up.data);
        else if (t[0] == PROTO_TOPIC_USER || t[0] == PROTO_TOPIC_CONV)
            deliver(gw, t[0], t + 1, tlen - 2, &up.data);
    } else {
        pl_warn("dropped malformed bus message", "bytes=%zu", zmq_msg_size((zmq_msg_t *)body));
    }
    msgpack_unpacked_destroy(&up);
}

static void on_sub_idle(uv_idle_t *h)
{
    gw_t *gw = h->data;
    uv_idle_stop(h);
    gw_bus_drain(gw);
}

void gw_bus_drain(gw_t *gw)
{
    for (int i = 0; i < DRAIN_BUDGET && gw->sub; i++) {
        zmq_msg_t topic, body;
        zmq_msg_init(&topic);
        zmq_msg_init(&body);
        int rc = pl_zmq_recv2(gw->sub, &topic, &body, ZMQ_DONTWAIT);
        if (rc == 0)
            dispatch(gw, &topic, &body);
        zmq_msg_close(&topic);
        zmq_msg_close(&body);
        if (rc != 0)
            return;
    }
    /* Budget spent with more waiting: the fd will not signal again for messages
       already queued, so keep the loop spinning (idle) until they are drained. */
    if (pl_zmq_readable(gw->sub))
        uv_idle_start(&gw->sub_idle, on_sub_idle);
}

static void on_sub_readable(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    gw_bus_drain(h->data);
}

static void on_loop_check(uv_check_t *h)
{
    gw_t *gw = h->data;
    if (gw->sub && pl_zmq_readable(gw->sub))
        gw_bus_drain(gw);
}

int gw_bus_request(gw_t *gw, proto_svc_t svc, const char *packed, size_t len)
{
    const char *name = proto_svc_name(svc);
    if (pl_zmq_send2(gw->push[svc], name, strlen(name), packed, len, ZMQ_DONTWAIT) != 0)
        return -1;
    gw->metrics.requests_forwarded++;
    return 0;
}

void gw_bus_probe(gw_t *gw, int64_t now_ms)
{
    for (int s = PROTO_SVC_CHAT; s < PROTO_SVC_COUNT; s++) {
        msgpack_sbuffer_clear(&gw->scratch);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &gw->scratch, msgpack_sbuffer_write);
        proto_pack_request_head(&pk, PROTO_EV_HEALTH, PROTO_EV_HEALTH, gw->gwid, 0,
                                ++gw->next_rq, NULL, NULL, NULL, pl_wall_ms() + 2000);
        msgpack_pack_map(&pk, 0);
        /* a full queue or a missing broker simply leaves the kind unhealthy */
        if (gw_bus_request(gw, (proto_svc_t)s, gw->scratch.data, gw->scratch.size) == 0)
            gw->metrics.requests_forwarded--; /* probes are not client requests */
    }
    (void)now_ms;
}

int gw_bus_open(gw_t *gw)
{
    gw->zctx = zmq_ctx_new();
    if (!gw->zctx)
        return -1;
    for (int s = PROTO_SVC_CHAT; s < PROTO_SVC_COUNT; s++) {
        gw->push[s] = pl_zmq_connect(gw->zctx, ZMQ_PUSH, &gw->cfg.broker,
                                     proto_svc_queue_offset((proto_svc_t)s));
        if (!gw->push[s])
            return -1;
        /* Queue only on a live connection: with no broker, fail at once (the client
           gets `unavailable`) instead of piling requests up for later. */
        int one = 1;
        zmq_setsockopt(gw->push[s], ZMQ_IMMEDIATE, &one, sizeof one);
    }
    gw->sub = pl_zmq_connect(gw->zctx, ZMQ_SUB, &gw->cfg.broker, PROTO_PORT_EVENTS_OUT);
    if (!gw->sub)
        return -1;
    gw_bus_topic(gw, PROTO_TOPIC_GATEWAY, gw->gwid, PROTO_GWID_LEN, 1);
    int fd;
    size_t sz = sizeof fd;
    if (zmq_getsockopt(gw->sub, ZMQ_FD, &fd, &sz) != 0)
        return -1;
    if (uv_poll_init(&gw->loop, &gw->sub_poll, fd) != 0 ||
        uv_check_init(&gw->loop, &gw->sub_check) != 0 ||
        uv_idle_init(&gw->loop, &gw->sub_idle) != 0)
        return -1;
    gw->sub_idle.data = gw;
    gw->sub_poll.data = gw;
    gw->sub_check.data = gw;
    uv_poll_start(&gw->sub_poll, UV_READABLE, on_sub_readable);
    uv_check_start(&gw->sub_check, on_loop_check);
    return 0;
}

void gw_bus_close(gw_t *gw)
{
    for (int s = 0; s < PROTO_SVC_COUNT; s++)
        if (gw->push[s]) {
            zmq_close(gw->push[s]);
            gw->push[s] = NULL;
        }
    if (gw->sub) {
        zmq_close(gw->sub);
        gw->sub = NULL;
    }
    if (gw->zctx) {
        zmq_ctx_term(gw->zctx);
        gw->zctx = NULL;
    }
}
