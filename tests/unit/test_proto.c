/*  Unit tests for proto/: the event table, validation verdicts, topics, and round
    trips of the internal envelope. */
#include <string.h>

#include "pl_json.h"
#include "pl_mp.h"
#include "pl_test.h"
#include "proto.h"
#include "proto_envelope.h"

/* Parse JSON into a msgpack object held by `up` (caller destroys up and sb). */
static const msgpack_object *from_json(const char *json, msgpack_sbuffer *sb, msgpack_unpacked *up)
{
    char err[128];
    msgpack_sbuffer_init(sb);
    msgpack_unpacked_init(up);
    /* as the gateway parses: string contents are proto_validate's to judge */
    if (pl_json_to_msgpack_ex(json, strlen(json), PL_JSON_RAW_TEXT, sb, err, sizeof err) != 0)
        return NULL;
    size_t off = 0;
    if (msgpack_unpack_next(up, sb->data, sb->size, &off) != MSGPACK_UNPACK_SUCCESS)
        return NULL;
    return &up->data;
}

static proto_verdict_t verdict_of(const char *event, const char *json)
{
    msgpack_sbuffer sb;
    msgpack_unpacked up;
    const msgpack_object *o = from_json(json, &sb, &up);
    const proto_event_t *ev = proto_event_find(event, strlen(event));
    char why[160];
    proto_verdict_t v = (o && ev) ? proto_validate(ev, o, why, sizeof why) : (proto_verdict_t)-1;
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    return v;
}

/* The reason proto_validate gives, or "OK". */
static const char *why_of(const char *event, const char *json)
{
    static char why[160];
    msgpack_sbuffer sb;
    msgpack_unpacked up;
    const msgpack_object *o = from_json(json, &sb, &up);
    const proto_event_t *ev = proto_event_find(event, strlen(event));
    snprintf(why, sizeof why, "%s", "no such event or not JSON");
    if (o && ev && proto_validate(ev, o, why, sizeof why) == PROTO_OK)
        snprintf(why, sizeof why, "OK");
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    return why;
}

static void test_lookup_and_aliases(void)
{
    const proto_event_t *a = proto_event_find("message", 7);
    const proto_event_t *b = proto_event_find("send_message", 12);
    PL_CHECK(a && a == b);
    PL_CHECK(a && a->svc == PROTO_SVC_CHAT);
    PL_CHECK(proto_event_find("user_typing", 11) == proto_event_find("typing_start", 12));
    PL_CHECK(proto_event_find("user_stopped_typing", 19) == proto_event_find("typing_stop", 11));
    PL_CHECK(proto_event_find("nope", 4) == NULL);
    PL_CHECK(proto_event_find("messagex", 8) == NULL);
    PL_CHECK(proto_event_find("messag", 6) == NULL);
    const proto_event_t *auth = proto_event_find("auth", 4);
    PL_CHECK(auth && auth->svc == PROTO_SVC_GATEWAY);
    PL_CHECK(proto_event_find("set_status", 10)->svc == PROTO_SVC_PRESENCE);
    PL_CHECK(proto_event_find("initiate_call", 13)->svc == PROTO_SVC_CALL);
}

static void test_every_event_routes_somewhere(void)
{
    size_t n;
    const proto_event_t *evs = proto_events(&n);
    PL_CHECK(n >= 30);
    for (size_t i = 0; i < n; i++) {
        PL_CHECK(evs[i].fields != NULL);
        if (evs[i].svc != PROTO_SVC_GATEWAY)
            PL_CHECK(proto_svc_queue_offset(evs[i].svc) > 0);
    }
    PL_CHECK_STR(proto_svc_name(PROTO_SVC_CHAT), "chat");
}

static void test_message_validation(void)
{
    PL_CHECK(verdict_of("message", "{\"type\":\"message\",\"conversation_id\":1,\"content\":\"hi\"}") == PROTO_OK);
    PL_CHECK(verdict_of("message", "{\"conversation_id\":1}") == PROTO_BAD_REQUEST);
    PL_CHECK(verdict_of("message", "{\"conversation_id\":\"1\",\"content\":\"x\"}") == PROTO_BAD_REQUEST);
    PL_CHECK(verdict_of("message", "{\"conversation_id\":0,\"content\":\"x\"}") == PROTO_BAD_REQUEST);
    PL_CHECK(verdict_of("message", "{\"conversation_id\":1.5,\"content\":\"x\"}") == PROTO_BAD_REQUEST);
    PL_CHECK(verdict_of("message", "{\"conversation_id\":1,\"content\":\"\"}") == PROTO_BAD_REQUEST);
    PL_CHECK(verdict_of("message", "{\"conversation_id\":1,\"content\":42}") == PROTO_BAD_REQUEST);
    PL_CHECK(verdict_of("message", "{\"conversation_id\":1,\"content\":\"x\",\"reply_to_id\":null}") == PROTO_OK);
    PL_CHECK(verdict_of("message", "{\"conversation_id\":1,\"content\":\"x\",\"temp_id\":7}") == PROTO_OK);
    PL_CHECK(verdict_of("message", "{\"conversation_id\":1,\"content\":\"x\",\"temp_id\":\"\"}") == PROTO_BAD_REQUEST);
    char long_temp[256];
    snprintf(long_temp, sizeof long_temp, "{\"conversation_id\":1,\"content\":\"x\",\"temp_id\":\"%0129d\"}", 0);
    PL_CHECK(verdict_of("message", long_temp) == PROTO_TOO_LARGE);
    snprintf(long_temp, sizeof long_temp, "{\"conversation_id\":1,\"content\":\"x\",\"temp_id\":\"%0128d\"}", 0);
    PL_CHECK(verdict_of("message", long_temp) == PROTO_OK);
    snprintf(long_temp, sizeof long_temp, "{\"participants\":[\"%0129d\"]}", 0);
    PL_CHECK(verdict_of("create_conversation", long_temp) == PROTO_TOO_LARGE);
    PL_CHECK(verdict_of("message", "{\"conversation_id\":1,\"content\":\"x\",\"attachments\":{}}") == PROTO_BAD_REQUEST);
}

/* Content limits are in code points: 16384 four-byte emoji fit, one more does not. */
static void test_content_limit_counts_code_points(void)
{
    size_t n = PROTO_CONTENT_MAX;
    char *json = malloc(n * 4 + 64);
    strcpy(json, "{\"conversation_id\":1,\"content\":\"");
    char *p = json + strlen(json);
    for (size_t i = 0; i < n; i++, p += 4)
        memcpy(p, "\xf0\x9f\x98\x80", 4);
    strcpy(p, "\"}");
    PL_CHECK(verdict_of("message", json) == PROTO_OK);
    strcpy(p, "x\"}");
    PL_CHECK(verdict_of("message", json) == PROTO_TOO_LARGE);
    free(json);
}

static void test_enums_and_lists(void)
{
    PL_CHECK(verdict_of("set_status", "{\"status\":\"away\"}") == PROTO_OK);
    PL_CHECK(verdict_of("set_status", "{\"status\":\"sleeping\"}") == PROTO_BAD_REQUEST);
    PL_CHECK(verdict_of("create_conversation", "{\"participants\":[\"a\",\"b\"],\"kind\":\"group\"}") == PROTO_OK);
    PL_CHECK(verdict_of("create_conversation", "{\"participants\":[\"a\"],\"kind\":\"channel\"}") == PROTO_BAD_REQUEST);
    PL_CHECK(verdict_of("create_conversation", "{\"participants\":[]}") == PROTO_BAD_REQUEST);
    PL_CHECK(verdict_of("create_conversation", "{\"participants\":[1]}") == PROTO_BAD_REQUEST);
    PL_CHECK(verdict_of("create_conversation", "{\"participants\":[\"\"]}") == PROTO_BAD_REQUEST);
    PL_CHECK(verdict_of("list_mentors", "{\"available_only\":1}") == PROTO_BAD_REQUEST);
    PL_CHECK(verdict_of("list_mentors", "{}") == PROTO_OK);
    PL_CHECK(verdict_of("initiate_call", "{\"callee_id\":\"u\",\"media\":\"video\"}") == PROTO_OK);
    PL_CHECK(verdict_of("initiate_call", "{\"callee_id\":\"u\",\"media\":\"fax\"}") == PROTO_BAD_REQUEST);
}

/* The protocol's bad_request row: a string field with a NUL character, whatever its
   type allows besides (an id that may be an integer, a list's items). A NUL in temp_id
   or a user id would be cut short by the text columns and C strings behind them. */
static void test_nul_in_any_string(void)
{
    PL_CHECK(verdict_of("message", "{\"conversation_id\":1,\"content\":\"x\",\"temp_id\":\"a\\u0000\"}") == PROTO_BAD_REQUEST);
    PL_CHECK(verdict_of("message", "{\"conversation_id\":1,\"content\":\"x\",\"temp_id\":\"\\u0000\"}") == PROTO_BAD_REQUEST);
    PL_CHECK(verdict_of("message", "{\"conversation_id\":1,\"content\":\"x\",\"temp_id\":\"a\\u00e9\"}") == PROTO_OK);
    PL_CHECK(verdict_of("create_conversation", "{\"participants\":[\"a\",\"b\\u0000c\"]}") == PROTO_BAD_REQUEST);
    PL_CHECK(verdict_of("get_presence", "{\"user_ids\":[\"\\u0000\"]}") == PROTO_BAD_REQUEST);
    PL_CHECK(verdict_of("get_presence", "{\"user_ids\":[\"\\u00e9\"]}") == PROTO_OK);
}

static void test_signal_limit(void)
{
    PL_CHECK(verdict_of("call_signal", "{\"call_id\":1,\"signal\":{\"sdp\":\"v=0\"}}") == PROTO_OK);
    PL_CHECK(verdict_of("call_signal", "{\"call_id\":1,\"signal\":\"sdp\"}") == PROTO_BAD_REQUEST);
    size_t big = PROTO_SIGNAL_MAX + 10;
    char *json = malloc(big + 64);
    strcpy(json, "{\"call_id\":1,\"signal\":{\"sdp\":\"");
    size_t at = strlen(json);
    memset(json + at, 'a', big);
    strcpy(json + at + big, "\"}}");
    PL_CHECK(verdict_of("call_signal", json) == PROTO_TOO_LARGE);
    free(json);
}

/* proto_set_limits moves exactly the three configurable limits, and back. */
static void test_configured_limits(void)
{
    const proto_limits_t saved = *proto_limits();
    proto_limits_t l = {5, 3, 20};
    proto_set_limits(&l);
    PL_CHECK(verdict_of("message", "{\"conversation_id\":1,\"content\":\"12345\"}") == PROTO_OK);
    PL_CHECK(verdict_of("message", "{\"conversation_id\":1,\"content\":\"123456\"}") == PROTO_TOO_LARGE);
    PL_CHECK(verdict_of("edit_message", "{\"message_id\":1,\"content\":\"123456\"}") == PROTO_TOO_LARGE);
    PL_CHECK(verdict_of("set_status", "{\"status\":\"away\",\"status_message\":\"abc\"}") == PROTO_OK);
    PL_CHECK(verdict_of("set_status", "{\"status\":\"away\",\"status_message\":\"abcd\"}") == PROTO_TOO_LARGE);
    PL_CHECK(verdict_of("call_signal", "{\"call_id\":1,\"signal\":{\"a\":\"0123456789ab\"}}") == PROTO_OK); /* 20 bytes */
    PL_CHECK(verdict_of("call_signal", "{\"call_id\":1,\"signal\":{\"a\":\"0123456789abc\"}}") == PROTO_TOO_LARGE);
    /* limits that are not configurable do not move */
    PL_CHECK(verdict_of("create_conversation", "{\"participants\":[\"a\"],\"title\":\"a title of 20 chars!\"}") == PROTO_OK);
    proto_set_limits(&saved);
    PL_CHECK(verdict_of("message", "{\"conversation_id\":1,\"content\":\"123456\"}") == PROTO_OK);
}

static void test_topics(void)
{
    char t[PROTO_TOPIC_MAX];
    PL_CHECK(proto_topic(t, sizeof t, 'u', "alice", 5) == 7);
    PL_CHECK(memcmp(t, "ualice\0", 7) == 0);
    PL_CHECK(proto_topic_int(t, sizeof t, 'c', 42) == 4);
    PL_CHECK(memcmp(t, "c42\0", 4) == 0);
    /* NUL termination keeps prefix matching exact: c4 is not a prefix of c42. */
    char t2[PROTO_TOPIC_MAX];
    proto_topic_int(t2, sizeof t2, 'c', 4);
    PL_CHECK(memcmp(t, t2, 3) != 0);
    PL_CHECK(proto_topic(t, sizeof t, 'u', "a\0b", 3) == -1);
    char small[8];
    PL_CHECK(proto_topic(small, sizeof small, 'u', "x", 1) == -1);
}

static void test_request_round_trip(void)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    PL_CHECK(proto_pack_request_head(&pk, "message", "send_message", "0123456789abcdef", 7,
                                     99, "alice", "student", "Alice", 123456) == 0);
    msgpack_pack_map(&pk, 1);
    pl_pack_kv_int(&pk, "conversation_id", 5);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    PL_CHECK(msgpack_unpack_next(&up, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS);
    proto_request_t req;
    PL_CHECK(proto_request_decode(&up.data, &req) == 0);
    PL_CHECK_STR(req.ev, "message");
    PL_CHECK_STR(req.as, "send_message");
    PL_CHECK_STR(req.gw, "0123456789abcdef");
    PL_CHECK(req.cn == 7 && req.rq == 99 && req.dl == 123456);
    PL_CHECK(req.ts == 0); /* not stamped: a service never sheds it */
    PL_CHECK_STR(req.uid, "alice");
    PL_CHECK_STR(req.role, "student");
    PL_CHECK_STR(req.nm, "Alice");
    int64_t conv = 0;
    PL_CHECK(pl_mp_int(req.body, "conversation_id", &conv) == 0 && conv == 5);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
}

/* The gateway's forward before it converted once (gw_router.c until the edge stopped
   re-encoding): the head, then the unpacked frame packed again key by key, less
   `type` and `id`. Kept here as the reference the new bytes are held to. */
static void pack_request_reencoded(msgpack_sbuffer *sb, const msgpack_object *frame)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    proto_pack_request_head(&pk, "message", "send_message", "0123456789abcdef", 7, 99, "alice",
                            "student", "Alice", 123456);
    uint32_t keep = 0;
    for (uint32_t i = 0; i < frame->via.map.size; i++) {
        const msgpack_object *k = &frame->via.map.ptr[i].key;
        keep += !(pl_mp_str_eq(k, "type") || pl_mp_str_eq(k, "id"));
    }
    msgpack_pack_map(&pk, keep);
    for (uint32_t i = 0; i < frame->via.map.size; i++) {
        const msgpack_object_kv *kv = &frame->via.map.ptr[i];
        if (pl_mp_str_eq(&kv->key, "type") || pl_mp_str_eq(&kv->key, "id"))
            continue;
        msgpack_pack_object(&pk, kv->key);
        msgpack_pack_object(&pk, kv->val);
    }
}

/* Both requests decode to the same head and the same body, with no type or id in it. */
static int same_request(const msgpack_sbuffer *a, const msgpack_sbuffer *b)
{
    msgpack_unpacked ua, ub;
    msgpack_unpacked_init(&ua);
    msgpack_unpacked_init(&ub);
    size_t oa = 0, ob = 0;
    proto_request_t ra, rb;
    int same = msgpack_unpack_next(&ua, a->data, a->size, &oa) == MSGPACK_UNPACK_SUCCESS &&
               msgpack_unpack_next(&ub, b->data, b->size, &ob) == MSGPACK_UNPACK_SUCCESS &&
               oa == a->size && ob == b->size && proto_request_decode(&ua.data, &ra) == 0 &&
               proto_request_decode(&ub.data, &rb) == 0 && strcmp(ra.ev, rb.ev) == 0 &&
               strcmp(ra.as, rb.as) == 0 && strcmp(ra.gw, rb.gw) == 0 && ra.cn == rb.cn &&
               ra.rq == rb.rq && strcmp(ra.uid, rb.uid) == 0 && strcmp(ra.role, rb.role) == 0 &&
               strcmp(ra.nm, rb.nm) == 0 && ra.dl == rb.dl &&
               msgpack_object_equal(*ra.body, *rb.body) && !pl_mp_get(rb.body, "type") &&
               !pl_mp_get(rb.body, "id");
    msgpack_unpacked_destroy(&ub);
    msgpack_unpacked_destroy(&ua);
    return same;
}

/* What the gateway forwards for a client frame: the head, then the converted bytes
   copied less type and id; the same request as the re-encoding gave, byte for byte
   (pl_json writes the shortest forms, as msgpack-c's packer does). */
static void test_request_body_as_converted(void)
{
    static const char *const frames[] = {
        "{\"type\":\"send_message\",\"conversation_id\":3,\"content\":\"hi\",\"id\":\"r-1\"}",
        "{\"id\":7,\"conversation_id\":3,\"type\":\"send_message\",\"temp_id\":\"t\"}",
        "{\"type\":\"list_mentors\"}",
        "{\"conversation_id\":1}", /* no type: forwarded as is (the router refuses it first) */
        "{\"type\":\"call_signal\",\"call_id\":-1,\"signal\":{\"sdp\":\"v=0\\r\\n\",\"c\":[1,2.5,"
        "null,true,false,18446744073709551615,-9223372036854775808,1e300]},\"id\":null}",
        /* duplicate keys: every type and id goes, every other copy stays */
        "{\"type\":\"x\",\"a\":1,\"type\":\"y\",\"a\":2,\"id\":1,\"id\":2}",
        /* 17 members, 2 dropped: a map16 header becomes a fixmap one */
        "{\"type\":\"t\",\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"i\":9,"
        "\"j\":10,\"k\":11,\"l\":12,\"m\":13,\"n\":14,\"o\":15,\"id\":16}",
        /* long strings (str8, str16), a string with raw bytes (PL_JSON_RAW_TEXT) */
        "{\"content\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
        "\"bad\":\"\xff\xfe\",\"typ\":1,\"ids\":2,\"\":3}",
    };
    for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++) {
        msgpack_sbuffer conv, old, now;
        msgpack_unpacked up;
        const msgpack_object *frame = from_json(frames[i], &conv, &up);
        PL_CHECK(frame && frame->type == MSGPACK_OBJECT_MAP);
        if (!frame)
            continue;
        msgpack_sbuffer_init(&old);
        msgpack_sbuffer_init(&now);
        pack_request_reencoded(&old, frame);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &now, msgpack_sbuffer_write);
        PL_CHECK(proto_pack_request_head(&pk, "message", "send_message", "0123456789abcdef", 7,
                                         99, "alice", "student", "Alice", 123456) == 0);
        PL_CHECK(proto_pack_request_body(&now, conv.data, conv.size) == 0);
        PL_CHECK(same_request(&old, &now));
        PL_CHECK(old.size == now.size && memcmp(old.data, now.data, old.size) == 0);
        msgpack_sbuffer_destroy(&now);
        msgpack_sbuffer_destroy(&old);
        msgpack_unpacked_destroy(&up);
        msgpack_sbuffer_destroy(&conv);
    }
    /* not one map: refused, nothing forwarded */
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    PL_CHECK(proto_pack_request_body(&out, "\x91\x01", 2) == -1);       /* an array */
    PL_CHECK(proto_pack_request_body(&out, "\x81\xa1x\x01\xc0", 5) == -1); /* bytes after */
    PL_CHECK(proto_pack_request_body(&out, "\x82\xa1x\x01", 4) == -1);     /* cut short */
    PL_CHECK(proto_pack_request_body(&out, NULL, 0) == -1);
    msgpack_sbuffer_destroy(&out);
}

/* The send time the gateway stamps on client requests (shedding by queue age). */
static void test_request_send_time(void)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    PL_CHECK(proto_pack_request_head_ts(&pk, "message", "message", "0123456789abcdef", 7, 99,
                                        "alice", "student", NULL, 1765000005000,
                                        1765000000000) == 0);
    msgpack_pack_map(&pk, 0);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    PL_CHECK(msgpack_unpack_next(&up, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS);
    proto_request_t req;
    PL_CHECK(proto_request_decode(&up.data, &req) == 0);
    PL_CHECK(req.ts == 1765000000000 && req.dl == 1765000005000);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    /* a negative or ill-typed ts from a confused sender counts as not stamped */
    const msgpack_object *o = from_json(
        "{\"ev\":\"message\",\"gw\":\"g\",\"cn\":1,\"rq\":2,\"ts\":-5,\"b\":{}}", &sb, &up);
    PL_CHECK(o && proto_request_decode(o, &req) == 0 && req.ts == 0);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    o = from_json("{\"ev\":\"message\",\"gw\":\"g\",\"cn\":1,\"rq\":2,\"ts\":\"x\",\"b\":{}}",
                  &sb, &up);
    PL_CHECK(o && proto_request_decode(o, &req) == 0 && req.ts == 0);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
}

static void test_request_decode_rejects_garbage(void)
{
    msgpack_sbuffer sb;
    msgpack_unpacked up;
    proto_request_t req;
    const msgpack_object *o = from_json("{\"ev\":\"message\",\"gw\":\"g\",\"cn\":1}", &sb, &up);
    PL_CHECK(o && proto_request_decode(o, &req) == -1); /* no rq, no body */
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    o = from_json("{\"ev\":\"message\",\"gw\":\"g\",\"cn\":1,\"rq\":2,\"b\":[1]}", &sb, &up);
    PL_CHECK(o && proto_request_decode(o, &req) == -1); /* body not a map */
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    o = from_json("{\"ev\":\"message\",\"gw\":\"gggggggggggggggggggggg\",\"cn\":1,\"rq\":2,\"b\":{}}",
                  &sb, &up);
    PL_CHECK(o && proto_request_decode(o, &req) == -1); /* gateway id too long */
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    o = from_json("{\"ev\":\"message\",\"gw\":\"g\",\"cn\":-1,\"rq\":2,\"b\":{}}", &sb, &up);
    PL_CHECK(o && proto_request_decode(o, &req) == -1); /* negative connection id */
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
}

static void test_reply_and_event_heads(void)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int64_t subs[2] = {3, 4};
    PL_CHECK(proto_pack_reply_head(&pk, 7, 8, subs, 2) == 0);
    msgpack_pack_map(&pk, 1);
    pl_pack_kv_str(&pk, "type", "subscribed");
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    PL_CHECK(msgpack_unpack_next(&up, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS);
    uint64_t cn = 0, rq = 0;
    PL_CHECK(pl_mp_uint(&up.data, PK_CN, &cn) == 0 && cn == 7);
    PL_CHECK(pl_mp_uint(&up.data, PK_RQ, &rq) == 0 && rq == 8);
    const msgpack_object *sub = pl_mp_get(&up.data, PK_SUB);
    PL_CHECK(sub && sub->type == MSGPACK_OBJECT_ARRAY && sub->via.array.size == 2);
    PL_CHECK(pl_mp_str_eq(pl_mp_get(pl_mp_get(&up.data, PK_B), "type"), "subscribed"));

    msgpack_sbuffer_clear(&sb);
    proto_exclude_t x = {"gw1", 5, "bob"};
    PL_CHECK(proto_pack_event_head(&pk, &x, 9) == 0);
    msgpack_pack_map(&pk, 0);
    off = 0;
    PL_CHECK(msgpack_unpack_next(&up, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS);
    PL_CHECK(pl_mp_str_eq(pl_mp_get(&up.data, PK_XG), "gw1"));
    PL_CHECK(pl_mp_str_eq(pl_mp_get(&up.data, PK_XU), "bob"));
    uint64_t xc = 0;
    int64_t s = 0;
    PL_CHECK(pl_mp_uint(&up.data, PK_XC, &xc) == 0 && xc == 5);
    PL_CHECK(pl_mp_int(&up.data, PK_SUB, &s) == 0 && s == 9);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
}

/* NUL (the legal escape \u0000) and invalid UTF-8 (raw bytes, lone surrogates) are
   bad_request in every string of every event, nested ones and unknown fields included,
   and the reason names where. */
static void test_text_in_every_field(void)
{
    static const struct {
        const char *event, *json, *why;
    } t[] = {
        {"message", "{\"conversation_id\":1,\"content\":\"x\",\"temp_id\":\"t\\u0000\"}",
         "temp_id: must not contain NUL characters"},
        {"message", "{\"conversation_id\":1,\"content\":\"a\\u0000b\"}",
         "content: must not contain NUL characters"},
        {"message", "{\"conversation_id\":1,\"content\":\"a\xff\"}", "content: must be valid UTF-8"},
        {"message", "{\"conversation_id\":1,\"content\":\"x\",\"temp_id\":\"\\ud800\"}",
         "temp_id: must be valid UTF-8"},
        {"message", "{\"conversation_id\":1,\"content\":\"x\",\"temp_id\":\"\xed\xa0\x80\"}",
         "temp_id: must be valid UTF-8"},
        {"message",
         "{\"conversation_id\":1,\"content\":\"x\",\"attachments\":[{\"url\":\"https://x/a\","
         "\"name\":\"n\",\"mime\":\"m\"},{\"url\":\"https://x/\\u0000\",\"name\":\"n\","
         "\"mime\":\"m\"}]}",
         "attachments[1].url: must not contain NUL characters"},
        {"message",
         "{\"conversation_id\":1,\"content\":\"x\",\"attachments\":[{\"url\":\"https://x/a\","
         "\"name\":\"n\\u0000\",\"mime\":\"m\"}]}",
         "attachments[0].name: must not contain NUL characters"},
        {"message",
         "{\"conversation_id\":1,\"content\":\"x\",\"attachments\":[{\"url\":\"https://x/a\","
         "\"name\":\"n\",\"mime\":\"\xc0\xaf\"}]}",
         "attachments[0].mime: must be valid UTF-8"},
        {"create_conversation", "{\"participants\":[\"a\",\"b\\u0000\"]}",
         "participants[1]: must not contain NUL characters"},
        {"create_conversation", "{\"participants\":[\"\xff\"]}", "participants[0]: must be valid UTF-8"},
        {"create_conversation", "{\"participants\":[\"a\"],\"title\":\"\\u0000\"}",
         "title: must not contain NUL characters"},
        {"set_status", "{\"status\":\"away\",\"status_message\":\"\\u0000\"}",
         "status_message: must not contain NUL characters"},
        {"mentor_busy", "{\"status_message\":\"\xf5\"}", "status_message: must be valid UTF-8"},
        {"student_request_help", "{\"topic\":\"sql\\u0000\"}", "topic: must not contain NUL characters"},
        {"student_request_help", "{\"topic\":\"sql\",\"mentor_id\":\"m\\u0000\"}",
         "mentor_id: must not contain NUL characters"},
        {"react", "{\"message_id\":1,\"emoji\":\"\\u0000\"}", "emoji: must not contain NUL characters"},
        {"get_presence", "{\"user_ids\":[\"u\\u0000\"]}", "user_ids[0]: must not contain NUL characters"},
        {"initiate_call", "{\"callee_id\":\"u\\u0000\",\"media\":\"audio\"}",
         "callee_id: must not contain NUL characters"},
        {"end_call", "{\"call_id\":1,\"reason\":\"\xe2\x82\"}", "reason: must be valid UTF-8"},
        {"auth", "{\"token\":\"a\\u0000b\"}", "token: must not contain NUL characters"},
        /* the call signal is opaque, but text all the same */
        {"call_signal", "{\"call_id\":1,\"signal\":{\"sdp\":\"v=0\\u0000\"}}",
         "signal.sdp: must not contain NUL characters"},
        {"call_signal", "{\"call_id\":1,\"signal\":{\"c\":[1,{\"x\":\"\xff\"}]}}",
         "signal.c[1].x: must be valid UTF-8"},
        {"call_signal", "{\"call_id\":1,\"signal\":{\"\xc3\xbc\":\"\\u0000\"}}",
         "signal.?: must not contain NUL characters"},
        {"call_signal", "{\"call_id\":1,\"signal\":{\"a\\u0000\":1}}",
         "signal: keys must be valid UTF-8 without NUL characters"},
        /* unknown fields are forwarded, so they are held to the same rule */
        {"ping", "{\"extra\":{\"a\":[\"\\u0000\"]}}", "extra.a[0]: must not contain NUL characters"},
        {"typing_start", "{\"conversation_id\":1,\"x\\u0000\":1}",
         "frame: keys must be valid UTF-8 without NUL characters"},
        /* the envelope's id is the gateway's, and never leaves it */
        {"ping", "{\"type\":\"ping\",\"id\":\"a\\u0000\"}", "OK"},
        /* well-formed text of every plane passes */
        {"message", "{\"conversation_id\":1,\"content\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\\ud83d\\ude00\","
                    "\"temp_id\":\"\\u00e9\",\"attachments\":[]}",
         "OK"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        const char *got = why_of(t[i].event, t[i].json);
        if (strcmp(got, t[i].why) != 0)
            fprintf(stderr, "  case %zu (%s)\n", i, t[i].event);
        PL_CHECK_STR(got, t[i].why);
    }
    /* text comes first: a NUL in an over-long content is a bad request */
    char *json = malloc(PROTO_CONTENT_MAX + 64);
    strcpy(json, "{\"conversation_id\":1,\"content\":\"\\u0000");
    size_t at = strlen(json);
    memset(json + at, 'a', PROTO_CONTENT_MAX + 1);
    strcpy(json + at + PROTO_CONTENT_MAX + 1, "\"}");
    PL_CHECK(verdict_of("message", json) == PROTO_BAD_REQUEST);
    free(json);
}

/* The server event list: unique names, within the gateway's 64 counter slots (one
   kept for "other", gateway/gw_metrics.h), and holding what the gateway sends itself. */
static void test_server_events(void)
{
    size_t n;
    const char *const *types = proto_server_events(&n);
    PL_CHECK(n > 0 && n < 64);
    int has_auth = 0, has_pong = 0;
    for (size_t i = 0; i < n; i++) {
        PL_CHECK(types[i] && types[i][0]);
        for (size_t j = 0; j < i; j++)
            PL_CHECK(strcmp(types[i], types[j]) != 0);
        has_auth |= strcmp(types[i], "auth_success") == 0;
        has_pong |= strcmp(types[i], "pong") == 0;
    }
    PL_CHECK(has_auth && has_pong);
}

PL_TEST_MAIN(PL_CASE(lookup_and_aliases),
             PL_CASE(server_events),
             PL_CASE(every_event_routes_somewhere),
             PL_CASE(message_validation),
             PL_CASE(content_limit_counts_code_points),
             PL_CASE(enums_and_lists),
             PL_CASE(nul_in_any_string),
             PL_CASE(signal_limit),
             PL_CASE(configured_limits),
             PL_CASE(topics),
             PL_CASE(request_round_trip), PL_CASE(request_send_time),
             PL_CASE(request_body_as_converted),
             PL_CASE(request_decode_rejects_garbage),
             PL_CASE(reply_and_event_heads),
             PL_CASE(text_in_every_field))
