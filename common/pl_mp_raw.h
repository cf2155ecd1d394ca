/*  pl_mp_raw: reading MessagePack bytes in place, without unpacking them.
    The one thing to know: this is how the gateway forwards a client's request body
    without re-encoding it. The body was converted from JSON once (pl_json); its bytes
    go on the bus as they are, less the envelope's own top-level keys. The bytes were
    made from hostile input, so every length is checked against the buffer, and
    nesting costs no stack (a count of objects still to skip, not recursion). */
#ifndef PL_MP_RAW_H
#define PL_MP_RAW_H

#include <msgpack.h>
#include <stddef.h>

/* Advance *off past the one whole object that starts at buf[*off]. 0, or -1 when the
   bytes end inside it or hold a byte that starts no MessagePack object (0xc1); *off is
   then unspecified. */
int pl_mp_raw_skip(const char *buf, size_t len, size_t *off);

/* Advance *off past the header of the array or map that starts at buf[*off], onto its
   first element. 0, or -1 when buf[*off] starts no container or its header is cut. */
int pl_mp_raw_enter(const char *buf, size_t len, size_t *off);

/* Append to `out` the map that is exactly buf[0..len), less its top-level members
   whose key is a string equal to one of drop[0..ndrop): a fresh map header for the
   members kept (the shortest form, as msgpack_pack_map writes it), then their bytes
   copied unchanged, in order, in one pass. Keys that are not strings are kept; the
   names in drop are non-empty. 0, or -1 when the bytes are not exactly one map or out
   cannot grow (out may then hold partial bytes). */
int pl_mp_raw_map_without(const char *buf, size_t len, const char *const *drop, size_t ndrop,
                          msgpack_sbuffer *out);

#endif
