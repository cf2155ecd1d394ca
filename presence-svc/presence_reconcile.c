/*  presence_reconcile: reading a gw_reconcile (see presence_reconcile.h). */
#include "presence_reconcile.h"

#include <stdint.h>

#include "pl_mp.h"
#include "pl_text.h"

#define NAME_MAX_BYTES 128 /* PL_NAME_MAX: the gateway takes names from tokens up to this */


static int valid_role(const msgpack_object *o, presence_str_t *out)
{
    if (pl_mp_str_eq(o, "student") || pl_mp_str_eq(o, "mentor") || pl_mp_str_eq(o, "admin")) {
        out->ptr = o->via.str.ptr;
        out->len = o->via.str.size;
        return 1;
    }
    return 0;
}

static int valid_name(const msgpack_object *o, presence_str_t *out)
{
    out->ptr = NULL;
    out->len = 0;
    if (o->type == MSGPACK_OBJECT_NIL)
        return 1;
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size > NAME_MAX_BYTES)
        return 0;
    for (uint32_t i = 0; i < o->via.str.size; i++)
        if ((unsigned char)o->via.str.ptr[i] < 0x20)
            return 0;
    out->ptr = o->via.str.ptr;
    out->len = o->via.str.size;
    return 1;
}

static const msgpack_object_array *array_of(const msgpack_object *body, const char *key, size_t n)
{
    const msgpack_object *a = pl_mp_get(body, key);
    if (!a || a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size != n)
        return NULL;
    return &a->via.array;
}

int presence_reconcile_read(const msgpack_object *body, presence_reconcile_t *rc)
{
    uint64_t lo, hi;
    const msgpack_object *c = pl_mp_get(body, "c");
    if (pl_mp_uint(body, "lo", &lo) || pl_mp_uint(body, "hi", &hi) || lo > hi || hi > INT64_MAX ||
        !c || c->type != MSGPACK_OBJECT_ARRAY || c->via.array.size > PROTO_RECONCILE_CHUNK_MAX)
        return -1;
    rc->lo = (int64_t)lo;
    rc->hi = (int64_t)hi;
    rc->n = c->via.array.size;
    const msgpack_object_array *u = array_of(body, "u", rc->n), *r = array_of(body, "r", rc->n),
                               *n = array_of(body, "n", rc->n);
    if (!u || !r || !n)
        return -1;
    for (size_t i = 0; i < rc->n; i++) {
        presence_live_conn_t *e = &rc->conns[i];
        const msgpack_object *cn = &c->via.array.ptr[i], *uid = &u->ptr[i];
        if (cn->type != MSGPACK_OBJECT_POSITIVE_INTEGER || cn->via.u64 < lo || cn->via.u64 > hi ||
            (i > 0 && (int64_t)cn->via.u64 <= rc->conns[i - 1].cn) ||
            uid->type != MSGPACK_OBJECT_STR ||
            !pl_user_id_valid(uid->via.str.ptr, uid->via.str.size) ||
            !valid_role(&r->ptr[i], &e->role) || !valid_name(&n->ptr[i], &e->name))
            return -1;
        e->cn = (int64_t)cn->via.u64;
        e->uid.ptr = uid->via.str.ptr;
        e->uid.len = uid->via.str.size;
    }
    return 0;
}
