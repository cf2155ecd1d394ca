/*  pl_zmq: how every process finds the broker, and two-frame [topic][body] messaging.
    The one thing to know: only parley-broker binds. Everything else connects to
    BROKER_HOST:BROKER_PORT+offset (offsets in proto.h / docs/internals.md), so any
    number of instances of anything can come and go without configuration. */
#ifndef PL_ZMQ_H
#define PL_ZMQ_H

#include <stddef.h>
#include <zmq.h>

#include "pl_zmq_curve.h"

#define PL_IPC_DIR_MAX 80 /* leaves room for "/broker-65535" in a 107-byte socket path */

typedef struct {
    char host[256];
    int port;                         /* base port */
    char ipc_dir[PL_IPC_DIR_MAX + 1]; /* "" = TCP; else Unix sockets in this directory */
    pl_bus_keys_t keys;               /* CURVE keys pl_zmq_connect applies (pl_zmq_curve.h) */
} pl_broker_addr_t;

/* Read BROKER_HOST [127.0.0.1], BROKER_PORT [5550] and BROKER_IPC_DIR [unset]; -1
   (logged) when invalid. */
int pl_broker_addr_from_env(pl_broker_addr_t *out);
/* The same, plus this client's CURVE keys (pl_bus_keys_client_from_env): what a
   gateway, a service or a test tool needs to reach the broker. -1 (logged). */
int pl_broker_client_from_env(pl_broker_addr_t *out);
/* "tcp://host:port+offset", or "ipc://dir/broker-<port+offset>" when ipc_dir is set. */
void pl_broker_endpoint(const pl_broker_addr_t *addr, int offset, char *out, size_t cap);

/* Create a socket of `type`, apply the house options (linger, high-water marks,
   reconnect interval) and addr->keys (CURVE client), connect to the broker at
   `offset`. NULL on failure (logged). */
void *pl_zmq_connect(void *ctx, int type, const pl_broker_addr_t *addr, int offset);

/* Send [topic][body]. flags: 0 or ZMQ_DONTWAIT. Returns 0, or -1 with errno
   (EAGAIN when it would block under ZMQ_DONTWAIT). */
int pl_zmq_send2(void *sock, const void *topic, size_t tlen, const void *body, size_t blen,
                 int flags);

/* Receive one message of two frames into topic and body (both initialised by the
   caller with zmq_msg_init, and closed by the caller). Extra frames are read and
   dropped; a one-frame message leaves body empty. 0 on success, -1 with errno. */
int pl_zmq_recv2(void *sock, zmq_msg_t *topic, zmq_msg_t *body, int flags);

/* True if the socket has a message waiting (ZMQ_EVENTS & ZMQ_POLLIN). */
int pl_zmq_readable(void *sock);

#endif
