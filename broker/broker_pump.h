/*  broker_pump: moves messages between the broker's sockets (see broker_pump.c).
    The one thing to know: it watches the sockets' ZMQ_FDs with epoll and asks
    libzmq about a socket only when that socket signalled or was just used. zmq_poll
    asks about every socket on every pass, and each question costs two system calls. */
#ifndef BROKER_PUMP_H
#define BROKER_PUMP_H

#include <zmq.h>

#define BROKER_QUEUES 3

/* One socket under the pump's eye. */
typedef struct {
    void *sock;
    int signalled; /* its ZMQ_FD became readable: libzmq has commands for it */
    int maybe_in;  /* it may hold messages we have not read (see broker_pump.c) */
} broker_port_t;

/* A request queue: PULL from the gateways, PUSH round-robin to the instances. */
typedef struct {
    broker_port_t front, back;
    const char *name;
    zmq_msg_t held; /* a message's first frame that `back` refused (no instance ready) */
    int holding;
    unsigned long long forwarded;
} broker_queue_t;

typedef struct {
    broker_queue_t queues[BROKER_QUEUES];
    broker_port_t xsub, xpub; /* events in from services; out to subscribers */
    int epfd;
} broker_pump_t;

/* Register every socket's ZMQ_FD (the sockets are the caller's, already bound).
   0, or -1 (logged). Call broker_pump_close afterwards either way. */
int broker_pump_init(broker_pump_t *self);

/* Wait up to timeout_ms for work, then forward whatever is ready. 0, or -1 when
   waiting failed for another reason than a signal (logged). */
int broker_pump_run_once(broker_pump_t *self, int timeout_ms);

/* Close the epoll descriptor and drop a held frame. The sockets stay the caller's. */
void broker_pump_close(broker_pump_t *self);

#endif
