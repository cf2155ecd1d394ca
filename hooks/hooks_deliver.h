/*  hooks_deliver: POSTs in flight on a libcurl multi handle (see hooks_deliver.c). */
#ifndef HOOKS_DELIVER_H
#define HOOKS_DELIVER_H

#include <curl/curl.h>
#include <zmq.h>

#include "hooks.h"

typedef struct hooks_deliver hooks_deliver_t;

/* An attempt ended: `why` is "" for a 2xx, else what went wrong (for last_error). */
typedef void(hooks_done_fn)(void *arg, const hooks_row_t *row, hooks_outcome_t out, const char *why,
                            int64_t took_us);

/* cfg must outlive it. NULL when out of memory. */
hooks_deliver_t *hooks_deliver_new(const hooks_cfg_t *cfg);
/* Transfers still running are dropped (their rows' leases run out). */
void hooks_deliver_destroy(hooks_deliver_t **self_p);
int hooks_deliver_free(const hooks_deliver_t *self);
int hooks_deliver_busy(const hooks_deliver_t *self);
/* Sign and POST `body` for `row`; takes the body's content (the caller's buffer is
   left empty and reusable). 0, or -1 (logged: the row's lease will run out). */
int hooks_deliver_start(hooks_deliver_t *self, const hooks_row_t *row, pl_buf_t *body);
/* The transfers' descriptors as poll items (at most cap), and how long the poll may
   sleep for libcurl's sake (-1: as long as you like). */
int hooks_deliver_poll_items(hooks_deliver_t *self, zmq_pollitem_t *items, int cap,
                             long *timeout_ms);
/* After the poll: move the transfers on; `done` for each that ended. */
void hooks_deliver_perform(hooks_deliver_t *self, hooks_done_fn *done, void *arg);

#endif
