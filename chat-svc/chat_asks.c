/*  chat_asks: what other services ask chat-svc about conversations (proto.h,
    PROTO_EV_SHARED_CONTACTS and PROTO_EV_CONV_MEMBERS). Who shares a conversation
    with whom is chat's data; presence-svc (who may see whose presence) and call-svc
    (is a call's conversation one of both parties) ask here instead of keeping a copy
    that could lag behind a conversation created a moment ago.
    The one thing to know: the asker blocks until we answer (pl_service_ask), so each
    ask is one read-only statement, and the answer leaves with the batch's commit like
    any reply. Bad input is answered `bad_request`, never guessed at. */
#include "chat_handlers.h"

#include <stdlib.h>
#include <string.h>

#include "chat_store.h"
#include "pl_mp.h"

/* One presence batch (at most 128 requests) of get_presence (at most 500 ids each). */
#define SHARED_PAIRS_MAX 65536
#define MEMBERS_MAX 64

static int is_user_id(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size > 0 && o->via.str.size <= 128;
}

/* ---- shared_contacts ---------------------------------------------------------- */

typedef struct {
    chat_str_t *askers, *others;
    size_t n;
} pairs_t;

/* Flatten {queries:[{user_id, user_ids}]} into pairs. -1 on bad input or size. */
static int collect_pairs(const msgpack_object *queries, pairs_t *p)
{
    size_t total = 0;
    for (uint32_t q = 0; q < queries->via.array.size; q++) {
        const msgpack_object *ids = pl_mp_get(&queries->via.array.ptr[q], "user_ids");
        if (!ids || ids->type != MSGPACK_OBJECT_ARRAY)
            return -1;
        total += ids->via.array.size;
    }
    if (total > SHARED_PAIRS_MAX)
        return -1;
    p->askers = calloc(total ? total : 1, sizeof *p->askers);
    p->others = calloc(total ? total : 1, sizeof *p->others);
    if (!p->askers || !p->others)
        return -1;
    for (uint32_t q = 0; q < queries->via.array.size; q++) {
        const msgpack_object *query = &queries->via.array.ptr[q];
        const msgpack_object *asker = pl_mp_get(query, "user_id");
        const msgpack_object *ids = pl_mp_get(query, "user_ids");
        if (!asker || !is_user_id(asker))
            return -1;
        for (uint32_t i = 0; i < ids->via.array.size; i++) {
            const msgpack_object *o = &ids->via.array.ptr[i];
            if (!is_user_id(o))
                return -1;
            p->askers[p->n] = (chat_str_t){asker->via.str.ptr, asker->via.str.size};
            p->others[p->n++] = (chat_str_t){o->via.str.ptr, o->via.str.size};
        }
    }
    return 0;
}

/* results:[[...]...]: each query's user_ids whose pair is marked in `shared`. */
static void pack_results(msgpack_packer *pk, const msgpack_object *queries, const char *shared)
{
    size_t at = 0;
    msgpack_pack_array(pk, queries->via.array.size);
    for (uint32_t q = 0; q < queries->via.array.size; q++) {
        const msgpack_object *ids = pl_mp_get(&queries->via.array.ptr[q], "user_ids");
        uint32_t k = 0;
        for (uint32_t i = 0; i < ids->via.array.size; i++)
            k += shared[at + i] != 0;
        msgpack_pack_array(pk, k);
        for (uint32_t i = 0; i < ids->via.array.size; i++, at++)
            if (shared[at])
                msgpack_pack_object(pk, ids->via.array.ptr[i]);
    }
}

int chat_on_shared_contacts(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    chat_app_t *app = app_;
    (void)app;
    const msgpack_object *queries = pl_mp_get(req->body, "queries");
    pairs_t p = {NULL, NULL, 0};
    char *shared = NULL;
    int rc = 0;
    if (!queries || queries->type != MSGPACK_OBJECT_ARRAY || collect_pairs(queries, &p) != 0) {
        pl_service_error(svc, req, "bad_request",
                         "queries: a list of {user_id, user_ids} of at most 65536 ids");
        goto done;
    }
    shared = calloc(p.n ? p.n : 1, 1);
    PGresult *r = shared ? chat_store_shared(pl_service_db(svc), p.askers, p.others, p.n) : NULL;
    if (!r) {
        rc = -1;
        goto done;
    }
    for (int row = 0; row < PQntuples(r); row++) {
        int64_t i = pl_pg_int(r, row, 0);
        if (i >= 1 && (uint64_t)i <= p.n)
            shared[i - 1] = 1;
    }
    PQclear(r);
    msgpack_packer *pk = pl_service_reply(svc, req, NULL, 0);
    if (pk) {
        msgpack_pack_map(pk, 2);
        pl_pack_kv_str(pk, "type", PROTO_EV_SHARED_CONTACTS);
        pl_pack_str(pk, "results");
        pack_results(pk, queries, shared);
        pl_service_end(svc);
    }
done:
    free(shared);
    free(p.askers);
    free(p.others);
    return rc;
}

/* ---- conversation_members ----------------------------------------------------- */

int chat_on_conversation_members(void *app_, pl_service_t *svc, const proto_request_t *req)
{
    chat_app_t *app = app_;
    (void)app;
    int64_t conv = 0;
    const msgpack_object *ids = pl_mp_get(req->body, "user_ids");
    chat_str_t users[MEMBERS_MAX];
    size_t n = 0;
    int ok = pl_mp_int(req->body, "conversation_id", &conv) == 0 && ids &&
             ids->type == MSGPACK_OBJECT_ARRAY && ids->via.array.size <= MEMBERS_MAX;
    for (uint32_t i = 0; ok && i < ids->via.array.size; i++) {
        const msgpack_object *o = &ids->via.array.ptr[i];
        ok = is_user_id(o);
        if (ok)
            users[n++] = (chat_str_t){o->via.str.ptr, o->via.str.size};
    }
    if (!ok) {
        pl_service_error(svc, req, "bad_request",
                         "conversation_members: {conversation_id, user_ids} of at most 64 ids");
        return 0;
    }
    PGresult *r = chat_store_members_among(pl_service_db(svc), conv, users, n);
    if (!r)
        return -1;
    msgpack_packer *pk = pl_service_reply(svc, req, NULL, 0);
    if (pk) {
        msgpack_pack_map(pk, 3);
        pl_pack_kv_str(pk, "type", PROTO_EV_CONV_MEMBERS);
        pl_pack_kv_int(pk, "conversation_id", conv);
        pl_pack_str(pk, "members");
        msgpack_pack_array(pk, (size_t)PQntuples(r));
        for (int row = 0; row < PQntuples(r); row++)
            pl_pack_strn(pk, PQgetvalue(r, row, 0), (size_t)PQgetlength(r, row, 0));
        pl_service_end(svc);
    }
    PQclear(r);
    return 0;
}
