/*  presence_handlers: one function per event presence-svc serves (client events,
    gateway notifications, other services' asks), the tick that fires timers, and the
    dispatcher the service runtime calls. The one thing to know: each change is
    published once, on the user's presence topic p<uid> (and `rstudent` for mentors);
    the gateways decide which connections hear it (docs/internals.md). */
#ifndef PRESENCE_HANDLERS_H
#define PRESENCE_HANDLERS_H

#include <stdint.h>

#include "pl_service.h"

/* Who shares a conversation with the askers of this transaction's get_presence
   requests: chat-svc's answer to one shared_contacts ask (presence_visible.c). */
#define PRES_ASKED_MAX 128 /* the runtime's batch size: every request of a batch */
typedef struct {
    msgpack_sbuffer raw; /* the answer; the objects below point into it */
    msgpack_unpacked up;
    const proto_request_t *reqs[PRES_ASKED_MAX]; /* asked for, in query order */
    const msgpack_object *results;               /* answer's results, or NULL */
    size_t n;
} presence_contacts_t;

/* A batch's conn_open/conn_close notices sent in one pipeline (presence_conns.c):
   reqs[i]'s rows are results[i] until its handler takes them. */
typedef struct {
    const proto_request_t **reqs;
    PGresult **results;
    size_t n;
} presence_conns_t;

/* Configuration and the little state one instance keeps (nothing durable). */
typedef struct {
    int64_t grace_ms;         /* OFFLINE_GRACE_MS */
    int64_t lease_default_ms; /* lease of a gateway not heard from yet */
    int64_t ask_ms;           /* PRESENCE_ASK_TIMEOUT_MS: longest wait for chat's answer */
    int64_t started_ms;       /* monotonic time of the first tick, 0 before */
    uint64_t ticks;
    presence_contacts_t contacts; /* this transaction's, filled by presence_prepare */
    presence_conns_t conns;       /* this transaction's notices run ahead (presence_conns.c) */
} presence_app_t;

void presence_app_init(presence_app_t *app);
void presence_app_free(presence_app_t *app);

/* The runtime's prepare step: before a transaction's handlers (and before any lock is
   taken), asks chat-svc once who shares a conversation with the askers of its
   get_presence requests. Never fails the transaction: no answer is remembered as such
   and those requests are answered `unavailable`. */
int presence_prepare(void *app, pl_service_t *svc, const proto_request_t *const *reqs, size_t n);

/* presence_conns.c: when a batch is only conn_open/conn_close notices, runs them all
   in one pipeline (0, or -1 when the database failed); a handler then takes its own
   rows (NULL: not run ahead, run it alone). */
int presence_conns_prepare(presence_app_t *app, PGconn *db, const proto_request_t *const *reqs,
                           size_t n);
PGresult *presence_conns_take(presence_app_t *app, const proto_request_t *req);
void presence_conns_clear(presence_conns_t *c);

/* For req (a get_presence being handled): its contacts among the ids it asked about,
   as chat answered (an array of str), in *out. 0, or -1 when chat did not answer. */
int presence_contacts_of(const presence_app_t *app, const proto_request_t *req,
                         const msgpack_object **out);

extern const pl_handler_t presence_handlers[]; /* what presence-svc serves */
int presence_tick(void *app, pl_service_t *svc, int64_t now_ms);
int64_t presence_order_key(const proto_request_t *req);

/* presence_api.c: the server API's disconnect (+ revoke), and the revocation list a
   starting gateway asks for. */
pl_handler_fn presence_on_api_disconnect, presence_on_revocations; /* app is the presence_app_t */

#endif
