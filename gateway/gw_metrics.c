/*  gw_metrics: Prometheus text exposition of the gateway's counters. */
#include "gw_metrics.h"

#include <stdio.h>
#include <string.h>

#include "proto.h"

/* Frames out are counted by proto/'s server event types; the last slot counts any
   other type (unit_proto checks that the list fits). */

uint8_t gw_metrics_out_index(const char *type, size_t len)
{
    size_t n;
    const char *const *types = proto_server_events(&n);
    for (size_t i = 0; i < n && i < GW_METRICS_OUT_TYPES - 1; i++)
        if (strlen(types[i]) == len && memcmp(types[i], type, len) == 0)
            return (uint8_t)i;
    return GW_METRICS_OUT_TYPES - 1;
}

int gw_metrics_type_index(const char *type)
{
    size_t n;
    const proto_event_t *all = proto_events(&n);
    const proto_event_t *ev = proto_event_find(type, strlen(type));
    size_t i = ev ? (size_t)(ev - all) : GW_METRICS_MAX_TYPES;
    return i < GW_METRICS_MAX_TYPES ? (int)i : GW_METRICS_MAX_TYPES;
}

void gw_metrics_observe(gw_metrics_t *m, int index, int64_t us)
{
    if (index < 0 || index > GW_METRICS_MAX_TYPES)
        return;
    pl_hist_observe(&m->latency[index], pl_lat_le, PL_LAT_BUCKETS, (double)us / 1e6);
}

#define LAT_NAME "parley_gateway_request_duration_seconds"

static void render_latency(const gw_metrics_t *m, pl_buf_t *o)
{
    pl_metrics_help(o, LAT_NAME, "histogram",
                    "Time from forwarding a client request to a service to its reply, by type");
    size_t n;
    const proto_event_t *evs = proto_events(&n);
    char labels[96];
    for (size_t t = 0; t <= GW_METRICS_MAX_TYPES; t++) {
        const pl_hist_t *h = &m->latency[t];
        if (!h->count || (t < GW_METRICS_MAX_TYPES && t >= n))
            continue;
        snprintf(labels, sizeof labels, "type=\"%s\"",
                 t < GW_METRICS_MAX_TYPES ? evs[t].name : "unknown");
        pl_metrics_render_hist(o, LAT_NAME, labels, h, pl_lat_le, PL_LAT_BUCKETS);
    }
}

static void counter(pl_buf_t *o, const char *name, const char *help, uint64_t v)
{
    pl_metrics_help(o, name, "counter", help);
    pl_buf_printf(o, "%s %llu\n", name, (unsigned long long)v);
}

static void gauge(pl_buf_t *o, const char *name, const char *help, int64_t v)
{
    pl_metrics_help(o, name, "gauge", help);
    pl_buf_printf(o, "%s %lld\n", name, (long long)v);
}

void gw_metrics_render(const gw_metrics_t *m, pl_buf_t *o, const char *const *service_names,
                       const int *service_up, int nservices)
{
    gauge(o, "parley_gateway_connections_open", "WebSocket connections currently open",
          m->connections_open);
    gauge(o, "parley_gateway_connections_authenticated", "Authenticated connections",
          m->connections_authed);
    counter(o, "parley_gateway_connections_opened_total", "Connections accepted",
            m->connections_opened);
    counter(o, "parley_gateway_connections_closed_total", "Connections closed",
            m->connections_closed);
    pl_buf_puts(o, "# HELP parley_gateway_frames_in_total Client frames received, by type\n"
                   "# TYPE parley_gateway_frames_in_total counter\n");
    size_t n;
    const proto_event_t *evs = proto_events(&n);
    for (size_t i = 0; i < n && i < GW_METRICS_MAX_TYPES; i++)
        pl_buf_printf(o, "parley_gateway_frames_in_total{type=\"%s\"} %llu\n", evs[i].name,
                      (unsigned long long)m->frames_in[i]);
    pl_buf_printf(o, "parley_gateway_frames_in_total{type=\"unknown\"} %llu\n",
                  (unsigned long long)m->frames_in[GW_METRICS_MAX_TYPES]);
    pl_buf_puts(o, "# HELP parley_gateway_frames_out_total Frames sent to clients, by type\n"
                   "# TYPE parley_gateway_frames_out_total counter\n");
    const char *const *out = proto_server_events(&n);
    for (size_t i = 0; i < n && i < GW_METRICS_OUT_TYPES - 1; i++)
        pl_buf_printf(o, "parley_gateway_frames_out_total{type=\"%s\"} %llu\n", out[i],
                      (unsigned long long)m->frames_out_by_type[i]);
    pl_buf_printf(o, "parley_gateway_frames_out_total{type=\"other\"} %llu\n",
                  (unsigned long long)m->frames_out_by_type[GW_METRICS_OUT_TYPES - 1]);
    counter(o, "parley_gateway_bytes_in_total", "Payload bytes received from clients", m->bytes_in);
    counter(o, "parley_gateway_bytes_out_total", "Payload bytes sent to clients", m->bytes_out);
    pl_buf_puts(o, "# HELP parley_gateway_errors_total Error frames sent, by code\n"
                   "# TYPE parley_gateway_errors_total counter\n");
    for (int i = 0; i < PL_ERROR_CODES; i++)
        pl_buf_printf(o, "parley_gateway_errors_total{code=\"%s\"} %llu\n", pl_error_codes[i],
                      (unsigned long long)m->errors[i]);
    counter(o, "parley_gateway_slow_consumers_total",
            "Connections cut off because their outgoing queue was full", m->slow_consumers_cut);
    counter(o, "parley_gateway_tokens_expired_total",
            "Sessions closed (4001) because their token expired without a refresh",
            m->tokens_expired);
    counter(o, "parley_gateway_token_refreshes_total",
            "Session tokens replaced by an accepted refresh", m->token_refreshes);
    counter(o, "parley_gateway_rate_limited_total", "Frames refused by the rate limit",
            m->rate_limited);
    counter(o, "parley_gateway_floods_closed_total", "Connections closed for flooding",
            m->floods_closed);
    static const char *const refused[GW_REFUSED_REASONS] = {"gateway_full", "per_address",
                                                            "per_user", "connect_rate"};
    pl_buf_puts(o, "# HELP parley_gateway_connections_refused_total Connections refused by a "
                   "connection cap, by cap\n"
                   "# TYPE parley_gateway_connections_refused_total counter\n");
    for (int i = 0; i < GW_REFUSED_REASONS; i++)
        pl_buf_printf(o, "parley_gateway_connections_refused_total{cap=\"%s\"} %llu\n", refused[i],
                      (unsigned long long)m->connections_refused[i]);
    counter(o, "parley_gateway_requests_forwarded_total", "Requests sent to services",
            m->requests_forwarded);
    counter(o, "parley_gateway_requests_held_total",
            "Requests held back up to REQUEST_FLUSH_MS to be sent with others", m->requests_held);
    counter(o, "parley_gateway_requests_lost_total",
            "Held requests the broker could no longer take when they were sent", m->requests_lost);
    counter(o, "parley_gateway_requests_timed_out_total",
            "Requests answered `unavailable` because no service answered in time",
            m->requests_timed_out);
    counter(o, "parley_gateway_requests_overloaded_total",
            "Requests refused `overloaded` at once: their service kind was at its in-flight limit",
            m->requests_overloaded);
    counter(o, "parley_gateway_inflight_cuts_total",
            "Times a service's `overloaded` answers cut the in-flight limit of its kind",
            m->inflight_cuts);
    render_latency(m, o);
    counter(o, "parley_gateway_bus_messages_in_total", "Replies and events received from the bus",
            m->bus_events_in);
    counter(o, "parley_gateway_bus_copies_dropped_total",
            "Events dropped because the same event came through another broker first",
            m->bus_copies_dropped);
    counter(o, "parley_gateway_presence_reconcile_rounds_total",
            "Rounds of the live connection list sent to presence-svc", m->reconcile_rounds);
    pl_buf_puts(o, "# HELP parley_gateway_service_up Whether the service kind answered its "
                   "health probe recently\n# TYPE parley_gateway_service_up gauge\n");
    for (int i = 0; i < nservices; i++)
        pl_buf_printf(o, "parley_gateway_service_up{service=\"%s\"} %d\n", service_names[i],
                      service_up[i]);
}
