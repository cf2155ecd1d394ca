/*  call_presence: asks to presence-svc (and the ask helper call_chat.c shares) and
    activity notifications (see call_presence.h). Reply shapes are docs/internals.md's: presence_query answers
    {type:"presence_info", users:[{user_id, role, status, online, connections}]},
    available_mentors answers {type:"available_mentors", mentors:[user_id...]}; an
    `error` answer (e.g. a presence-svc that does not serve asks) counts as none. */
#include "call_presence.h"

#include <stdio.h>
#include <string.h>

#include "pl_clock.h"
#include "pl_log.h"
#include "pl_mp.h"

/* Room left for our own answer to travel back before the gateway gives up. */
#define DEADLINE_MARGIN_MS 250

int call_is_mentor(const char *role)
{
    return strcmp(role, "mentor") == 0 || strcmp(role, "admin") == 0;
}

int64_t call_ask_budget(const call_cfg_t *cfg, const proto_request_t *req)
{
    int64_t budget = cfg->ask_ms;
    if (req && req->dl) {
        int64_t left = req->dl - pl_wall_ms() - DEADLINE_MARGIN_MS;
        if (left < budget)
            budget = left;
    }
    return budget > 0 ? budget : 0;
}

void call_answer_init(call_answer_t *a)
{
    msgpack_sbuffer_init(&a->raw);
    msgpack_unpacked_init(&a->up);
}

void call_answer_destroy(call_answer_t *a)
{
    msgpack_unpacked_destroy(&a->up);
    msgpack_sbuffer_destroy(&a->raw);
}

int call_ask(pl_service_t *svc, proto_svc_t target, int64_t timeout_ms, const char *ev,
             const msgpack_sbuffer *body, const char *want, call_answer_t *a)
{
    const char *who = proto_svc_name(target);
    if (timeout_ms <= 0)
        return -1;
    if (pl_service_ask(svc, target, ev, NULL, body->data, body->size, (int)timeout_ms, &a->raw) !=
        0) {
        pl_warn("a service did not answer", "svc=%s ask=%s timeout_ms=%lld", who, ev,
                (long long)timeout_ms);
        return -1;
    }
    size_t off = 0;
    if (msgpack_unpack_next(&a->up, a->raw.data, a->raw.size, &off) != MSGPACK_UNPACK_SUCCESS)
        return -1;
    if (!pl_mp_str_eq(pl_mp_get(&a->up.data, "type"), want)) {
        pl_warn("a service refused an ask", "svc=%s ask=%s", who, ev);
        return -1;
    }
    return 0;
}

static int ask(pl_service_t *svc, int64_t timeout_ms, const char *ev, const msgpack_sbuffer *body,
               const char *want, call_answer_t *a)
{
    return call_ask(svc, PROTO_SVC_PRESENCE, timeout_ms, ev, body, want, a);
}

int call_presence_query(pl_service_t *svc, int64_t timeout_ms, const char *uid,
                        call_presence_t *out)
{
    memset(out, 0, sizeof *out);
    msgpack_sbuffer body;
    msgpack_sbuffer_init(&body);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &body, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    pl_pack_str(&pk, "user_ids");
    msgpack_pack_array(&pk, 1);
    pl_pack_str(&pk, uid);
    call_answer_t a;
    call_answer_init(&a);
    int rc = ask(svc, timeout_ms, PROTO_EV_PRESENCE_QUERY, &body, "presence_info", &a);
    msgpack_sbuffer_destroy(&body);
    if (rc != 0)
        goto done;
    /* A user presence does not list is one it has never seen: offline. */
    const msgpack_object *users = pl_mp_get(&a.up.data, "users");
    if (!users || users->type != MSGPACK_OBJECT_ARRAY)
        goto done;
    for (uint32_t i = 0; i < users->via.array.size; i++) {
        const msgpack_object *u = &users->via.array.ptr[i];
        if (!pl_mp_str_eq(pl_mp_get(u, "user_id"), uid))
            continue;
        pl_mp_strcpy(u, "role", out->role, sizeof out->role);
        pl_mp_strcpy(u, "status", out->status, sizeof out->status);
        pl_mp_bool(u, "online", &out->online);
        if (pl_mp_int(u, "connections", &out->connections) || out->connections < 0)
            out->connections = 0;
        break;
    }
done:
    call_answer_destroy(&a);
    return rc;
}

int call_presence_mentors(pl_service_t *svc, int64_t timeout_ms, call_answer_t *answer,
                          const msgpack_object **list)
{
    msgpack_sbuffer body;
    msgpack_sbuffer_init(&body);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &body, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 0);
    int rc = ask(svc, timeout_ms, PROTO_EV_AVAILABLE_MENTORS, &body, "available_mentors", answer);
    msgpack_sbuffer_destroy(&body);
    if (rc != 0)
        return -1;
    *list = pl_mp_get(&answer->up.data, "mentors");
    if (!*list || (*list)->type != MSGPACK_OBJECT_ARRAY) {
        pl_warn("presence answered a malformed mentor list", "%s", "");
        return -1;
    }
    return 0;
}

void call_presence_activity(pl_service_t *svc, const char *uid, const char *role, int busy,
                            const char *kind, int64_t id)
{
    if (!call_is_mentor(role))
        return;
    char ref[48];
    snprintf(ref, sizeof ref, "%s:%lld", kind, (long long)id);
    msgpack_packer *pk = pl_service_notify(svc, PROTO_SVC_PRESENCE, PROTO_EV_ACTIVITY, uid);
    if (!pk)
        return;
    msgpack_pack_map(pk, 4);
    pl_pack_kv_str(pk, "type", PROTO_EV_ACTIVITY);
    pl_pack_kv_str(pk, "user_id", uid);
    pl_pack_kv_bool(pk, "busy", busy);
    pl_pack_kv_str(pk, "ref", ref);
    pl_service_end(svc);
}
