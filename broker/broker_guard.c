/*  broker_guard: zauth, and counting refused handshakes (see broker_guard.h).

    libzmq reports a refused handshake on the refusing socket's monitor:
    ZMQ_EVENT_HANDSHAKE_FAILED_AUTH when the ZAP handler said no (an unknown key), and
    ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL when the peer does not speak CURVE with our key
    (a plain client, a client holding another server key, anything that is not ZMTP).
    Both ends check the other's mechanism, so a plain client may notice the mismatch
    first and hang up: the broker then sees ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, as it
    does for a TCP probe or a port scan. Those are counted apart ("aborted") and logged
    at debug level only.

    A refusal is logged, but at most once per LOG_EVERY_MS with the number since the
    last line, so whoever knocks cannot flood the log. */
#include "broker_guard.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "pl_clock.h"
#include "pl_log.h"

#define WATCH_MAX 16 /* the broker has 8 sockets */
#define LOG_EVERY_MS 1000

struct broker_guard_t {
    zactor_t *auth;    /* zauth; NULL on a plain bus */
    zactor_t *watcher; /* reads the monitors */
    int watched;
    uint64_t refused[BROKER_REFUSED_REASONS]; /* written by the watcher, read atomically */
};

static const char *const s_reason_names[BROKER_REFUSED_REASONS] = {"key", "protocol", "aborted"};

/* ---- the watcher actor ----------------------------------------------------------- */

typedef struct {
    zsock_t *sock;
    char *name;
} monitor_t;

typedef struct {
    broker_guard_t *guard;
    monitor_t mon[WATCH_MAX];
    int n;
    int64_t last_log_ms;
    uint64_t unlogged;
} watcher_t;

/* One monitor event: [u16 event][u32 value] then the endpoint. */
static void on_event(watcher_t *w, monitor_t *m)
{
    zmsg_t *msg = zmsg_recv(m->sock);
    if (!msg)
        return;
    zframe_t *head = zmsg_first(msg);
    if (head && zframe_size(head) == 6) {
        uint16_t ev;
        uint32_t value;
        memcpy(&ev, zframe_data(head), 2);
        memcpy(&value, zframe_data(head) + 2, 4);
        broker_refused_t r = ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH       ? BROKER_REFUSED_KEY
                             : ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? BROKER_REFUSED_PROTOCOL
                                                                         : BROKER_REFUSED_ABORTED;
        __atomic_fetch_add(&w->guard->refused[r], 1, __ATOMIC_RELAXED);
        if (r == BROKER_REFUSED_ABORTED) {
            pl_debug("bus handshake aborted", "socket=%s err=\"%s\"", m->name,
                     zmq_strerror((int)value));
            zmsg_destroy(&msg);
            return;
        }
        w->unlogged++;
        int64_t now = pl_mono_ms();
        if (now - w->last_log_ms >= LOG_EVERY_MS) {
            /* code: the ZAP status (400) or libzmq's ZMQ_PROTOCOL_ERROR_* (hex in zmq.h) */
            pl_warn("bus handshake refused",
                    "socket=%s reason=%s code=%#x refused_since_last_line=%llu", m->name,
                    s_reason_names[r], (unsigned)value, (unsigned long long)w->unlogged);
            w->last_log_ms = now;
            w->unlogged = 0;
        }
    }
    zmsg_destroy(&msg);
}

/* A command from the broker's thread: WATCH <endpoint> <name>. The caller signals. */
static void on_watch(watcher_t *w, zmsg_t *msg, zpoller_t *poller)
{
    char *ep = zmsg_popstr(msg), *name = zmsg_popstr(msg);
    int rc = -1;
    if (ep && name && w->n < WATCH_MAX) {
        zsock_t *s = zsock_new_pair(NULL);
        if (s && zsock_connect(s, "%s", ep) == 0 && zpoller_add(poller, s) == 0) {
            w->mon[w->n++] = (monitor_t){s, name};
            name = NULL;
            rc = 0;
        } else {
            zsock_destroy(&s);
        }
    }
    if (rc != 0)
        pl_error("cannot read socket monitor", "endpoint=%s", ep ? ep : "-");
    free(ep);
    free(name);
}

static void watcher_actor(zsock_t *pipe, void *args)
{
    watcher_t w;
    memset(&w, 0, sizeof w);
    w.guard = args;
    w.last_log_ms = -LOG_EVERY_MS;
    zpoller_t *poller = zpoller_new(pipe, NULL);
    zsock_signal(pipe, poller ? 0 : 1);
    while (poller) {
        void *which = zpoller_wait(poller, -1);
        if (!which)
            break; /* interrupted or terminated */
        if (which == pipe) {
            zmsg_t *msg = zmsg_recv(pipe);
            char *cmd = msg ? zmsg_popstr(msg) : NULL;
            int stop = !cmd || strcmp(cmd, "$TERM") == 0;
            if (!stop && strcmp(cmd, "WATCH") == 0) {
                int before = w.n;
                on_watch(&w, msg, poller);
                zsock_signal(pipe, w.n > before ? 0 : 1);
            }
            free(cmd);
            zmsg_destroy(&msg);
            if (stop)
                break;
            continue;
        }
        for (int i = 0; i < w.n; i++)
            if (which == w.mon[i].sock)
                on_event(&w, &w.mon[i]);
    }
    for (int i = 0; i < w.n; i++) {
        zsock_destroy(&w.mon[i].sock);
        free(w.mon[i].name);
    }
    zpoller_destroy(&poller);
}

/* ---- the guard --------------------------------------------------------------------- */

broker_guard_t *broker_guard_new(const char *keys_dir)
{
    broker_guard_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    if (keys_dir) {
        /* Before any bind: with ZMQ_ZAP_ENFORCE_DOMAIN a CURVE socket refuses everyone
           while no handler answers, never the other way round. */
        self->auth = zactor_new(zauth, NULL);
        if (!self->auth || zstr_sendx(self->auth, "CURVE", keys_dir, NULL) != 0 ||
            zsock_wait(self->auth) != 0) {
            pl_error("cannot start the ZAP handler", "dir=%s", keys_dir);
            goto fail;
        }
    }
    self->watcher = zactor_new(watcher_actor, self);
    if (!self->watcher) {
        pl_error("cannot start the handshake monitor", "err=\"%s\"", zmq_strerror(zmq_errno()));
        goto fail;
    }
    return self;
fail:
    broker_guard_destroy(&self);
    return NULL;
}

void broker_guard_destroy(broker_guard_t **self_p)
{
    broker_guard_t *self = *self_p;
    if (!self)
        return;
    zactor_destroy(&self->watcher);
    zactor_destroy(&self->auth);
    free(self);
    *self_p = NULL;
}

int broker_guard_watch(broker_guard_t *self, void *sock, const char *name)
{
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://parley-broker-monitor-%d", self->watched);
    int events = ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                 ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
    if (zmq_socket_monitor(sock, ep, events) != 0 ||
        zstr_sendx(self->watcher, "WATCH", ep, name, NULL) != 0 || zsock_wait(self->watcher) != 0) {
        pl_error("cannot monitor socket", "socket=%s err=\"%s\"", name, zmq_strerror(zmq_errno()));
        return -1;
    }
    self->watched++;
    return 0;
}

uint64_t broker_guard_refused(broker_guard_t *self, broker_refused_t reason)
{
    return __atomic_load_n(&self->refused[reason], __ATOMIC_RELAXED);
}
