/*  hooks_metrics: parley-hooks' /metrics (pl_metrics_http with a render function, as
    the broker does). Label values are fixed: sources and outcomes are constants. */
#include "hooks.h"

#include <stdio.h>

/* Seconds from an event's commit to its acknowledgement: from a few ms when all is
   well to the backoff's scale when the receiver struggles. */
const double hooks_delivery_le[HOOKS_DELIVERY_BUCKETS] = {0.01, 0.05, 0.1, 0.25, 0.5, 1,
                                                          2.5,  5,    10,  60,   300, 3600};

void hooks_metrics_render(void *arg, pl_buf_t *o)
{
    const hooks_metrics_t *m = arg;
    static const char *const outcomes[HOOKS_OUTCOMES] = {"ok", "http_error", "timeout",
                                                         "network_error"};
    pl_metrics_help(o, "parley_webhook_outbox_depth", "gauge",
                    "Events waiting in a service's outbox (in flight and backing off included)");
    for (int i = 0; i < HOOKS_SOURCES; i++)
        if (m->up[i])
            pl_buf_printf(o, "parley_webhook_outbox_depth{source=\"%s\"} %lld\n", m->names[i],
                          (long long)m->depth[i]);
    pl_metrics_help(o, "parley_webhook_outbox_oldest_seconds", "gauge",
                    "Age of the oldest event waiting in a service's outbox");
    for (int i = 0; i < HOOKS_SOURCES; i++)
        if (m->up[i])
            pl_buf_printf(o, "parley_webhook_outbox_oldest_seconds{source=\"%s\"} %.3f\n",
                          m->names[i], m->oldest_s[i]);
    pl_metrics_help(o, "parley_webhook_dead_letters", "gauge",
                    "Events in a service's dead-letter table (GET /api/v1/webhooks/dead-letters)");
    for (int i = 0; i < HOOKS_SOURCES; i++)
        if (m->up[i])
            pl_buf_printf(o, "parley_webhook_dead_letters{source=\"%s\"} %lld\n", m->names[i],
                          (long long)m->dead[i]);
    pl_metrics_help(o, "parley_webhook_source_up", "gauge",
                    "1 while this worker reaches a service's outbox");
    for (int i = 0; i < HOOKS_SOURCES; i++)
        pl_buf_printf(o, "parley_webhook_source_up{source=\"%s\"} %d\n", m->names[i], m->up[i]);
    pl_metrics_help(o, "parley_webhook_attempts_total", "counter",
                    "Delivery attempts by this worker, by outcome");
    for (int i = 0; i < HOOKS_OUTCOMES; i++)
        pl_buf_printf(o, "parley_webhook_attempts_total{outcome=\"%s\"} %llu\n", outcomes[i],
                      (unsigned long long)m->attempts[i]);
    pl_metrics_help(o, "parley_webhook_dead_letters_total", "counter",
                    "Events this worker moved to the dead letters");
    pl_buf_printf(o, "parley_webhook_dead_letters_total %llu\n", (unsigned long long)m->dead_total);
    pl_metrics_help(o, "parley_webhook_in_flight", "gauge", "Attempts in flight");
    pl_buf_printf(o, "parley_webhook_in_flight %lld\n", (long long)m->in_flight);
    pl_metrics_help(o, "parley_webhook_delivery_seconds", "histogram",
                    "From an event's commit to the receiver's 2xx, retries included");
    pl_metrics_render_hist(o, "parley_webhook_delivery_seconds", "kind=\"hooks\"", &m->delivery,
                           hooks_delivery_le, HOOKS_DELIVERY_BUCKETS);
    pl_metrics_help(o, "parley_webhook_attempt_seconds", "histogram",
                    "One attempt's HTTP round trip, whatever its outcome");
    pl_metrics_render_hist(o, "parley_webhook_attempt_seconds", "kind=\"hooks\"", &m->attempt,
                           pl_lat_le, PL_LAT_BUCKETS);
}
