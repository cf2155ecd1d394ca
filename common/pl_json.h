/*  pl_json: JSON text <-> MessagePack, with no DOM in between.
    The one thing to know: JSON exists only at the gateway's edge. A client frame is
    converted straight into MessagePack bytes (the internal format) and server events
    are written straight from MessagePack objects back to JSON text. Both directions
    treat their input as hostile: lengths, depth, UTF-8 and escapes are all checked. */
#ifndef PL_JSON_H
#define PL_JSON_H


#include <msgpack.h>
#include <stddef.h>

#include "pl_buf.h"
#include "pl_text.h" /* pl_utf8_count, which callers had from here */

#define PL_JSON_MAX_DEPTH 32

/* Convert one JSON text of `len` bytes (not necessarily NUL-terminated) into one
   MessagePack object appended to `out`.
   - object → map (string keys), array → array, string → str, true/false → bool,
     null → nil; integers that fit int64/uint64 → int/uint, any other number (fraction,
     exponent, out of range) → float64.
   - strings: UTF-8 validated (overlongs, surrogates, > U+10FFFF rejected); escapes
     decoded, \uXXXX surrogate pairs joined, lone surrogates rejected.
   - whitespace around the value is allowed, anything else after it is an error;
     nesting deeper than PL_JSON_MAX_DEPTH is an error.
   Returns 0, or -1 with a short human reason in err (out may hold partial bytes). */
int pl_json_to_msgpack(const char *json, size_t len, msgpack_sbuffer *out, char *err,
                       size_t errlen);

/* Options of pl_json_to_msgpack_ex.
   PL_JSON_RAW_TEXT: a string that is not valid UTF-8 is not a syntax error: its bytes
   are kept as they are, and a lone surrogate escape (\ud800) becomes its 3-byte
   encoding, itself invalid UTF-8. For a caller that judges string contents later, per
   field, and wants the rest of the object (its id) to answer with. */
#define PL_JSON_RAW_TEXT 1u

/* pl_json_to_msgpack with `flags` (PL_JSON_*); flags 0 is pl_json_to_msgpack. */
int pl_json_to_msgpack_ex(const char *json, size_t len, unsigned flags, msgpack_sbuffer *out,
                          char *err, size_t errlen);

/* Append `obj` as compact JSON text to `out`. Map keys must be str; bin and ext are
   not representable (-1). Floats that are NaN or infinite are written as null; other
   floats round-trip (%.17g, shortest form preferred). Strings are written as UTF-8
   with ", \ and control characters escaped; invalid UTF-8 in a str is replaced with
   U+FFFD so the output is always valid JSON. Returns 0, or -1 (out is then partial). */
int pl_msgpack_to_json(const msgpack_object *obj, pl_buf_t *out);

/* Append the members of map `obj` (no braces) as JSON to `out`, i.e. `"a":1,"b":2`.
   Used to splice extra members (such as the client's "id") into an event object.
   Returns the number of members written, or -1 (not a map, or bad content). */
int pl_msgpack_map_members_to_json(const msgpack_object *obj, pl_buf_t *out);


#endif
