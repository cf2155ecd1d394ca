/*  call_chat: what call-svc asks chat-svc (see call_presence.h). Conversations are
    chat's: a call that names one is checked against chat's own answer at the moment of
    the call, never against a copy, so a conversation created a second ago counts. */
#include <string.h>

#include "call_presence.h"
#include "pl_mp.h"

int call_chat_both_members(pl_service_t *svc, int64_t timeout_ms, int64_t conv, const char *a,
                           const char *b, int *both)
{
    *both = 0;
    msgpack_sbuffer body;
    msgpack_sbuffer_init(&body);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &body, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    pl_pack_kv_int(&pk, "conversation_id", conv);
    pl_pack_str(&pk, "user_ids");
    msgpack_pack_array(&pk, 2);
    pl_pack_str(&pk, a);
    pl_pack_str(&pk, b);
    call_answer_t ans;
    call_answer_init(&ans);
    int rc = call_ask(svc, PROTO_SVC_CHAT, timeout_ms, PROTO_EV_CONV_MEMBERS, &body,
                      PROTO_EV_CONV_MEMBERS, &ans);
    msgpack_sbuffer_destroy(&body);
    if (rc == 0) {
        /* An unknown conversation has no members: refused like a foreign one. */
        const msgpack_object *m = pl_mp_get(&ans.up.data, "members");
        int has_a = 0, has_b = 0;
        for (uint32_t i = 0; m && m->type == MSGPACK_OBJECT_ARRAY && i < m->via.array.size; i++) {
            has_a |= pl_mp_str_eq(&m->via.array.ptr[i], a);
            has_b |= pl_mp_str_eq(&m->via.array.ptr[i], b);
        }
        *both = has_a && has_b;
    }
    call_answer_destroy(&ans);
    return rc;
}
