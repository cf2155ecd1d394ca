/*  broker_pump: the broker's forwarding loop (see broker_pump.h).

    libzmq's contract for ZMQ_FD (zmq_getsockopt(3)): the descriptor becomes readable
    when the socket has commands to process, and it is edge-triggered with respect to
    messages: after a send or a receive, the socket may have become readable without
    the descriptor saying so. Two rules follow.

    - A socket whose descriptor signalled is asked about (received from until EAGAIN,
      or ZMQ_EVENTS read): that processes its commands and clears the descriptor, so
      level-triggered epoll does not spin on it.
    - A socket we sent on may have messages waiting that nothing will announce. It is
      marked `maybe_in` and received from until EAGAIN before the pump sleeps. A
      receive that ends in EAGAIN has processed the socket's commands, so after it
      the descriptor is reliable again.

    A queue reads its front only while its back takes messages. When no instance is
    connected, the first frame of one message is held here and the rest wait in
    ZeroMQ's bounded queue; the back's descriptor signals when an instance connects. */
#include "broker_pump.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "pl_log.h"

#define BUDGET 1000 /* messages per socket per pass, so no stream starves the others */

/* ---- asking libzmq --------------------------------------------------------------- */

static int zmq_events(void *sock)
{
    int ev = 0;
    size_t sz = sizeof ev;
    return zmq_getsockopt(sock, ZMQ_EVENTS, &ev, &sz) == 0 ? ev : 0;
}

/* Drop the remaining frames of a message whose first frames could not be forwarded. */
static void discard_rest(void *from)
{
    int more = 1;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, from, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part);
            return;
        }
        more = zmq_msg_more(&part);
        zmq_msg_close(&part);
    }
}

/* Send `part` (and the rest of its message, read from `from`) to `to`. Returns 1
   sent, 0 `to` refused the first frame (it is left in `part`, untouched), -1 the
   message was lost part-way (logged). */
static int send_message(zmq_msg_t *part, void *from, void *to, const char *what)
{
    for (int first = 1;; first = 0) {
        int more = zmq_msg_more(part);
        if (zmq_msg_send(part, to, (more ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0) {
            if (first && errno == EAGAIN)
                return 0;
            pl_warn("message dropped", "stream=%s err=\"%s\"", what, zmq_strerror(errno));
            zmq_msg_close(part);
            if (more)
                discard_rest(from);
            return -1;
        }
        if (!more)
            return 1;
        zmq_msg_init(part);
        if (zmq_msg_recv(part, from, ZMQ_DONTWAIT) < 0) { /* frames of one message arrive together */
            zmq_msg_close(part);
            pl_warn("message dropped", "stream=%s err=\"truncated\"", what);
            return -1;
        }
    }
}

/* Receive one message's first frame from `port`. 1 got one, 0 empty (maybe_in cleared). */
static int receive_first(broker_port_t *port, zmq_msg_t *part)
{
    zmq_msg_init(part);
    if (zmq_msg_recv(part, port->sock, ZMQ_DONTWAIT) >= 0)
        return 1;
    zmq_msg_close(part);
    if (errno != EAGAIN) /* not expected; the descriptor will say when to try again */
        pl_warn("receive failed", "err=\"%s\"", zmq_strerror(errno));
    port->maybe_in = 0;
    port->signalled = 0; /* the failed receive processed its commands */
    return 0;
}

/* ---- the two kinds of stream --------------------------------------------------- */

static void serve_queue(broker_queue_t *q)
{
    if (q->back.signalled) { /* an instance came or went, or room freed up */
        q->back.signalled = 0;
        zmq_events(q->back.sock);
    }
    if (q->holding) {
        int rc = send_message(&q->held, q->front.sock, q->back.sock, q->name);
        if (rc == 0) {
            if (q->front.signalled) { /* clear its descriptor; its messages wait */
                q->front.signalled = 0;
                q->front.maybe_in = 1;
                zmq_events(q->front.sock);
            }
            return;
        }
        q->holding = 0;
        if (rc < 0) /* send_message closed it: make it a valid empty message again */
            zmq_msg_init(&q->held);
        q->forwarded += rc == 1;
        q->front.maybe_in = 1;
    }
    if (!q->front.signalled && !q->front.maybe_in)
        return;
    q->front.maybe_in = 1;
    for (int k = 0; k < BUDGET; k++) {
        zmq_msg_t part;
        if (!receive_first(&q->front, &part))
            return;
        int rc = send_message(&part, q->front.sock, q->back.sock, q->name);
        if (rc == 0) {
            zmq_msg_move(&q->held, &part);
            zmq_msg_close(&part);
            q->holding = 1;
            return;
        }
        q->forwarded += rc == 1;
    }
}

/* Forward from `in` to `out` until `in` is empty or the budget is spent. Sending may
   hide messages waiting on `out` (see the top of the file). */
static void serve_bus(broker_port_t *in, broker_port_t *out, const char *what)
{
    if (!in->signalled && !in->maybe_in)
        return;
    in->maybe_in = 1;
    for (int k = 0; k < BUDGET; k++) {
        zmq_msg_t part;
        if (!receive_first(in, &part))
            return;
        if (send_message(&part, in->sock, out->sock, what) == 0) { /* XPUB/XSUB drop, never refuse */
            zmq_msg_close(&part);
            discard_rest(in->sock);
        }
        out->maybe_in = 1;
    }
}

/* ---- the loop ------------------------------------------------------------------- */

/* Work left that no descriptor will announce: the pump must not sleep. */
static int busy(const broker_pump_t *self)
{
    for (int i = 0; i < BROKER_QUEUES; i++) {
        const broker_queue_t *q = &self->queues[i];
        if ((q->front.maybe_in && !q->holding) || q->front.signalled || q->back.signalled)
            return 1;
    }
    return self->xsub.maybe_in || self->xpub.maybe_in || self->xsub.signalled ||
           self->xpub.signalled;
}

static broker_port_t *port_at(broker_pump_t *self, uint32_t i)
{
    if (i < 2 * BROKER_QUEUES)
        return i % 2 ? &self->queues[i / 2].back : &self->queues[i / 2].front;
    return i == 2 * BROKER_QUEUES ? &self->xsub : &self->xpub;
}

int broker_pump_init(broker_pump_t *self)
{
    for (int i = 0; i < BROKER_QUEUES; i++) {
        zmq_msg_init(&self->queues[i].held);
        self->queues[i].holding = 0;
    }
    self->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (self->epfd < 0) {
        pl_error("epoll_create1 failed", "err=\"%s\"", strerror(errno));
        return -1;
    }
    for (uint32_t i = 0; i < 2 * BROKER_QUEUES + 2; i++) {
        broker_port_t *p = port_at(self, i);
        int fd;
        size_t sz = sizeof fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        if (zmq_getsockopt(p->sock, ZMQ_FD, &fd, &sz) != 0 ||
            epoll_ctl(self->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            pl_error("cannot watch socket", "err=\"%s\"", strerror(errno));
            return -1;
        }
        p->signalled = 1; /* ask every socket once at the start */
    }
    return 0;
}

int broker_pump_run_once(broker_pump_t *self, int timeout_ms)
{
    struct epoll_event evs[2 * BROKER_QUEUES + 2];
    int n = epoll_wait(self->epfd, evs, 2 * BROKER_QUEUES + 2, busy(self) ? 0 : timeout_ms);
    if (n < 0) {
        if (errno == EINTR)
            return 0;
        pl_error("epoll_wait failed", "err=\"%s\"", strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++)
        port_at(self, evs[i].data.u32)->signalled = 1;
    /* Subscriptions first (they travel upstream, to the publishers): one that arrived
       with a request in the same pass must reach the service before that request
       does, or what the request publishes misses the gateway that just subscribed. */
    serve_bus(&self->xpub, &self->xsub, "subscriptions");
    for (int i = 0; i < BROKER_QUEUES; i++)
        serve_queue(&self->queues[i]);
    serve_bus(&self->xsub, &self->xpub, "events");
    return 0;
}

void broker_pump_close(broker_pump_t *self)
{
    for (int i = 0; i < BROKER_QUEUES; i++) {
        zmq_msg_close(&self->queues[i].held); /* empty unless holding */
        self->queues[i].holding = 0;
    }
    if (self->epfd >= 0)
        close(self->epfd);
    self->epfd = -1;
}
