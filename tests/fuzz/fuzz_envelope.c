/*  fuzz_envelope: libFuzzer target for the decode every service runs on bus input
    (`make fuzz`). The one thing to know: an input is the body frame of one ZeroMQ
    message, raw MessagePack bytes, and goes exactly the services' way: a request from
    the queue through msgpack_unpack_next + proto_request_decode (pl_service.c's
    prepare_batch), and an answer to pl_service_ask through its rq/b lookup and the
    re-pack of `b`. Properties, each an abort() when broken:
    - a decoded request has NUL-terminated fields within their arrays, and a body that
      is a map;
    - packing the decoded request again (proto_pack_request_head_ts + the body) and
      decoding that gives the same request and the same body bytes, so what a service
      reads is what a gateway could have sent;
    - an answer's re-packed body unpacks to the same bytes again;
    - pl_mp_raw (the gateway's in-place reader) ends the first object exactly where
      msgpack-c does, and fails where msgpack-c fails; when that object is a map, the
      body the gateway forwards from its bytes (proto_pack_request_body) is the map
      less every top-level type and id, every other member in order.
    Inputs whose container counts exceed their size are skipped (see fuzz_mp_plausible
    in fuzz.h): msgpack-c would only try, and fail, to allocate for them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "pl_mp.h"
#include "pl_mp_raw.h"
#include "proto.h"
#include "proto_envelope.h"

static void check_terminated(const char *s, size_t cap)
{
    if (!memchr(s, '\0', cap))
        abort();
}

static void pack_obj(const msgpack_object *o, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    if (msgpack_pack_object(&pk, *o) != 0)
        abort();
}

static void check_request(const proto_request_t *r)
{
    check_terminated(r->ev, sizeof r->ev);
    check_terminated(r->as, sizeof r->as);
    check_terminated(r->gw, sizeof r->gw);
    check_terminated(r->uid, sizeof r->uid);
    check_terminated(r->role, sizeof r->role);
    check_terminated(r->nm, sizeof r->nm);
    if (!r->body || r->body->type != MSGPACK_OBJECT_MAP)
        abort();

    msgpack_sbuffer sb, body1, body2;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_init(&body1);
    msgpack_sbuffer_init(&body2);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (r->ts < 0) /* decode keeps a send time only when it is usable */
        abort();
    if (proto_pack_request_head_ts(&pk, r->ev, r->as, r->gw, r->cn, r->rq, r->uid, r->role,
                                   r->nm, r->dl, r->ts) != 0)
        abort();
    pack_obj(r->body, &sb);
    pack_obj(r->body, &body1);

    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    proto_request_t again;
    if (msgpack_unpack_next(&up, sb.data, sb.size, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != sb.size || proto_request_decode(&up.data, &again) != 0)
        abort();
    pack_obj(again.body, &body2);
    if (strcmp(again.ev, r->ev) || strcmp(again.as, r->as) || strcmp(again.gw, r->gw) ||
        again.cn != r->cn || again.rq != r->rq || strcmp(again.uid, r->uid) ||
        strcmp(again.role, r->role) || strcmp(again.nm, r->nm) || again.dl != r->dl ||
        again.ts != r->ts ||
        body1.size != body2.size || memcmp(body1.data, body2.data, body1.size) != 0)
        abort();
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&body2);
    msgpack_sbuffer_destroy(&body1);
    msgpack_sbuffer_destroy(&sb);
}

/* pl_service_ask: an answer is taken when its rq matches, and its `b` re-packed. */
static void check_answer(const msgpack_object *root)
{
    uint64_t rq;
    const msgpack_object *b = pl_mp_get(root, PK_B);
    if (pl_mp_uint(root, PK_RQ, &rq) != 0 || !b)
        return;
    msgpack_sbuffer out, again;
    msgpack_sbuffer_init(&out);
    msgpack_sbuffer_init(&again);
    pack_obj(b, &out);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    if (msgpack_unpack_next(&up, out.data, out.size, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != out.size)
        abort();
    pack_obj(&up.data, &again);
    if (again.size != out.size || memcmp(again.data, out.data, out.size) != 0)
        abort();
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&again);
    msgpack_sbuffer_destroy(&out);
}

/* The map's bytes s[0..len) forwarded as a request body: the same as the map less
   its type and id members. Compared packed again on both sides, not with
   msgpack_object_equal, for which a NaN differs from itself. */
static void check_forwarded(const char *s, size_t len, const msgpack_object *map)
{
    msgpack_sbuffer fwd, want, got;
    msgpack_sbuffer_init(&fwd);
    msgpack_sbuffer_init(&want);
    msgpack_sbuffer_init(&got);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &want, msgpack_sbuffer_write);
    uint32_t keep = 0;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        keep += !(pl_mp_str_eq(k, "type") || pl_mp_str_eq(k, "id"));
    }
    msgpack_pack_map(&pk, keep);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (!(pl_mp_str_eq(&kv->key, "type") || pl_mp_str_eq(&kv->key, "id"))) {
            pack_obj(&kv->key, &want);
            pack_obj(&kv->val, &want);
        }
    }
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    if (proto_pack_request_body(&fwd, s, len) != 0 ||
        msgpack_unpack_next(&up, fwd.data, fwd.size, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != fwd.size || up.data.type != MSGPACK_OBJECT_MAP)
        abort();
    pack_obj(&up.data, &got);
    if (got.size != want.size || memcmp(got.data, want.data, got.size) != 0)
        abort();
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&got);
    msgpack_sbuffer_destroy(&want);
    msgpack_sbuffer_destroy(&fwd);
}

/* pl_mp_raw against msgpack-c's verdict on the same bytes. */
static void check_raw(const char *s, size_t size, msgpack_unpack_return got, size_t end,
                      const msgpack_object *o)
{
    size_t off = 0;
    int raw = pl_mp_raw_skip(s, size, &off);
    if (got == MSGPACK_UNPACK_SUCCESS) {
        if (raw != 0 || off != end)
            abort();
        if (o->type == MSGPACK_OBJECT_MAP)
            check_forwarded(s, end, o);
    } else if ((got == MSGPACK_UNPACK_PARSE_ERROR || got == MSGPACK_UNPACK_CONTINUE) && raw == 0) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_INPUT_MAX || !fuzz_mp_plausible(data, size))
        return 0;
    char *s = fuzz_copy(data, size, 0);
    if (!s)
        return 0;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    msgpack_unpack_return got = msgpack_unpack_next(&up, s, size, &off);
    check_raw(s, size, got, off, &up.data);
    if (got == MSGPACK_UNPACK_SUCCESS) {
        proto_request_t req;
        if (proto_request_decode(&up.data, &req) == 0)
            check_request(&req);
        check_answer(&up.data);
    }
    msgpack_unpacked_destroy(&up);
    free(s);
    return 0;
}
