/*  presence_api: the server API's disconnect (+ revoke) and the revocation list.
    The one thing to know: presence-svc owns "who is connected", so it owns the end of
    sessions too: the count of a user's connections comes from its table, a revocation
    is a row here (presence.revocations), and both reach the gateways as one event on
    the gateways' topic, after COMMIT. A starting gateway reads the rows once
    (`revocations`) and hears the new ones as they come. */
#include "presence_handlers.h"

#include <string.h>

#include "pl_clock.h"
#include "pl_log.h"
#include "pl_mp.h"
#include "pl_text.h"
#include "presence_store.h"

int presence_on_api_disconnect(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    presence_app_t *app = app_;
    (void)app;
    if (strcmp(req->role, PROTO_ROLE_SYSTEM) != 0) {
        pl_service_error(svc, req, "forbidden", "server API requests only");
        return 0;
    }
    char uid[129], reason[124] = "disconnected by the server";
    if (pl_mp_strcpy(req->body, "user_id", uid, sizeof uid) != 0 || !uid[0] ||
        pl_text_has_control(uid, strlen(uid))) {
        pl_service_error(svc, req, "bad_request", "user_id: invalid user id");
        return 0;
    }
    (void)pl_mp_strcpy(req->body, "reason", reason, sizeof reason); /* checked at the gateway */
    int revoke = 0;
    (void)pl_mp_bool(req->body, "revoke", &revoke);
    PGconn *db = pl_service_db(svc);
    int64_t conns = 0, before_s = 0;
    if (presence_store_user_conns(db, uid, &conns))
        return -1;
    if (revoke && presence_store_revoke(db, uid, pl_wall_ms() / 1000, &before_s))
        return -1;
    msgpack_packer *pk = pl_service_to_gateways(svc);
    msgpack_pack_map(pk, 3 + (revoke != 0));
    pl_pack_kv_str(pk, "type", "disconnect");
    pl_pack_kv_str(pk, "user_id", uid);
    pl_pack_kv_str(pk, "reason", reason);
    if (revoke)
        pl_pack_kv_int(pk, "before_s", before_s);
    pl_service_end(svc);
    pk = pl_service_reply(svc, req, NULL, 0);
    msgpack_pack_map(pk, 3);
    pl_pack_kv_str(pk, "type", "disconnected");
    pl_pack_kv_int(pk, "http", 202);
    pl_pack_kv_int(pk, "connections", conns);
    pl_service_end(svc);
    pl_info("api disconnect", "user=%s connections=%lld revoke=%d", uid, (long long)conns, revoke);
    return 0;
}

int presence_on_revocations(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    presence_app_t *app = app_;
    (void)app;
    PGresult *r = presence_store_revocations(pl_service_db(svc));
    if (!r)
        return -1;
    int n = PQntuples(r);
    msgpack_packer *pk = pl_service_reply(svc, req, NULL, 0);
    msgpack_pack_map(pk, 3);
    pl_pack_kv_str(pk, "type", "revocations");
    pl_pack_kv_str(pk, "svc", "presence");
    pl_pack_str(pk, "users");
    msgpack_pack_array(pk, (size_t)n);
    for (int i = 0; i < n; i++) {
        msgpack_pack_array(pk, 2);
        pl_pack_strn(pk, PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0));
        msgpack_pack_int64(pk, pl_pg_int(r, i, 1));
    }
    pl_service_end(svc);
    PQclear(r);
    return 0;
}
