/*  call_api: the server API's reads of calls and help requests (gateway/gw_api.c),
    as the system: any call, any user's calls, every open help request.
    The one thing to know: replies carry the HTTP answer's body (the gateway drops
    `type`); objects are the ones clients get (call_history's call). */
#include "call_handlers.h"

#include <string.h>

#include "call_store.h"
#include "pl_clock.h"
#include "pl_log.h"
#include "pl_mp.h"
#include "pl_pg.h"

#define HELP_LIST_DEFAULT 200
#define HELP_LIST_MAX 1000 /* bound: requests in one answer */

static int is_system(pl_service_t *svc, const proto_request_t *req)
{
    if (strcmp(req->role, PROTO_ROLE_SYSTEM) == 0)
        return 1;
    pl_service_error(svc, req, "forbidden", "server API requests only");
    return 0;
}

int call_api_get_call(void *cfg_, pl_service_t *svc, const proto_request_t *req)
{
    const call_cfg_t *cfg = cfg_;
    (void)cfg;
    if (!is_system(svc, req))
        return 0;
    int64_t id = 0;
    pl_mp_int(req->body, "call_id", &id);
    call_row_t c;
    int found;
    if (call_store_get(pl_service_db(svc), id, &c, &found))
        return -1;
    if (!found) {
        pl_service_error(svc, req, "not_found", "no such call");
        return 0;
    }
    msgpack_packer *pk = pl_service_reply(svc, req, NULL, 0);
    msgpack_pack_map(pk, 2);
    pl_pack_kv_str(pk, "type", "call");
    pl_pack_str(pk, "call");
    call_pack_call(pk, &c);
    pl_service_end(svc);
    return 0;
}

int call_api_user_calls(void *cfg_, pl_service_t *svc, const proto_request_t *req)
{
    const call_cfg_t *cfg = cfg_;
    (void)cfg;
    if (!is_system(svc, req))
        return 0;
    char uid[CALL_UID_MAX];
    if (pl_mp_strcpy(req->body, "user_id", uid, sizeof uid) != 0) {
        pl_service_error(svc, req, "bad_request", "user_id: invalid user id");
        return 0;
    }
    return call_answer_history(svc, req, uid, "calls");
}

static void pack_text(msgpack_packer *pk, const char *key, const PGresult *r, int i, int col)
{
    if (PQgetisnull(r, i, col))
        pl_pack_kv_nil(pk, key);
    else
        pl_pack_kv_strn(pk, key, PQgetvalue(r, i, col), (size_t)PQgetlength(r, i, col));
}

static void pack_time(msgpack_packer *pk, const char *key, const PGresult *r, int i, int col)
{
    char iso[32];
    if (PQgetisnull(r, i, col)) {
        pl_pack_kv_nil(pk, key);
        return;
    }
    pl_iso8601_ms(pl_pg_int(r, i, col), iso, sizeof iso);
    pl_pack_kv_str(pk, key, iso);
}

/* A help request: the contract's {request_id, student_id, topic, message} and where
   it stands. */
void call_pack_request(msgpack_packer *pk, const PGresult *r, int i)
{
    msgpack_pack_map(pk, 11);
    pl_pack_kv_int(pk, "request_id", pl_pg_int(r, i, HO_ID));
    pack_text(pk, "student_id", r, i, HO_STUDENT);
    pack_text(pk, "student_name", r, i, HO_STUDENT_NAME);
    pack_text(pk, "topic", r, i, HO_TOPIC);
    pack_text(pk, "message", r, i, HO_MESSAGE);
    pack_text(pk, "mentor_id", r, i, HO_MENTOR);
    pack_text(pk, "state", r, i, HO_STATE);
    pack_text(pk, "accepted_by", r, i, HO_ACCEPTED_BY);
    pack_time(pk, "created_at", r, i, HO_CREATED);
    pack_time(pk, "accepted_at", r, i, HO_ACCEPTED);
    pack_time(pk, "expires_at", r, i, HO_EXPIRES);
}

int call_api_help_requests(void *cfg_, pl_service_t *svc, const proto_request_t *req)
{
    const call_cfg_t *cfg = cfg_;
    (void)cfg;
    if (!is_system(svc, req))
        return 0;
    const char *state = NULL; /* both */
    if (pl_mp_str_eq(pl_mp_get(req->body, "state"), "waiting"))
        state = "waiting";
    else if (pl_mp_str_eq(pl_mp_get(req->body, "state"), "accepted"))
        state = "accepted";
    int64_t limit = HELP_LIST_DEFAULT;
    pl_mp_int(req->body, "limit", &limit);
    if (limit > HELP_LIST_MAX)
        limit = HELP_LIST_MAX;
    PGresult *r = call_help_store_open(pl_service_db(svc), state, limit);
    if (!r)
        return -1;
    int n = PQntuples(r);
    msgpack_packer *pk = pl_service_reply(svc, req, NULL, 0);
    msgpack_pack_map(pk, 2);
    pl_pack_kv_str(pk, "type", "help_requests");
    pl_pack_str(pk, "requests");
    msgpack_pack_array(pk, (size_t)n);
    for (int i = 0; i < n; i++)
        call_pack_request(pk, r, i);
    pl_service_end(svc);
    PQclear(r);
    return 0;
}
