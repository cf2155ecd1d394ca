/*  pl_zmq: broker rendezvous and two-frame messages (see pl_zmq.h). */
#include "pl_zmq.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pl_config.h"
#include "pl_log.h"

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

void pl_broker_endpoint(const pl_broker_addr_t *addr, int offset, char *out, size_t cap)
{
    if (addr->ipc_dir[0])
        snprintf(out, cap, "ipc://%s/broker-%d", addr->ipc_dir, addr->port + offset);
    else
        snprintf(out, cap, "tcp://%s:%d", addr->host, addr->port + offset);
}

void *pl_zmq_connect(void *ctx, int type, const pl_broker_addr_t *addr, int offset)
{
    char ep[320];
    pl_broker_endpoint(addr, offset, ep, sizeof ep);
    void *s = zmq_socket(ctx, type);
    if (!s) {
        pl_error("zmq socket failed", "err=\"%s\"", zmq_strerror(errno));
        return NULL;
    }
    /* Linger briefly so replies queued at shutdown still leave; bounded so a dead broker
       cannot hold the process. High-water marks are large: the database, not ZeroMQ,
       is what guarantees delivery, but we would rather not drop under bursts. */
    int linger = 1000, hwm = 100000, ivl = 100, ivl_max = 1000;
    if (zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl) ||
        zmq_setsockopt(s, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max) ||
        pl_bus_keys_apply_client(&addr->keys, s) || zmq_connect(s, ep) != 0) {
        pl_error("zmq connect failed", "endpoint=%s err=\"%s\"", ep, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    return s;
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

int pl_zmq_recv2(void *sock, zmq_msg_t *topic, zmq_msg_t *body, int flags)
{
    if (zmq_msg_recv(topic, sock, flags) < 0)
        return -1;
    if (!more_frames(sock))
        return 0;
    if (zmq_msg_recv(body, sock, 0) < 0)
        return -1;
    while (more_frames(sock)) { /* never trust a peer's frame count */
        zmq_msg_t extra;
        zmq_msg_init(&extra);
        int rc = zmq_msg_recv(&extra, sock, 0);
        zmq_msg_close(&extra);
        if (rc < 0)
            return -1;
    }
    return 0;
}

int pl_zmq_readable(void *sock)
{
    int events = 0;
    size_t sz = sizeof events;
    if (zmq_getsockopt(sock, ZMQ_EVENTS, &events, &sz) != 0)
        return 0;
    return (events & ZMQ_POLLIN) != 0;
}
