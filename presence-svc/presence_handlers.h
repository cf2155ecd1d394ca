/*  presence_handlers: one function per event presence-svc serves (client events,
    gateway notifications, other services' asks), the tick that fires timers, and the
    dispatcher the service runtime calls. The one thing to know: each change is
    published once, on the user's presence topic p<uid> (and `rstudent` for mentors);
    the gateways decide which connections hear it (docs/internals.md). */
#ifndef PRESENCE_HANDLERS_H
#define PRESENCE_HANDLERS_H

#include <stdint.h>

#include "pl_service.h"

/* Configuration and the little state one instance keeps (nothing durable). */
typedef struct {
    int64_t grace_ms;         /* OFFLINE_GRACE_MS */
    int64_t lease_default_ms; /* lease of a gateway not heard from yet */
    int64_t started_ms;       /* monotonic time of the first tick, 0 before */
    uint64_t ticks;
} pres_app_t;

int pres_handle(void *app, pl_service_t *svc, const proto_request_t *req);
int pres_tick(void *app, pl_service_t *svc, int64_t now_ms);
int64_t pres_order_key(const proto_request_t *req);

#endif
