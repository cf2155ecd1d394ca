/*  pl_zmq: how every process finds the brokers, and two-frame [topic][body] messaging.
    The one thing to know: only parley-broker binds. Everything else connects every
    socket to every broker, BROKER_ENDPOINTS (host:port,host:port,...; default
    BROKER_HOST:BROKER_PORT) at port+offset (offsets in proto.h / docs/internals.md),
    so any number of instances of anything can come and go without configuration,
    and any one broker can die (docs/design/topology.md, "Several brokers"). */
#ifndef PL_ZMQ_H
#define PL_ZMQ_H

#include <stddef.h>
#include <zmq.h>

#include "pl_zmq_curve.h"

#include "pl_dedup.h"

#define PL_IPC_DIR_MAX 80 /* leaves room for "/broker-65535" in a 107-byte socket path */
#define PL_BROKERS_MAX 8  /* BROKER_ENDPOINTS entries; every socket connects to each */
#define PL_BROKER_HOST_MAX 255

typedef struct {
    char host[PL_BROKER_HOST_MAX + 1];
    int port; /* base port */
} pl_broker_at_t;

typedef struct {
    char host[PL_BROKER_HOST_MAX + 1]; /* BROKER_HOST */
    int port;                          /* BROKER_PORT: what a broker binds */
    pl_broker_at_t at[PL_BROKERS_MAX]; /* the brokers a client connects to */
    int n;                             /* entries of at (1 without BROKER_ENDPOINTS) */
    char ipc_dir[PL_IPC_DIR_MAX + 1];  /* "" = TCP; else Unix sockets in this directory */
    pl_bus_keys_t keys;                /* CURVE keys pl_zmq_connect applies (pl_zmq_curve.h) */
} pl_broker_addr_t;

/* Read BROKER_HOST [127.0.0.1], BROKER_PORT [5550], BROKER_ENDPOINTS [BROKER_HOST:
   BROKER_PORT] and BROKER_IPC_DIR [unset]; -1 (logged) when invalid. */
int pl_broker_addr_from_env(pl_broker_addr_t *out);
/* Parse a BROKER_ENDPOINTS value into out->at / out->n: 1 to PL_BROKERS_MAX
   comma-separated host:port entries, each port in [1, 65535-8], none twice. 0, or -1
   with *why set to a static reason. */
int pl_broker_parse_endpoints(const char *list, pl_broker_addr_t *out, const char **why);
/* "host:port,host:port" of the brokers a client connects to, for logs. */
void pl_broker_describe(const pl_broker_addr_t *addr, char *out, size_t cap);
/* The same, plus this client's CURVE keys (pl_bus_keys_client_from_env): what a
   gateway, a service or a test tool needs to reach the broker. -1 (logged). */
int pl_broker_client_from_env(pl_broker_addr_t *out);
/* This broker's own endpoint (BROKER_HOST:BROKER_PORT): "tcp://host:port+offset", or
   "ipc://dir/broker-<port+offset>" when ipc_dir is set. */
void pl_broker_endpoint(const pl_broker_addr_t *addr, int offset, char *out, size_t cap);
/* The same for broker i of addr->at. */
void pl_broker_endpoint_at(const pl_broker_addr_t *addr, int i, int offset, char *out, size_t cap);

/* Create a socket of `type`, apply the house options (linger, high-water marks,
   reconnect interval, and ZMQ_IMMEDIATE for the sending kinds PUSH and PUB) and
   addr->keys (CURVE client), connect it to every broker at `offset`. NULL on failure
   (logged). */
void *pl_zmq_connect(void *ctx, int type, const pl_broker_addr_t *addr, int offset);
/* pl_zmq_connect, then wait up to timeout_ms for the socket to complete its handshake
   with at least one broker (a socket monitor). For a service's PUB: a broker's XSUB
   sends the subscriptions right after the handshake, and a PUB drops what it publishes
   before they arrive, so requests taken earlier would have their replies dropped.
   NULL on failure (logged); a timeout is not a failure (the broker may be down: the
   socket connects later by itself), *ready says which it was. */
void *pl_zmq_connect_ready(void *ctx, int type, const pl_broker_addr_t *addr, int offset,
                           int timeout_ms, int *ready);
/* Disconnect a socket made by pl_zmq_connect from every broker at `offset`. */
void pl_zmq_disconnect(void *sock, const pl_broker_addr_t *addr, int offset);

/* Send [topic][body]. flags: 0 or ZMQ_DONTWAIT. Returns 0, or -1 with errno
   (EAGAIN when it would block under ZMQ_DONTWAIT). */
int pl_zmq_send2(void *sock, const void *topic, size_t tlen, const void *body, size_t blen,
                 int flags);

/* Receive one message of two frames into topic and body (both initialised by the
   caller with zmq_msg_init, and closed by the caller). Extra frames are read and
   dropped; a one-frame message leaves body empty. 0 on success, -1 with errno. */
int pl_zmq_recv2(void *sock, zmq_msg_t *topic, zmq_msg_t *body, int flags);

/* An event: [topic][body][id] (id: PL_EVID_BYTES, pl_dedup.h). What every service
   publishes, so that the copies several brokers deliver can be told apart. */
int pl_zmq_publish(void *sock, const void *topic, size_t tlen, const void *body, size_t blen,
                   const pl_evid_t *id);
/* Receive an event like pl_zmq_recv2; *has_id is 1 and *id set when the third frame
   is a well-formed id, else 0 (an event without one is never taken for a copy). */
int pl_zmq_recv_event(void *sock, zmq_msg_t *topic, zmq_msg_t *body, pl_evid_t *id, int *has_id,
                      int flags);

/* True if the socket has a message waiting (ZMQ_EVENTS & ZMQ_POLLIN). */
int pl_zmq_readable(void *sock);

#endif
