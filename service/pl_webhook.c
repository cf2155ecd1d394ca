/*  pl_webhook: the outbox writer and the dead-letter handlers (see pl_webhook.h). */
#include "pl_webhook.h"

#include <msgpack.h>
#include <string.h>

#include "pl_buf.h"
#include "pl_config.h"
#include "pl_json.h"
#include "pl_log.h"
#include "pl_mp.h"

#define DEAD_LIST_DEFAULT 50
#define DEAD_LIST_MAX 500 /* one answer; the gateway merges three of them */
#define EVENT_ID_MAX 64

int pl_webhook_enabled(void)
{
    static int s_enabled = -1;
    if (s_enabled < 0) {
        const char *url = pl_env_str("WEBHOOK_URL", NULL);
        s_enabled = url && url[0];
    }
    return s_enabled;
}

int pl_webhook_json(const char *data, size_t len, pl_buf_t *json)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    int rc = msgpack_unpack_next(&up, data, len, &off) == MSGPACK_UNPACK_SUCCESS &&
                     pl_msgpack_to_json(&up.data, json) == 0
                 ? 0
                 : -1;
    msgpack_unpacked_destroy(&up);
    return rc;
}

int pl_webhook_emit(PGconn *db, const char *type, const char *user_key, const char *data,
                    size_t len)
{
    if (!pl_webhook_enabled())
        return 0;
    pl_buf_t json;
    pl_buf_init(&json, 0);
    int rc = -1;
    if (pl_webhook_json(data, len, &json) != 0) {
        pl_error("webhook event not packed", "type=%s", type); /* a bug, not input */
        goto done;
    }
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_cstr(&p, type);
    pl_pg_param_cstr(&p, user_key);
    pl_pg_param_bytes(&p, json.data, json.len);
    PGresult *r = pl_pg_run_params(db, "webhook_emit", &p);
    rc = r ? 0 : -1;
    PQclear(r);
done:
    pl_buf_free(&json);
    return rc;
}

/* One dead letter as the API shows it: the event as it would be delivered, plus how
   its delivery went. `data` is JSON text from the row, packed back to MessagePack. */
static int pack_dead(msgpack_packer *pk, const PGresult *r, int i)
{
    const char *data = PQgetvalue(r, i, 3);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    char err[96];
    if (pl_json_to_msgpack(data, strlen(data), &sb, err, sizeof err) != 0) {
        msgpack_sbuffer_destroy(&sb);
        return -1;
    }
    msgpack_pack_map(pk, 7);
    pl_pack_kv_str(pk, "id", PQgetvalue(r, i, 0));
    pl_pack_kv_str(pk, "type", PQgetvalue(r, i, 1));
    pl_pack_kv_str(pk, "created_at", PQgetvalue(r, i, 2));
    pl_pack_str(pk, "data");
    msgpack_sbuffer_write(pk->data, sb.data, sb.size);
    pl_pack_kv_int(pk, "attempts", pl_pg_int(r, i, 4));
    pl_pack_kv_str(pk, "last_error", PQgetvalue(r, i, 5));
    pl_pack_kv_str(pk, "dead_at", PQgetvalue(r, i, 6));
    msgpack_sbuffer_destroy(&sb);
    return 0;
}

int pl_webhook_on_dead_letters(void *app, pl_service_t *svc, const proto_request_t *req)
{
    (void)app;
    if (strcmp(req->role, PROTO_ROLE_SYSTEM) != 0) {
        pl_service_error(svc, req, "forbidden", "server API requests only");
        return 0;
    }
    int64_t limit = DEAD_LIST_DEFAULT;
    (void)pl_mp_int(req->body, "limit", &limit);
    if (limit < 1 || limit > DEAD_LIST_MAX)
        limit = limit < 1 ? DEAD_LIST_DEFAULT : DEAD_LIST_MAX;
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_int(&p, limit);
    PGresult *r = pl_pg_run_params(pl_service_db(svc), "webhook_dead_list", &p);
    if (!r)
        return -1;
    /* Packed aside first: a row whose data does not parse (never written by us) is
       left out rather than breaking the answer. */
    msgpack_sbuffer items;
    msgpack_sbuffer_init(&items);
    msgpack_packer ipk;
    msgpack_packer_init(&ipk, &items, msgpack_sbuffer_write);
    uint32_t n = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        size_t before = items.size;
        if (pack_dead(&ipk, r, i) == 0)
            n++;
        else
            items.size = before;
    }
    msgpack_packer *pk = pl_service_reply(svc, req, NULL, 0);
    if (pk) {
        msgpack_pack_map(pk, 2);
        pl_pack_kv_str(pk, "type", "dead_letters");
        pl_pack_str(pk, "events");
        msgpack_pack_array(pk, n);
        msgpack_sbuffer_write(pk->data, items.data, items.size);
        pl_service_end(svc);
    }
    msgpack_sbuffer_destroy(&items);
    PQclear(r);
    return 0;
}

int pl_webhook_on_replay(void *app, pl_service_t *svc, const proto_request_t *req)
{
    (void)app;
    if (strcmp(req->role, PROTO_ROLE_SYSTEM) != 0) {
        pl_service_error(svc, req, "forbidden", "server API requests only");
        return 0;
    }
    char id[EVENT_ID_MAX + 1];
    if (pl_mp_strcpy(req->body, "event_id", id, sizeof id) != 0) {
        pl_service_error(svc, req, "not_found", "no such dead letter");
        return 0;
    }
    pl_pg_params_t p = {.n = 0};
    pl_pg_param_cstr(&p, id);
    PGresult *r = pl_pg_run_params(pl_service_db(svc), "webhook_replay", &p);
    if (!r)
        return -1;
    int found = PQntuples(r) == 1;
    PQclear(r);
    if (!found) {
        pl_service_error(svc, req, "not_found", "no such dead letter");
        return 0;
    }
    msgpack_packer *pk = pl_service_reply(svc, req, NULL, 0);
    if (pk) {
        msgpack_pack_map(pk, 4);
        pl_pack_kv_str(pk, "type", "replayed");
        pl_pack_kv_int(pk, "http", 202);
        pl_pack_kv_str(pk, "id", id);
        pl_pack_kv_str(pk, "state", "pending");
        pl_service_end(svc);
    }
    pl_info("webhook replayed", "event=%s", id);
    return 0;
}
