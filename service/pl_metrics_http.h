/*  pl_metrics_http: a service process's metrics and the tiny HTTP listener that serves
    them (GET /metrics in Prometheus text format, GET /healthz) on METRICS_PORT.
    The one thing to know: there is no thread. The listening socket and the few open
    scrape connections are plain fds that the service adds to its own zmq_poll items
    (pl_metrics_http_poll_items), and pl_metrics_http_serve does the non-blocking I/O
    after the poll; a slow or silent scraper costs a slot, never a stall.
    Counters are bumped on the service's one thread; label sets are bounded (event
    names come from proto/'s table, anything else counts as "other").

    Configuration: METRICS_PORT (unset or 0: no listener; metrics are still counted),
    METRICS_BIND [127.0.0.1] (0.0.0.0 in containers). */
#ifndef PL_METRICS_HTTP_H
#define PL_METRICS_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "pl_buf.h"

typedef struct pl_metrics_http_t pl_metrics_http_t;

/* What a database transaction was for (label `kind` of the transaction histogram). */
typedef enum {
    PL_TXN_BATCH = 0, /* a batch of requests committed together */
    PL_TXN_RETRY,     /* one request retried alone after its batch failed */
    PL_TXN_EVENT,     /* a bus event */
    PL_TXN_TICK,      /* periodic timers */
    PL_TXN_KINDS
} pl_txn_kind_t;

/* Poll items the listener may add: the listening fd plus open scrape connections. */
#define PL_METRICS_HTTP_POLL_MAX 9

/* Reads METRICS_PORT and METRICS_BIND and binds when a port is set. `kind` and
   `instance` label every sample (both are copied). NULL on a bad value or a failed
   bind (logged with one clear line: the service must not start). */
pl_metrics_http_t *pl_metrics_http_new(const char *kind, const char *instance);
void pl_metrics_http_destroy(pl_metrics_http_t **self_p);
/* A process that is not a service (the broker) serves its own text on /metrics
   instead: `fn` appends Prometheus lines to `out`. `arg` is the caller's. */
typedef void(pl_metrics_render_fn)(void *arg, pl_buf_t *out);
void pl_metrics_http_set_render(pl_metrics_http_t *self, pl_metrics_render_fn *fn, void *arg);
/* The bound port (useful with METRICS_PORT set), 0 when off. */
int pl_metrics_http_port(const pl_metrics_http_t *self);

/* ---- Recording ----------------------------------------------------------------- */
/* A batch taken from the queue: `received` messages, `run` of them requests to run. */
void pl_metrics_batch(pl_metrics_http_t *self, size_t received, size_t run, int full);
/* A request answered (its reply left after COMMIT): event name, receive → flush. */
void pl_metrics_request(pl_metrics_http_t *self, const char *ev, int64_t latency_us);
void pl_metrics_dropped_late(pl_metrics_http_t *self);
/* A request refused `overloaded` for its time in the queue (SHED_AFTER_MS). */
void pl_metrics_shed(pl_metrics_http_t *self);
void pl_metrics_failed_batch(pl_metrics_http_t *self);
/* BEGIN → COMMIT (ok) or → ROLLBACK/failure (!ok). */
void pl_metrics_txn(pl_metrics_http_t *self, pl_txn_kind_t kind, int64_t us, int ok);
/* An error reply was put in the outbox. It counts only if the outbox is published:
   pl_metrics_outbox(self, 1) after a flush, (self, 0) when it is discarded. */
void pl_metrics_error(pl_metrics_http_t *self, const char *code);
void pl_metrics_outbox(pl_metrics_http_t *self, int published);

/* ---- Serving ------------------------------------------------------------------- */
/* Append this listener's poll items at `items` (at most `cap`); returns how many. */
int pl_metrics_http_poll_items(pl_metrics_http_t *self, zmq_pollitem_t *items, int cap);
/* After zmq_poll: accept, read, answer, close. `items`/`n` are what poll_items gave.
   `db_up` is what /healthz and parley_service_db_up report. */
void pl_metrics_http_serve(pl_metrics_http_t *self, const zmq_pollitem_t *items, int n, int db_up);

/* Monotonic microseconds, the clock of every latency above. */
int64_t pl_metrics_now_us(void);

#endif
