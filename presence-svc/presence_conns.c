/*  presence_conns: a reconnect storm's notices, one round trip for many.
    The one thing to know: a batch made only of conn_open and conn_close notices (what
    a storm of connections brings, hundreds a second) is sent to PostgreSQL in one
    pipeline by presence_prepare, in the batch's order, and each handler then answers
    from its own notice's rows: the same statements, the same order, one round trip
    instead of one each. A batch holding anything else (a lease, a reconcile that must
    run before the notices, a client's request) is left to the handlers one by one,
    so no request is ever reordered against another. */
#include "presence_handlers.h"

#include <stdlib.h>
#include <string.h>

#include "presence_store.h"

void presence_conns_clear(presence_conns_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        PQclear(c->results[i]);
    free(c->results);
    free(c->reqs);
    memset(c, 0, sizeof *c);
}

static int is_notice(const proto_request_t *req)
{
    return (strcmp(req->ev, PROTO_EV_CONN_OPEN) == 0 || strcmp(req->ev, PROTO_EV_CONN_CLOSE) == 0) &&
           req->uid[0];
}

int presence_conns_prepare(presence_app_t *app, PGconn *db, const proto_request_t *const *reqs,
                           size_t n)
{
    presence_conns_t *c = &app->conns;
    presence_conns_clear(c);
    if (n < 2)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_notice(reqs[i]))
            return 0;
    presence_notice_t *v = calloc(n, sizeof *v);
    c->reqs = calloc(n, sizeof *c->reqs);
    c->results = calloc(n, sizeof *c->results);
    if (!v || !c->reqs || !c->results) {
        free(v);
        presence_conns_clear(c);
        return 0; /* out of memory: one by one */
    }
    for (size_t i = 0; i < n; i++) {
        const proto_request_t *r = reqs[i];
        v[i] = (presence_notice_t){.open = strcmp(r->ev, PROTO_EV_CONN_OPEN) == 0, .gw = r->gw,
                                   .uid = r->uid, .role = r->role, .name = r->nm, .cn = r->cn};
        c->reqs[i] = r;
    }
    int rc = presence_store_conn_notices(db, v, n, app->lease_default_ms, app->grace_ms, c->results);
    free(v);
    if (rc != 0) {
        presence_conns_clear(c);
        return -1;
    }
    c->n = n;
    return 0;
}

PGresult *presence_conns_take(presence_app_t *app, const proto_request_t *req)
{
    presence_conns_t *c = &app->conns;
    for (size_t i = 0; i < c->n; i++) {
        if (c->reqs[i] != req)
            continue;
        PGresult *r = c->results[i];
        c->results[i] = NULL; /* the handler's now */
        return r;
    }
    return NULL;
}
