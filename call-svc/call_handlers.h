/*  call_handlers: call-svc's entry points for the service runtime (requests, timers,
    bus events) and the handlers of its two event families, calls (call_calls.c) and
    help requests (call_help.c).
    The one thing to know: everything runs inside the transaction the runtime opened,
    and everything sent (replies, pushes, events, notifications to presence) waits in
    the outbox until COMMIT; a handler that loses a guarded update answers `conflict`
    and sends nothing else. */
#ifndef CALL_HANDLERS_H
#define CALL_HANDLERS_H

#include <stdint.h>

#include "call_store.h"
#include "pl_service.h"

typedef struct {
    int64_t ring_ms;    /* RING_TIMEOUT_MS: ringing → missed */
    int64_t help_ms;    /* HELP_TIMEOUT_MS: waiting help request → expired */
    int64_t grace_ms;   /* CALL_GRACE_MS: a party's connections gone → disconnected */
    int64_t ask_ms;     /* CALL_ASK_TIMEOUT_MS: longest wait for presence's answer */
    int64_t tick_ms;    /* CALL_TICK_MS: how often due timers are looked for */
    int64_t offer_page; /* HELP_OFFERS_PER_MENTOR: live help offers a mentor holds at most */
} call_cfg_t;

/* Read the configuration from the environment; -1 (logged) on a bad value. */
int call_config_from_env(call_cfg_t *cfg);

/* The runtime's callbacks; `app` is the call_cfg_t. */
extern const pl_handler_t call_handlers[]; /* what call-svc serves */
int64_t call_order_key(const proto_request_t *req);
int call_tick(void *app, pl_service_t *svc, int64_t now_ms);
int call_on_event(void *app, pl_service_t *svc, const char *topic, size_t topic_len,
                  const msgpack_object *root);

/* ---- families (same return convention: 0 done, -1 database failure) ------------ */
/* Handlers get the call_cfg_t as `app` (the runtime's pl_handler_fn). */
typedef pl_handler_fn call_handler_fn;

call_handler_fn call_initiate, call_accept, call_reject, call_end, call_signal, call_history;
/* A call as call_history lists it (the contract's call object). */
void call_pack_call(msgpack_packer *pk, const call_row_t *c);
/* Answers with {type, calls: [call…]}: uid's calls, newest first, as many as the
   request's `limit` (the contract's default and maximum). -1 on database failure. */
int call_answer_history(pl_service_t *svc, const proto_request_t *req, const char *uid,
                        const char *type);
/* call_api.c: the server API's reads (role PROTO_ROLE_SYSTEM, from gw_api.c) */
call_handler_fn call_api_get_call, call_api_user_calls, call_api_help_requests;
/* A help request row of call_help_store_open/_one (HO_* columns) as the API shows it. */
void call_pack_request(msgpack_packer *pk, const PGresult *r, int i);
/* call_webhooks.c: events to the webhook outbox (nothing when webhooks are off);
   0, or -1 when the database failed. call.missed / call.ended carry {call}. */
int call_webhook_call(pl_service_t *svc, const char *type, const call_row_t *c);
/* help_request.created / accepted / expired carry {request}, read back here. */
int call_webhook_help(pl_service_t *svc, const char *type, int64_t id);
call_handler_fn call_help_request, call_help_accept, call_help_decline, call_help_cancel, call_help_end;

/* Connection (gw, cn) of `uid` closed (conn_close) or vanished (conn_gone). */
int call_conn_gone(const call_cfg_t *cfg, pl_service_t *svc, const char *gw, uint64_t cn,
                   const char *uid);
/* Fire the calls' due timers (ring timeout, disconnect grace). */
int call_timers(const call_cfg_t *cfg, pl_service_t *svc);

/* Presence says `uid` changed: offer the waiting requests they may now take. */
int call_help_presence_changed(const call_cfg_t *cfg, pl_service_t *svc, const char *uid,
                          const char *role, const char *status, int online);
/* Fire the help requests' due timers (expiry). */
int call_help_timers(const call_cfg_t *cfg, pl_service_t *svc);

#endif
