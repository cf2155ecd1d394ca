/*  fuzz_json_diff: differential target, pl_json against jansson (`make fuzz`).
    The one thing to know: jansson (already linked, and an independent implementation)
    is the reference. On the same bytes both must agree: what jansson refuses pl_json
    refuses, and what jansson accepts pl_json accepts as the same value. The
    MessagePack pl_json produced is decoded and compared with jansson's tree; then the
    writer's JSON for it is parsed by jansson and compared again.
    jansson runs with JSON_DECODE_ANY (any top-level value) and JSON_ALLOW_NUL. The
    deliberate differences, which the comparison allows for:
    - depth: pl_json refuses more than PL_JSON_MAX_DEPTH (32) nested containers, jansson
      only past 2048; a text nested deeper than 32 must be refused by pl_json;
    - duplicate keys: pl_json keeps every member in order (services read the first),
      jansson keeps the last value; the comparison takes the last one of each key, and
      the depth rule above counts discarded duplicates too (pl_json parses them);
    - integers outside int64: jansson refuses them ("too big integer"), pl_json keeps up
      to UINT64_MAX as uint64 and makes larger ones float64; such a text is compared
      with jansson's JSON_DECODE_INT_AS_REAL parse instead, numbers by value;
    - "\u0000" in an object key: jansson refuses it ("NUL byte in object key not
      supported"), pl_json keeps it; when only jansson refuses, the map must hold a key
      with a NUL byte, and the writer's output is not re-checked with jansson;
    - a raw NUL byte: never JSON (not whitespace, and a control character inside a
      string), so pl_json must refuse any input holding one. jansson 2.14 accepts a
      top-level number followed by a NUL ("0\0"); that is jansson's bug, not a
      disagreement to follow.
    Everything else is the same on both sides: number grammar, overflow to infinity
    refused and underflow accepted, UTF-8 validity (overlongs, surrogates, > U+10FFFF),
    escapes and lone surrogates, control characters, whitespace, trailing bytes. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "pl_buf.h"
#include "pl_json.h"

#define LOAD_FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL)

/* Deepest container nesting of a text jansson accepted (so its strings are closed and
   its escapes well formed): brackets inside strings do not count. */
static int text_depth(const char *s, size_t n)
{
    int depth = 0, max = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max)
                max = depth;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return max;
}

static int has_nul_key(const msgpack_object *o)
{
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < o->via.array.size; i++)
            if (has_nul_key(&o->via.array.ptr[i]))
                return 1;
    } else if (o->type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            /* an empty str may have a NULL ptr: memchr must not see it */
            if ((k->type == MSGPACK_OBJECT_STR && k->via.str.size &&
                 memchr(k->via.str.ptr, '\0', k->via.str.size)) ||
                has_nul_key(&o->via.map.ptr[i].val))
                return 1;
        }
    }
    return 0;
}

static int same(const msgpack_object *o, const json_t *j, int loose);

/* Numbers. Exact mode: an int is a json integer of the same value, a float a json
   real with the same bits (-0.0 included). Loose mode (jansson read every number as
   a real): compared by value as doubles; both sides round the same decimal text. */
static int same_number(const msgpack_object *o, const json_t *j, int loose)
{
    if (loose) {
        if (!json_is_real(j))
            return 0;
        double want = json_real_value(j), got;
        if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            got = (double)o->via.u64;
        else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            got = (double)o->via.i64;
        else
            got = o->via.f64;
        return got == want;
    }
    if (o->type == MSGPACK_OBJECT_FLOAT64) {
        if (!json_is_real(j))
            return 0;
        double want = json_real_value(j);
        return memcmp(&want, &o->via.f64, sizeof want) == 0;
    }
    if (!json_is_integer(j))
        return 0;
    json_int_t v = json_integer_value(j);
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return v >= 0 && (uint64_t)v == o->via.u64;
    return o->via.i64 < 0 && v == o->via.i64;
}

/* Maps: jansson kept the last value of each key. Walk the members backwards and
   compare the first sighting of each key; then the key counts must match. */
static int same_map(const msgpack_object *o, const json_t *j, int loose)
{
    if (!json_is_object(j))
        return 0;
    json_t *seen = json_object();
    if (!seen)
        abort();
    int ok = 1;
    for (uint32_t i = o->via.map.size; ok && i-- > 0;) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR) {
            ok = 0;
            break;
        }
        const char *k = kv->key.via.str.ptr ? kv->key.via.str.ptr : "";
        size_t klen = kv->key.via.str.size;
        if (json_object_getn(seen, k, klen))
            continue;
        json_object_setn_new(seen, k, klen, json_true());
        const json_t *v = json_object_getn(j, k, klen);
        ok = v && same(&kv->val, v, loose);
    }
    ok = ok && json_object_size(seen) == json_object_size(j);
    json_decref(seen);
    return ok;
}

static int same(const msgpack_object *o, const json_t *j, int loose)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return json_is_null(j);
    case MSGPACK_OBJECT_BOOLEAN:
        return o->via.boolean ? json_is_true(j) : json_is_false(j);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    case MSGPACK_OBJECT_FLOAT64:
        return same_number(o, j, loose);
    case MSGPACK_OBJECT_STR:
        return json_is_string(j) && json_string_length(j) == o->via.str.size &&
               (o->via.str.size == 0 ||
                memcmp(json_string_value(j), o->via.str.ptr, o->via.str.size) == 0);
    case MSGPACK_OBJECT_ARRAY:
        if (!json_is_array(j) || json_array_size(j) != o->via.array.size)
            return 0;
        for (uint32_t i = 0; i < o->via.array.size; i++)
            if (!same(&o->via.array.ptr[i], json_array_get(j, i), loose))
                return 0;
        return 1;
    case MSGPACK_OBJECT_MAP:
        return same_map(o, j, loose);
    default: /* float32, bin, ext: pl_json never produces them */
        return 0;
    }
}

/* jansson's parse of s[0..n), retried with every number read as a real when an
   integer outside int64 is what stopped it; *loose says which parse it is. */
static json_t *jansson_load(const char *s, size_t n, int *loose, json_error_t *jerr)
{
    *loose = 0;
    json_t *j = json_loadb(s, n, LOAD_FLAGS, jerr);
    if (!j && json_error_code(jerr) == json_error_numeric_overflow) {
        *loose = 1;
        j = json_loadb(s, n, LOAD_FLAGS | JSON_DECODE_INT_AS_REAL, jerr);
    }
    return j;
}

/* The writer's JSON for o, parsed by jansson, must be o again. */
static void check_written(const msgpack_object *o)
{
    if (has_nul_key(o))
        return; /* jansson cannot hold such a key */
    pl_buf_t b;
    pl_buf_init(&b, 0);
    if (pl_msgpack_to_json(o, &b) != 0)
        abort();
    json_error_t jerr;
    int loose;
    json_t *j = jansson_load(b.data, b.len, &loose, &jerr);
    if (!j || !same(o, j, loose))
        abort();
    json_decref(j);
    pl_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        json_object_seed(1); /* the same hash layout on every run */
        ready = 1;
    }
    char *s = fuzz_input(data, size);
    if (!s) /* over FUZZ_INPUT_MAX, or out of memory */
        return 0;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    int rc = pl_json_to_msgpack(s, size, &sb, NULL, 0);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    if (rc == 0 && msgpack_unpack_next(&up, sb.data, sb.size, &off) != MSGPACK_UNPACK_SUCCESS)
        abort();

    json_error_t jerr;
    int loose;
    json_t *j = jansson_load(s, size, &loose, &jerr);
    if (memchr(s, '\0', size)) {
        if (rc == 0)
            abort();
    } else if (!j) {
        /* refused by jansson: refused by pl_json, but for a NUL in a key */
        if (rc == 0 &&
            !(json_error_code(&jerr) == json_error_null_byte_in_key && has_nul_key(&up.data)))
            abort();
    } else if (text_depth(s, size) > PL_JSON_MAX_DEPTH) {
        if (rc == 0)
            abort();
    } else {
        if (rc != 0 || !same(&up.data, j, loose))
            abort();
        check_written(&up.data);
    }
    json_decref(j);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    free(s);
    return 0;
}
