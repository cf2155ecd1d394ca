/*  parley-hooks: delivers the webhook events the services wrote to their outboxes
    (service/pl_webhook.h) to WEBHOOK_URL, at least once, in order per user.
    The one thing to know: a row is claimed with a lease (attempts + 1, lease_until)
    in a statement of its own, delivered outside any transaction, then deleted (2xx),
    pushed back with a backoff (anything else) or moved to the dead letters (after
    WEBHOOK_MAX_ATTEMPTS). Only the oldest row of a user_key is ever claimable, so a
    user's later event waits while an earlier one is in flight or backing off, and any
    number of workers can share the outboxes (FOR UPDATE SKIP LOCKED; the lease keeps
    a row from a second worker while it is in flight, and a killed worker's rows come
    back when their lease ends). docs/design/webhooks.md has the reasons. */
#ifndef HOOKS_H
#define HOOKS_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "pl_buf.h"
#include "pl_metrics.h"

#define HOOKS_SOURCES 3 /* chat, presence, call */
#define HOOKS_CONCURRENCY_MAX 256
#define HOOKS_EVENT_ID_MAX 64
#define HOOKS_TYPE_MAX 48
#define HOOKS_ERROR_MAX 200 /* last_error kept on a row */
#define HOOKS_SIG_MAX 128   /* "t=<10 digits>,v1=<64 hex>" */

typedef struct {
    const char *url;
    const char *secret;
    int64_t max_attempts;
    int64_t timeout_ms; /* one attempt, connect included (10 s by default) */
    int64_t backoff_base_ms;
    int64_t backoff_max_ms;
    int64_t concurrency; /* attempts in flight in this process */
    int64_t poll_ms;     /* idle outboxes are looked at this often */
    int64_t lease_ms;    /* 2 × timeout + 5 s: a claimed row's owner is surely done */
    int64_t dead_retention_days;
} hooks_cfg_t;

int hooks_config_from_env(hooks_cfg_t *cfg);

/* ---- hooks_sign.c: what goes on the wire ------------------------------------- */
/* The body {id, type, created_at, data} from the row's parts (data is JSON text the
   service wrote). -1 when id or type holds a character outside [A-Za-z0-9._-]. */
int hooks_body(pl_buf_t *out, const char *id, const char *type, const char *created_at,
               const char *data);
/* "t=<unix>,v1=<hex HMAC-SHA256(secret, t "." body)>" into out (HOOKS_SIG_MAX). */
int hooks_sign(const char *secret, int64_t unix_s, const char *body, size_t len, char *out,
               size_t cap);
/* Delay before attempt `attempts` + 1, after `attempts` failed: base × 2^(attempts-1),
   at most max, then a uniform jitter over its upper half. `rnd` in [0, 1). */
int64_t hooks_backoff_ms(const hooks_cfg_t *cfg, int64_t attempts, double rnd);

/* ---- hooks_source.c: one service's outbox ------------------------------------ */
typedef struct {
    int64_t id;       /* the row */
    int64_t attempts; /* after this claim: the lease token */
    int64_t created_us;
    int src; /* index of its source */
    char event_id[HOOKS_EVENT_ID_MAX + 1];
    char type[HOOKS_TYPE_MAX + 1];
} hooks_row_t;

typedef struct hooks_source hooks_source_t;

/* `schema` names the tables (chat, presence, call); `dsn_var` its database's
   variable (falling back to DB_CONNECTION_STRING). NULL (logged) without a DSN. */
hooks_source_t *hooks_source_new(const char *schema, const char *dsn_var, int idx);
void hooks_source_destroy(hooks_source_t **self_p);
const char *hooks_source_name(const hooks_source_t *self);
/* Connected and its tables there? Connects (or reconnects) when not, at most every
   few seconds. */
int hooks_source_ready(hooks_source_t *self);
/* Claim up to `max` rows; each row's body goes to bodies[i] (initialised by the
   caller). Returns how many (0..max), -1 on a database failure. */
int hooks_source_claim(hooks_source_t *self, const hooks_cfg_t *cfg, int max, hooks_row_t *rows,
                       pl_buf_t *bodies);
/* The attempt of `row` ended: delivered (delete), or failed with `error` (backoff,
   or dead letter when attempts reached max or backoff_ms < 0). A row whose lease was taken over
   does not change. 1 when it became a dead letter, 0 otherwise, -1 on database failure. */
int hooks_source_done(hooks_source_t *self, const hooks_cfg_t *cfg, const hooks_row_t *row, int ok,
                      const char *error, int64_t backoff_ms);
/* Outbox depth, age of its oldest row (s) and dead letters; -1 on failure. */
int hooks_source_depth(hooks_source_t *self, int64_t *depth, double *oldest_s, int64_t *dead);
/* Dead letters older than the retention go. */
int hooks_source_prune(hooks_source_t *self, const hooks_cfg_t *cfg);

/* ---- hooks_metrics.c ------------------------------------------------------------ */
typedef enum {
    HOOKS_OK = 0,  /* 2xx */
    HOOKS_HTTP,    /* an answer that is not 2xx */
    HOOKS_TIMEOUT, /* no answer in WEBHOOK_TIMEOUT_MS */
    HOOKS_NETWORK, /* no connection, TLS, reset, ... */
    HOOKS_OUTCOMES
} hooks_outcome_t;

#define HOOKS_DELIVERY_BUCKETS 12
typedef struct {
    uint64_t attempts[HOOKS_OUTCOMES];
    uint64_t dead_total;
    pl_hist_t delivery; /* event created → acknowledged, seconds */
    pl_hist_t attempt;  /* one attempt's HTTP round trip, seconds */
    int64_t depth[HOOKS_SOURCES];
    double oldest_s[HOOKS_SOURCES];
    int64_t dead[HOOKS_SOURCES];
    int up[HOOKS_SOURCES];
    const char *names[HOOKS_SOURCES];
    int64_t in_flight;
} hooks_metrics_t;

extern const double hooks_delivery_le[HOOKS_DELIVERY_BUCKETS];
void hooks_metrics_render(void *arg, pl_buf_t *out); /* arg: hooks_metrics_t */

#endif
