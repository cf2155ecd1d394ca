/*  gw_inflight: the gateway's bound on requests in flight to each service kind
    (MAX_INFLIGHT_PER_SERVICE). The one thing to know: past the bound a request is
    refused `overloaded` at once, before anything is sent, so a stalled or saturated
    service costs this gateway at most that many pending entries (gw_router.c) and
    its clients hear at once instead of after REQUEST_TIMEOUT_MS. The counts move with
    the pending map (pending_add / pending_free); server API requests are counted
    apart (slot PROTO_SVC_GATEWAY) and not bounded here: each holds its HTTP connection
    until answered, so the API's connections bound them. */
#include "gw.h"

#include "pl_shed.h"

int gw_inflight_full(const gw_t *gw, proto_svc_t svc)
{
    return svc > PROTO_SVC_GATEWAY && svc < PROTO_SVC_COUNT &&
           (int64_t)gw->inflight[svc] >= gw->cfg.max_inflight_per_service;
}

void gw_inflight_refuse(gw_t *gw, gw_conn_t *c, const char *id_json)
{
    gw->metrics.requests_overloaded++;
    /* the pending requests ahead are about as old as the queue: advise the minimum */
    int64_t retry = pl_shed_retry_after_ms(0, pl_shed_rand(&gw->shed_rnd));
    gw_send_error_retry(gw, c, id_json, "overloaded", "the service is at capacity, retry later",
                        retry);
}

void gw_inflight_render(const gw_t *gw, pl_buf_t *o)
{
    pl_metrics_help(o, "parley_gateway_requests_inflight", "gauge",
                    "Requests forwarded and not answered yet, by service kind (api: the "
                    "server API's, any kind); clients' ones are bounded by "
                    "MAX_INFLIGHT_PER_SERVICE");
    for (int s = PROTO_SVC_GATEWAY; s < PROTO_SVC_COUNT; s++)
        pl_buf_printf(o, "parley_gateway_requests_inflight{service=\"%s\"} %u\n",
                      s == PROTO_SVC_GATEWAY ? "api" : proto_svc_name((proto_svc_t)s),
                      gw->inflight[s]);
}
