/*  pl_mp: small MessagePack helpers over msgpack-c: field lookup with type checks
    and packing of common key/value shapes.
    The one thing to know: getters never trust the object: a missing key and a key of
    the wrong type both return -1 (or NULL), so callers write one error path. */
#ifndef PL_MP_H
#define PL_MP_H

#include <msgpack.h>
#include <stdint.h>
#include <string.h>

/* Value of `key` in map `map`, or NULL (also when map is not a map). */
const msgpack_object *pl_mp_get(const msgpack_object *map, const char *key);

int pl_mp_str(const msgpack_object *map, const char *key, const char **s, size_t *len);
int pl_mp_int(const msgpack_object *map, const char *key, int64_t *out);
int pl_mp_uint(const msgpack_object *map, const char *key, uint64_t *out);
int pl_mp_bool(const msgpack_object *map, const char *key, int *out);
/* Integer value of an object (int or uint fitting int64). */
int pl_mp_as_int(const msgpack_object *o, int64_t *out);
/* Copy a str value into a NUL-terminated buffer; -1 if missing, not a str or too long. */
int pl_mp_strcpy(const msgpack_object *map, const char *key, char *out, size_t cap);
/* Compare a str object with a C string. */
int pl_mp_str_eq(const msgpack_object *o, const char *s);

/* Objects built in place, for a small map handed to code that reads msgpack_object
   (no pack and unpack in between). The strings are borrowed, not copied. */
static inline msgpack_object pl_mp_obj_str(const char *s)
{
    msgpack_object o;
    o.type = MSGPACK_OBJECT_STR;
    o.via.str.ptr = s;
    o.via.str.size = (uint32_t)strlen(s);
    return o;
}

static inline msgpack_object pl_mp_obj_int(int64_t v)
{
    msgpack_object o;
    o.type = v < 0 ? MSGPACK_OBJECT_NEGATIVE_INTEGER : MSGPACK_OBJECT_POSITIVE_INTEGER;
    if (v < 0)
        o.via.i64 = v;
    else
        o.via.u64 = (uint64_t)v;
    return o;
}

static inline msgpack_object pl_mp_obj_bool(int v)
{
    msgpack_object o;
    o.type = MSGPACK_OBJECT_BOOLEAN;
    o.via.boolean = v != 0;
    return o;
}

static inline msgpack_object pl_mp_obj_map(msgpack_object_kv *kv, uint32_t n)
{
    msgpack_object o;
    o.type = MSGPACK_OBJECT_MAP;
    o.via.map.ptr = kv;
    o.via.map.size = n;
    return o;
}

static inline int pl_pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, s, n);
}

static inline int pl_pack_strn(msgpack_packer *pk, const char *s, size_t n)
{
    return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, s, n);
}

static inline int pl_pack_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
    return pl_pack_str(pk, k) || pl_pack_str(pk, v);
}

static inline int pl_pack_kv_strn(msgpack_packer *pk, const char *k, const char *v, size_t n)
{
    return pl_pack_str(pk, k) || pl_pack_strn(pk, v, n);
}

/* A string value that may be absent: NULL packs nil. */
static inline int pl_pack_kv_str_or_nil(msgpack_packer *pk, const char *k, const char *v)
{
    return pl_pack_str(pk, k) || (v ? pl_pack_str(pk, v) : msgpack_pack_nil(pk));
}

static inline int pl_pack_kv_int(msgpack_packer *pk, const char *k, int64_t v)
{
    return pl_pack_str(pk, k) || msgpack_pack_int64(pk, v);
}

static inline int pl_pack_kv_bool(msgpack_packer *pk, const char *k, int v)
{
    return pl_pack_str(pk, k) || (v ? msgpack_pack_true(pk) : msgpack_pack_false(pk));
}

static inline int pl_pack_kv_nil(msgpack_packer *pk, const char *k)
{
    return pl_pack_str(pk, k) || msgpack_pack_nil(pk);
}

/* Pack an already-decoded object (msgpack_pack_object, named for symmetry). */
static inline int pl_pack_kv_obj(msgpack_packer *pk, const char *k, const msgpack_object *o)
{
    return pl_pack_str(pk, k) || msgpack_pack_object(pk, *o);
}

#endif
