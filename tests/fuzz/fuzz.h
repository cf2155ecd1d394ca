/*  fuzz: what the fuzz targets in this folder share.
    The one thing to know: every target is one LLVMFuzzerTestOneInput() that is built
    twice, with libFuzzer (clang, `make fuzz`) and with fuzz_replay.c's main() (any
    compiler, a ctest that replays the target's seed corpus), so it must not rely on
    anything libFuzzer provides. A broken property is reported with abort(). */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An exact-size heap copy of the input: a read past its end is an ASan report (the
   input is never NUL-terminated). Plus one NUL byte when `nul` is set, for APIs that
   take C strings. Caller frees; NULL only when out of memory. */
static inline char *fuzz_copy(const uint8_t *data, size_t size, int nul)
{
    size_t n = size + (nul ? 1 : 0);
    char *s = calloc(n ? n : 1, 1); /* zeroed: the NUL, and no byte left undefined */
    if (s && size)
        memcpy(s, data, size);
    return s;
}

/* Inputs longer than this are skipped: every parser here sits behind a frame or
   message cap far below it, and long inputs only slow the campaign down. */
#define FUZZ_INPUT_MAX (1 << 16)

/* fuzz_copy of an input of at most FUZZ_INPUT_MAX bytes; NULL for a longer one (skip
   it) or when out of memory. */
static inline char *fuzz_input(const uint8_t *data, size_t size)
{
    return size > FUZZ_INPUT_MAX ? NULL : fuzz_copy(data, size, 0);
}

/* Whether msgpack_unpack_next can read the first object of data[0..size) without a
   huge allocation. msgpack-c allocates a container's `count` objects (24 bytes each)
   as soon as it reads the header, before the elements: a 5-byte array32 header asks
   for 96 GiB. A real process gets NULL and drops the message; libFuzzer reports any
   allocation over 2 GiB as a crash. So the targets that unpack raw bytes skip inputs
   where a count exceeds the bytes left (every element takes at least one), which
   keeps every allocation within a small multiple of the input size. */
static inline int fuzz_mp_plausible(const uint8_t *p, size_t size)
{
    /* 0xc0..0xdf: bytes of the length field; fixed bytes after it (an ext's type) */
    static const uint8_t len_bytes[32] = {0, 0, 0, 0, 1, 2, 4, 1, 2, 4, 0, 0, 0, 0, 0, 0,
                                          0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 2, 4, 2, 4};
    static const uint8_t fixed[32] = {0, 0, 0, 0, 0, 0, 0, 1, 1,  1, 4, 8, 1, 2, 4, 8,
                                      1, 2, 4, 8, 2, 3, 5, 9, 17, 0, 0, 0, 0, 0, 0, 0};
    size_t pos = 0;
    uint64_t need = 1; /* objects still to read */
    while (need > 0 && pos < size) {
        uint8_t t = p[pos++];
        uint64_t count = 0, skip = 0;
        need--;
        if (t <= 0x7f || t >= 0xe0 || (t >= 0xc0 && t <= 0xc3)) {
            continue; /* fixint, nil, bool (and the unused 0xc1) */
        } else if (t <= 0x8f) {
            count = (t & 0x0fu) * 2; /* fixmap: keys and values */
        } else if (t <= 0x9f) {
            count = t & 0x0fu;
        } else if (t <= 0xbf) {
            skip = t & 0x1fu;
        } else {
            int n = len_bytes[t - 0xc0];
            if ((size_t)n > size - pos)
                return 1; /* truncated header: msgpack-c waits for more, allocates nothing */
            uint64_t v = 0;
            for (int i = 0; i < n; i++)
                v = v << 8 | p[pos++];
            if (t >= 0xdc)
                count = t >= 0xde ? v * 2 : v; /* array16/32, map16/32 */
            else
                skip = fixed[t - 0xc0] + v; /* str, bin, ext, numbers */
        }
        if (skip > size - pos)
            return 1; /* truncated body: referenced in place, never copied */
        pos += (size_t)skip;
        if (count > size - pos)
            return 0;
        need += count;
    }
    return 1;
}

#endif
