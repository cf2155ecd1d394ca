/*  gw_inflight: how many requests this gateway lets wait on each service kind.
    The one thing to know: past the limit a request is refused `overloaded` at once,
    before anything is sent, so a saturated or stalled service costs this gateway a
    bounded pending map and its clients hear in microseconds, not after
    REQUEST_TIMEOUT_MS. The limit adapts (AIMD, as TCP's window): a service that
    refused a request `overloaded` for its time in the queue (SHED_AFTER_MS) cuts the
    limit to a fraction of what is in flight, at most once per round trip; every
    other answer raises it a little, up to MAX_INFLIGHT_PER_SERVICE, and quickly once
    no cut came for a second (the load dropped: back to the ceiling within seconds).
    The arithmetic is pl_shed.c's. So under
    overload the queue in front of the service stays about one shedding budget long
    and most of the excess is refused here (docs/design/overload.md).
    The counts move with the pending map (pending_add / pending_free in gw_router.c);
    server API requests are counted apart (slot PROTO_SVC_GATEWAY) and not bounded:
    each holds its HTTP connection until answered, so the API's connections bound them. */
#include "gw.h"

#include "pl_clock.h"
#include "pl_shed.h"

void gw_inflight_init(gw_t *gw)
{
    for (int s = 0; s < PROTO_SVC_COUNT; s++)
        gw->inflight_limit[s] = (double)gw->cfg.max_inflight_per_service;
}

int gw_inflight_full(const gw_t *gw, proto_svc_t svc)
{
    return svc > PROTO_SVC_GATEWAY && svc < PROTO_SVC_COUNT &&
           (double)gw->inflight[svc] >= gw->inflight_limit[svc];
}

void gw_inflight_answered(gw_t *gw, proto_svc_t svc, int64_t sent_us, int overloaded)
{
    if (svc <= PROTO_SVC_GATEWAY || svc >= PROTO_SVC_COUNT)
        return;
    double max = (double)gw->cfg.max_inflight_per_service;
    double *limit = &gw->inflight_limit[svc];
    if (overloaded) {
        /* Only a request sent after the last cut tells something new: the ones sent
           before it were refused for the queue that cut already answered. */
        if (sent_us <= gw->inflight_cut_us[svc])
            return;
        *limit = pl_shed_limit_cut(*limit, gw->inflight[svc], max);
        gw->inflight_cut_us[svc] = pl_mono_us();
        gw->metrics.inflight_cuts++;
        return;
    }
    if (*limit < max)
        *limit = pl_shed_limit_raise(
            *limit, max, pl_mono_us() - gw->inflight_cut_us[svc] > PL_SHED_RECOVER_MS * 1000);
}

void gw_inflight_refuse(gw_t *gw, gw_conn_t *c, const char *id_json)
{
    gw->metrics.requests_overloaded++;
    /* what waits ahead is about one shedding budget long: advise the minimum */
    int64_t retry = pl_shed_retry_after_ms(0, pl_shed_rand(&gw->shed_rnd));
    gw_send_error_retry(gw, c, id_json, "overloaded", "the service is at capacity, retry later",
                        retry);
}

void gw_inflight_render(const gw_t *gw, pl_buf_t *o)
{
    pl_metrics_help(o, "parley_gateway_requests_inflight", "gauge",
                    "Requests forwarded and not answered yet, by service kind (api: the "
                    "server API's, any kind)");
    for (int s = PROTO_SVC_GATEWAY; s < PROTO_SVC_COUNT; s++)
        pl_buf_printf(o, "parley_gateway_requests_inflight{service=\"%s\"} %u\n",
                      s == PROTO_SVC_GATEWAY ? "api" : proto_svc_name((proto_svc_t)s),
                      gw->inflight[s]);
    pl_metrics_help(o, "parley_gateway_inflight_limit", "gauge",
                    "Clients' requests let wait on a service kind before more are refused "
                    "overloaded (adaptive, at most MAX_INFLIGHT_PER_SERVICE)");
    for (int s = PROTO_SVC_CHAT; s < PROTO_SVC_COUNT; s++)
        pl_buf_printf(o, "parley_gateway_inflight_limit{service=\"%s\"} %.0f\n",
                      proto_svc_name((proto_svc_t)s), gw->inflight_limit[s]);
}
