/*  pl_zmq: broker rendezvous and two-frame messages (see pl_zmq.h). */
#include "pl_zmq.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pl_clock.h"
#include "pl_config.h"
#include "pl_log.h"

/* One "host:port" entry of BROKER_ENDPOINTS (len bytes at s). */
static int parse_one(const char *s, size_t len, pl_broker_at_t *at, const char **why)
{
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++)
        if (s[i] == ':')
            colon = s + i; /* the last one */
    if (!colon || colon == s) {
        *why = "an entry is not host:port";
        return -1;
    }
    size_t hlen = (size_t)(colon - s);
    if (hlen > PL_BROKER_HOST_MAX) {
        *why = "a host is too long";
        return -1;
    }
    long port = 0;
    const char *p = colon + 1, *end = s + len;
    if (p == end || end - p > 5) {
        *why = "a port is not a number in 1..65527";
        return -1;
    }
    for (; p < end; p++) {
        if (*p < '0' || *p > '9') {
            *why = "a port is not a number in 1..65527";
            return -1;
        }
        port = port * 10 + (*p - '0');
    }
    if (port < 1 || port > 65535 - 8) {
        *why = "a port is not a number in 1..65527";
        return -1;
    }
    memcpy(at->host, s, hlen);
    at->host[hlen] = '\0';
    at->port = (int)port;
    return 0;
}

int pl_broker_parse_endpoints(const char *list, pl_broker_addr_t *out, const char **why)
{
    out->n = 0;
    const char *s = list;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        while (len && (*s == ' ' || *s == '\t')) { /* "a:1, b:2" reads as written */
            s++;
            len--;
        }
        while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        if (out->n == PL_BROKERS_MAX) {
            *why = "more than 8 brokers";
            return -1;
        }
        pl_broker_at_t *at = &out->at[out->n];
        if (parse_one(s, len, at, why))
            return -1;
        for (int i = 0; i < out->n; i++)
            if (out->at[i].port == at->port && strcmp(out->at[i].host, at->host) == 0) {
                *why = "a broker is listed twice";
                return -1;
            }
        out->n++;
        if (!comma)
            return 0;
        s = comma + 1;
    }
}

int pl_broker_addr_from_env(pl_broker_addr_t *out)
{
    memset(out, 0, sizeof *out);
    const char *host = pl_env_str("BROKER_HOST", "127.0.0.1");
    if (strlen(host) >= sizeof out->host) {
        pl_error("bad configuration", "var=BROKER_HOST reason=\"too long\"");
        return -1;
    }
    snprintf(out->host, sizeof out->host, "%s", host);
    int64_t port;
    if (pl_env_int("BROKER_PORT", 5550, 1, 65535 - 8, &port))
        return -1;
    out->port = (int)port;
    const char *list = pl_env_str("BROKER_ENDPOINTS", NULL);
    const char *why = NULL;
    if (list && pl_broker_parse_endpoints(list, out, &why)) {
        pl_error("bad configuration", "var=BROKER_ENDPOINTS reason=\"%s\"", why);
        return -1;
    }
    if (!list) { /* one broker, as before BROKER_ENDPOINTS existed */
        memcpy(out->at[0].host, out->host, sizeof out->host);
        out->at[0].port = out->port;
        out->n = 1;
    }
    const char *dir = pl_env_str("BROKER_IPC_DIR", "");
    if (strlen(dir) > PL_IPC_DIR_MAX) {
        pl_error("bad configuration", "var=BROKER_IPC_DIR reason=\"longer than %d bytes\"",
                 PL_IPC_DIR_MAX);
        return -1;
    }
    snprintf(out->ipc_dir, sizeof out->ipc_dir, "%s", dir);
    return 0;
}

int pl_broker_client_from_env(pl_broker_addr_t *out)
{
    if (pl_broker_addr_from_env(out))
        return -1;
    return pl_bus_keys_client_from_env(&out->keys);
}

void pl_broker_describe(const pl_broker_addr_t *addr, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < addr->n && used < cap; i++) {
        int w = snprintf(out + used, cap - used, "%s%s:%d", i ? "," : "", addr->at[i].host,
                         addr->at[i].port);
        if (w < 0)
            return;
        used += (size_t)w;
    }
}

static void endpoint(const char *ipc_dir, const char *host, int port, char *out, size_t cap)
{
    if (ipc_dir[0])
        snprintf(out, cap, "ipc://%s/broker-%d", ipc_dir, port);
    else
        snprintf(out, cap, "tcp://%s:%d", host, port);
}

void pl_broker_endpoint(const pl_broker_addr_t *addr, int offset, char *out, size_t cap)
{
    endpoint(addr->ipc_dir, addr->host, addr->port + offset, out, cap);
}

void pl_broker_endpoint_at(const pl_broker_addr_t *addr, int i, int offset, char *out, size_t cap)
{
    endpoint(addr->ipc_dir, addr->at[i].host, addr->at[i].port + offset, out, cap);
}

/* A socket with the house options (see pl_zmq_connect), not connected yet. */
static void *make_socket(void *ctx, int type, const pl_broker_addr_t *addr)
{
    void *s = zmq_socket(ctx, type);
    if (!s) {
        pl_error("zmq socket failed", "err=\"%s\"", zmq_strerror(errno));
        return NULL;
    }
    /* Linger briefly so replies queued at shutdown still leave; bounded so a dead broker
       cannot hold the process. High-water marks are large: the database, not ZeroMQ,
       is what guarantees delivery, but we would rather not drop under bursts.
       Sending sockets queue only on completed connections (ZMQ_IMMEDIATE): with several
       brokers, a PUSH would otherwise keep dealing every n-th request into the pipe of
       a dead one, where it waits for that broker's return long after its deadline, and
       a PUB would pile events up for it and replay them, stale, when it comes back.
       It must be set before connecting: libzmq makes a connection's pipe at connect. */
    int linger = 1000, hwm = 100000, ivl = 100, ivl_max = 1000;
    int immediate = type == ZMQ_PUSH || type == ZMQ_PUB;
    if (zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl) ||
        zmq_setsockopt(s, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max) ||
        zmq_setsockopt(s, ZMQ_IMMEDIATE, &immediate, sizeof immediate) ||
        pl_bus_keys_apply_client(&addr->keys, s)) {
        pl_error("zmq socket options failed", "err=\"%s\"", zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    return s;
}

static int connect_all(void *s, const pl_broker_addr_t *addr, int offset)
{
    for (int i = 0; i < addr->n; i++) {
        char ep[320];
        pl_broker_endpoint_at(addr, i, offset, ep, sizeof ep);
        if (zmq_connect(s, ep) != 0) {
            pl_error("zmq connect failed", "endpoint=%s err=\"%s\"", ep, zmq_strerror(errno));
            return -1;
        }
    }
    return 0;
}

void *pl_zmq_connect(void *ctx, int type, const pl_broker_addr_t *addr, int offset)
{
    void *s = make_socket(ctx, type, addr);
    if (s && connect_all(s, addr, offset) != 0) {
        zmq_close(s);
        return NULL;
    }
    return s;
}

/* Read monitor events until a handshake succeeded or the time is up. 1, or 0. */
static int await_handshake(void *mon, int timeout_ms)
{
    int64_t deadline = pl_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - pl_mono_ms();
        zmq_pollitem_t it = {mon, 0, ZMQ_POLLIN, 0};
        if (left <= 0 || zmq_poll(&it, 1, (long)left) <= 0)
            return 0;
        zmq_msg_t head, ep;
        zmq_msg_init(&head);
        zmq_msg_init(&ep);
        int ok = zmq_msg_recv(&head, mon, 0) >= 0 && zmq_msg_recv(&ep, mon, 0) >= 0;
        uint16_t ev = 0;
        if (ok && zmq_msg_size(&head) >= 2)
            memcpy(&ev, zmq_msg_data(&head), 2);
        zmq_msg_close(&head);
        zmq_msg_close(&ep);
        if (!ok)
            return 0;
        if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            return 1;
    }
}

void *pl_zmq_connect_ready(void *ctx, int type, const pl_broker_addr_t *addr, int offset,
                           int timeout_ms, int *ready)
{
    *ready = 0;
    void *s = make_socket(ctx, type, addr);
    if (!s)
        return NULL;
    char mep[64];
    snprintf(mep, sizeof mep, "inproc://pl-ready-%p", s);
    void *mon = NULL;
    if (zmq_socket_monitor(s, mep, ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0 ||
        !(mon = zmq_socket(ctx, ZMQ_PAIR)) || zmq_connect(mon, mep) != 0) {
        pl_error("zmq monitor failed", "err=\"%s\"", zmq_strerror(errno));
        goto fail;
    }
    if (connect_all(s, addr, offset) != 0)
        goto fail;
    *ready = await_handshake(mon, timeout_ms);
    zmq_socket_monitor(s, NULL, 0);
    zmq_close(mon);
    return s;
fail:
    zmq_socket_monitor(s, NULL, 0);
    if (mon)
        zmq_close(mon);
    zmq_close(s);
    return NULL;
}

void pl_zmq_disconnect(void *sock, const pl_broker_addr_t *addr, int offset)
{
    for (int i = 0; i < addr->n; i++) {
        char ep[320];
        pl_broker_endpoint_at(addr, i, offset, ep, sizeof ep);
        zmq_disconnect(sock, ep); /* ENOENT (never connected): nothing to undo */
    }
}

int pl_zmq_send2(void *sock, const void *topic, size_t tlen, const void *body, size_t blen,
                 int flags)
{
    if (zmq_send(sock, topic, tlen, flags | ZMQ_SNDMORE) < 0)
        return -1;
    /* The first frame is queued atomically with the rest: once it went in, the second
       cannot block (ZeroMQ queues whole messages), so flags apply to the first only. */
    if (zmq_send(sock, body, blen, flags) < 0)
        return -1;
    return 0;
}

static int more_frames(void *sock)
{
    int more = 0;
    size_t sz = sizeof more;
    return zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) == 0 && more;
}

/* Receive [topic][body][third]...: frames past the second are read and dropped, the
   third kept in *third when it is not NULL (never trust a peer's frame count). */
static int recv_frames(void *sock, zmq_msg_t *topic, zmq_msg_t *body, zmq_msg_t *third, int flags)
{
    if (zmq_msg_recv(topic, sock, flags) < 0)
        return -1;
    if (!more_frames(sock))
        return 0;
    if (zmq_msg_recv(body, sock, 0) < 0)
        return -1;
    for (int n = 2; more_frames(sock); n++) {
        zmq_msg_t extra;
        zmq_msg_init(&extra);
        zmq_msg_t *into = n == 2 && third ? third : &extra;
        int rc = zmq_msg_recv(into, sock, 0);
        zmq_msg_close(&extra);
        if (rc < 0)
            return -1;
    }
    return 0;
}

int pl_zmq_recv2(void *sock, zmq_msg_t *topic, zmq_msg_t *body, int flags)
{
    return recv_frames(sock, topic, body, NULL, flags);
}

int pl_zmq_publish(void *sock, const void *topic, size_t tlen, const void *body, size_t blen,
                   const pl_evid_t *id)
{
    unsigned char wire[PL_EVID_BYTES];
    pl_evid_encode(id, wire);
    /* PUB never blocks (past its high-water mark it drops), so no flags are needed */
    if (zmq_send(sock, topic, tlen, ZMQ_SNDMORE) < 0 ||
        zmq_send(sock, body, blen, ZMQ_SNDMORE) < 0 || zmq_send(sock, wire, sizeof wire, 0) < 0)
        return -1;
    return 0;
}

int pl_zmq_recv_event(void *sock, zmq_msg_t *topic, zmq_msg_t *body, pl_evid_t *id, int *has_id,
                      int flags)
{
    zmq_msg_t third;
    zmq_msg_init(&third);
    int rc = recv_frames(sock, topic, body, &third, flags);
    *has_id = rc == 0 && pl_evid_decode(zmq_msg_data(&third), zmq_msg_size(&third), id) == 0;
    zmq_msg_close(&third);
    return rc;
}

int pl_zmq_readable(void *sock)
{
    int events = 0;
    size_t sz = sizeof events;
    if (zmq_getsockopt(sock, ZMQ_EVENTS, &events, &sz) != 0)
        return 0;
    return (events & ZMQ_POLLIN) != 0;
}
