/*  fuzz_sio: libFuzzer target for gw_sio, the Engine.IO/Socket.IO codec (`make fuzz`).
    The one thing to know: besides "no crash, no read past the input" (ASan, and the
    input is never NUL-terminated), it checks two properties and aborts on a breach:
    an EVENT's argument bytes (converted once) are exactly its argument map, and what is
    forwarded from them is that map less type and id, every other member in order; and
    a frame that is valid JSON converts (gw_sio_from_json) into a packet whose JSON part is valid. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "gw_sio.h"
#include "pl_json.h"
#include "pl_mp.h"
#include "proto_envelope.h"

static int valid_json(const char *s, size_t n)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    int ok = pl_json_to_msgpack(s, n, &sb, NULL, 0) == 0;
    msgpack_sbuffer_destroy(&sb);
    return ok;
}

/* A top-level key named k in map o. */
static int has_key(const msgpack_object *o, const char *k)
{
    for (uint32_t i = 0; i < o->via.map.size; i++)
        if (pl_mp_str_eq(&o->via.map.ptr[i].key, k))
            return 1;
    return 0;
}

/* The event converted once: its body bytes are exactly the argument map, and what the
   router forwards from them is that map less its type and id, byte for byte. */
static void check_event(const gw_sio_event_t *ev)
{
    if (ev->name->type != MSGPACK_OBJECT_STR || ev->name->via.str.size == 0 ||
        ev->name->via.str.size > GW_SIO_EVENT_NAME_MAX || ev->arg->type != MSGPACK_OBJECT_MAP)
        abort();
    msgpack_unpacked up, fwd_up;
    msgpack_unpacked_init(&up);
    msgpack_unpacked_init(&fwd_up);
    size_t off = 0;
    if (msgpack_unpack_next(&up, ev->body, ev->body_len, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != ev->body_len || !msgpack_object_equal(up.data, *ev->arg))
        abort();
    msgpack_sbuffer fwd;
    msgpack_sbuffer_init(&fwd);
    off = 0;
    if (proto_pack_request_body(&fwd, ev->body, ev->body_len) != 0 ||
        msgpack_unpack_next(&fwd_up, fwd.data, fwd.size, &off) != MSGPACK_UNPACK_SUCCESS ||
        off != fwd.size || fwd_up.data.type != MSGPACK_OBJECT_MAP ||
        has_key(&fwd_up.data, "type") || has_key(&fwd_up.data, "id"))
        abort();
    /* every other member is there, in order */
    uint32_t j = 0;
    for (uint32_t i = 0; i < ev->arg->via.map.size; i++) {
        const msgpack_object_kv *kv = &ev->arg->via.map.ptr[i];
        if (pl_mp_str_eq(&kv->key, "type") || pl_mp_str_eq(&kv->key, "id"))
            continue;
        if (j >= fwd_up.data.via.map.size ||
            !msgpack_object_equal(kv->key, fwd_up.data.via.map.ptr[j].key) ||
            !msgpack_object_equal(kv->val, fwd_up.data.via.map.ptr[j].val))
            abort();
        j++;
    }
    if (j != fwd_up.data.via.map.size)
        abort();
    msgpack_sbuffer_destroy(&fwd);
    msgpack_unpacked_destroy(&fwd_up);
    msgpack_unpacked_destroy(&up);
}

/* The frame as a client packet: Engine.IO, then Socket.IO, then its payload. */
static void client_side(const char *s, size_t n)
{
    gw_eio_packet_t e;
    if (gw_eio_parse(s, n, &e) != 0 || e.type != GW_EIO_MESSAGE)
        return;
    gw_sio_packet_t p;
    char err[128];
    if (gw_sio_parse(e.data, e.len, &p, err, sizeof err) != 0)
        return;
    if (p.data && (p.data < e.data || p.data + p.data_len > e.data + e.len))
        abort();
    if (p.nsp_len > GW_SIO_NSP_MAX || p.attachments > GW_SIO_ATTACHMENTS_MAX)
        abort();
    if (p.type == GW_SIO_EVENT || p.type == GW_SIO_BINARY_EVENT) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        gw_sio_event_t ev;
        if (gw_sio_event_parse(p.data, p.data_len, &sb, &up, &ev, err, sizeof err) == 0)
            check_event(&ev);
        msgpack_unpacked_destroy(&up);
        msgpack_sbuffer_destroy(&sb);
    } else if (p.type == GW_SIO_CONNECT) {
        char token[256];
        int rc = gw_sio_auth_token(p.data, p.data_len, token, sizeof token);
        if (rc == 1 && strlen(token) == 0)
            abort();
        /* the refusal echoes the namespace: the JSON after it must stay valid */
        pl_buf_t b;
        pl_buf_init(&b, 0);
        size_t at = 2 + (gw_sio_default_nsp(&p) ? 0 : p.nsp_len + 1);
        if (gw_sio_connect_error(&b, p.nsp, p.nsp_len, "unauthenticated", "invalid token") != 0 ||
            b.len <= at || !valid_json(b.data + at, b.len - at))
            abort();
        pl_buf_free(&b);
    }
}

/* Whether s would still be valid JSON one container deeper, inside [ ]. */
static int valid_json_nested(const char *s, size_t n)
{
    pl_buf_t w;
    pl_buf_init(&w, 0);
    int ok = pl_buf_putc(&w, '[') == 0 && pl_buf_append(&w, s, n) == 0 &&
             pl_buf_putc(&w, ']') == 0 && valid_json(w.data, w.len);
    pl_buf_free(&w);
    return ok;
}

/* The frame as one of our outgoing JSON objects. The packet puts the object one
   container deeper (42["type",{…}], 43<id>[{…}]), so an event at pl_json's depth limit
   becomes a packet one level over it: still JSON for any client, whose parser has no
   such limit, but not for valid_json(). Its JSON part is therefore checked only for a
   frame that would parse one level deeper. */
static void server_side(const char *s, size_t n)
{
    pl_buf_t b;
    pl_buf_init(&b, 0);
    int rc = gw_sio_from_json(s, n, &b);
    if (rc != 0 && b.len != 0)
        abort();
    if (rc == 0 && valid_json(s, n)) {
        if (b.len < 4 || b.data[0] != '4' || (b.data[1] != '2' && b.data[1] != '3'))
            abort();
        const char *j = strchr(b.data, '[');
        if (!j || (valid_json_nested(s, n) && !valid_json(j, b.len - (size_t)(j - b.data))))
            abort();
    }
    pl_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_input(data, size);
    if (!s) /* over FUZZ_INPUT_MAX, or out of memory */
        return 0;
    client_side(s, size);
    server_side(s, size);
    free(s);
    return 0;
}
