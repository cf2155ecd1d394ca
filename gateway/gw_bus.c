/*  gw_bus: the gateway's ZeroMQ side: request queues out, replies and events in.
    What comes in goes one way: replies to the router (gw_router_reply), events to
    their recipients (gw_deliver_event); nothing here writes to a connection.
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
/* Event ids remembered to drop the copies that other brokers deliver: 20 bytes each
   plus 8 of hash table, ~1.8 MB. A copy arrives within milliseconds of the first
   (docs/design/topology.md); at a gateway's event rate this is seconds. */
#define SEEN_WINDOW 65536

void gw_bus_topic(gw_t *gw, char prefix, const char *id, size_t len, int on)
{
    char topic[PROTO_TOPIC_MAX];
    int n = proto_topic(topic, sizeof topic, prefix, id, len);
    if (n < 0 || !gw->sub)
        return;
    if (zmq_setsockopt(gw->sub, on ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE, topic, (size_t)n) != 0)
        pl_warn("zmq subscription failed", "err=\"%s\"", zmq_strerror(errno));
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
        else if (t[0] == PROTO_TOPIC_GATEWAYS)
            gw_revoke_event(gw, &up.data);
        else if (t[0] == PROTO_TOPIC_USER || t[0] == PROTO_TOPIC_CONV || t[0] == PROTO_TOPIC_ROLE ||
                 t[0] == PROTO_TOPIC_PRESENCE)
            gw_deliver_event(gw, t[0], t + 1, tlen - 2, &up.data);
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
        pl_evid_t id;
        int has_id = 0;
        int rc = pl_zmq_recv_event(gw->sub, &topic, &body, &id, &has_id, ZMQ_DONTWAIT);
        if (rc == 0 && has_id && pl_dedup_seen(gw->seen, &id))
            gw->metrics.bus_copies_dropped++;
        else if (rc == 0)
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

/* ---- notifications: what the gateway tells services without a client asking -------- */

void gw_bus_notify(gw_t *gw, gw_conn_t *c, proto_svc_t svc, const char *ev)
{
    msgpack_sbuffer_clear(&gw->scratch);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &gw->scratch, msgpack_sbuffer_write);
    proto_pack_request_head(&pk, ev, ev, gw->gwid, c->id, 0, c->uid, pl_role_name(c->role),
                            c->name, 0);
    msgpack_pack_map(&pk, 0);
    if (gw_bus_request(gw, svc, gw->scratch.data, gw->scratch.size) == 0)
        gw->metrics.requests_forwarded--; /* not a client request */
}

void gw_bus_lease(gw_t *gw)
{
    msgpack_sbuffer_clear(&gw->scratch);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &gw->scratch, msgpack_sbuffer_write);
    proto_pack_request_head(&pk, PROTO_EV_GW_LEASE, PROTO_EV_GW_LEASE, gw->gwid, 0, 0, NULL,
                            NULL, NULL, 0);
    msgpack_pack_map(&pk, 1);
    /* Three missed renewals make a gateway dead: one lost message is not enough. */
    pl_pack_kv_int(&pk, "ttl_ms", gw->cfg.lease_interval_ms * 3);
    if (gw_bus_request(gw, PROTO_SVC_PRESENCE, gw->scratch.data, gw->scratch.size) == 0)
        gw->metrics.requests_forwarded--;
}

/* ---- requests to the services ------------------------------------------------------
   Each send to the broker wakes ZeroMQ's I/O thread here, the broker's two threads and
   the service's I/O thread. Under load, requests are therefore held back and sent
   together, at most once per REQUEST_FLUSH_MS: a request that finds the gateway quiet
   for longer goes at once. The service runtime paces its batches too
   (BATCH_INTERVAL_MS), so most of this wait is spent where the request would have
   waited anyway. docs/design/gateway.md, docs/performance.md. */

#define HELD_MAX (4u << 20) /* bytes held back before they are sent regardless */

static int send_request(gw_t *gw, proto_svc_t svc, const char *packed, size_t len)
{
    const char *name = proto_svc_name(svc);
    return pl_zmq_send2(gw->push[svc], name, strlen(name), packed, len, ZMQ_DONTWAIT);
}

static int can_send(void *sock)
{
    int events = 0;
    size_t sz = sizeof events;
    return zmq_getsockopt(sock, ZMQ_EVENTS, &events, &sz) == 0 && (events & ZMQ_POLLOUT);
}

void gw_bus_flush(gw_t *gw)
{
    const unsigned char *p = (const unsigned char *)gw->req_held.data;
    const unsigned char *end = p + gw->req_held.len;
    while (p && p + 5 <= end) {
        proto_svc_t svc = (proto_svc_t)p[0];
        uint32_t len = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
        /* It could be sent when it was held; a broker lost since then loses it, as it
           would have lost it in flight. The client's request times out (unavailable). */
        if (send_request(gw, svc, (const char *)p + 5, len) != 0) {
            gw->metrics.requests_lost++;
            pl_warn("request lost: broker unreachable", "service=%s", proto_svc_name(svc));
        }
        p += 5 + len;
    }
    pl_buf_reset(&gw->req_held);
    gw->req_sent_ms = pl_mono_ms();
}

static void on_flush_timer(uv_timer_t *t)
{
    gw_bus_flush(t->data);
}

static int hold_request(gw_t *gw, proto_svc_t svc, const char *packed, size_t len)
{
    unsigned char head[5] = {(unsigned char)svc, (unsigned char)(len >> 24),
                             (unsigned char)(len >> 16), (unsigned char)(len >> 8),
                             (unsigned char)len};
    /* No broker connection: fail now, as an immediate send would (ZMQ_IMMEDIATE). */
    if (len > UINT32_MAX || !can_send(gw->push[svc]))
        return -1;
    size_t before = gw->req_held.len;
    if (pl_buf_append(&gw->req_held, head, sizeof head) ||
        pl_buf_append(&gw->req_held, packed, len)) {
        gw->req_held.len = before; /* out of memory: nothing half-held */
        return -1;
    }
    gw->metrics.requests_held++;
    if (gw->req_held.len >= HELD_MAX) {
        gw_bus_flush(gw);
    } else if (!uv_is_active((uv_handle_t *)&gw->req_flush)) {
        int64_t wait = gw->req_sent_ms + gw->cfg.request_flush_ms - pl_mono_ms();
        uv_timer_start(&gw->req_flush, on_flush_timer, wait > 0 ? (uint64_t)wait : 0, 0);
    }
    return 0;
}

int gw_bus_request(gw_t *gw, proto_svc_t svc, const char *packed, size_t len)
{
    int64_t now = pl_mono_ms();
    int quiet = gw->req_held.len == 0 && now - gw->req_sent_ms >= gw->cfg.request_flush_ms;
    if (quiet) {
        if (send_request(gw, svc, packed, len) != 0)
            return -1;
        gw->req_sent_ms = now;
    } else if (hold_request(gw, svc, packed, len) != 0) {
        return -1;
    }
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
    pl_buf_init(&gw->req_held, 0);
    if (uv_timer_init(&gw->loop, &gw->req_flush) != 0)
        return -1;
    gw->req_flush.data = gw;
    gw->zctx = zmq_ctx_new();
    if (!gw->zctx)
        return -1;
    gw->seen = pl_dedup_new(SEEN_WINDOW);
    if (!gw->seen)
        return -1;
    /* PUSH sockets queue only on live connections (pl_zmq_connect sets ZMQ_IMMEDIATE):
       requests go to the brokers that are up, and with none, fail at once (the client
       gets `unavailable`) instead of piling up for later. */
    for (int s = PROTO_SVC_CHAT; s < PROTO_SVC_COUNT; s++) {
        gw->push[s] = pl_zmq_connect(gw->zctx, ZMQ_PUSH, &gw->cfg.broker,
                                     proto_svc_queue_offset((proto_svc_t)s));
        if (!gw->push[s])
            return -1;
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
    if (gw->zctx)
        gw_bus_flush(gw); /* e.g. the conn_close notices of the last connections */
    pl_buf_free(&gw->req_held);
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
    pl_dedup_destroy(&gw->seen);
}
