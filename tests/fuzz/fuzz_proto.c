/*  fuzz_proto: libFuzzer target for proto validation of client frames (`make fuzz`).
    The one thing to know: an input is one client frame, JSON text, and goes the
    gateway's way (gw_router_frame/handle_request): pl_json_to_msgpack_ex with
    PL_JSON_RAW_TEXT (strings judged by proto_validate), a map, its
    `type` looked up with proto_event_find, proto_validate. Because the services trust
    the gateway's check, a frame that passes is re-checked here against a plain
    reading of the field table (proto.h): every required field present, every present
    field of its type and in range. Also checked, each an abort() when broken:
    - the frame is validated against every event of the table, not only the one its
      `type` names, so each schema meets every shape the fuzzer builds;
    - a refusal is PROTO_BAD_REQUEST or PROTO_TOO_LARGE with a reason "<where>: ..."
      naming a field of that event, a key of the body, or "frame"; printable;
    - the body the gateway forwards (the converted bytes less `type` and `id`,
      copied by proto_pack_request_body) gets the same verdict as the frame and
      equals the unpacked frame packed again without them;
    - a string `id` of at most 128 bytes is at most 776 bytes of JSON (gw_router.c's
      ID_JSON_MAX, the buffer it is copied into: a stack overflow there once). */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "pl_buf.h"
#include "pl_json.h"
#include "pl_mp.h"
#include "proto.h"
#include "proto_envelope.h"

#define ID_MAX_BYTES 128                   /* gw_router.c */
#define ID_JSON_MAX (ID_MAX_BYTES * 6 + 8) /* gw_router.c */

static int64_t limit_of(const proto_field_t *f)
{
    const proto_limits_t *l = proto_limits();
    if (!(f->flags & PF_LIMIT))
        return f->max;
    if (strcmp(f->name, "content") == 0)
        return l->content_max;
    if (strcmp(f->name, "status_message") == 0)
        return l->status_message_max;
    return l->signal_max;
}

static int in_list(const char *list, const char *s, size_t n)
{
    char want[64];
    if (n + 2 >= sizeof want)
        return 0;
    snprintf(want, sizeof want, "|%.*s|", (int)n, s);
    char all[256];
    snprintf(all, sizeof all, "|%s|", list);
    return memchr(s, '|', n) == NULL && strstr(all, want) != NULL;
}

/* A str of min..max code points, valid UTF-8, no NUL. */
static int text_ok(const msgpack_object *v, int64_t min_chars, int64_t max_chars)
{
    if (v->type != MSGPACK_OBJECT_STR)
        return 0;
    long n = pl_utf8_count(v->via.str.ptr, v->via.str.size);
    return n >= 0 && n >= min_chars && n <= max_chars &&
           (v->via.str.size == 0 || !memchr(v->via.str.ptr, '\0', v->via.str.size));
}

/* A str of min..max bytes, valid UTF-8, no NUL. */
static int bytes_ok(const msgpack_object *v, int64_t min_bytes, int64_t max_bytes)
{
    return v->type == MSGPACK_OBJECT_STR && v->via.str.size >= min_bytes &&
           v->via.str.size <= max_bytes && text_ok(v, 0, max_bytes);
}

/* What a service may assume of field f once the frame passed. */
static int field_ok(const proto_field_t *f, const msgpack_object *v)
{
    int64_t n;
    switch (f->type) {
    case PF_STR:
        return text_ok(v, f->min, limit_of(f)) &&
               (!f->one_of || in_list(f->one_of, v->via.str.ptr, v->via.str.size));
    case PF_INT:
        return pl_mp_as_int(v, &n) == 0 && n >= f->min && n <= f->max;
    case PF_BOOL:
        return v->type == MSGPACK_OBJECT_BOOLEAN;
    case PF_ID:
        return pl_mp_as_int(v, &n) == 0 || bytes_ok(v, 1, f->max);
    case PF_STR_LIST:
        if (v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size < f->min ||
            v->via.array.size > f->max)
            return 0;
        for (uint32_t i = 0; i < v->via.array.size; i++)
            if (!bytes_ok(&v->via.array.ptr[i], 1, f->item_max))
                return 0;
        return 1;
    case PF_LIST:
        return v->type == MSGPACK_OBJECT_ARRAY && v->via.array.size >= f->min &&
               v->via.array.size <= f->max;
    case PF_OBJECT: {
        if (v->type != MSGPACK_OBJECT_MAP)
            return 0;
        pl_buf_t b;
        pl_buf_init(&b, 0);
        int ok = pl_msgpack_to_json(v, &b) == 0 && (int64_t)b.len <= limit_of(f);
        pl_buf_free(&b);
        return ok;
    }
    }
    return 0;
}

/* A refusal names where the fault is: "frame", or a path into the body whose first
   step (up to '.' or '[') is one of the event's fields or a key the body holds
   ("?" for a key too odd to print), then ": " and a printable reason. */
static void check_reason(const proto_event_t *ev, const msgpack_object *root, const char *why)
{
    size_t n = strnlen(why, 160);
    const char *colon = memchr(why, ':', n);
    if (n == 0 || n >= 160 || !colon || colon[1] != ' ')
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)why[i] < 0x20 || (unsigned char)why[i] > 0x7e)
            abort();
    size_t flen = (size_t)(colon - why);
    size_t head = strcspn(why, ".[:");
    if (head > flen)
        head = flen;
    if ((head == 5 && memcmp(why, "frame", 5) == 0) || (head == 1 && why[0] == '?'))
        return;
    for (const proto_field_t *f = ev->fields; f->name; f++)
        if (strlen(f->name) == head && memcmp(f->name, why, head) == 0)
            return;
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object *k = &root->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == head &&
            memcmp(k->via.str.ptr, why, head) == 0)
            return;
    }
    abort();
}

static proto_verdict_t check_event(const proto_event_t *ev, const msgpack_object *root)
{
    char why[160];
    memset(why, 'x', sizeof why);
    proto_verdict_t v = proto_validate(ev, root, why, sizeof why);
    if (v == PROTO_OK) {
        for (const proto_field_t *f = ev->fields; f->name; f++) {
            const msgpack_object *val = pl_mp_get(root, f->name);
            if (!val || val->type == MSGPACK_OBJECT_NIL) {
                if (f->flags & PF_REQUIRED)
                    abort();
            } else if (!field_ok(f, val)) {
                abort();
            }
        }
    } else if (v == PROTO_BAD_REQUEST || v == PROTO_TOO_LARGE) {
        check_reason(ev, root, why);
    } else {
        abort();
    }
    return v;
}

/* The body as gw_router.c's forward() packs it: every member but `type` and `id`. */
/* The body the gateway forwards: the converted bytes less type and id, copied
   (proto_pack_request_body). It must equal the unpacked frame packed again without
   them (how it was made before), and get the frame's verdict. */
static void check_forwarded(const proto_event_t *ev, const char *conv, size_t len,
                            const msgpack_object *root, proto_verdict_t want)
{
    msgpack_sbuffer fwd, again;
    msgpack_sbuffer_init(&fwd);
    msgpack_sbuffer_init(&again);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &again, msgpack_sbuffer_write);
    uint32_t keep = 0;
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object *k = &root->via.map.ptr[i].key;
        keep += !(pl_mp_str_eq(k, "type") || pl_mp_str_eq(k, "id"));
    }
    msgpack_pack_map(&pk, keep);
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object_kv *kv = &root->via.map.ptr[i];
        if (pl_mp_str_eq(&kv->key, "type") || pl_mp_str_eq(&kv->key, "id"))
            continue;
        msgpack_pack_object(&pk, kv->key);
        msgpack_pack_object(&pk, kv->val);
    }
    if (proto_pack_request_body(&fwd, conv, len) != 0)
        abort();
    msgpack_unpacked up, up2;
    msgpack_unpacked_init(&up);
    msgpack_unpacked_init(&up2);
    size_t off = 0, off2 = 0;
    if (msgpack_unpack_next(&up, fwd.data, fwd.size, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != fwd.size || check_event(ev, &up.data) != want ||
        msgpack_unpack_next(&up2, again.data, again.size, &off2) != MSGPACK_UNPACK_SUCCESS ||
        !msgpack_object_equal(up.data, up2.data))
        abort();
    msgpack_unpacked_destroy(&up2);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&again);
    msgpack_sbuffer_destroy(&fwd);
}

static void check_id(const msgpack_object *root)
{
    const msgpack_object *id = pl_mp_get(root, "id");
    if (!id || id->type != MSGPACK_OBJECT_STR || id->via.str.size > ID_MAX_BYTES)
        return;
    pl_buf_t b;
    pl_buf_init(&b, 0);
    if (pl_msgpack_to_json(id, &b) != 0 || b.len >= ID_JSON_MAX)
        abort();
    pl_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_input(data, size);
    if (!s) /* over FUZZ_INPUT_MAX, or out of memory */
        return 0;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    if (pl_json_to_msgpack_ex(s, size, PL_JSON_RAW_TEXT, &sb, NULL, 0) == 0 &&
        msgpack_unpack_next(&up, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS &&
        up.data.type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *root = &up.data;
        check_id(root);
        const char *type;
        size_t tlen;
        const proto_event_t *named =
            pl_mp_str(root, "type", &type, &tlen) == 0 ? proto_event_find(type, tlen) : NULL;
        size_t n;
        const proto_event_t *all = proto_events(&n);
        for (size_t i = 0; i < n; i++) {
            proto_verdict_t v = check_event(&all[i], root);
            if (&all[i] == named)
                check_forwarded(named, sb.data, off, root, v);
        }
    }
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    free(s);
    return 0;
}
