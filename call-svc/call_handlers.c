/*  call_handlers: configuration and the runtime's callbacks (see call_handlers.h):
    requests to the family handlers, the tick to the timers, bus events from presence
    to disconnect handling and help offers.
    The one thing to know: bus events reach EVERY call-svc instance (PUB/SUB), unlike
    requests, which reach one. What they trigger is therefore written to be done once:
    guarded updates and ON CONFLICT DO NOTHING decide which instance acts. */
#include "call_handlers.h"

#include <stdint.h>
#include <string.h>

#include "call_store.h"
#include "pl_config.h"
#include "pl_log.h"
#include "pl_mp.h"
#include "pl_webhook.h"

int call_config_from_env(call_cfg_t *cfg)
{
    const int64_t day = 86400000;
    if (pl_env_int("RING_TIMEOUT_MS", 30000, 1, day, &cfg->ring_ms) ||
        pl_env_int("HELP_TIMEOUT_MS", 120000, 1, 7 * day, &cfg->help_ms) ||
        pl_env_int("CALL_GRACE_MS", 15000, 0, day, &cfg->grace_ms) ||
        pl_env_int("CALL_ASK_TIMEOUT_MS", 1000, 10, 60000, &cfg->ask_ms) ||
        pl_env_int("CALL_TICK_MS", 200, 10, 60000, &cfg->tick_ms) ||
        pl_env_int("HELP_OFFERS_PER_MENTOR", 20, 1, 1000, &cfg->offer_page))
        return -1;
    return 0;
}

/* A connection went away: a notification, no reply. */
static int on_conn_close(void *cfg, pl_service_t *svc, const proto_request_t *req)
{
    return call_conn_gone(cfg, svc, req->gw, req->cn, req->uid);
}

/* What call-svc serves (the runtime looks requests up here). */
const pl_handler_t call_handlers[] = {
    {PROTO_EV_CONN_CLOSE, on_conn_close},
    {PROTO_EV_INITIATE_CALL, call_initiate},
    {PROTO_EV_ACCEPT_CALL, call_accept},
    {PROTO_EV_REJECT_CALL, call_reject},
    {PROTO_EV_END_CALL, call_end},
    {PROTO_EV_CALL_SIGNAL, call_signal},
    {PROTO_EV_CALL_HISTORY, call_history},
    {PROTO_EV_STUDENT_REQUEST_HELP, call_help_request},
    {PROTO_EV_ACCEPT_HELP, call_help_accept},
    {PROTO_EV_DECLINE_HELP, call_help_decline},
    {PROTO_EV_CANCEL_HELP, call_help_cancel},
    {PROTO_EV_END_HELP, call_help_end},
    /* the server API (call_api.c) */
    {PROTO_EV_API_GET_CALL, call_api_get_call},
    {PROTO_EV_API_USER_CALLS, call_api_user_calls},
    {PROTO_EV_API_HELP_REQUESTS, call_api_help_requests},
    /* the server API's webhook dead letters (service/pl_webhook.c) */
    {PROTO_EV_API_WEBHOOK_DEAD, pl_webhook_on_dead_letters},
    {PROTO_EV_API_WEBHOOK_REPLAY, pl_webhook_on_replay},
    {NULL, NULL},
};

/* Requests on the same call or help request keep their order within a batch; a
   closing connection goes last, after everything it sent before closing (its accept
   must exist before its disappearance can detach it). */
int64_t call_order_key(const proto_request_t *req)
{
    if (strcmp(req->ev, PROTO_EV_CONN_CLOSE) == 0)
        return INT64_MAX;
    int64_t id = 0;
    if (pl_mp_int(req->body, "call_id", &id) && pl_mp_int(req->body, "request_id", &id))
        return 0;
    return id;
}

int call_tick(void *app, pl_service_t *svc, int64_t now_ms)
{
    (void)now_ms; /* due times are compared in the database's clock */
    const call_cfg_t *cfg = app;
    if (call_timers(cfg, svc))
        return -1;
    return call_help_timers(cfg, svc);
}

static int on_presence_changed(const call_cfg_t *cfg, pl_service_t *svc, const msgpack_object *b)
{
    char uid[CALL_UID_MAX], role[16] = "", status[16] = "";
    int online = 0;
    if (pl_mp_strcpy(b, "user_id", uid, sizeof uid))
        return 0;
    pl_mp_strcpy(b, "role", role, sizeof role);
    pl_mp_strcpy(b, "status", status, sizeof status);
    pl_mp_bool(b, "online", &online);
    return call_help_presence_changed(cfg, svc, uid, role, status, online);
}

static int on_conn_gone(const call_cfg_t *cfg, pl_service_t *svc, const msgpack_object *b)
{
    char gw[32], uid[CALL_UID_MAX];
    uint64_t cn;
    if (pl_mp_strcpy(b, "gw", gw, sizeof gw) || pl_mp_uint(b, "cn", &cn) ||
        pl_mp_strcpy(b, "user_id", uid, sizeof uid))
        return 0;
    return call_conn_gone(cfg, svc, gw, cn, uid);
}

int call_on_event(void *app, pl_service_t *svc, const char *topic, size_t topic_len,
                  const msgpack_object *root)
{
    (void)topic;
    (void)topic_len; /* we subscribe to presence's topic only */
    const call_cfg_t *cfg = app;
    const msgpack_object *b = pl_mp_get(root, PK_B);
    const msgpack_object *type = pl_mp_get(b, "type");
    if (pl_mp_str_eq(type, "presence_changed"))
        return on_presence_changed(cfg, svc, b);
    if (pl_mp_str_eq(type, "conn_gone"))
        return on_conn_gone(cfg, svc, b);
    return 0;
}
