/*  pl_service: the runtime every Parley service runs on.
    The one thing to know: requests are taken from the service's queue in batches and
    handled inside ONE database transaction (group commit); everything a handler sends
    (replies, events) waits in an outbox and leaves only after that COMMIT succeeded.
    If the batch fails, it is rolled back and every request is retried alone, so one
    bad request costs only itself. A client is never told of something uncommitted.
    Past saturation it sheds: a client request that already waited longer than
    SHED_AFTER_MS since the gateway sent it is answered `overloaded` at once, before
    any database work (docs/design/overload.md). */
#ifndef PL_SERVICE_H
#define PL_SERVICE_H

#include <libpq-fe.h>
#include <msgpack.h>
#include <stdint.h>

#include "pl_pg.h"
#include "proto.h"
#include "proto_envelope.h"

typedef struct pl_service_t pl_service_t;

/* Handle one request inside the open transaction. Reply exactly once (answer, ack or
   error). Return 0 when done (client errors included), -1 when the database failed:
   the transaction is then rolled back and the request retried alone. */
typedef int(pl_handler_fn)(void *app, pl_service_t *svc, const proto_request_t *req);
/* Periodic work (timers) inside its own transaction; same return convention. */
typedef int(pl_tick_fn)(void *app, pl_service_t *svc, int64_t now_ms);
/* Batch order: requests are handled sorted by this key (stable), so that instances
   lock rows in the same order and never deadlock each other. */
typedef int64_t(pl_order_fn)(const proto_request_t *req);

/* An event from the bus (a topic in def->subscribe), outside any request. Runs in its
   own transaction; same return convention as a handler. */
typedef int(pl_event_fn)(void *app, pl_service_t *svc, const char *topic, size_t topic_len,
                         const msgpack_object *root);

/* Optional: called once at the start of every request transaction, before the
   handlers, with the requests it will run (in order), so a service can do work for
   the whole batch at once (chat-svc sends all of a batch's messages to PostgreSQL
   in one pipeline). Also called with the single request of a retry, so nothing it
   prepared outlives a rollback. Same return convention as a handler. */
typedef int(pl_prepare_fn)(void *app, pl_service_t *svc, const proto_request_t *const *reqs,
                           size_t n);

/* One row of a service's handler table: the event it serves and its handler. */
typedef struct {
    const char *ev; /* a PROTO_EV_* name */
    pl_handler_fn *fn;
} pl_handler_t;

typedef struct {
    proto_svc_t kind;
    /* What the service serves, terminated by {NULL, NULL}. A request for any other
       event is answered bad_request by the runtime. Looked up by hash, not scanned. */
    const pl_handler_t *handlers;
    pl_prepare_fn *prepare; /* optional */
    pl_tick_fn *tick; /* optional */
    int tick_ms;
    pl_order_fn *order_key;  /* optional */
    const pl_stmt_t *stmts;  /* prepared again after a reconnect */
    const char *const *subscribe; /* bus topics to receive (NULL-terminated list of
                                     C strings; the terminating NUL is part of the
                                     topic), e.g. "ipresence_gone" */
    pl_event_fn *on_event;
} pl_service_def_t;

/* Connects to the broker (BROKER_HOST/BROKER_PORT). Takes ownership of db.
   NULL on failure (logged; db is then finished). */
/* The runtime's own settings (BATCH_INTERVAL_MS, BATCH_PACING, SHED_AFTER_MS): 0 if valid, else -1
   after logging which one is bad. Checked before the database is waited for. */
int pl_service_check_config(void);
pl_service_t *pl_service_new(const pl_service_def_t *def, void *app, PGconn **db_p);
void pl_service_destroy(pl_service_t **self_p);

/* Serve until SIGINT/SIGTERM; the batch in progress is finished first. 0 on a clean
   stop, -1 on a fatal error. */
int pl_service_run(pl_service_t *self);

PGconn *pl_service_db(pl_service_t *self);
/* Random id of this instance (16 hex chars), for logs. */
const char *pl_service_instance(pl_service_t *self);

/* ---- Output, buffered until commit ---------------------------------------------
   Each begin returns a packer positioned for the body: pack exactly one map (the
   event, with its "type"), then call pl_service_end(). */
msgpack_packer *pl_service_reply(pl_service_t *self, const proto_request_t *req,
                                 const int64_t *sub, size_t nsub);
msgpack_packer *pl_service_to_user(pl_service_t *self, const char *uid,
                                   const proto_exclude_t *x, int64_t sub);
msgpack_packer *pl_service_to_conv(pl_service_t *self, int64_t conversation_id,
                                   const proto_exclude_t *x);
void pl_service_end(pl_service_t *self);

/* A push to one connection that answers no request (rq 0): reaches exactly that
   connection of that gateway, e.g. the caller's initiating connection. */
msgpack_packer *pl_service_to_conn(pl_service_t *self, const char *gw, uint64_t cn);
/* A presence event about `uid` (topic p<uid>): every connection watching that user. */
msgpack_packer *pl_service_to_presence(pl_service_t *self, const char *uid,
                                       const proto_exclude_t *x);
/* An event to every connection of users with `role` ("student", ...). */
msgpack_packer *pl_service_to_role(pl_service_t *self, const char *role, const proto_exclude_t *x);
/* An event every gateway hears (topic "b"), for the gateways themselves. */
msgpack_packer *pl_service_to_gateways(pl_service_t *self);
/* A service-to-service event on topic i<name>. */
msgpack_packer *pl_service_to_internal(pl_service_t *self, const char *name);

/* Ask another service and wait for its answer (at most timeout_ms), outside the
   outbox: the request leaves at once. `body` is one packed map. On success returns 0
   and `out` (an initialised sbuffer, the caller's) holds the reply's body map, packed:
   unpack it with msgpack_unpack_next. -1 on timeout or failure. Meant for rare
   questions (is the callee online?); it blocks this service for up to timeout_ms. */
int pl_service_ask(pl_service_t *self, proto_svc_t target, const char *ev, const char *uid,
                   const char *body, size_t body_len, int timeout_ms, msgpack_sbuffer *out);

/* A notification (rq 0, never answered) to another service's queue, e.g. call-svc
   telling presence that a mentor is busy. Like every other output it waits in the
   outbox and leaves only after COMMIT, in order with the rest: a rolled-back
   transaction tells nobody. Pack exactly one map (the body), then pl_service_end().
   NULL if target is not a service. */
msgpack_packer *pl_service_notify(pl_service_t *self, proto_svc_t target, const char *ev,
                                  const char *uid);

/* Complete replies in one call. Requests with rq 0 are notifications: replies to
   them are dropped here, so handlers need not check. */
void pl_service_error(pl_service_t *self, const proto_request_t *req, const char *code,
                      const char *message);
void pl_service_ack(pl_service_t *self, const proto_request_t *req);

/* The actor of a request, as an exclusion: "everyone but the connection that asked". */
proto_exclude_t pl_service_actor(const proto_request_t *req);



/* ---- The whole life of a service process -----------------------------------------
   Reads the database URL from `db_var` (falling back to DB_CONNECTION_STRING),
   connects (waiting up to DB_CONNECT_TIMEOUT_MS [10000]), applies `migrations` to
   `schema`, serves until a signal. Returns the process exit code. */
int pl_service_main(const char *log_name, const char *db_var, const char *schema,
                    const pl_migration_t *migrations, const pl_service_def_t *def, void *app);
#endif
