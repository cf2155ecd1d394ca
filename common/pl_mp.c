/*  pl_mp: MessagePack field access (see pl_mp.h). */
#include "pl_mp.h"

const msgpack_object *pl_mp_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t klen = strlen(key);
    const msgpack_object_kv *kv = map->via.map.ptr;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &kv[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
            memcmp(k->via.str.ptr, key, klen) == 0)
            return &kv[i].val;
    }
    return NULL;
}

int pl_mp_str(const msgpack_object *map, const char *key, const char **s, size_t *len)
{
    const msgpack_object *o = pl_mp_get(map, key);
    if (!o || o->type != MSGPACK_OBJECT_STR)
        return -1;
    *s = o->via.str.ptr;
    *len = o->via.str.size;
    return 0;
}

int pl_mp_as_int(const msgpack_object *o, int64_t *out)
{
    if (!o)
        return -1;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= (uint64_t)INT64_MAX) {
        *out = (int64_t)o->via.u64;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return 0;
    }
    return -1;
}

int pl_mp_int(const msgpack_object *map, const char *key, int64_t *out)
{
    return pl_mp_as_int(pl_mp_get(map, key), out);
}

int pl_mp_uint(const msgpack_object *map, const char *key, uint64_t *out)
{
    const msgpack_object *o = pl_mp_get(map, key);
    if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return -1;
    *out = o->via.u64;
    return 0;
}

int pl_mp_bool(const msgpack_object *map, const char *key, int *out)
{
    const msgpack_object *o = pl_mp_get(map, key);
    if (!o || o->type != MSGPACK_OBJECT_BOOLEAN)
        return -1;
    *out = o->via.boolean ? 1 : 0;
    return 0;
}

int pl_mp_strcpy(const msgpack_object *map, const char *key, char *out, size_t cap)
{
    const char *s;
    size_t n;
    if (pl_mp_str(map, key, &s, &n) || n >= cap || memchr(s, '\0', n))
        return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

int pl_mp_str_eq(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
           memcmp(o->via.str.ptr, s, n) == 0;
}
