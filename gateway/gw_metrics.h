/*  gw_metrics: the gateway's counters and their Prometheus text rendering.
    The one thing to know: counters are plain integers bumped on the loop thread;
    per-type counters are indexed by the proto event table, so the label set is
    bounded (unknown types count as "unknown", never as the client's string). */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stdint.h>

#include "pl_buf.h"
#include "pl_metrics.h"

#define GW_METRICS_MAX_TYPES 64

/* Why an upgrade (or a session) was refused by gw_admission. */
typedef enum {
    GW_REFUSED_FULL,
    GW_REFUSED_ADDRESS,
    GW_REFUSED_USER,
    GW_REFUSED_RATE,
    GW_REFUSED_REASONS
} gw_refused_t;

#define GW_METRICS_OUT_TYPES 64 /* known server event types; the last slot is "other" */

typedef struct {
    uint64_t connections_opened, connections_closed;
    int64_t connections_open, connections_authed;
    uint64_t frames_in[GW_METRICS_MAX_TYPES + 1]; /* by proto event index; last = unknown */
    uint64_t frames_out;
    uint64_t frames_out_by_type[GW_METRICS_OUT_TYPES];
    uint64_t bytes_in, bytes_out;
    uint64_t errors[PL_ERROR_CODES]; /* by pl_error_code_index */
    uint64_t slow_consumers_cut, rate_limited, floods_closed;
    uint64_t connections_refused[GW_REFUSED_REASONS]; /* by gw_refused_t */
    uint64_t requests_forwarded, requests_timed_out, bus_events_in;
    uint64_t requests_overloaded; /* refused at the in-flight limit (gw_inflight.c) */
    uint64_t inflight_cuts;       /* times a service's shedding cut that limit */
    uint64_t bus_copies_dropped; /* events already received through another broker */
    uint64_t reconcile_rounds;   /* live connection lists sent to presence */
    uint64_t requests_held, requests_lost; /* held back for a joint send; lost at that send */
    uint64_t tokens_expired, token_refreshes; /* sessions closed at exp; refreshes accepted */
    pl_hist_t latency[GW_METRICS_MAX_TYPES + 1]; /* request sent → reply, by type */
} gw_metrics_t;

/* Index of a server event type in frames_out_by_type (bounded label set). */
uint8_t gw_metrics_out_index(const char *type, size_t len);
/* Index of a client event name (aliases too) in frames_in[] and latency[]. */
int gw_metrics_type_index(const char *type);
/* A request of type `index` was answered `us` microseconds after it was forwarded. */
void gw_metrics_observe(gw_metrics_t *m, int index, int64_t us);
void gw_metrics_render(const gw_metrics_t *m, pl_buf_t *out, const char *const *service_names,
                       const int *service_up, int nservices);

#endif
