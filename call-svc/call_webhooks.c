/*  call_webhooks: call-svc's events for the platform's backend (service/pl_webhook.h):
    call.missed and call.ended {call, duration_s}, help_request.created / accepted /
    expired {request}, written in the transaction of the transition.
    The one thing to know: the objects are the ones the API's reads return (call_pack_call,
    call_pack_request), so a webhook and a GET of the same thing agree field for field.
    Order: a call's events follow the callee for `missed` (whose missed call it is) and
    the caller otherwise; a help request's follow its student. */
#include "call_handlers.h"

#include <string.h>

#include "pl_mp.h"
#include "pl_webhook.h"

int call_webhook_call(pl_service_t *svc, const char *type, const call_row_t *c)
{
    if (!pl_webhook_enabled())
        return 0;
    int missed = strcmp(type, "call.missed") == 0;
    int64_t duration = call_duration_s(c);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, missed ? 1 : 2);
    pl_pack_str(&pk, "call");
    call_pack_call(&pk, c);
    if (!missed) {
        if (duration >= 0)
            pl_pack_kv_int(&pk, "duration_s", duration);
        else
            pl_pack_kv_nil(&pk, "duration_s");
    }
    int rc = pl_webhook_emit(pl_service_db(svc), type, c->uid[missed ? CALL_CALLEE : CALL_CALLER],
                             sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

int call_webhook_help(pl_service_t *svc, const char *type, int64_t id)
{
    if (!pl_webhook_enabled())
        return 0;
    PGresult *r = call_help_store_one(pl_service_db(svc), id);
    if (!r)
        return -1;
    int rc = 0;
    if (PQntuples(r) == 1) { /* it was just written in this transaction */
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 1);
        pl_pack_str(&pk, "request");
        call_pack_request(&pk, r, 0);
        rc = pl_webhook_emit(pl_service_db(svc), type, PQgetvalue(r, 0, HO_STUDENT), sb.data,
                             sb.size);
        msgpack_sbuffer_destroy(&sb);
    }
    PQclear(r);
    return rc;
}
